"""FAQ answering on an FAQ that is not the demo's, typo correction towards the FAQ's words, and a decision
that is fitted again whenever the FAQ changes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from retrieval import FaqEntry, SentenceTransformerEmbedder, Store
from retrieval.faq import fit_lead_slope, leads

# A small grocery shop's FAQ, written for these tests: some entries have other phrasings, most do not.
GROCERY_FAQ = [
    FaqEntry(
        id="delivery-slots",
        question="How do I book a delivery slot?",
        answer="Pick a one-hour slot at checkout. Slots run from 7 am to 10 pm every day; same-day slots "
        "open at midnight.",
        alternatives=["When can you deliver my groceries?"],
    ),
    FaqEntry(
        id="delivery-fee",
        question="How much does delivery cost?",
        answer="Delivery is $3.99, free on baskets over $60. Members of Greenleaf Plus never pay delivery.",
    ),
    FaqEntry(
        id="substitutions",
        question="What happens if an item is out of stock?",
        answer="Our pickers choose the closest substitute. You can refuse any substitution at the door and "
        "you are not charged for it. Untick 'allow substitutes' to get no replacements at all.",
    ),
    FaqEntry(
        id="freshness",
        question="What if my fruit or vegetables are not fresh?",
        answer="Every fresh product comes with a use-by guarantee. Send us a photo within 48 hours and we "
        "refund it in full.",
    ),
    FaqEntry(
        id="payment",
        question="Which payment methods do you accept?",
        answer="We accept Visa, Mastercard, SNAP EBT cards and Greenleaf gift cards. Cash is accepted only "
        "in our stores.",
    ),
    FaqEntry(
        id="hours",
        question="What are your store opening hours?",
        answer="Our stores open every day from 7 am to 11 pm, and from 9 am to 6 pm on public holidays.",
    ),
    FaqEntry(
        id="allergens",
        question="Where can I find allergen information?",
        answer="Each product page lists ingredients and the 14 major allergens. Our bakery counter has a "
        "gluten-free range baked separately.",
    ),
    FaqEntry(
        id="loyalty",
        question="Do you have a loyalty card?",
        answer="Greenleaf Rewards gives one point per dollar; every 500 points take $5 off your next shop. "
        "Sign up free in the app or at any till.",
    ),
]


# Ranked first but declined: they share almost no words with their entry and the decision weighs a wrong
# answer like a missed one. Written before the decision was chosen; kept so that a better one shows (the
# lead over the second entry as a decision feature answered all three, and too many off-topic questions).
_DECLINED_TODAY = pytest.mark.xfail(reason="right entry ranked first, probability below faq_threshold", strict=True)


@pytest.fixture(scope="module")
def grocery(minilm: SentenceTransformerEmbedder) -> Iterator[Store]:
    store = Store.ephemeral(embedder=minilm)
    store.faq.ingest(GROCERY_FAQ)
    yield store
    store.close()


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("what do you charge to bring my shopping to my house", "delivery-fee"),
        ("is delivery free if I spend enough", "delivery-fee"),
        ("can I choose what time my order comes", "delivery-slots"),
        pytest.param(
            "will you replace things you don't have with something else", "substitutions", marks=_DECLINED_TODAY
        ),
        pytest.param("the strawberries I got were mouldy", "freshness", marks=_DECLINED_TODAY),
        ("can I pay with my EBT card", "payment"),
        ("what time do you close on sunday", "hours"),
        pytest.param("does this bread contain nuts or gluten", "allergens", marks=_DECLINED_TODAY),
        ("how do I collect points when I shop", "loyalty"),
        # Typos, corrected towards the FAQ's own words before matching.
        ("how much is delivrey", "delivery-fee"),
        ("do you acept mastercrad", "payment"),
        ("wher can I find alergen info", "allergens"),
    ],
)
def test_paraphrases_and_typos_are_answered_with_their_entry(grocery: Store, question: str, entry_id: str) -> None:
    hit = grocery.faq.answer(question)
    assert hit is not None, (question, grocery.faq.search(question, k=1))
    assert hit.entry.id == entry_id
    assert 0.5 <= hit.score <= 1.0


@pytest.mark.parametrize(
    "question",
    [
        "what's the weather going to be like tomorrow",
        "who won the world cup in 2018",
        "how do I change a flat tyre",
        "tell me a joke",
        "translate good morning into french",
    ],
)
def test_off_topic_questions_are_declined(grocery: Store, question: str) -> None:
    assert grocery.faq.answer(question) is None
    hit = grocery.faq.search(question, k=1)[0]
    assert 0.0 <= hit.score < grocery.settings.faq_threshold


def test_search_ranks_by_relevance_and_scores_are_probabilities(grocery: Store) -> None:
    hits = grocery.faq.search("how much does delivery cost", k=3)
    assert [hit.entry.id for hit in hits][:1] == ["delivery-fee"]
    assert len(hits) == 3 and all(0.0 <= hit.score <= 1.0 for hit in hits)
    assert hits[0].score > hits[1].score


def test_a_question_between_two_entries_is_offered_both(grocery: Store) -> None:
    offered = grocery.faq.choices("what about delivery on sunday")
    assert {hit.entry.id for hit in offered} == {"delivery-fee", "delivery-slots"}
    assert [hit.entry.id for hit in grocery.faq.choices("what time do you close on sunday")] == ["hours"]
    assert grocery.faq.choices("tell me a joke") == []


@pytest.mark.parametrize(
    "question", ["how much is delivrey", "what about delivery on sunday", "who won the world cup in 2018", "points"]
)
def test_choices_agree_with_answer(grocery: Store, question: str) -> None:
    # Offering two never engages a question that answer() declines, and the first offered is what it answers.
    answered = grocery.faq.answer(question)
    offered = grocery.faq.choices(question)
    assert (answered is None) == (offered == [])
    assert answered is None or offered[0].entry.id == answered.entry.id
    assert grocery.faq.choices(question, clarify_below=0.0)[:1] == offered[:1]
    assert len(grocery.faq.choices(question, clarify_below=0.0)) <= 1


def test_leads_and_how_near_a_tie_is() -> None:
    assert leads(np.array([0.9, 0.5, 0.7])).round(3).tolist() == [0.2, -0.4, -0.2]
    assert leads(np.array([0.4])).tolist() == [0.0]
    assert fit_lead_slope(np.array([0.1, 0.2, 0.05])) == float("inf")  # the own entry always led
    assert fit_lead_slope(np.array([-0.1, -0.2])) == 0.0  # it never did
    # Losses only at small gaps: the slope makes a small lead a coin toss and a large one near certain.
    slope = fit_lead_slope(np.array([0.02, -0.02, 0.03, -0.01, 0.3, 0.4, 0.25, 0.5]))
    assert 0.0 < slope < float("inf")
    assert 1 / (1 + np.exp(-slope * 0.01)) < 0.6 < 1 / (1 + np.exp(-slope * 0.3))


def test_the_faq_speller_fixes_swapped_letters_but_keeps_real_words(grocery: Store) -> None:
    # Swapped neighbours count as one edit, so even five-letter words are corrected ("frehs").
    assert grocery.faq.correct_spelling("delievry paymnet frehs") == "delivery payment fresh"
    # "please" and "them" are one or two edits from FAQ words ("place", "the") but are words, not typos.
    assert grocery.faq.correct_spelling("please send them") == "please send them"


def test_demo_answers_from_the_answer_text(demo_store: Store) -> None:
    apple_pay = demo_store.faq.answer("do you take apple pay?")
    assert apple_pay is not None and apple_pay.entry.id == "payment-methods"
    saturday = demo_store.faq.answer("what time do you close on saturday?")
    assert saturday is not None and saturday.entry.id == "store-hours"


@pytest.mark.parametrize("typo", ["is shiping free", "how do I retrun an item", "wheres my refnud"])
def test_demo_typos_with_swapped_letters_are_answered(demo_store: Store, typo: str) -> None:
    assert demo_store.faq.answer(typo) is not None


def test_the_decision_is_fitted_again_when_the_faq_changes(minilm: SentenceTransformerEmbedder) -> None:
    store = Store.ephemeral(embedder=minilm)
    store.faq.ingest(GROCERY_FAQ)
    before = store.faq.model().coefficients.copy()
    assert store.faq.model().coefficients is store.faq.model().coefficients  # kept between questions
    store.faq.ingest(GROCERY_FAQ[:4], mode="snapshot")
    after = store.faq.model().coefficients
    assert {entry.id for entry in store.faq.model().entries} == {entry.id for entry in GROCERY_FAQ[:4]}
    assert not (before == after).all()
    assert store.faq.answer("which cards can I pay with") is None  # its entry is gone
    store.close()


def test_a_single_entry_without_alternatives_still_answers_and_declines(minilm: SentenceTransformerEmbedder) -> None:
    store = Store.ephemeral(embedder=minilm)
    store.faq.ingest([GROCERY_FAQ[1]])
    hit = store.faq.answer("what's the delivery charge")
    assert hit is not None and hit.entry.id == "delivery-fee"
    assert store.faq.answer("who won the world cup in 2018") is None
    assert store.faq.answer("tell me a joke") is None
    store.close()


def test_empty_faq_and_blank_question(store: Store) -> None:
    assert store.faq.search("anything") == []
    store.faq.ingest(GROCERY_FAQ)
    assert store.faq.search("   ") == []
    assert store.faq.answer("") is None
