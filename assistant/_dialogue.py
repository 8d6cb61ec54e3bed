"""What one turn of one session knows: the message (corrected once), the session's state, the slots read from
it, the products on screen, and the reading of its intent in that context. Each kind of turn (``_search``,
``_compare``, ``_product_question``, ``_faq``) answers from it."""

from __future__ import annotations

import dataclasses
import functools
import re
import uuid
from typing import TYPE_CHECKING, Any

from assistant.history import DialogueState
from assistant.intents import IntentContext
from assistant.ledger import Constraints
from assistant.routing import (
    RoutingFacts,
    addressed_to_store,
    asks_about_own_order,
    asks_for_goods,
    asks_for_person,
    is_question,
    route,
)
from assistant.slots import ParsedRequest, grammar_words, parse_request
from assistant.turn import Intent, LedgerChip, ProductCard, Turn
from retrieval import FaqHit, Product, words
from retrieval.text import function_words, singular

if TYPE_CHECKING:
    from assistant.assistant import Assistant

# A message sharing this share of its words with a title, and of the title's words, names that product.
_TITLE_MATCH = 0.8
_TITLE_CANDIDATES = 20  # retrieval ranks a long title typed whole below shorter ones sharing its words
_SHORT_TITLE = 3  # words; a shorter title names its product only when typed as it stands
# After this many unanswered turns in a row the assistant hands over instead of declining again.
_MISSES_BEFORE_HANDOFF = 2
# Words that carry no product meaning: a request made only of them is too vague to search.
VAGUE = frozenset(
    """
    i i'm im a an the some something anything stuff thing things need want wanted looking look for to buy get gift
    gifts present presents idea ideas recommend recommendation recommendations suggest suggestion help me find
    show please can you could would like d good nice new my our his her their him them for of dad mom mum father
    mother wife husband son daughter kid kids child friend boyfriend girlfriend brother sister birthday christmas
    anniversary what do have shopping shop got any best great cool someone somebody who likes is it
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_WORD = re.compile(r"[a-z']+")
# A token mixing letters and digits, like "SWDVK-846808MQBWF": a model number, whatever the classifier thinks.
MODEL_NUMBER = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[a-z])[\w-]{6,}\b", re.I)


@functools.cache
def _non_content_words() -> frozenset[str]:
    """Grammar, request and slot-grammar words: what a message says besides the goods it wants."""
    return function_words() | VAGUE | grammar_words()


def _says_what_is_wanted(word: str) -> bool:
    """Has a letter ("4k" does, "500" does not), and is neither a grammar nor a request word ("ones" is "one")."""
    return (
        any(char.isalpha() for char in word)
        and word not in _non_content_words()
        and singular(word) not in _non_content_words()
    )


def request_words(text: str) -> set[str]:
    """The words of ``text`` besides the vague ones every request has ("show me something nice")."""
    return set(_WORD.findall(text.lower())) - VAGUE


def ledger_chips(ledger: Constraints) -> list[LedgerChip]:
    return [LedgerChip(slot=slot, value=value, label=label) for slot, value, label in ledger.chips()]


def product_card(product: Product, position: int, reason: str) -> ProductCard:
    return ProductCard(
        id=product.id,
        title=product.title,
        brand=product.brand,
        category=product.category,
        price=product.price,
        currency=product.currency,
        rating=product.rating,
        reason=reason,
        position=position,
    )


class Dialogue:
    """One turn of one session: decide what the message means here, then answer it."""

    def __init__(
        self, assistant: Assistant, session_id: str, text: str, state: DialogueState, *, refine_only: bool = False
    ) -> None:
        """``refine_only``: the state already holds the edit (a removed chip); search again, read nothing from text."""
        self.assistant = assistant
        self.store = assistant.store
        self.session_id = session_id
        self.text = text
        # The ledger's amounts are in the store's currency, whatever a reset or an older state says.
        ledger = dataclasses.replace(state.ledger, currency=assistant.currency)
        self.state = dataclasses.replace(state, misses=0, ledger=ledger)
        self._misses_before = state.misses
        found = self.store.products.get(state.shown)
        self.shown = [found[product_id] for product_id in state.shown if product_id in found]
        self.refine_only = refine_only
        self.corrected = assistant.corrected(text)  # what every reading of the message reads, corrected once
        self.request = (
            ParsedRequest(Constraints())
            if refine_only
            else parse_request(
                self.corrected,
                assistant.lexicon(),
                [product.brand for product in self.shown],
                currency=assistant.currency,
            )
        )

    # --- understanding -------------------------------------------------------------------------------

    def intent(self) -> Intent:
        """The classifier's reading of the message in this session's context, then the routing rules."""
        context = IntentContext(
            cards=len(self.shown),
            last_intent=self.state.last_intent,
            faq_answered=self.state.faq_topic is not None,
            clarifying=self.state.clarifying,
        )
        (predicted,) = self.assistant.intents().classify(
            self.store.encode_query(self.corrected)[None, :],
            self.store.settings.intent_threshold,
            [context],
        )
        constraints = self.request.constraints
        edits = constraints.filters_products() or constraints.sort or self.request.relative or self.request.cleared
        says_little = len(request_words(self.request.query) - {"only", "just", "instead", "then", "now"}) <= 2
        hit = self.faq_hit
        facts = RoutingFacts(
            predicted=predicted,  # type: ignore[arg-type]
            names_products=bool(constraints.category or constraints.brand),
            new_category=bool(constraints.category and constraints.category != self.state.ledger.category),
            model_number=MODEL_NUMBER.search(self.text) is not None,
            product_title=self.typed_a_title,
            catalog_words=self.says_only_catalog_words(),
            references=len(self.request.reference),
            question=is_question(self.text),
            asks_for_goods=asks_for_goods(self.text),
            addressed_to_store=addressed_to_store(self.text),
            after_faq=self.state.faq_topic is not None,
            own_order=asks_about_own_order(self.text),
            wants_person=asks_for_person(self.text),
            faq_score=hit.score if hit is not None else 0.0,
            cards=len(self.shown),
            ledger_active=bool(self.shown) or not self.state.ledger.is_empty(),
            only_edits=bool(edits) and says_little and not constraints.category,
        )
        return route(facts)

    # --- turns ---------------------------------------------------------------------------------------

    def turn(self, intent: Intent, text: str, **fields: Any) -> Turn:
        return Turn(turn_id=uuid.uuid4().hex, session_id=self.session_id, intent=intent, text=text, **fields)

    def miss(self, intent: Intent, text: str, **fields: Any) -> Turn:
        """A turn the assistant could not answer (``fields``: what it read, e.g. the slots its text quotes);
        repeated misses hand the customer to a person."""
        self.state.misses = self._misses_before + 1
        if self.state.misses >= _MISSES_BEFORE_HANDOFF:
            return self.handoff(
                "I'm not getting this right, sorry. I'm passing you to a person from our support team; "
                "they'll see this conversation.",
                intent,
            )
        return self.turn(intent, text, **fields)

    def handoff(self, text: str, intent: Intent = "handoff") -> Turn:
        self.state.handed_over = True
        self.state.misses = 0
        return self.turn(intent, text, handoff=True)

    @functools.cached_property
    def faq_hit(self) -> FaqHit | None:
        """The FAQ entry that answers this message, if any; routing and answering share the one lookup."""
        return self.store.faq.answer(self.text)

    def is_title(self, title: str) -> bool:
        """Most of the message's words are the title's, and most of the title's are the message's; a title of two
        words ("Butter Cookies", "Zucchini - Green") only as it stands."""
        said = set(words(self.corrected))
        named = set(words(title))
        if len(named) < _SHORT_TITLE:
            return len(named) > 1 and said == named
        shared = len(said & named)
        return shared >= _TITLE_MATCH * len(named) and shared >= _TITLE_MATCH * len(said)

    def says_only_catalog_words(self) -> bool:
        """Every word saying what is wanted is one the catalog's titles use ("peanut butter", "poha or upma")."""
        said = self.content_words(self.corrected)
        return bool(said) and all(self.assistant.lexicon().knows(word) for word in said)

    @functools.cached_property
    def typed_a_title(self) -> bool:
        """Whether the message is a product's title as the catalog writes it: one of its best matches (full text
        alone ranks short titles sharing a few words, "Orange Shower Gel", above a long one typed whole)."""
        best = self.store.products.search(self.corrected, None, _TITLE_CANDIDATES)
        return any(self.is_title(hit.product.title) for hit in best)

    def catalog_words(self, text: str) -> list[str]:
        """The words of ``text`` that say what is wanted and that the catalog's listings use, in order."""
        lexicon = self.assistant.lexicon()
        return [word for word in words(text) if _says_what_is_wanted(word) and lexicon.knows(word)]

    def content_words(self, text: str) -> set[str]:
        """The words of ``text`` that say what is wanted: no grammar, no request words, in catalog form."""
        lexicon = self.assistant.lexicon()
        return {lexicon.canonical(word) for word in words(text) if _says_what_is_wanted(word)}

    def listing_words(self, product: Product) -> set[str]:
        lexicon = self.assistant.lexicon()
        return {lexicon.canonical(word) for word in words(f"{product.title} {product.brand} {product.category}")}

    def referenced(self) -> list[tuple[int, Product]]:
        return [(p, self.shown[p - 1]) for p in self.request.reference if 1 <= p <= len(self.shown)]
