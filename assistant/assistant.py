"""The conversational core every channel calls: ``Assistant.reply(session_id, text) -> Turn``."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import uuid

from langchain_core.messages import AIMessage, HumanMessage

from assistant.errors import InvalidMessageError
from assistant.history import ConversationStore
from assistant.slots import Constraints, ParsedRequest, Vocabulary, parse_request
from assistant.turn import ProductCard, Turn
from recommender import BaselineRanker, EventStore, RankedProduct, Ranker, ShownProduct
from retrieval import FaqHit, Product, Store

logger = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 4000
# A question about the shop rather than a product: opens like a question and names no product constraint.
_QUESTION = re.compile(
    r"^\s*(how|what|when|where|why|who|which|can|could|do|does|did|is|are|will|would|should|may|i\s+(?:want|need)\s+to)\b"
    r"|\?\s*$",
    re.I,
)
_CONFIDENT_FAQ = 0.9
_RETRIEVAL_CANDIDATES = 20


class Assistant:
    """Routes each message to FAQ answering or product search, ranks products, phrases the reply."""

    def __init__(
        self,
        store: Store,
        ranker: Ranker | None = None,
        events: EventStore | None = None,
        conversations: ConversationStore | None = None,
    ) -> None:
        self.store = store
        self.ranker: Ranker = ranker or BaselineRanker()
        self.events = events
        self.conversations = conversations
        self._vocabulary: Vocabulary | None = None
        self._lock = threading.Lock()

    def vocabulary(self) -> Vocabulary:
        with self._lock:
            if self._vocabulary is None:
                self._vocabulary = Vocabulary.of(*self.store.products.vocabulary())
            return self._vocabulary

    def reply(self, session_id: str, text: str, *, channel: str = "core") -> Turn:
        """Answer one customer message; every turn and every card shown is written to the event log."""
        turn = self._logged(self._answer(session_id, text), text, channel)
        if self.conversations is not None:
            self.conversations.history(session_id).add_messages(
                [HumanMessage(text), AIMessage(turn.text, additional_kwargs={"turn": turn.model_dump(mode="json")})]
            )
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

    def _answer(self, session_id: str, text: str) -> Turn:
        if not text or not text.strip():
            raise InvalidMessageError(f"session {session_id!r}: the message is empty")
        if len(text) > MAX_MESSAGE_CHARS:
            raise InvalidMessageError(
                f"session {session_id!r}: the message has {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}"
            )
        request = parse_request(text, self.vocabulary())
        has_constraints = not request.constraints.is_empty()
        question = bool(_QUESTION.search(text))
        faq = self.store.faq.answer(text)
        if faq is not None and (not has_constraints or (question and faq.score >= _CONFIDENT_FAQ)):
            return self._faq_turn(session_id, faq)
        if question and not has_constraints:
            return self._decline_turn(session_id)
        return self._product_turn(session_id, text, request)

    def _new_turn_id(self) -> str:
        return uuid.uuid4().hex

    def _faq_turn(self, session_id: str, hit: FaqHit) -> Turn:
        return Turn(
            turn_id=self._new_turn_id(),
            session_id=session_id,
            intent="faq",
            text=hit.entry.answer,
            faq_sources=[hit.entry.id],
        )

    def _decline_turn(self, session_id: str) -> Turn:
        return Turn(
            turn_id=self._new_turn_id(),
            session_id=session_id,
            intent="faq",
            text=(
                "I'm not sure about that one, and I'd rather not guess. "
                "I can help you find products, or you can ask to talk to a person from our support team."
            ),
        )

    def _product_turn(self, session_id: str, text: str, request: ParsedRequest) -> Turn:
        constraints = request.constraints
        hits = self.store.products.search(request.query or text, constraints.to_filters(), _RETRIEVAL_CANDIDATES)
        ranked = _distinct(self.ranker.rank(request.query or text, hits))[: self.store.settings.cards_per_reply]
        cards = [self._card(item, constraints, position) for position, item in enumerate(ranked, start=1)]
        described = constraints.describe()
        if not cards:
            wanted = " · ".join(described) or f"“{text.strip()}”"
            reply = f"I couldn't find anything for {wanted}. Try a wider price range or fewer constraints."
        else:
            heading = f"Here is what I found for {' · '.join(described)}:" if described else "Here is what I found:"
            lines = [
                f"{card.position}. {card.title} — {_money(card.price, card.currency)} ({card.reason})" for card in cards
            ]
            reply = "\n".join([heading, *lines])
        return Turn(
            turn_id=self._new_turn_id(),
            session_id=session_id,
            intent="product_search",
            text=reply,
            products=cards,
            slots=constraints.as_slots(),
            constraints=described,
            ranker_version=self.ranker.version,
        )

    def _card(self, item: RankedProduct, constraints: Constraints, position: int) -> ProductCard:
        product = item.hit.product
        return ProductCard(
            id=product.id,
            title=product.title,
            brand=product.brand,
            category=product.category,
            price=product.price,
            currency=product.currency,
            rating=product.rating,
            reason=reason_for(product, constraints, lexical_match=item.hit.lexical_rank is not None),
            position=position,
        )


def _distinct(ranked: list[RankedProduct]) -> list[RankedProduct]:
    """Drop listings that would look identical to one above them (same title and price).

    Catalogs list one product under several categories; two identical cards read as a bug.
    """
    seen: set[tuple[str, float]] = set()
    distinct = []
    for item in ranked:
        key = (item.hit.product.title.casefold(), item.hit.product.price)
        if key not in seen:
            seen.add(key)
            distinct.append(item)
    return distinct


def _money(amount: float, currency: str) -> str:
    return f"${amount:,.2f}" if currency == "USD" else f"{amount:,.2f} {currency}"


def reason_for(product: Product, constraints: Constraints, *, lexical_match: bool) -> str:
    """One line built only from the product's own fields and the constraints it satisfies."""
    parts: list[str] = []
    if constraints.category and product.category == constraints.category:
        parts.append(product.category)
    if constraints.brand and product.brand == constraints.brand:
        parts.append(product.brand)
    if constraints.price_max is not None and product.price <= constraints.price_max:
        parts.append(f"under ${constraints.price_max:,.0f}")
    if constraints.price_min is not None and product.price >= constraints.price_min:
        parts.append(f"over ${constraints.price_min:,.0f}")
    if parts:
        reason = "matches: " + ", ".join(parts)
    elif lexical_match:
        reason = "matches your words"
    else:
        reason = "similar to your request"
    return f"{reason} · {product.rating:g}★" if product.rating is not None else reason
