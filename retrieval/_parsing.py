"""Parsing of the messy values real catalogs carry: prices, ratings, brands."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from retrieval.money import ISO_4217, currency_code, plausible

# Signs a catalog's price strings carry; longer first, so "Rs." is removed whole.
_PRICE_SIGNS = ("Rs.", "Rs", "$", "€", "£", "₹", "¥")
_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_PRICE_RANGE_SEPARATOR = re.compile(r"\s*(?:through|thru|to|–|—|-)\s*-?\s*", re.IGNORECASE)


def parse_price(raw: str, declared_currency: str = "USD") -> tuple[float, float | None, str | None]:
    """Parse ``"$1,299.99"``, ``"Rs. 1,299"`` or a range ``"$299.99 through $449.99"``.

    Returns (price, upper bound of a range or None, currency code read from a sign or code, or None).
    A sign several currencies use means the ``declared_currency`` when it is one of them ("$" in CAD).
    A range is priced at its lower bound, the "from" price shops advertise.
    Raises ValueError for anything that is not a finite, non-negative amount.
    """
    text = raw.strip()
    if re.match(r"^[-−]", text):
        raise ValueError(f"price {raw!r} is negative")
    sign = next((sign for sign in _PRICE_SIGNS if sign in text), None)
    amounts = [float(match.replace(",", "")) for match in re.findall(_NUMBER, text)]
    stripped = re.sub(_NUMBER, "", text)
    stripped = _PRICE_RANGE_SEPARATOR.sub("", stripped)
    for each in _PRICE_SIGNS:
        stripped = stripped.replace(each, "")
    iso_code = re.fullmatch(r"\s*([A-Z]{3})?\s*", stripped)
    if not amounts or len(amounts) > 2 or iso_code is None:
        raise ValueError(f"cannot parse {raw!r} as a price")
    if iso_code.group(1) and iso_code.group(1) not in ISO_4217:
        raise ValueError(f"price {raw!r}: {iso_code.group(1)!r} is not an ISO 4217 currency code")
    if not all(plausible(amount) for amount in amounts):
        raise ValueError(f"price {raw!r} is not a plausible amount")
    currency = currency_code(sign, declared_currency) if sign else iso_code.group(1)
    if len(amounts) == 2 and amounts[1] < amounts[0]:
        raise ValueError(f"price range {raw!r} ends below its start")
    return amounts[0], (amounts[1] if len(amounts) == 2 else None), currency


_RATING = re.compile(r"(\d+(?:\.\d+)?)")
_REVIEW_COUNT = re.compile(r"based on\s+([\d,]+)\s+review", re.IGNORECASE)


_UNRATED = re.compile(r"^\s*(no\b|not\b|n/?a\b|none\b|unrated\b|-+\s*$)", re.IGNORECASE)


def parse_rating(raw: str) -> tuple[float | None, int | None]:
    """Parse ``"4.5"`` or ``"Rated 4.8 out of 5 stars based on 125 reviews."`` into (rating, reviews).

    ``"No Reviews"``, ``"n/a"`` and the like mean "not rated yet" and give (None, None).
    """
    if _UNRATED.match(raw):
        return None, None
    match = _RATING.search(raw)
    if match is None:
        raise ValueError(f"cannot parse {raw!r} as a rating")
    rating = float(match.group(1))
    if not 0 <= rating <= 5:
        raise ValueError(f"rating {rating} is outside 0–5")
    reviews = _REVIEW_COUNT.search(raw)
    return rating, (int(reviews.group(1).replace(",", "")) if reviews else None)


# Product lines that open a title but are not the maker's name.
BRAND_ALIASES = {
    "macbook": "Apple",
    "mac": "Apple",
    "imac": "Apple",
    "ipad": "Apple",
    "iphone": "Apple",
    "airpods": "Apple",
    "xbox": "Microsoft",
    "surface": "Microsoft",
    "playstation": "Sony",
    "galaxy": "Samsung",
    "pixel": "Google",
    "nest": "Google",
}


def brand_from_title(title: str) -> str:
    """The documented demo rule: the title's first word, with product lines mapped to their maker."""
    words = re.findall(r"[\w][\w&+.'-]*", title)
    if not words:
        return ""
    first = str(words[0]).rstrip(".-'")
    return BRAND_ALIASES.get(first.lower(), first)


def canonical_spellings(names: Iterable[str]) -> dict[str, str]:
    """Map each case-folded name to its most frequent spelling ("SWANN", "Swann" → "Swann")."""
    counts: dict[str, Counter[str]] = {}
    for name in names:
        counts.setdefault(name.casefold(), Counter())[name] += 1
    return {key: spellings.most_common(1)[0][0] for key, spellings in counts.items()}
