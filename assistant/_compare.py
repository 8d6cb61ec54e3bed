"""A comparison turn: two to four of the products on screen, side by side."""

from __future__ import annotations

from assistant._dialogue import Dialogue, product_card
from assistant.answers import comparison_rows, comparison_text
from assistant.turn import Turn

_MAX_COMPARED = 4


def compare(dialogue: Dialogue) -> Turn:
    chosen = dialogue.referenced() or list(enumerate(dialogue.shown, start=1))
    chosen = chosen[:_MAX_COMPARED]
    if len(chosen) < 2:
        return dialogue.turn(
            "compare",
            "Which products should I compare? Search first, then say e.g. “compare the first two”."
            if not dialogue.shown
            else f"Which ones should I compare? Pick two to {min(len(dialogue.shown), _MAX_COMPARED)}, "
            "e.g. “compare 1 and 2”.",
            clarify=True,
        )
    positions = [position for position, _ in chosen]
    products = [product for _, product in chosen]
    rows = comparison_rows(products)
    return dialogue.turn(
        "compare",
        comparison_text(products, positions, rows),
        products=[product_card(p, position, "compared") for position, p in chosen],
        comparison=rows,
        slots={"reference": positions},
    )
