"""FAQ turns: a store policy question, and a question about one's own order (answered from the FAQ)."""

from __future__ import annotations

from assistant._dialogue import Dialogue
from assistant.turn import Turn
from retrieval import FaqHit


def followup_faq_hit(dialogue: Dialogue) -> FaqHit | None:
    """The entry answering the message, read as a follow-up to the FAQ entry the last turn quoted when it
    does not stand on its own ("how long does it take to get there" after the shipping answer)."""
    if dialogue.faq_hit is not None or dialogue.state.faq_topic is None:
        return dialogue.faq_hit
    topic = dialogue.store.faq.get([dialogue.state.faq_topic]).get(dialogue.state.faq_topic)
    return None if topic is None else dialogue.store.faq.answer(f"{topic.question} {dialogue.text}")


def faq(dialogue: Dialogue) -> Turn:
    hit = followup_faq_hit(dialogue)
    if hit is None:
        return dialogue.miss(
            "faq",
            "I'm not sure about that one, and I'd rather not guess. I can help you find products, "
            "or you can ask to talk to a person from our support team.",
        )
    offered = dialogue.store.faq.choices(dialogue.text) if hit is dialogue.faq_hit else [hit]
    if len(offered) > 1:
        # Two entries nearly tied (as the FAQ's own questions tell apart): asking beats a wrong answer.
        questions = [choice.entry.question for choice in offered]
        return dialogue.turn(
            "faq",
            "Did you mean " + " or ".join(f"“{question}”" for question in questions) + "?",
            clarify=True,
            suggestions=questions,
        )
    return dialogue.turn("faq", hit.entry.answer, faq_sources=[hit.entry.id])


def order_status(dialogue: Dialogue) -> Turn:
    hit = dialogue.faq_hit
    lead = "I can't look up orders from this chat."
    if hit is None:
        return dialogue.turn("order_status", f"{lead} Ask for a person and our support team will check it for you.")
    return dialogue.turn(
        "order_status",
        f"{lead} {hit.entry.answer}\nIf it's late or missing, ask for a person and our team will check it.",
        faq_sources=[hit.entry.id],
    )
