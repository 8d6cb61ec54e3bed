"""The conversational core every channel calls: ``Assistant.reply(session_id, text) -> Turn``.

Each message is classified (trained intent head + the session's context), its slots update the
session's constraint ledger, and the reply is built from catalog and FAQ records only; every
outgoing turn passes the grounding check before it leaves.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sqlite3
import threading
import uuid

from langchain_core.messages import AIMessage, HumanMessage

from assistant._compare import compare
from assistant._dialogue import Dialogue, ledger_chips
from assistant._faq import faq, order_status
from assistant._product_question import product_question
from assistant._search import search
from assistant.errors import GroundingError, InvalidMessageError
from assistant.grounding import grounding_problems
from assistant.history import ConversationStore, DialogueState
from assistant.intent_heads import load_intent_classifier
from assistant.intents import IntentClassifier
from assistant.phrasing import ReplyPhraser
from assistant.slots import SlotSpeller
from assistant.turn import Intent, Turn
from recommender import BaselineRanker, EventStore, Ranker, ShownProduct
from retrieval import CatalogLexicon, Store

logger = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 4000


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
                ledger=ledger_chips(state.ledger),
            )
        return self._answered(Dialogue(self, session_id, text, state), channel)

    def preview(self, session_id: str, text: str) -> Turn:
        """What the assistant would answer to ``text`` in this session now, recording nothing (the copilot's view)."""
        _validate(session_id, text)
        state = dataclasses.replace(self.conversations.state(session_id), handed_over=False)
        turn, _ = _respond(Dialogue(self, session_id, text, state))
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
        return self._answered(Dialogue(self, session_id, text, state, refine_only=True), channel)

    def agent_reply(self, session_id: str, text: str, agent: str) -> None:
        """Add a message a person sent the customer to the session's transcript."""
        _validate(session_id, text)
        self.conversations.append(session_id, [AIMessage(text, additional_kwargs={"agent": agent})])

    def release(self, session_id: str) -> None:
        """The person closed the handoff: the assistant answers this session again."""
        state = self.conversations.state(session_id)
        self.conversations.append(session_id, [], dataclasses.replace(state, handed_over=False, misses=0))

    def _answered(self, dialogue: Dialogue, channel: str) -> Turn:
        turn, new_state = _respond(dialogue)
        turn = self._checked(turn, dialogue.text)
        turn = self._logged(turn, dialogue.text, channel)
        try:
            self.conversations.append(
                dialogue.session_id,
                [
                    HumanMessage(dialogue.text),
                    AIMessage(turn.text, additional_kwargs={"turn": turn.model_dump(mode="json")}),
                ],
                new_state,
            )
        except BaseException:
            # Not in the transcript, so never delivered: the event log must not count it either.
            self._retracted(turn)
            raise
        return turn

    def _retracted(self, turn: Turn) -> None:
        if self.events is None:
            return
        try:
            self.events.retract_turn(turn.turn_id)
        except sqlite3.Error:
            logger.warning("could not retract undelivered turn %s from the event store", turn.turn_id, exc_info=True)

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


def _respond(dialogue: Dialogue) -> tuple[Turn, DialogueState]:
    """The turn answering the dialogue's message, by what it means in context, and the session's new state."""
    intent: Intent = "refine" if dialogue.refine_only else dialogue.intent()
    if intent in ("product_search", "refine"):
        turn = search(dialogue, intent)
    elif intent == "compare":
        turn = compare(dialogue)
    elif intent == "product_question":
        turn = product_question(dialogue)
    elif intent == "faq":
        turn = faq(dialogue)
    elif intent == "order_status":
        turn = order_status(dialogue)
    elif intent == "handoff":
        turn = dialogue.handoff(
            "I'm bringing in a person from our support team. They'll see this conversation, "
            "so you won't need to repeat yourself."
        )
    elif intent == "smalltalk":
        turn = dialogue.turn("smalltalk", _smalltalk_reply(dialogue.text))
    else:
        turn = dialogue.turn(
            "out_of_scope",
            "Sorry, that's outside what I can help with here. I can find and compare "
            "products, and answer questions about shipping, returns, payment and orders.",
        )
    state = dialogue.state
    update = {"handoff": turn.handoff or state.handed_over, "ledger": ledger_chips(state.ledger)}
    state.last_intent = turn.intent
    state.faq_topic = turn.faq_sources[0] if turn.faq_sources else None
    state.clarifying = turn.clarify
    return turn.model_copy(update=update), state


def _same_value(stored: str | float, given: str | float) -> bool:
    """A chip's value as a channel sends it back: "800" for 800.0 (query strings carry no types)."""
    if isinstance(stored, float):
        try:
            return stored == float(given)
        except ValueError:
            return False
    return stored == str(given)


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
