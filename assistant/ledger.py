"""The constraint ledger: what a customer wants, slot by slot, and how a refinement edits it.

A session keeps one :class:`Constraints` across its turns; each message's slots (``assistant.slots``) edit it
through :func:`refined`, a removed chip through :meth:`Constraints.without`, and the search reads it back as
filters (:meth:`Constraints.to_filters`) and as the checks backends cannot express (:meth:`Constraints.admits`).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from retrieval import Product, SearchFilters
from retrieval.lexicon import join_hyphenated
from retrieval.money import format_money

Sort = Literal["price_asc", "price_desc", "rating_desc"]
# How one value of a list slot reads: "Samsung", "not LG", "no refurbished".
_LIST_SLOT_PREFIX = {"category": "", "brand": "", "keywords": "", "exclude_brand": "not ", "exclude_keywords": "no "}
_SORT_PHRASES = {"price_asc": "cheapest first", "price_desc": "priciest first", "rating_desc": "best rated first"}
Relative = Literal["cheaper", "pricier", "better_rated"]

# Units of measure and the ways people write them; a spec keyword is written with the first ("16gb", "1kg").
UNITS: dict[str, tuple[str, ...]] = {
    "gb": ("gb", "gig", "gigs"),
    "tb": ("tb",),
    "mb": ("mb",),
    "hz": ("hz",),
    "mah": ("mah",),
    "w": ("w", "watt", "watts"),
    "v": ("v", "volt", "volts"),
    "amp": ("amp", "amps", "a"),
    "kg": ("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"),
    "mg": ("mg",),
    "g": ("g", "gm", "gms", "gram", "grams"),
    "ml": ("ml", "millilitre", "millilitres", "milliliter", "milliliters"),
    "l": ("l", "ltr", "ltrs", "litre", "litres", "liter", "liters"),
    "lb": ("lb", "lbs", "pound", "pounds"),
    "oz": ("oz", "ounce", "ounces"),
    "mm": ("mm",),
    "cm": ("cm",),
    "ft": ("ft", "feet", "foot"),
    "gal": ("gal", "gallon", "gallons"),
    "btu": ("btu",),
    "mp": ("mp", "megapixel", "megapixels"),
    "pack": ("pack", "pk", "count", "ct", "pcs", "pieces"),
}
_FREE_OF = re.compile(r"[\s-]*(?:free|less)\b", re.I)


@dataclass
class Constraints:
    """What the customer wants, under the slot names the script format uses: the constraint ledger."""

    category: list[str] = field(default_factory=list)  # several when the customer allows several
    brand: list[str] = field(default_factory=list)  # several when the customer allows several ("LG or Samsung")
    exclude_brand: list[str] = field(default_factory=list)
    price_min: float | None = None
    price_max: float | None = None
    rating_min: float | None = None
    sort: Sort | None = None
    keywords: list[str] = field(default_factory=list)
    exclude_keywords: list[str] = field(default_factory=list)
    # The unit of the price slots (the store's), not a constraint: equal ledgers may differ in it.
    currency: str = field(default="USD", compare=False)

    def is_empty(self) -> bool:
        return self == Constraints()

    def filters_products(self) -> bool:
        """Whether any slot narrows the product list (sort order alone does not)."""
        return replace(self, sort=None) != Constraints()

    def to_filters(self) -> SearchFilters:
        return SearchFilters(
            price_min=self.price_min,
            price_max=self.price_max,
            categories=tuple(self.category),
            brands=tuple(self.brand),
            exclude_brands=tuple(self.exclude_brand),
            rating_min=self.rating_min,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Constraints:
        """A ledger as stored; one category or brand stored as a plain name (as older versions did) reads as a list."""
        fields = dict(data)
        for name in ("category", "brand"):
            if isinstance(fields.get(name), str):
                fields[name] = [fields[name]]
            elif fields.get(name) is None:
                fields.pop(name, None)
        return cls(**fields)

    def as_slots(self) -> dict[str, str | float | list[str]]:
        """The slots that are set, under the slot names scripts use; one category or brand reads as a name,
        several as a list."""
        slots = {name: value for name, value in self._slot_values().items() if value not in (None, [])}
        for name in ("category", "brand"):
            values = getattr(self, name)
            if len(values) == 1:
                slots[name] = values[0]
        return slots

    def _slot_values(self) -> dict[str, Any]:
        """Every slot (the ledger's compared fields), set or not; the currency is how they read, not a slot."""
        return {slot.name: getattr(self, slot.name) for slot in fields(self) if slot.compare}

    def phrase(self, slot: str) -> str:
        """How one slot reads to the customer: "under $500", "4★ and up", "not LG, Sony", "cheapest first".

        Price limits read exactly as applied, in the store's currency: "under ₹49.96", "over $500".
        """
        phrases = {
            "category": " or ".join(self.category),
            "brand": " or ".join(self.brand),
            "price_max": f"under {self._limit(self.price_max)}",
            "price_min": f"over {self._limit(self.price_min)}",
            "rating_min": f"{self.rating_min or 0:g}★ and up",
            "exclude_brand": _LIST_SLOT_PREFIX["exclude_brand"] + ", ".join(self.exclude_brand),
            "exclude_keywords": _LIST_SLOT_PREFIX["exclude_keywords"] + ", ".join(self.exclude_keywords),
            "keywords": ", ".join(self.specs() or self.keywords),
            "sort": _SORT_PHRASES.get(self.sort or "", ""),
        }
        return phrases[slot]

    def _limit(self, amount: float | None) -> str:
        return format_money(amount or 0.0, self.currency, exact=True)

    def chips(self) -> list[tuple[str, str | float, str]]:
        """(slot, value, label) per removable constraint; list slots give one chip per value."""
        chips: list[tuple[str, str | float, str]] = []
        for slot, value in self._slot_values().items():
            if value in (None, []):
                continue
            if slot in _LIST_SLOT_PREFIX:
                chips += [(slot, item, _LIST_SLOT_PREFIX[slot] + item) for item in value]
            else:
                chips.append((slot, value, self.phrase(slot)))
        return chips

    def without(self, slot: str, value: str | float | None = None) -> Constraints:
        """A copy with one slot cleared; for list slots, only ``value`` when it is given."""
        current = getattr(self, slot)
        kept = [item for item in current if value is not None and item != value] if isinstance(current, list) else None
        return replace(self, **{slot: kept})  # type: ignore[arg-type]

    def describe(self) -> list[str]:
        """Human-readable parts: ["TVs", "Samsung", "under $500", "4★ and up", "not LG", "cheapest first"]."""
        parts = [part for part in (" or ".join(self.category), " or ".join(self.brand)) if part]
        parts += self.keywords
        if self.price_min is not None and self.price_max is not None:
            parts.append(f"{self._limit(self.price_min)}–{self._limit(self.price_max)}")
        elif self.price_max is not None:
            parts.append(self.phrase("price_max"))
        elif self.price_min is not None:
            parts.append(self.phrase("price_min"))
        if self.rating_min is not None:
            parts.append(self.phrase("rating_min"))
        parts += [_LIST_SLOT_PREFIX["exclude_brand"] + brand for brand in self.exclude_brand]
        parts += [_LIST_SLOT_PREFIX["exclude_keywords"] + keyword for keyword in self.exclude_keywords]
        if self.sort:
            parts.append(self.phrase("sort"))
        return parts

    def specs(self) -> list[str]:
        """Wanted keywords that state a spec ("55 inch", "16gb", "rtx 4070"): every card must have them."""
        return [keyword for keyword in self.keywords if any(char.isdigit() for char in keyword)]

    def admits(self, product: Product) -> bool:
        """The post-filter the search backends cannot express: stated specs held, excluded words absent."""
        text = product.lexical_text()
        if any(mentions(text, keyword, allow_free_of=True) for keyword in self.exclude_keywords):
            return False
        return all(mentions(text, spec) for spec in self.specs())

    def keywords_met(self, product: Product) -> list[str]:
        """Wanted keywords the listing mentions; they rank a product up but do not exclude others."""
        text = product.lexical_text()
        return [keyword for keyword in self.keywords if mentions(text, keyword)]


@functools.lru_cache(maxsize=1024)
def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """How a normalised keyword appears in listings: 65 inch ~ 65", 65-inch, 65in; 16gb ~ 16 GB; 1kg ~ 1 Kg."""
    size = re.fullmatch(r"(\S+) inch", keyword)
    if size:
        return re.compile(rf"(?<![\d./]){re.escape(size.group(1))}\s*(?:\"|”|''|-?\s*inch|-?\s*in\b|-?\s*class)", re.I)
    measure = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]+)", keyword)
    if measure and measure.group(2) in UNITS:
        spellings = "|".join(map(re.escape, UNITS[measure.group(2)]))
        return re.compile(rf"(?<![\d.]){re.escape(measure.group(1))}\s*-?\s*(?:{spellings})(?![a-z])", re.I)
    # "cancelling" ~ "canceling": British and American spellings of the same feature.
    words = [re.escape(word).replace("ll", "ll?") for word in re.split(r"[\s-]+", keyword)]
    return re.compile(r"(?<![\w])" + r"[\s-]?".join(words) + r"(?![\w])", re.I)


def mentions(text: str, keyword: str, *, allow_free_of: bool = False) -> bool:
    """Whether ``text`` mentions ``keyword``; with ``allow_free_of``, "sulphate-free" does not mention sulphate."""
    text = join_hyphenated(text)
    for match in keyword_pattern(keyword).finditer(text):
        if not (allow_free_of and _FREE_OF.match(text, match.end())):
            return True
    return False


def refined(
    ledger: Constraints, said: Constraints, cleared: set[str], relative: Relative | None, shown: Sequence[Product]
) -> Constraints:
    """``ledger`` after a refinement: what was ``said``, the slots ``cleared`` ("forget the …"), and ``relative``
    edits ("cheaper", "pricier", "better rated") measured against the products ``shown``."""
    new = dataclasses.replace(
        ledger,
        category=list(ledger.category),
        brand=list(ledger.brand),
        exclude_brand=list(ledger.exclude_brand),
        keywords=list(ledger.keywords),
        exclude_keywords=list(ledger.exclude_keywords),
    )
    for name in cleared:
        setattr(new, name, [] if isinstance(getattr(new, name), list) else None)
    if said.category:
        new.category = list(said.category)
    if said.brand:
        new.brand = list(said.brand)
        new.exclude_brand = [b for b in new.exclude_brand if b not in said.brand]
    for brand in said.exclude_brand:
        if brand not in new.exclude_brand:
            new.exclude_brand.append(brand)
        new.brand = [b for b in new.brand if b != brand]
    if said.price_min is not None or said.price_max is not None:
        new.price_min, new.price_max = said.price_min, said.price_max
    if said.rating_min is not None:
        new.rating_min = said.rating_min
    if said.sort:
        new.sort = said.sort
    new.keywords = list(dict.fromkeys([*new.keywords, *said.keywords]))
    new.exclude_keywords = list(dict.fromkeys([*new.exclude_keywords, *said.exclude_keywords]))
    new.keywords = [k for k in new.keywords if k not in new.exclude_keywords]
    prices = [product.price for product in shown if product.price is not None]
    if relative == "cheaper":
        cap = min(prices) if prices else (new.price_max or 0.0) * 0.8
        new.price_max = round(max(cap - 0.01, 0.0), 2)
        if new.price_min is not None and new.price_min >= new.price_max:
            new.price_min = None
    elif relative == "pricier":
        floor = max(prices) if prices else (new.price_min or new.price_max or 0.0)
        new.price_min = round(floor + 0.01, 2)
        if new.price_max is not None and new.price_max <= new.price_min:
            new.price_max = None
    elif relative == "better_rated":
        ratings = [product.rating for product in shown if product.rating is not None]
        floor = min(ratings) + 0.1 if ratings else (new.rating_min or 0.0) + 0.5
        new.rating_min = round(min(5.0, max(4.0, floor)), 1)
        new.sort = "rating_desc"
    return new
