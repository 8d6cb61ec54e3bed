"""Suggestions for a support agent, computed from the customer's conversation without changing it."""

from __future__ import annotations

import re
import uuid

from pydantic import BaseModel, Field

from assistant import Assistant, Intent, LedgerChip, ProductCard, Turn

_FAQ_SNIPPETS = 3
# Words of a customer who is upset or has a problem a bot cannot fix: worth a person's full attention.
_ESCALATE = re.compile(
    r"\b(angry|furious|terrible|awful|worst|unacceptable|complain\w*|broken|damaged|never (?:arrived|came)|"
    r"charged twice|chargeback|lawyer|scam|refund now|cancel (?:my|the) order)\b",
    re.I,
)
_GREETING = "Hi, I'm from the support team and I've read our conversation so far. How can I help?"
_HINTS: dict[Intent, str] = {
    "handoff": "The customer asked for a person.",
    "order_status": "Order question: look the order up; the assistant cannot see orders.",
    "out_of_scope": "Outside what the assistant covers: answer yourself or route to the right team.",
}


class FaqSnippet(BaseModel):
    id: str
    question: str
    answer: str
    score: float = Field(description="Calibrated probability that the entry answers the message.")


class CopilotSuggestion(BaseModel):
    suggestion_id: str = Field(description="Send it back with the message or the feedback it led to.")
    session_id: str | None
    customer_message: str
    intent: Intent
    reply: str = Field(description="A grounded reply the agent may insert, edit and send.")
    products: list[ProductCard]
    faq: list[FaqSnippet]
    ledger: list[LedgerChip]
    escalation_hint: str | None


class Copilot:
    """Reads a session (or pasted text) through the same dialogue the bot uses, recording nothing."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def suggest(self, session_id: str | None = None, text: str | None = None) -> CopilotSuggestion:
        """For ``session_id``'s last customer message (or ``text`` in its context); ``text`` alone = no context."""
        if text is None:
            if session_id is None:
                raise ValueError("give a session id, a text, or both")
            text = self.assistant.conversations.last_customer_text(session_id)
        turn = self.assistant.preview(session_id or f"copilot:{uuid.uuid4().hex}", text)
        # The bot's own handoff line ("a person is coming") is no reply for the person who came.
        reply = _GREETING if turn.handoff else turn.text
        hits = self.assistant.store.faq.search(text, _FAQ_SNIPPETS)
        return CopilotSuggestion(
            suggestion_id=turn.turn_id,
            session_id=session_id,
            customer_message=text,
            intent=turn.intent,
            reply=reply,
            products=turn.products,
            faq=[
                FaqSnippet(id=hit.entry.id, question=hit.entry.question, answer=hit.entry.answer, score=hit.score)
                for hit in hits
            ],
            ledger=turn.ledger,
            escalation_hint=_hint(turn, text),
        )


def _hint(turn: Turn, text: str) -> str | None:
    if _ESCALATE.search(text):
        return "The customer sounds upset or reports a problem: consider escalating to a supervisor."
    if turn.intent == "faq" and not turn.faq_sources:
        return "No FAQ entry answers this: check the policy before replying."
    return _HINTS.get(turn.intent)
