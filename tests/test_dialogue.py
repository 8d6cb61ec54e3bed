"""The dialogue layer on the small fixture catalog: ledger, references, compare, questions, grounding, phrasing."""

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant import Assistant, ConversationStore, GroundingError, ReplyPhraser, Turn
from assistant.grounding import grounding_problems
from retrieval import Store


def test_the_ledger_survives_a_restart(loaded_store: Store, tmp_path: Path) -> None:
    Assistant(loaded_store, conversations=ConversationStore.persistent(tmp_path)).reply("s", "tvs under $2000")
    reopened = Assistant(loaded_store, conversations=ConversationStore.persistent(tmp_path))
    turn = reopened.reply("s", "only LG")
    assert turn.intent == "refine"
    assert turn.slots == {"category": "TVs", "brand": "LG", "price_max": 2000}
    assert [card.id for card in turn.products] == ["tv-2"]
    assert turn.text.startswith("Looking for: TVs · LG · under $2,000")


def test_cheaper_caps_the_price_below_everything_shown(demo_store: Store) -> None:
    assistant = Assistant(demo_store)
    shown = assistant.reply("s", "4k tv under $600").products
    cheaper = assistant.reply("s", "anything cheaper?")
    assert cheaper.intent == "refine" and cheaper.relaxed == []
    assert cheaper.products and all(card.price < min(c.price for c in shown) for card in cheaper.products)


def test_references_compare_and_product_questions_use_the_shown_order(loaded_store: Store) -> None:
    assistant = Assistant(loaded_store)
    shown = assistant.reply("s", "headphones").products
    compared = assistant.reply("s", "compare the first two")
    assert compared.intent == "compare"
    assert [card.id for card in compared.products] == [card.id for card in shown[:2]]
    assert [row.label for row in compared.comparison][:2] == ["Price", "Rating"]
    assert compared.comparison[0].values == [f"${card.price:,.2f}" for card in shown[:2]]

    question = assistant.reply("s", "does the second one have bluetooth?")
    assert question.intent == "product_question"
    assert question.products[0].id == shown[1].id
    product = loaded_store.products.get([shown[1].id])[shown[1].id]
    if "bluetooth" in product.lexical_text().lower():
        assert "mentions bluetooth" in question.text
    else:
        assert "doesn't mention bluetooth" in question.text


def test_a_question_the_listing_does_not_answer_is_not_guessed(loaded_store: Store) -> None:
    assistant = Assistant(loaded_store)
    assistant.reply("s", "Dell XPS 13 laptop")
    turn = assistant.reply("s", "is the first one waterproof?")
    assert turn.intent == "product_question"
    assert "doesn't mention waterproof" in turn.text and "can't say for sure" in turn.text


def test_handoff_is_stored_with_the_session(loaded_store: Store, tmp_path: Path) -> None:
    conversations = ConversationStore.persistent(tmp_path)
    turn = Assistant(loaded_store, conversations=conversations).reply("s", "can I talk to a human?")
    assert turn.intent == "handoff" and turn.handoff
    assert ConversationStore.persistent(tmp_path).state("s").handed_over


def test_grounding_rejects_invented_prices_and_products(loaded_store: Store) -> None:
    turn = Assistant(loaded_store).reply("s", "tvs under $500")
    catalog = loaded_store.products.get([card.id for card in turn.products])
    assert grounding_problems(turn, catalog) == []
    invented = turn.model_copy(update={"text": turn.text + "\nAlso the Samsung for $12.00!"})
    assert grounding_problems(invented, catalog) == [
        "the amount $12.00 is not a price or limit from the catalog, FAQ or customer"
    ]
    ghost = turn.products[0].model_copy(update={"id": "no-such-id"})
    assert "product 'no-such-id' is not in the catalog" in grounding_problems(
        turn.model_copy(update={"products": [ghost]}), catalog
    )


class _Lying(ReplyPhraser):
    """A phraser over a fake chat model that answers with a fixed text."""

    def __init__(self, text: str) -> None:
        super().__init__(FakeListChatModel(responses=[text]))


def test_a_grounded_llm_rephrasing_is_used(loaded_store: Store) -> None:
    plain = Assistant(loaded_store).reply("s", "tvs under $500")
    top = plain.products[0]
    phrased = f"Good news! The {top.title} is just ${top.price:,.2f}."
    turn = Assistant(loaded_store, phraser=_Lying(phrased)).reply("s2", "tvs under $500")
    assert turn.text == phrased
    assert [card.id for card in turn.products] == [card.id for card in plain.products]


def test_an_ungrounded_llm_rephrasing_falls_back_to_the_template(loaded_store: Store) -> None:
    turn = Assistant(loaded_store, phraser=_Lying("Everything is $1 today only!")).reply("s", "tvs under $500")
    assert "$1 today" not in turn.text
    assert turn.text.startswith("Looking for: TVs · under $500")


def test_a_template_that_invents_an_amount_is_a_bug_not_a_reply(
    loaded_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assistant.assistant as module

    monkeypatch.setattr(module, "_smalltalk_reply", lambda text: "Hi! Everything is $3 today.")
    with pytest.raises(GroundingError, match=r"\$3\.00"):
        Assistant(loaded_store).reply("s", "hello")


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("hello there", "smalltalk"),
        ("what's the weather tomorrow", "out_of_scope"),
        ("where is my order?", "order_status"),
        ("I want to talk to a real person", "handoff"),
        ("what is your return policy?", "faq"),
        ("a laptop for school", "product_search"),
    ],
)
def test_first_message_intents(loaded_store: Store, message: str, intent: str) -> None:
    turn: Turn = Assistant(loaded_store).reply("s", message)
    assert turn.intent == intent
