"""The check every outgoing turn passes: no product, price or amount that the catalog and FAQ do not back.

Template replies pass by construction (a failure there is a bug and raises); a language model's
rephrasing that fails is discarded in favour of the template.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from assistant.turn import Turn
from retrieval import Product
from retrieval.money import format_money, priced_amounts

# A rephrasing may round ("about $100" for $99.99); it may not invent a price.
_TOLERANCE = 0.5


def amounts_in(text: str) -> list[float]:
    """Every amount written with a currency: "$12", "12 dollars", "USD 12", "€12", "₹300", "Rs 300",
    "300 rupees", "1,299.00 CAD". A figure too large to be any price (a pasted run of digits) is left out."""
    return [amount.value for amount in priced_amounts(text)]


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
    for amount in priced_amounts(turn.text if text is None else text):
        if not any(abs(amount.value - known) <= _TOLERANCE for known in allowed):
            claimed = format_money(amount.value, amount.currency or "")
            problems.append(f"the amount {claimed} is not a price or limit from the catalog, FAQ or customer")
    return problems
