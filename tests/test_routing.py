"""Routing: the pure rules table-tested, and the follow-up failures reported in issue 19 through ``Assistant.reply``."""

import pytest

from assistant import Assistant
from assistant.routing import CONFIDENT_FAQ, RoutingFacts, addressed_to_store, asks_for_goods, is_question, route
from retrieval import Store

_RESULTS = {"cards": 5, "ledger_active": True}


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        # The classifier is trusted when no rule applies.
        (RoutingFacts("faq"), "faq"),
        (RoutingFacts("handoff", **_RESULTS), "handoff"),
        # Naming the catalog's products or a model number is a search, whatever the classifier thought.
        (RoutingFacts("out_of_scope", names_products=True), "product_search"),
        (RoutingFacts("smalltalk", model_number=True), "product_search"),
        (RoutingFacts("out_of_scope", asks_for_goods=True), "product_search"),
        # A product's title typed as it is: a catalog lookup, whatever the classifier thought.
        (RoutingFacts("out_of_scope", product_title=True), "product_search"),
        (RoutingFacts("handoff", product_title=True), "product_search"),
        (RoutingFacts("order_status", product_title=True), "product_search"),
        (RoutingFacts("order_status", model_number=True), "product_search"),
        (RoutingFacts("handoff", product_title=True, wants_person=True), "handoff"),
        (RoutingFacts("out_of_scope", catalog_words=True), "product_search"),
        # Asking for a person in so many words hands over, whatever else the message resembles.
        (RoutingFacts("faq", wants_person=True, question=True, faq_score=0.95, **_RESULTS), "handoff"),
        # Where the customer's own order is: the order-status turn, which also quotes the FAQ.
        (RoutingFacts("faq", own_order=True, question=True, faq_score=0.9), "order_status"),
        (RoutingFacts("out_of_scope", catalog_words=True, question=True), "out_of_scope"),
        (RoutingFacts("faq", product_title=True, faq_score=0.6), "product_search"),
        # Nothing on screen: "3/4 in. pvc pipe" read as a comparison is a search; a question stays.
        (RoutingFacts("compare"), "product_search"),
        (RoutingFacts("product_question", question=True), "product_question"),
        (RoutingFacts("compare", question=True), "compare"),
        (RoutingFacts("compare", references=2), "compare"),
        (RoutingFacts("faq", model_number=True), "product_search"),
        (RoutingFacts("faq", model_number=True, question=True, faq_score=0.7), "faq"),
        # A near-paraphrase of an FAQ question is answered from the FAQ ...
        (RoutingFacts("out_of_scope", question=True, faq_score=CONFIDENT_FAQ), "faq"),
        (RoutingFacts("product_search", question=True, faq_score=0.95), "faq"),
        # ... but not when it is not asked as a question, names products, or only resembles an entry.
        (RoutingFacts("out_of_scope", question=False, faq_score=0.95), "out_of_scope"),
        (RoutingFacts("product_search", question=True, faq_score=0.95, names_products=True), "product_search"),
        (RoutingFacts("out_of_scope", question=True, faq_score=0.8), "out_of_scope"),
        # A question to the shop itself that its FAQ answers at the store's threshold.
        (RoutingFacts("out_of_scope", question=True, addressed_to_store=True, faq_score=0.8), "faq"),
        (RoutingFacts("out_of_scope", question=True, addressed_to_store=True), "out_of_scope"),
        # ... or a question right after an FAQ answer that the FAQ answers ("how long does it take to get there").
        (RoutingFacts("out_of_scope", question=True, after_faq=True, faq_score=0.8), "faq"),
        (RoutingFacts("out_of_scope", question=True, after_faq=True), "out_of_scope"),
        (RoutingFacts("out_of_scope", question=False, addressed_to_store=True, faq_score=0.8), "out_of_scope"),
        # "Do you sell X?" asks for goods unless an FAQ entry says exactly that.
        (RoutingFacts("faq", question=True, asks_for_goods=True, faq_score=0.66), "product_search"),
        (RoutingFacts("faq", question=True, asks_for_goods=True, faq_score=0.97), "faq"),
        # A refinement needs something to refine; a new category starts a new search.
        (RoutingFacts("refine"), "product_search"),
        (RoutingFacts("refine", new_category=True, names_products=True, **_RESULTS), "product_search"),
        (RoutingFacts("refine", **_RESULTS), "refine"),
        (RoutingFacts("refine", ledger_active=True), "refine"),
        # "Only Sony" read as a search while results are on screen edits them.
        (RoutingFacts("product_search", only_edits=True, **_RESULTS), "refine"),
        (RoutingFacts("product_search", only_edits=True), "product_search"),
        (RoutingFacts("product_search", **_RESULTS), "product_search"),
        # How many shown products are referred to decides between a question and a comparison.
        (RoutingFacts("product_question", references=2, **_RESULTS), "compare"),
        (RoutingFacts("compare", references=1, **_RESULTS), "product_question"),
        (RoutingFacts("compare", references=0, **_RESULTS), "compare"),
        # Nothing on screen to ask about, but products named: a search.
        (RoutingFacts("compare", names_products=True), "product_search"),
        (RoutingFacts("product_question", names_products=True), "product_search"),
        (RoutingFacts("product_question"), "product_question"),
    ],
)
def test_routing_table(facts: RoutingFacts, expected: str) -> None:
    assert route(facts) == expected


@pytest.mark.parametrize(
    ("text", "question", "goods"),
    [
        ("do you sell refurbished iPhones?", True, True),
        ("Does your store carry garden hoses", True, True),
        ("do you sell to businesses?", True, False),
        ("what time do you close", True, False),
        ("laptops under $500", False, False),
        ("i need to return this", True, False),
        ("I am looking for a saddle for my horse", False, True),
        ("looking for my order", False, False),
    ],
)
def test_question_and_goods_facts(text: str, question: bool, goods: bool) -> None:
    assert is_question(text) is question
    assert asks_for_goods(text) is goods


def test_addressed_to_the_store() -> None:
    assert addressed_to_store("what time do you close on saturday?")
    assert not addressed_to_store("what time does the louvre open")


@pytest.fixture(scope="module")
def assistant(demo_store: Store) -> Assistant:
    return Assistant(demo_store)


def test_a_follow_up_to_an_faq_answer_stays_with_the_faq(assistant: Assistant) -> None:
    first = assistant.reply("faq-follow-up", "do you ship to canada?")
    assert first.intent == "faq" and first.faq_sources
    follow_up = assistant.reply("faq-follow-up", "how long does it take to get there")
    assert follow_up.intent == "faq" and not follow_up.handoff
    assert follow_up.faq_sources, "the follow-up was declined"
    assert "days" in follow_up.text


def test_how_much_storage_is_not_a_price_question(assistant: Assistant, demo_store: Store) -> None:
    shown = assistant.reply("storage", "laptops").products
    turn = assistant.reply("storage", "how much storage does the second one have?")
    assert turn.intent == "product_question"
    assert turn.products[0].id == shown[1].id
    assert f"${shown[1].price:,.2f}" not in turn.text
    product = demo_store.products.get([shown[1].id])[shown[1].id]
    if "storage" in product.lexical_text().lower():
        assert "mentions storage" in turn.text
    else:
        assert "doesn't mention storage" in turn.text


def test_a_policy_the_listing_is_silent_on_comes_from_the_faq(assistant: Assistant, demo_store: Store) -> None:
    shown = assistant.reply("warranty", "laptops").products
    product = demo_store.products.get([shown[0].id])[shown[0].id]
    assert "warranty" not in product.lexical_text().lower()
    turn = assistant.reply("warranty", "does the first one come with a warranty?")
    assert turn.intent == "product_question"
    assert turn.products[0].id == shown[0].id
    (source,) = turn.faq_sources
    assert demo_store.faq.get([source])[source].answer in turn.text
    assert "warranty" in source


def test_an_angry_message_mid_session_offers_a_person(assistant: Assistant) -> None:
    assistant.reply("angry", "tvs under $500")
    turn = assistant.reply("angry", "this is useless, you are not helping at all")
    assert turn.intent == "handoff" and turn.handoff
    assert "person" in turn.text


def test_asking_whether_the_store_sells_something_is_a_product_request(assistant: Assistant) -> None:
    turn = assistant.reply("refurbished", "do you sell refurbished iPhones?")
    assert turn.intent == "product_search"
    assert turn.faq_sources == []


def test_opening_hours_are_an_faq_question(assistant: Assistant) -> None:
    turn = assistant.reply("hours", "what time do you close on saturday?")
    assert turn.intent == "faq" and turn.faq_sources == ["store-hours"]
