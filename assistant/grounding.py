"""The check every outgoing turn passes: no product, price or amount that the catalog and FAQ do not back.

Template replies pass by construction (a failure there is a bug and raises); a language model's
rephrasing that fails is discarded in favour of the template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from assistant.turn import Turn
from retrieval import Product

_AMOUNT = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)(\s?k\b)?", re.I)
# Whole-dollar renderings ("under $100" for a cap of $99.99) count as the same amount.
_TOLERANCE = 0.5


def amounts_in(text: str) -> list[float]:
    amounts = []
    for match in _AMOUNT.finditer(text):
        value = float(match.group(1).replace(",", "").rstrip("."))
        amounts.append(value * 1000 if match.group(2) else value)
    return amounts


def grounding_problems(
    turn: Turn, catalog: Mapping[str, Product], sources: Iterable[str] = (), text: str | None = None
) -> list[str]:
    """What in ``text`` (default: the turn's own) is not backed by the catalog, the ledger or ``sources``.

    ``sources`` are texts the reply may quote amounts from: the customer's message, the FAQ answers it
    cites and the listings of the products it shows.
    """
    problems = []
    for card in turn.products:
        product = catalog.get(card.id)
        if product is None:
            problems.append(f"product {card.id!r} is not in the catalog")
        elif (card.title, card.price) != (product.title, product.price):
            problems.append(f"card {card.id!r} says {card.title!r} at {card.price}, the catalog does not")
    allowed = [card.price for card in turn.products if card.price is not None]
    allowed += [float(v) for name, v in turn.slots.items() if name.startswith("price_") and isinstance(v, int | float)]
    for source in sources:
        allowed += amounts_in(source)
    for amount in amounts_in(turn.text if text is None else text):
        if not any(abs(amount - known) <= _TOLERANCE for known in allowed):
            problems.append(f"the amount ${amount:,.2f} is not a price or limit from the catalog, FAQ or customer")
    return problems
