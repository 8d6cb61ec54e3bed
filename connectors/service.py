"""The one core behind every front door: the web widget, Slack and the agent console all call this.

Session ids carry their channel as a prefix (``web:…``, ``slack:…``), so a message an agent writes
goes back out through the channel the customer is on.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel, Field

from assistant import Assistant, ConversationStore, Turn, phraser_from_settings
from connectors.copilot import Copilot, CopilotSuggestion
from connectors.errors import UnknownSessionError
from connectors.sessions import IssuedSessions
from recommender import CtrRanker, EventStore, ModelRegistry
from retrieval import Settings, Store

logger = logging.getLogger(__name__)
# Sends an agent's text to the customer of a session, on that session's channel.
Delivery = Callable[[str, str], None]
_PREPARE_CHUNK = 256


class Message(BaseModel):
    role: Literal["customer", "assistant", "agent"]
    text: str
    turn: Turn | None = None


class QueueEntry(BaseModel):
    session_id: str
    channel: str
    waiting_since: float
    last_customer_message: str


class QueuePage(BaseModel):
    entries: list[QueueEntry] = Field(description="Longest waiting first, from `offset` on.")
    total: int = Field(description="Conversations waiting for a person in all.")


def channel_of(session_id: str) -> str:
    return session_id.split(":", 1)[0] if ":" in session_id else "core"


def _message(message: BaseMessage) -> Message:
    text = str(message.content)
    if not isinstance(message, AIMessage):
        return Message(role="customer", text=text)
    if "agent" in message.additional_kwargs:
        return Message(role="agent", text=text)
    turn = message.additional_kwargs.get("turn")
    return Message(role="assistant", text=text, turn=Turn.model_validate(turn) if turn else None)


_READINESS_QUERY = "ready"  # any words will do: the probe is that a search runs end to end


class ShopService:
    """An assistant with its logs, the agents' queue, the web session ids it issued, and a delivery per channel
    for what agents send."""

    def __init__(
        self,
        assistant: Assistant,
        events: EventStore,
        copilot: Copilot | None = None,
        *,
        web_sessions: IssuedSessions | None = None,
        data_dir: Path | None = None,
    ) -> None:
        """``data_dir``: where the service's conversations, events and sessions are written (None: in memory)."""
        self.assistant = assistant
        self.data_dir = data_dir
        self.events = events
        self.copilot = copilot or Copilot(assistant)
        self.web_sessions = web_sessions or IssuedSessions.ephemeral()
        self._deliveries: dict[str, Delivery] = {}

    @classmethod
    def from_settings(cls, settings: Settings, store: Store | None = None) -> ShopService:
        """The persistent set-up under ``settings.data_dir``; nothing is opened until first use."""
        store = store or Store.from_settings(settings)
        events = EventStore.persistent(settings.data_dir)
        assistant = Assistant(
            store,
            CtrRanker(ModelRegistry.persistent(settings.models_path), events=events),
            events=events,
            conversations=ConversationStore.persistent(settings.data_dir),
            phraser=phraser_from_settings(settings.chat_model),
        )
        return cls(
            assistant, events, web_sessions=IssuedSessions.persistent(settings.data_dir), data_dir=settings.data_dir
        )

    def deliver_with(self, channel: str, delivery: Delivery) -> None:
        """How agents' messages reach customers of ``channel`` (web customers read their transcript instead)."""
        self._deliveries[channel] = delivery

    def message(self, session_id: str, text: str) -> Turn:
        return self.assistant.reply(session_id, text, channel=channel_of(session_id))

    def drop_constraint(self, session_id: str, slot: str, value: str | float | None = None) -> Turn:
        return self.assistant.drop_constraint(session_id, slot, value, channel=channel_of(session_id))

    def action(self, session_id: str, impression_id: str, action: str) -> None:
        self.events.log_action(impression_id, action, session_id=session_id)

    def transcript(self, session_id: str) -> list[Message]:
        return [_message(message) for message in self.assistant.conversations.read(session_id)]

    def handed_over(self, session_id: str) -> bool:
        """Whether a person has this conversation (the bot is not replying)."""
        return self.assistant.conversations.state(session_id).handed_over

    def queue(self, offset: int = 0, limit: int | None = None) -> QueuePage:
        """The conversations waiting for a person; only the page's entries read their last message."""
        waiting = self.assistant.conversations.handed_over()
        page = waiting[offset : None if limit is None else offset + limit]
        entries = [
            QueueEntry(
                session_id=session_id,
                channel=channel_of(session_id),
                waiting_since=since,
                last_customer_message=self.assistant.conversations.last_customer_text(session_id),
            )
            for session_id, since in page
        ]
        return QueuePage(entries=entries, total=len(waiting))

    def suggest(self, session_id: str | None = None, text: str | None = None) -> CopilotSuggestion:
        if session_id is not None:
            self._require(session_id)
        return self.copilot.suggest(session_id, text)

    def send_as_agent(self, session_id: str, text: str, agent: str, suggestion_id: str | None = None) -> None:
        """Write to the customer; sending a copilot suggestion (edited or not) counts as accepting it."""
        self._require(session_id)
        self.assistant.agent_reply(session_id, text, agent)
        delivery = self._deliveries.get(channel_of(session_id))
        if delivery is not None:
            delivery(session_id, text)
        if suggestion_id:
            self.events.log_feedback(session_id, suggestion_id, "accepted", text)

    def feedback(self, session_id: str, suggestion_id: str, accepted: bool) -> None:
        self._require(session_id)
        self.events.log_feedback(session_id, suggestion_id, "accepted" if accepted else "rejected", "")

    def close(self, session_id: str) -> None:
        """The agent is done: the assistant answers this session again."""
        self._require(session_id)
        self.assistant.release(session_id)

    def warm_up(self) -> None:
        """Load the models and the catalog vocabulary now, so the first customer does not wait for them."""
        started = time.perf_counter()
        self.assistant.preview("warm-up", "a laptop")
        logger.info("warmed up in %.1f s", time.perf_counter() - started)

    def readiness_problems(self) -> list[str]:
        """What keeps the service from answering customers now: a product search that fails, a data dir it
        cannot write (full, read-only or gone). Empty when ready."""
        problems = []
        try:
            self.assistant.store.products.search(_READINESS_QUERY, k=1)
        except Exception as error:  # any failure at all means not ready; the probe reports it rather than raising
            problems.append(f"product search fails: {type(error).__name__}: {error}")
        if self.data_dir is not None:
            try:
                with tempfile.TemporaryFile(dir=self.data_dir, prefix=".readiness-"):
                    pass
            except OSError as error:
                problems.append(f"cannot write to the data dir {self.data_dir}: {error.strerror or error}")
        return problems

    def prepare_ranker(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Let the ranker precompute its per-product work for the whole catalog (may take minutes on a large
        one); ``stop`` is checked between chunks so a shutting-down server need not wait for the rest."""
        started = time.perf_counter()
        products = self.assistant.store.products.all()
        for start in range(0, len(products), _PREPARE_CHUNK):
            if stop():
                return
            self.assistant.ranker.prepare(products[start : start + _PREPARE_CHUNK])
        logger.info("ranker %s prepared in %.1f s", self.assistant.ranker.version, time.perf_counter() - started)

    def _require(self, session_id: str) -> None:
        if not self.assistant.conversations.exists(session_id):
            raise UnknownSessionError(f"unknown session {session_id!r}")
