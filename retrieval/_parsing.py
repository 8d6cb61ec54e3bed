"""Parsing of the messy values real catalogs carry: prices, ratings, brands."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from retrieval.money import ISO_4217, currency_code, plausible
from retrieval.text import is_english_word, words

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


# The name a title opens with: one word ("Samsung", "AT&T", "TP-Link") or two joined by "&" ("Bowers & Wilkins").
_OPENING = re.compile(r"^\W*([\w][\w&+.'-]*(?:\s*&\s*[A-Z][\w+.'-]*)?)")


def _opening_name(title: str) -> str:
    match = _OPENING.match(title)
    return match.group(1).rstrip(".-'") if match else ""


def brands_from_titles(titles: Sequence[str]) -> list[str]:
    """Brands for a catalog without a brand column, learned from its own titles (one per title, "" if unknown).

    A title's opening name is its brand when at least two titles open with it, or when it is no everyday word
    or joins names with "&" ("Skullcandy", "Bowers & Wilkins" once are brands; "My", "CHARGE" or "100" once
    are not). A name whose titles mostly mention
    another brand ("MacBook Air … Apple M2 chip"), or that only one bigger brand's titles mention ("Apple iPad"),
    is that brand's product line.
    """
    openings = [_opening_name(title) for title in titles]
    opened = Counter(opening.casefold() for opening in openings if opening)
    spelled = canonical_spellings(openings)
    used = Counter(word for title in titles for word in set(words(title)))

    def could_be_brand(key: str) -> bool:
        name_words = words(key)
        if not name_words or all(word.isdigit() for word in name_words):
            return False
        # "Bowers & Wilkins": two names joined by "&" are a firm's, even when each is an everyday word.
        if "&" in key or not all(is_english_word(word) for word in name_words):
            return True
        # An everyday word is a brand where titles use it mostly to open with ("Ring …"), not a product
        # word that happens to open a few titles ("Fan Light Kit" among many "… Ceiling Fan").
        return opened[key] >= 2 and opened[key] * 2 >= used[name_words[0]]

    makers = {key for key in opened if opened[key] >= 2 and could_be_brand(key)}
    mentions: dict[str, Counter[str]] = defaultdict(Counter)  # opening → makers its titles mention
    mentioned_in: dict[str, Counter[str]] = defaultdict(Counter)  # word → makers whose titles mention it
    for title, opening in zip(titles, openings, strict=True):
        key = opening.casefold()
        title_words = set(words(title)) - set(words(key))
        mentions[key].update(title_words & makers)
        if key in makers:
            for word in title_words:
                mentioned_in[word][key] += 1
    line_of: dict[str, str] = {}
    for key in opened:
        maker, count = (mentions[key].most_common(1) or [("", 0)])[0]
        if count * 2 > opened[key]:
            line_of[key] = maker
        elif len(mentioned_in[key]) == 1:
            (owner,) = mentioned_in[key]
            if opened[owner] > opened[key]:
                line_of[key] = owner
    brands = []
    for opening in openings:
        key = opening.casefold()
        if key in line_of:
            brands.append(spelled[line_of[key]])
        else:
            brands.append(spelled[key] if key and could_be_brand(key) else "")
    return brands


def canonical_spellings(names: Iterable[str]) -> dict[str, str]:
    """Map each case-folded name to its most frequent spelling ("SWANN", "Swann" → "Swann")."""
    counts: dict[str, Counter[str]] = {}
    for name in names:
        counts.setdefault(name.casefold(), Counter())[name] += 1
    return {key: spellings.most_common(1)[0][0] for key, spellings in counts.items()}
