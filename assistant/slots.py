"""First slot parser: price bounds, rating, category and brand words, against the catalog's vocabulary.

The dialogue layer extends it; this version already turns "4k tv under 500" into
category = TVs, price_max = 500 and the residual query "4k tv".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from retrieval import SearchFilters

# Shopper words → a word that occurs in catalog category names (after singularising).
CATEGORY_SYNONYMS = {
    "television": "tv",
    "telly": "tv",
    "notebook": "laptop",
    "ultrabook": "laptop",
    "chromebook": "laptop",
    "macbook": "laptop",
    "earphone": "earbud",
    "airpod": "earbud",
    "headset": "headphone",
    "smartwatch": "watch",
    "pc": "desktop",
    "imac": "desktop",
    "ipad": "tablet",
    "wifi": "router",
    "extender": "router",
    "doorbell": "security",
    "soundbar": "soundbar",
    "subwoofer": "theater",
    "ps5": "console",
    "playstation": "console",
    "xbox": "console",
    "nintendo": "console",
    "game": "console",
    "guitar": "instrument",
    "piano": "instrument",
    "drum": "instrument",
    "ssd": "ssd",
    "smartphone": "phone",
    "radio": "radio",
}
# Words that narrow a category but never name one on their own.
_MODIFIERS = {"gaming", "mini", "smart", "home", "video", "two", "way", "voice", "computer", "pc", "notebook"}
_IGNORED = {"&", "and", "s"}

_AMOUNT = r"\$?\s*(\d[\d,]*(?:\.\d+)?)\s*(k\b)?(?:\s*(?:dollars?|bucks|usd))?"
_PRICE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("range", re.compile(rf"\b(?:between|from)\s+{_AMOUNT}\s+(?:and|to|-)\s+{_AMOUNT}", re.I)),
    ("range", re.compile(rf"(?<![\w.]){_AMOUNT}\s*(?:-|–|to)\s*{_AMOUNT}(?=\s|$|[,.?!])", re.I)),
    (
        "max",
        re.compile(
            rf"\b(?:under|below|less than|cheaper than|max(?:imum)?|up to|no more than|at most|within|<=?)\s*{_AMOUNT}",
            re.I,
        ),
    ),
    ("min", re.compile(rf"\b(?:over|above|more than|at least|min(?:imum)?|starting at|>=?)\s*{_AMOUNT}", re.I)),
    ("around", re.compile(rf"\b(?:around|about|approximately|roughly|~)\s*{_AMOUNT}", re.I)),
    (
        "max",
        re.compile(r"(\$\s*\d[\d,]*(?:\.\d+)?)\s*(k\b)?|\b(\d[\d,]*(?:\.\d+)?)\s*(k\b)?\s*(?:dollars?|bucks)\b", re.I),
    ),
]
_RATING = re.compile(
    r"\b(?:at least\s+|rated\s+)?(\d(?:\.\d)?)\s*(?:\+\s*)?(?:stars?|★)"
    r"(?:\s*(?:and up|or more|or better|\+|and above))?",
    re.I,
)
_WORD = re.compile(r"[a-z0-9]+")


def _amount(number: str | None, thousands: str | None) -> float | None:
    if number is None:
        return None
    value = float(number.replace("$", "").replace(",", "").strip())
    return value * 1000 if thousands else value


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and len(word) > 2 and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


@dataclass
class Constraints:
    """What the customer asked for, in the slot names the dialogue layer uses."""

    category: str | None = None
    brand: str | None = None
    price_min: float | None = None
    price_max: float | None = None
    rating_min: float | None = None

    def is_empty(self) -> bool:
        return self == Constraints()

    def to_filters(self) -> SearchFilters:
        return SearchFilters(
            price_min=self.price_min,
            price_max=self.price_max,
            categories=(self.category,) if self.category else (),
            brands=(self.brand,) if self.brand else (),
            rating_min=self.rating_min,
        )

    def as_slots(self) -> dict[str, str | float]:
        """The slots that are set, under the slot names scripts use."""
        return {name: value for name, value in vars(self).items() if value is not None}

    def describe(self) -> list[str]:
        """Human-readable parts: ["TVs", "under $500", "Samsung", "4★ and up"]."""
        parts = [part for part in (self.category, self.brand) if part]
        if self.price_min is not None and self.price_max is not None:
            parts.append(f"${self.price_min:,.0f}–${self.price_max:,.0f}")
        elif self.price_max is not None:
            parts.append(f"under ${self.price_max:,.0f}")
        elif self.price_min is not None:
            parts.append(f"over ${self.price_min:,.0f}")
        if self.rating_min is not None:
            parts.append(f"{self.rating_min:g}★ and up")
        return parts


@dataclass
class ParsedRequest:
    """The constraints found, and ``query``: the text with its price and rating phrases removed."""

    constraints: Constraints
    query: str = ""


@dataclass(frozen=True)
class Vocabulary:
    """The catalog's own category and brand values."""

    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()

    @classmethod
    def of(cls, categories: Iterable[str], brands: Iterable[str]) -> Vocabulary:
        return cls(tuple(categories), tuple(brands))

    def category_words(self, category: str) -> set[str]:
        return {singular(word) for word in _WORD.findall(category.lower())} - _IGNORED


def _category_for(words: set[str], vocabulary: Vocabulary) -> str | None:
    """The category whose name shares the most head words with the message; ties go to the shorter name."""
    best: tuple[float, int, str] | None = None
    for category in vocabulary.categories:
        category_words = vocabulary.category_words(category)
        heads = (words & category_words) - _MODIFIERS
        if not heads:
            continue
        modifiers = words & category_words & _MODIFIERS
        key = (len(heads) + 0.5 * len(modifiers), -len(category_words), category)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def parse_request(text: str, vocabulary: Vocabulary) -> ParsedRequest:
    """Extract constraints; never raises, whatever the text."""
    constraints = Constraints()
    residual = text
    for kind, pattern in _PRICE_PATTERNS:
        match = pattern.search(residual)
        if match is None:
            continue
        groups = match.groups()
        if kind == "range":
            low, high = _amount(groups[0], groups[1]), _amount(groups[2], groups[3])
            if low is not None and high is not None and low <= high:
                constraints.price_min, constraints.price_max = low, high
        else:
            number = groups[0] if groups[0] is not None else (groups[2] if len(groups) > 2 else None)
            thousands = groups[1] if groups[0] is not None else (groups[3] if len(groups) > 3 else None)
            amount = _amount(number, thousands)
            if amount is None:
                continue
            if kind == "max":
                constraints.price_max = amount
            elif kind == "min":
                constraints.price_min = amount
            else:
                constraints.price_min, constraints.price_max = round(amount * 0.8, 2), round(amount * 1.2, 2)
        residual = residual[: match.start()] + " " + residual[match.end() :]
        break
    rating = _RATING.search(residual)
    if rating is not None and float(rating.group(1)) <= 5:
        constraints.rating_min = float(rating.group(1))
        residual = residual[: rating.start()] + " " + residual[rating.end() :]
    words = {singular(word) for word in _WORD.findall(residual.lower())}
    words |= {CATEGORY_SYNONYMS[word] for word in words if word in CATEGORY_SYNONYMS}
    constraints.category = _category_for(words, vocabulary)
    lowered = f" {residual.lower()} "
    for brand in sorted(vocabulary.brands, key=len, reverse=True):
        if len(brand) > 1 and re.search(rf"(?<![\w-]){re.escape(brand.lower())}(?![\w-])", lowered):
            constraints.brand = brand
            break
    return ParsedRequest(constraints, " ".join(residual.split()))
