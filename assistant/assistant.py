"""The conversational core every channel calls: ``Assistant.reply(session_id, text) -> Turn``.

Each message is classified (trained intent head + the session's context), its slots update the
session's constraint ledger, and the reply is built from catalog and FAQ records only; every
outgoing turn passes the grounding check before it leaves.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import re
import sqlite3
import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from assistant.answers import answer_question, comparison_rows, comparison_text, money, reason_for
from assistant.errors import AssistantError, InvalidMessageError
from assistant.grounding import grounding_problems
from assistant.history import ConversationStore, DialogueState
from assistant.intents import (
    IntentClassifier,
    IntentContext,
    IntentModelError,
    StoreSample,
    TrainingExample,
    default_training_data_path,
    load_situated,
    load_utterances,
    public_data_paths,
    situated_data_path,
    training_examples,
)
from assistant.intents import data_hash as training_data_hash
from assistant.phrasing import ReplyPhraser
from assistant.routing import (
    RoutingFacts,
    addressed_to_store,
    asks_about_own_order,
    asks_for_goods,
    asks_for_person,
    is_question,
    route,
)
from assistant.slots import Constraints, ParsedRequest, SlotSpeller, grammar_words, parse_request
from assistant.turn import Intent, LedgerChip, ProductCard, Turn
from recommender import BaselineRanker, EventStore, RankedProduct, Ranker, RankingContext, ShownProduct
from retrieval import CatalogLexicon, FaqHit, Product, ProductHit, SearchFilters, Store, words
from retrieval.text import function_words

logger = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 4000
_RETRIEVAL_CANDIDATES = 20
# What retrieval finds for the message's words alone, before any filter: the evidence for brand and category.
_EVIDENCE_HITS = 20
_POST_FILTER_POOL = 5
_NOT_RANKED = 10**6
_LEADING = 5  # retrieval's first hits: what the message most plainly asks for
# A message sharing this share of its words with a title, and of the title's words, names that product.
_TITLE_MATCH = 0.8
_MAX_COMPARED = 4
# After this many unanswered turns in a row the assistant hands over instead of declining again.
_MISSES_BEFORE_HANDOFF = 2
# Words that carry no product meaning: a request made only of them is too vague to search.
_VAGUE = frozenset(
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
_MODEL_NUMBER = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[a-z])[\w-]{6,}\b", re.I)


class GroundingError(AssistantError):
    """A template reply mentioned something the catalog does not back (a bug, never shown to a customer)."""


_classifiers: dict[tuple[Path, str], IntentClassifier] = {}
_classifiers_lock = threading.Lock()


def intent_model_path(store: Store, training_hash: str | None = None) -> Path:
    """Where the store's head is saved: the shipped head's file is named by its training hash, one trained on a
    store's own utterances (``training_hash`` None) by the model alone.

    The shipped head depends on the catalog and FAQ: stores with different catalogs sharing a data folder
    (tests, staging) each keep theirs instead of retraining in turn.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", store.embedder.name).strip("_")
    return (
        store.settings.models_path / "intents" / (f"{slug}-{training_hash}.json" if training_hash else f"{slug}.json")
    )


# Product titles the intent head's generated utterances draw on: enough for the catalog's words, few enough
# that building the training set stays cheap on a large catalog.
_TITLES_FOR_INTENTS = 200


def store_sample(store: Store) -> StoreSample:
    """The store's categories, brands and FAQ questions, and the titles of a stable sample of its products."""
    lexicon = store.products.lexicon()
    # A hash of the id picks the sample: it does not move when unrelated products are added or edited.
    ids = sorted(store.products.hashes(), key=lambda product_id: hashlib.sha1(product_id.encode()).hexdigest())
    titles = sorted(product.title for product in store.products.get(ids[:_TITLES_FOR_INTENTS]).values())
    questions = [text for entry in store.faq.all() for text in (entry.question, *entry.alternatives)]
    return StoreSample(lexicon.categories, lexicon.brands, tuple(titles), tuple(questions))


def intent_training_examples(store: Store, data_file: Path | None = None) -> list[TrainingExample]:
    """What the store's head trains on: ``data_file`` (default: the shipped written utterances), the situated
    and public utterances shipped with shopassist, and utterances generated from the store's catalog."""
    return training_examples(
        load_utterances(data_file or default_training_data_path()),
        load_situated(situated_data_path()),
        [load_utterances(path, every_intent=False) for path in public_data_paths()],
        store_sample(store),
    )


def train_intent_classifier(store: Store, data_file: Path | None = None) -> IntentClassifier:
    """Train the head on ``data_file`` (default: the shipped utterances) and save it for the store's model."""
    examples = intent_training_examples(store, data_file)
    classifier = IntentClassifier.train(examples, store.embedder, custom=data_file is not None)
    path = intent_model_path(store, None if classifier.custom else classifier.training_hash)
    classifier.save(path)
    with _classifiers_lock:
        _classifiers[(path.resolve(), store.embedder.name)] = classifier
    return classifier


def load_intent_classifier(store: Store) -> IntentClassifier:
    """The saved head for the store's embedding model; trained first when missing, or older than the shipped
    data or the store's catalog and FAQ.

    A head trained by ``shopassist train intents --data FILE`` on a store's own utterances is kept as it is
    (delete it to go back to the shipped one).
    """
    shipped = intent_model_path(store, training_data_hash(intent_training_examples(store)))
    for path in (intent_model_path(store), shipped):
        key = (path.resolve(), store.embedder.name)
        with _classifiers_lock:
            if key in _classifiers:
                return _classifiers[key]
        if not path.exists():
            continue
        try:
            classifier = IntentClassifier.load(path)
        except IntentModelError:
            logger.warning("the saved intent model is unusable; retraining it", exc_info=True)
            continue
        if classifier.model_name == store.embedder.name and (classifier.custom or path == shipped):
            with _classifiers_lock:
                _classifiers[key] = classifier
            return classifier
    return train_intent_classifier(store)


class Assistant:
    """Understands each message in the context of its session and answers from catalog and FAQ only."""

    def __init__(
        self,
        store: Store,
        ranker: Ranker | None = None,
        events: EventStore | None = None,
        conversations: ConversationStore | None = None,
        *,
        intents: IntentClassifier | None = None,
        phraser: ReplyPhraser | None = None,
    ) -> None:
        self.store = store
        self.ranker: Ranker = ranker or BaselineRanker()
        self.events = events
        # Without a store the dialogue state still has to live somewhere: an in-memory one.
        self.conversations = conversations or ConversationStore.ephemeral()
        self.phraser = phraser
        self._intents = intents
        self._slot_speller: tuple[object, SlotSpeller] | None = None  # (the catalog speller it wraps, itself)
        self._lock = threading.Lock()

    def lexicon(self) -> CatalogLexicon:
        return self.store.products.lexicon()

    def corrected(self, text: str) -> str:
        """``text`` with misspelt words corrected towards the slot grammar's and the catalog's words."""
        if not self.store.settings.spelling_correction:
            return text
        catalog = self.store.products.speller()  # a new one after each ingest
        with self._lock:
            if self._slot_speller is None or self._slot_speller[0] is not catalog:
                self._slot_speller = (catalog, SlotSpeller(catalog))
            speller = self._slot_speller[1]
        return speller.correct(text)

    @property
    def currency(self) -> str:
        """The store's currency (the catalog's own; re-read after each ingest)."""
        return self.store.products.currency()

    def intents(self) -> IntentClassifier:
        with self._lock:
            if self._intents is None:
                self._intents = load_intent_classifier(self.store)
            return self._intents

    def reply(self, session_id: str, text: str, *, channel: str = "core") -> Turn:
        """Answer one customer message; the turn, the new dialogue state and every card shown are recorded.

        A session handed over to a person gets no automatic reply: the message is kept for the agent and
        the returned turn is ``held``.
        """
        _validate(session_id, text)
        state = self.conversations.state(session_id)
        if state.handed_over:
            self.conversations.append(session_id, [HumanMessage(text)])
            return Turn(
                turn_id=uuid.uuid4().hex,
                session_id=session_id,
                intent="handoff",
                text="",
                handoff=True,
                held=True,
                ledger=_chips(state.ledger),
            )
        return self._answered(_Dialogue(self, session_id, text, state), channel)

    def preview(self, session_id: str, text: str) -> Turn:
        """What the assistant would answer to ``text`` in this session now, recording nothing (the copilot's view)."""
        _validate(session_id, text)
        state = dataclasses.replace(self.conversations.state(session_id), handed_over=False)
        turn, _ = _Dialogue(self, session_id, text, state).run()
        return self._checked(turn, text)

    def drop_constraint(
        self, session_id: str, slot: str, value: str | float | None = None, *, channel: str = "core"
    ) -> Turn:
        """Remove one chip of the session's ledger (a customer's click on its ×) and search again without it."""
        state = self.conversations.state(session_id)
        chips = {(chip_slot, chip_value): label for chip_slot, chip_value, label in state.ledger.chips()}
        matching = [key for key in chips if key[0] == slot and (value is None or _same_value(key[1], value))]
        if not matching:
            known = ", ".join(f"{s}={v!r}" for s, v in chips) or "none"
            raise InvalidMessageError(
                f"session {session_id!r}: no constraint {slot}={value!r} to remove (the ledger has: {known})"
            )
        text = "Remove “" + "”, “".join(chips[key] for key in matching) + "”"
        if state.handed_over:
            return self.reply(session_id, text, channel=channel)
        query = state.query
        if slot == "keywords":
            dropped = [str(value)] if value is not None else state.ledger.keywords
            for keyword in dropped:
                query = re.sub(rf"(?<!\w){re.escape(keyword)}(?!\w)", " ", query)
            query = " ".join(query.split())
        ledger = state.ledger.without(slot, None if value is None else matching[0][1])
        state = dataclasses.replace(state, ledger=ledger, query=query)
        return self._answered(_Dialogue(self, session_id, text, state, refine_only=True), channel)

    def agent_reply(self, session_id: str, text: str, agent: str) -> None:
        """Add a message a person sent the customer to the session's transcript."""
        _validate(session_id, text)
        self.conversations.append(session_id, [AIMessage(text, additional_kwargs={"agent": agent})])

    def release(self, session_id: str) -> None:
        """The person closed the handoff: the assistant answers this session again."""
        state = self.conversations.state(session_id)
        self.conversations.append(session_id, [], dataclasses.replace(state, handed_over=False, misses=0))

    def _answered(self, dialogue: _Dialogue, channel: str) -> Turn:
        turn, new_state = dialogue.run()
        turn = self._checked(turn, dialogue.text)
        turn = self._logged(turn, dialogue.text, channel)
        self.conversations.append(
            dialogue.session_id,
            [
                HumanMessage(dialogue.text),
                AIMessage(turn.text, additional_kwargs={"turn": turn.model_dump(mode="json")}),
            ],
            new_state,
        )
        return turn

    def _checked(self, turn: Turn, text: str) -> Turn:
        catalog = self.store.products.get([card.id for card in turn.products])
        sources = [text, *(entry.answer for entry in self.store.faq.get(turn.faq_sources).values())]
        sources += [product.lexical_text() for product in catalog.values()]
        problems = grounding_problems(turn, catalog, sources)
        if problems:
            raise GroundingError(f"turn {turn.turn_id}: " + "; ".join(problems))
        if self.phraser is not None:
            phrased = self.phraser.phrase(turn, text)
            if phrased is not None:
                rejected = grounding_problems(turn, catalog, sources, phrased)
                if not rejected:
                    return turn.model_copy(update={"text": phrased})
                logger.warning("discarded an ungrounded rephrasing: %s", "; ".join(rejected))
        return turn

    def _logged(self, turn: Turn, text: str, channel: str) -> Turn:
        if self.events is None:
            return turn
        try:
            impression_ids = self.events.log_turn(
                turn_id=turn.turn_id,
                session_id=turn.session_id,
                channel=channel,
                query=text,
                ledger=turn.slots,
                intent=turn.intent,
                shown=[ShownProduct(card.id, card.position) for card in turn.products],
                ranker_version=turn.ranker_version,
                matched=0 if turn.relaxed else len(turn.products),
            )
        except sqlite3.Error:
            # The customer still gets the answer; only the training signal of this turn is lost.
            logger.warning("could not log turn %s to the event store", turn.turn_id, exc_info=True)
            return turn
        cards = [
            card.model_copy(update={"impression_id": iid})
            for card, iid in zip(turn.products, impression_ids, strict=True)
        ]
        return turn.model_copy(update={"products": cards})


def _validate(session_id: str, text: str) -> None:
    if not text or not text.strip():
        raise InvalidMessageError(f"session {session_id!r}: the message is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidMessageError(
            f"session {session_id!r}: the message has {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}"
        )


@functools.cache
def _non_content_words() -> frozenset[str]:
    """Grammar, request and slot-grammar words: what a message says besides the goods it wants."""
    return function_words() | _VAGUE | grammar_words()


def _similar(ranked: Sequence[RankedProduct], threshold: float) -> bool:
    """Whether any result is at least ``threshold`` similar to the request (rather than the least unrelated)."""
    return any((item.hit.dense_similarity or -1.0) >= threshold for item in ranked)


def _head_noun(text: str) -> str | None:
    """The word naming what is asked for: the last word of the first phrase that is more than a request
    ("do you have | car tyres", "show me | laptops | under …"); phrases end at grammar words."""
    phrase: list[str] = []
    for word in [*words(text), "."]:
        if word in function_words() or word in _VAGUE or not word.isalpha():
            if phrase:
                return phrase[-1]
            continue
        phrase.append(word)
    return None


def _content_words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower())) - _VAGUE


class _Dialogue:
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
        self.pinned: str | None = None  # the product the message names by title or model number
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

    def run(self) -> tuple[Turn, DialogueState]:
        intent: Intent = "refine" if self.refine_only else self.intent()
        if intent in ("product_search", "refine"):
            turn = self.search(intent)
        elif intent == "compare":
            turn = self.compare()
        elif intent == "product_question":
            turn = self.product_question()
        elif intent == "faq":
            turn = self.faq()
        elif intent == "order_status":
            turn = self.order_status()
        elif intent == "handoff":
            turn = self.handoff(
                "I'm bringing in a person from our support team. They'll see this conversation, "
                "so you won't need to repeat yourself."
            )
        elif intent == "smalltalk":
            turn = self.turn("smalltalk", _smalltalk_reply(self.text))
        else:
            turn = self.turn(
                "out_of_scope",
                "Sorry, that's outside what I can help with here. I can find and compare "
                "products, and answer questions about shipping, returns, payment and orders.",
            )
        update = {"handoff": turn.handoff or self.state.handed_over, "ledger": _chips(self.state.ledger)}
        self.state.last_intent = turn.intent
        self.state.faq_topic = turn.faq_sources[0] if turn.faq_sources else None
        self.state.clarifying = turn.clarify
        return turn.model_copy(update=update), self.state

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
        says_little = len(_content_words(self.request.query) - {"only", "just", "instead", "then", "now"}) <= 2
        hit = self.faq_hit
        facts = RoutingFacts(
            predicted=predicted,  # type: ignore[arg-type]
            names_products=bool(constraints.category or constraints.brand),
            new_category=bool(constraints.category and constraints.category != self.state.ledger.category),
            model_number=_MODEL_NUMBER.search(self.text) is not None,
            product_title=self.typed_a_title(),
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

    def miss(self, intent: Intent, text: str) -> Turn:
        """A turn the assistant could not answer; repeated misses hand the customer to a person."""
        self.state.misses = self._misses_before + 1
        if self.state.misses >= _MISSES_BEFORE_HANDOFF:
            return self.handoff(
                "I'm not getting this right, sorry. I'm passing you to a person from our support team; "
                "they'll see this conversation.",
                intent,
            )
        return self.turn(intent, text)

    def handoff(self, text: str, intent: Intent = "handoff") -> Turn:
        self.state.handed_over = True
        self.state.misses = 0
        return self.turn(intent, text, handoff=True)

    @functools.cached_property
    def faq_hit(self) -> FaqHit | None:
        """The FAQ entry that answers this message, if any; routing and answering share the one lookup."""
        return self.store.faq.answer(self.text)

    def followup_faq_hit(self) -> FaqHit | None:
        """The entry answering the message, read as a follow-up to the FAQ entry the last turn quoted when it
        does not stand on its own ("how long does it take to get there" after the shipping answer)."""
        if self.faq_hit is not None or self.state.faq_topic is None:
            return self.faq_hit
        topic = self.store.faq.get([self.state.faq_topic]).get(self.state.faq_topic)
        return None if topic is None else self.store.faq.answer(f"{topic.question} {self.text}")

    def faq(self) -> Turn:
        hit = self.followup_faq_hit()
        if hit is None:
            return self.miss(
                "faq",
                "I'm not sure about that one, and I'd rather not guess. I can help you find products, "
                "or you can ask to talk to a person from our support team.",
            )
        return self.turn("faq", hit.entry.answer, faq_sources=[hit.entry.id])

    def order_status(self) -> Turn:
        hit = self.faq_hit
        lead = "I can't look up orders from this chat."
        if hit is None:
            return self.turn("order_status", f"{lead} Ask for a person and our support team will check it for you.")
        return self.turn(
            "order_status",
            f"{lead} {hit.entry.answer}\nIf it's late or missing, ask for a person and our team will check it.",
            faq_sources=[hit.entry.id],
        )

    def search(self, intent: Intent) -> Turn:
        previous = self.state.ledger
        if intent == "refine":
            ledger = _refined(previous, self.request, self.shown)
            query = " ".join(
                [self.state.query, *[k for k in self.request.constraints.keywords if k not in self.state.query]]
            )
            if self.refine_only and not query.strip() and not ledger.filters_products():
                return self.clarify()
        else:
            ledger = self.request.constraints
            query = self.request.query or self.text
            if _content_words(query) == set() and not ledger.filters_products() and not self.request.reference:
                return self.clarify()
        query = query.strip() or self.text
        head = _head_noun(query) if intent == "product_search" else None
        if head is not None and not self.resembles(head) and not self.store.products.speller().knows(head):
            return self.not_carried(head)
        ledger = self.settle(query, ledger, previous if intent == "refine" else Constraints())
        ranked = self.find(query, ledger)
        if (
            head is not None
            and not (ledger.category or ledger.brand or self.pinned)
            and not _similar(ranked, self.store.settings.search_min_similarity)
            and not self.resembles(head)
        ):
            return self.not_carried(head)
        relaxed: list[str] = []
        if not ranked:
            relaxed, ranked = self.relax(query, ledger)
        cards = [self.card(item, ledger, position) for position, item in enumerate(ranked, start=1)]
        described = ledger.describe()
        lines = []
        if ledger != previous and described and not relaxed:
            lines.append(f"Looking for: {' · '.join(described)}")
        if relaxed:
            lines.append(_relaxed_explanation(ledger, relaxed))
        elif not cards:
            lines.append(f"I couldn't find anything for {' · '.join(described) or repr(self.text.strip())}.")
        lines += [f"{c.position}. {c.title} — {money(c.price, c.currency)} ({c.reason})" for c in cards]
        self.state.ledger, self.state.query = ledger, query
        self.state.shown = [card.id for card in cards]
        self.state.focus = None
        if not cards:
            return self.miss(intent, "\n".join(lines) + "\nTry fewer constraints, or ask for a person.")
        return self.turn(
            intent,
            "\n".join(lines),
            products=cards,
            slots=ledger.as_slots(),
            constraints=described,
            relaxed=relaxed,
            ranker_version=self.assistant.ranker.version,
        )

    def clarify(self) -> Turn:
        self.state.ledger, self.state.query, self.state.shown = Constraints(), "", []
        categories = list(self.assistant.lexicon().categories)[:4]
        return self.turn(
            "product_search",
            "Happy to help! Who is it for, and what kind of thing do you have in mind? A budget helps too"
            + (f" — for example: {', '.join(categories)}." if categories else "."),
            clarify=True,
            suggestions=categories,
        )

    def settle(self, query: str, ledger: Constraints, previous: Constraints) -> Constraints:
        """Which named brands and category filter, decided with what retrieval finds for the words alone.

        A brand named with words other brands use too ("My Arcade", "Apple" among apple juices) filters only when
        the rest of the message finds that brand anyway ("ring doorbell", not "a soundbar for my TV"); a category
        named in this message filters only when retrieval's top dense or lexical hits include it
        (otherwise its words still rank matching products up through retrieval). A message that is a product's
        title or model number pins that product first and names no category.
        """
        products = self.store.products
        evidence = products.search(query, None, _EVIDENCE_HITS)
        self.pinned = next((hit.product.id for hit in evidence if self.names_product(hit)), None)
        lexicon = self.assistant.lexicon()
        doubtful = [brand for brand in ledger.brand if brand not in previous.brand and lexicon.ambiguous_brand(brand)]
        if doubtful:
            # Would the rest of the message find this brand anyway? ("ring doorbell": yes; "for my TV": no.)
            rest = query
            for brand in doubtful:
                rest = re.sub(rf"(?i)\b{re.escape(brand)}\b", " ", rest)
            seen = {hit.product.brand for hit in products.search(rest, None, _EVIDENCE_HITS)} if rest.strip() else None
            if seen is not None:
                seen |= {hit.product.brand for hit in evidence[:_LEADING]}  # "apple tv 4k" finds the Apple TV first
            kept = [brand for brand in ledger.brand if brand not in doubtful or seen is None or brand in seen]
            ledger = dataclasses.replace(ledger, brand=kept)
        named = self.request.named_categories
        if self.pinned is not None:
            return dataclasses.replace(ledger, category=[])
        if not named:
            return ledger
        if ledger.brand:
            evidence = products.search(query, SearchFilters(brands=tuple(ledger.brand)), _EVIDENCE_HITS)
        leading = [
            hit for hit in evidence if min(hit.dense_rank or _NOT_RANKED, hit.lexical_rank or _NOT_RANKED) <= _LEADING
        ]
        shown = {hit.product.category for hit in leading}
        support: dict[str, float] = defaultdict(float)
        for rank, hit in enumerate(evidence, start=1):
            support[hit.product.category] += 1 / rank
        categories = []
        for alternative in named:
            supported = shown & set(alternative)
            best = max(supported, key=lambda c: (alternative[c], support[c]), default=None)
            if best is not None and best not in categories:
                categories.append(best)
        return dataclasses.replace(ledger, category=categories)

    def names_product(self, hit: ProductHit) -> bool:
        """Whether the message is this product's title (give or take a few words) or its model number."""
        if _MODEL_NUMBER.search(self.text) and hit.lexical_rank == 1:
            return True
        return self.is_title(hit.product.title)

    def is_title(self, title: str) -> bool:
        """Most of the message's words are the title's, and most of the title's are the message's."""
        said = set(words(self.corrected))
        named = set(words(title))
        shared = len(said & named)
        return len(named) >= 3 and shared >= _TITLE_MATCH * len(named) and shared >= _TITLE_MATCH * len(said)

    def says_only_catalog_words(self) -> bool:
        """Every word saying what is wanted is one the catalog's titles use ("peanut butter", "poha or upma")."""
        said = self.content_words(self.corrected)
        return bool(said) and all(self.assistant.lexicon().knows(word) for word in said)

    def typed_a_title(self) -> bool:
        """Whether the message is a product's title as the catalog writes it (its best full-text match)."""
        best = self.store.products.lexical(self.corrected, 1)
        return bool(best) and any(
            self.is_title(product.title) for product in self.store.products.get([best[0][0]]).values()
        )

    def find(self, query: str, ledger: Constraints) -> list[RankedProduct]:
        query = self.store.products.correct_spelling(query)  # the ranker reads what retrieval read
        # Specs and exclusions are checked on the listings, after retrieval: give them more to choose from.
        pool = _RETRIEVAL_CANDIDATES * (_POST_FILTER_POOL if ledger.specs() or ledger.exclude_keywords else 1)
        hits = self.store.products.search(query, ledger.to_filters(), pool)
        hits = [hit for hit in hits if ledger.admits(hit.product)]
        context = RankingContext(ledger=ledger.as_slots(), clicked=self.clicked_products())
        ranked = _distinct(self.assistant.ranker.rank(query, hits, context))
        # Listings whose name says more of what the customer said first ("organic honey": organic honeys before
        # other honeys), then keyword matches; stable, so the ranker's order holds within each group. Then the
        # requested order.
        wanted = self.content_words(query)
        ranked.sort(
            key=lambda item: (
                -len(wanted & self.listing_words(item.hit.product)),
                -len(ledger.keywords_met(item.hit.product)),
            )
        )
        if ledger.sort == "price_asc":
            ranked.sort(key=lambda item: _price_order(item.hit.product.price, 1.0))
        elif ledger.sort == "price_desc":
            ranked.sort(key=lambda item: _price_order(item.hit.product.price, -1.0))
        elif ledger.sort == "rating_desc":
            ranked.sort(key=lambda item: -(item.hit.product.rating or 0.0))
        # The product the message names leads; otherwise an out-of-stock product never does.
        lead = next((item for item in ranked if item.hit.product.id == self.pinned), None)
        lead = lead or next((item for item in ranked if item.hit.product.in_stock), None)
        if lead is not None:
            ranked.remove(lead)
            ranked.insert(0, lead)
        return ranked[: self.store.settings.cards_per_reply]

    def content_words(self, text: str) -> set[str]:
        """The words of ``text`` that say what is wanted: no grammar, no request words, in catalog form."""
        lexicon = self.assistant.lexicon()
        return {lexicon.canonical(word) for word in words(text) if word.isalpha() and word not in _non_content_words()}

    def listing_words(self, product: Product) -> set[str]:
        lexicon = self.assistant.lexicon()
        return {lexicon.canonical(word) for word in words(f"{product.title} {product.brand} {product.category}")}

    def clicked_products(self) -> list[Product]:
        events = self.assistant.events
        if events is None:
            return []
        try:
            ids = events.clicked_products(self.session_id)
        except sqlite3.Error:
            logger.warning("could not read session %s's clicks; ranking without them", self.session_id, exc_info=True)
            return []
        found = self.store.products.get(ids)
        return [found[i] for i in ids if i in found]

    def not_carried(self, product_type: str) -> Turn:
        self.state.ledger, self.state.query, self.state.shown = Constraints(), "", []
        categories = list(self.assistant.lexicon().categories)[:5]
        offer = f" We mostly carry {', '.join(categories)}. Want to look at one of those?" if categories else ""
        return self.miss(
            "product_search",
            f"Sorry, we don't carry {product_type} — I couldn't find anything like “{self.text.strip()[:80]}” "
            f"in our catalog.{offer}",
        )

    def resembles(self, product_type: str) -> bool:
        """Whether some product is like ``product_type`` on its own ("television" → a TV; "tyres" in a grocery:
        nothing). Asked when no listing uses the word, or when nothing found resembles the whole request
        ("a saddle for my horse" finds guitars, whose listings mention a saddle)."""
        if _MODEL_NUMBER.search(self.text) and self.store.products.lexical(self.text, 1):
            return True
        nearest = self.store.products.dense(product_type, 1)
        return bool(nearest) and nearest[0][1] >= self.store.settings.search_min_similarity

    def relax(self, query: str, ledger: Constraints) -> tuple[list[str], list[RankedProduct]]:
        """Drop one constraint at a time, most dispensable first; the first that finds something wins."""
        # Dropping a price bound, the nearest alternatives are the ones closest to it.
        options: list[tuple[str, dict[str, object]]] = [
            ("exclude_keywords", {"exclude_keywords": []}),
            ("rating_min", {"rating_min": None}),
            ("price_max", {"price_max": None, "sort": "price_asc"}),
            ("price_min", {"price_min": None, "sort": "price_desc"}),
            ("keywords", {"keywords": [k for k in ledger.keywords if k not in ledger.specs()]}),
            ("brand", {"brand": None}),
            ("exclude_brand", {"exclude_brand": []}),
            ("category", {"category": []}),
        ]
        for name, changes in options:
            if getattr(ledger, name) in (None, []) or (name == "keywords" and not ledger.specs()):
                continue
            ranked = self.find(query, dataclasses.replace(ledger, **changes))  # type: ignore[arg-type]
            if ranked:
                return [name], ranked
        return [], []

    def card(self, item: RankedProduct, ledger: Constraints, position: int) -> ProductCard:
        product = item.hit.product
        return _card(product, position, reason_for(product, ledger, lexical_match=item.hit.lexical_rank is not None))

    def referenced(self) -> list[tuple[int, Product]]:
        return [(p, self.shown[p - 1]) for p in self.request.reference if 1 <= p <= len(self.shown)]

    def compare(self) -> Turn:
        chosen = self.referenced() or list(enumerate(self.shown, start=1))
        chosen = chosen[:_MAX_COMPARED]
        if len(chosen) < 2:
            return self.turn(
                "compare",
                "Which products should I compare? Search first, then say e.g. “compare the first two”."
                if not self.shown
                else f"Which ones should I compare? Pick two to {min(len(self.shown), _MAX_COMPARED)}, "
                "e.g. “compare 1 and 2”.",
                clarify=True,
            )
        positions = [position for position, _ in chosen]
        products = [product for _, product in chosen]
        rows = comparison_rows(products)
        return self.turn(
            "compare",
            comparison_text(products, positions, rows),
            products=[_card(p, position, "compared") for position, p in chosen],
            comparison=rows,
            slots={"reference": positions},
        )

    def product_question(self) -> Turn:
        referenced = self.referenced()
        by_id = {product.id: (position, product) for position, product in enumerate(self.shown, start=1)}
        if referenced:
            position, product = referenced[0]
        elif self.state.focus in by_id:
            position, product = by_id[self.state.focus]
        elif len(self.shown) == 1:
            position, product = 1, self.shown[0]
        else:
            ask = (
                f"Which one do you mean — 1 to {len(self.shown)}?"
                if self.shown
                else "Which product do you mean? Tell me what you're looking for first."
            )
            return self.turn("product_question", ask, clarify=True)
        self.state.focus = product.id
        answer = answer_question(product, self.text)
        text, sources = answer.text, []
        if answer.silent and self.faq_hit is not None:
            # "Does the first one come with a warranty?": a store-wide policy the listing need not repeat.
            text += f"\nWhat our FAQ says about “{self.faq_hit.entry.question}”: {self.faq_hit.entry.answer}"
            sources = [self.faq_hit.entry.id]
        elif answer.silent:
            text += " I'd rather not guess — ask for a person and someone from our team can check."
        return self.turn(
            "product_question",
            text,
            products=[_card(product, position, "the one you asked about")],
            slots={"reference": [position]},
            faq_sources=sources,
        )


def _same_value(stored: str | float, given: str | float) -> bool:
    """A chip's value as a channel sends it back: "800" for 800.0 (query strings carry no types)."""
    if isinstance(stored, float):
        try:
            return stored == float(given)
        except ValueError:
            return False
    return stored == str(given)


def _chips(ledger: Constraints) -> list[LedgerChip]:
    return [LedgerChip(slot=slot, value=value, label=label) for slot, value, label in ledger.chips()]


def _card(product: Product, position: int, reason: str) -> ProductCard:
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


def _refined(ledger: Constraints, request: ParsedRequest, shown: Sequence[Product]) -> Constraints:
    """The ledger after a refinement: explicit edits, "forget the …", and "cheaper"/"pricier" than what was shown."""
    new = dataclasses.replace(
        ledger,
        category=list(ledger.category),
        brand=list(ledger.brand),
        exclude_brand=list(ledger.exclude_brand),
        keywords=list(ledger.keywords),
        exclude_keywords=list(ledger.exclude_keywords),
    )
    for name in request.cleared:
        setattr(new, name, [] if isinstance(getattr(new, name), list) else None)
    said = request.constraints
    if said.category:
        new.category = list(said.category)
    if said.brand:
        new.brand = list(said.brand)
        new.exclude_brand = [b for b in new.exclude_brand if b not in said.brand]
    for brand in said.exclude_brand:
        if brand not in new.exclude_brand:
            new.exclude_brand.append(brand)
        new.brand = [b for b in new.brand if b != brand]
    if said.price_min is not None or said.price_max is not None:
        new.price_min, new.price_max = said.price_min, said.price_max
    if said.rating_min is not None:
        new.rating_min = said.rating_min
    if said.sort:
        new.sort = said.sort
    new.keywords = list(dict.fromkeys([*new.keywords, *said.keywords]))
    new.exclude_keywords = list(dict.fromkeys([*new.exclude_keywords, *said.exclude_keywords]))
    new.keywords = [k for k in new.keywords if k not in new.exclude_keywords]
    prices = [product.price for product in shown if product.price is not None]
    if request.relative == "cheaper":
        cap = min(prices) if prices else (new.price_max or 0.0) * 0.8
        new.price_max = round(max(cap - 0.01, 0.0), 2)
        if new.price_min is not None and new.price_min >= new.price_max:
            new.price_min = None
    elif request.relative == "pricier":
        floor = max(prices) if prices else (new.price_min or new.price_max or 0.0)
        new.price_min = round(floor + 0.01, 2)
        if new.price_max is not None and new.price_max <= new.price_min:
            new.price_max = None
    elif request.relative == "better_rated":
        ratings = [product.rating for product in shown if product.rating is not None]
        floor = min(ratings) + 0.1 if ratings else (new.rating_min or 0.0) + 0.5
        new.rating_min = round(min(5.0, max(4.0, floor)), 1)
        new.sort = "rating_desc"
    return new


def _price_order(price: float | None, direction: float) -> tuple[bool, float]:
    """Sort key: listed prices ascending (``direction`` 1) or descending (-1), products without one last."""
    return price is None, direction * (price or 0.0)


def _relaxed_explanation(ledger: Constraints, relaxed: list[str]) -> str:
    return (
        f"Nothing matches all of {' · '.join(ledger.describe())} — “{ledger.phrase(relaxed[0])}” rules everything "
        "out. The closest alternatives without it:"
    )


def _smalltalk_reply(text: str) -> str:
    lowered = text.lower()
    if re.search(r"\b(thanks?|thank you|thx|ty|cheers|appreciate)", lowered):
        return "You're welcome! Anything else I can help you find?"
    if re.search(r"\b(bye|goodbye|see (?:you|ya)|later|good night|that's all|that's it)\b", lowered):
        return "Thanks for stopping by — have a great day!"
    if re.search(
        r"\b(bot|human|real person|who are you|what are you|your name|what can you|what can i ask|purpose)\b", lowered
    ):
        return (
            "I'm this store's shopping assistant — a bot. I can find and compare products, answer questions "
            "about shipping, returns and payment, and get you a person whenever you like."
        )
    return (
        "Hi! What are you shopping for today? I can find and compare products, and answer questions about "
        "orders, shipping and returns."
    )


def _distinct(ranked: list[RankedProduct]) -> list[RankedProduct]:
    """Drop listings that would look identical to one above them (same title and price).

    Catalogs list one product under several categories; two identical cards read as a bug.
    """
    seen: set[tuple[str, float | None]] = set()
    distinct = []
    for item in ranked:
        key = (item.hit.product.title.casefold(), item.hit.product.price)
        if key not in seen:
            seen.add(key)
            distinct.append(item)
    return distinct
