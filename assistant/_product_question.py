"""A question about one product on screen: answered from its listing, or from the FAQ where the listing is
silent on a store-wide policy."""

from __future__ import annotations

from assistant._dialogue import Dialogue, product_card
from assistant.answers import answer_question
from assistant.turn import Turn


def product_question(dialogue: Dialogue) -> Turn:
    referenced = dialogue.referenced()
    by_id = {product.id: (position, product) for position, product in enumerate(dialogue.shown, start=1)}
    if referenced:
        position, product = referenced[0]
    elif dialogue.state.focus in by_id:
        position, product = by_id[dialogue.state.focus]
    elif len(dialogue.shown) == 1:
        position, product = 1, dialogue.shown[0]
    else:
        ask = (
            f"Which one do you mean — 1 to {len(dialogue.shown)}?"
            if dialogue.shown
            else "Which product do you mean? Tell me what you're looking for first."
        )
        return dialogue.turn("product_question", ask, clarify=True)
    dialogue.state.focus = product.id
    answer = answer_question(product, dialogue.text)
    text, sources = answer.text, []
    if answer.silent and dialogue.faq_hit is not None:
        # "Does the first one come with a warranty?": a store-wide policy the listing need not repeat.
        text += f"\nWhat our FAQ says about “{dialogue.faq_hit.entry.question}”: {dialogue.faq_hit.entry.answer}"
        sources = [dialogue.faq_hit.entry.id]
    elif answer.silent:
        text += " I'd rather not guess — ask for a person and someone from our team can check."
    return dialogue.turn(
        "product_question",
        text,
        products=[product_card(product, position, "the one you asked about")],
        slots={"reference": [position]},
        faq_sources=sources,
    )
