"""Which handler answers a message: the classifier's intent, corrected by facts about the message and the session.

``route`` is a pure function of a ``RoutingFacts``: the dialogue computes the facts (parsing, FAQ lookup,
state) and this module decides, so every rule is table-tested without a model or a store. The rules are
language-level: what the parsed request names or refers to, whether it is a question, and what is on
screen. What the words of a follow-up mean after an FAQ answer or next to product cards is the context-aware
classifier's job (``assistant.intents``), not a rule's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.turn import Intent

_QUESTION = re.compile(
    r"^\s*(how|what|when|where|why|who|which|can|could|do|does|did|is|are|will|would|should|may|i\s+(?:want|need)\s+to)\b"
    r"|\?\s*$",
    re.I,
)
# "Do you sell refurbished phones?", "do you carry X", "I'm looking for a saddle": a request for goods, even
# when a policy entry sounds alike ("Do you buy used electronics?") or the store has no such thing (the search
# says so). "Do you sell to businesses?" is about the store, not an item.
_ASKS_FOR_GOODS = re.compile(
    r"\b(?:do|does)\s+(?:you|your\s+(?:store|shop))\s+(?:sell|carry|stock|have)\b(?!\s+(?:to|online)\b)"
    r"|\b(?:looking|shopping|searching)\s+for\s+(?:a|an|some|new)\b|\b(?:want|like)\s+to\s+buy\b",
    re.I,
)
# "I want to talk to a person", "can I speak with a human", "get me a live agent": always a handoff.
_ASKS_FOR_PERSON = re.compile(
    r"\b(?:talk|speak|chat)\s+(?:to|with)\s+(?:a\s+|an\s+|the\s+|your\s+)?(?:real\s+|live\s+)?"
    r"(?:person|human|agent|someone|somebody|representative|rep|staff|manager)\b"
    r"|\b(?:real|live)\s+(?:person|human|agent)\b|\bhuman\s+agent\b",
    re.I,
)
# "Where is my order?", "my parcel still hasn't arrived": the state of the customer's own order.
_ORDER_STATUS = re.compile(
    r"\bmy\s+(?:order|package|parcel|delivery|shipment)\b.*?\b(?:where|status|track|still|yet|late|arrived?|"
    r"here|come|came|received?)\b|\b(?:where|status of|track)\b.*?\bmy\s+(?:order|package|parcel|delivery|shipment)\b",
    re.I,
)
_ADDRESSED_TO_STORE = re.compile(r"\b(?:you|your|you're|yours)\b", re.I)
# A calibrated FAQ score this high is a near-paraphrase of an entry's question: answer it even when the
# classifier took the message for small talk, out of scope, or a search naming no product.
CONFIDENT_FAQ = 0.9


def is_question(text: str) -> bool:
    """Asked as a question: a question word or auxiliary first, or a question mark last."""
    return _QUESTION.search(text) is not None


def addressed_to_store(text: str) -> bool:
    """Says "you"/"your": about this shop ("what time do you close"), not the world ("when does the louvre open")."""
    return _ADDRESSED_TO_STORE.search(text) is not None


def asks_for_person(text: str) -> bool:
    return _ASKS_FOR_PERSON.search(text) is not None


def asks_about_own_order(text: str) -> bool:
    return _ORDER_STATUS.search(text) is not None


def asks_for_goods(text: str) -> bool:
    return _ASKS_FOR_GOODS.search(text) is not None


@dataclass(frozen=True)
class RoutingFacts:
    """Everything ``route`` reads; nothing here needs a model or a store."""

    predicted: Intent  # the classifier's intent (``out_of_scope`` below its confidence threshold)
    names_products: bool = False  # the message names a catalog category or brand
    new_category: bool = False  # ... and the category differs from the ledger's
    model_number: bool = False  # a token like "SWDVK-846808MQBWF"
    product_title: bool = False  # the message is (most of) a product's title
    catalog_words: bool = False  # every word naming what is wanted is one the catalog's titles use
    references: int = 0  # positions of shown products referred to ("the second one", "both")
    question: bool = False
    asks_for_goods: bool = False  # "do you sell / carry / stock ..."
    addressed_to_store: bool = False  # "you", "your"
    after_faq: bool = False  # the previous turn answered from the FAQ
    own_order: bool = False  # asks where the customer's own order is ("where is my order?")
    wants_person: bool = False  # asks for a person in so many words ("I want to talk to a person")
    faq_score: float = 0.0  # calibrated score of the FAQ entry that answers the message (0: none does)
    cards: int = 0  # products on screen
    ledger_active: bool = False  # products on screen or constraints kept from earlier turns
    # The message edits the ledger (price, brand, sort, "cheaper"), names no category and says little else.
    only_edits: bool = False


def route(facts: RoutingFacts) -> Intent:
    if facts.wants_person:
        return "handoff"
    intent = facts.predicted
    names_goods = facts.names_products or facts.model_number or facts.product_title or facts.asks_for_goods
    if facts.product_title or (
        intent in ("out_of_scope", "smalltalk", "faq", "handoff", "order_status")
        and facts.model_number
        and not facts.faq_score
    ):
        # A product's title ("Detergent Powder - Stain Care", "Xbox Game Pass Core … Digital Download") names that
        # product, whatever else its words suggest.
        return "product_search"
    if intent in ("out_of_scope", "smalltalk") and names_goods:
        return "product_search"
    if intent == "out_of_scope" and facts.catalog_words and not facts.question:
        # "peanut butter", "anti dandruff shampoo": goods the catalog's own words name, not a question.
        return "product_search"
    if (
        intent in ("out_of_scope", "smalltalk", "product_search")
        and facts.question
        and not facts.names_products
        and facts.faq_score >= CONFIDENT_FAQ
    ):
        return "faq"
    if (
        intent == "out_of_scope"
        and facts.question
        and (facts.addressed_to_store or facts.after_faq)
        and facts.faq_score
    ):
        # A question to the shop, or right after an FAQ answer, that its FAQ answers (at the store's own
        # threshold): the public sets' out-of-scope questions ("what time does the louvre open") pull such
        # questions away from the FAQ.
        return "faq"
    if intent == "faq" and facts.asks_for_goods and facts.faq_score < CONFIDENT_FAQ:
        return "product_search"
    if intent == "faq" and facts.own_order:
        # Where an order is needs the order, not a policy: the order-status turn says so and quotes the FAQ.
        return "order_status"
    if intent == "refine" and (not facts.ledger_active or facts.new_category):
        return "product_search"
    if intent == "product_search" and facts.ledger_active and facts.only_edits:
        return "refine"
    if intent == "product_question" and facts.references >= 2:
        intent = "compare"
    elif intent == "compare" and facts.references == 1:
        intent = "product_question"
    # Nothing on screen to compare or ask about: a statement naming goods ("3/4 in. pvc pipe") is a search.
    nothing_to_refer_to = facts.cards == 0 and not facts.references
    if nothing_to_refer_to and (
        (intent in ("compare", "product_question") and names_goods) or (intent == "compare" and not facts.question)
    ):
        return "product_search"
    return intent
