"""Slot extraction against the catalog's own vocabulary.

``parse_request`` turns one message into slots (category, brand, exclude_brand, price_min, price_max,
rating_min, sort, keywords, reference) plus the edits a refinement asks for (``cheaper``, ``forget the
budget``). It is pure and never raises: the dialogue layer decides what the slots mean in context.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Literal

from retrieval import Product, SearchFilters
from retrieval.money import AMOUNT, PRICED_AMOUNT, format_money, read_amount

Sort = Literal["price_asc", "price_desc", "rating_desc"]
# How one value of a list slot reads: "Samsung", "not LG", "no refurbished".
_LIST_SLOT_PREFIX = {"keywords": "", "exclude_brand": "not ", "exclude_keywords": "no "}
_SORT_PHRASES = {"price_asc": "cheapest first", "price_desc": "priciest first", "rating_desc": "best rated first"}
Relative = Literal["cheaper", "pricier", "better_rated"]

# Shopper words → a word that occurs in catalog category names (after singularising).
CATEGORY_SYNONYMS = {
    "television": "tv",
    "telly": "tv",
    "notebook": "laptop",
    "ultrabook": "laptop",
    "chromebook": "laptop",
    "macbook": "laptop",
    "lapotp": "laptop",
    "labtop": "laptop",
    "earphone": "earbud",
    "airpod": "earbud",
    "headset": "headphone",
    "headphne": "headphone",
    "smartwatch": "watch",
    "pc": "desktop",
    "imac": "desktop",
    "ipad": "tablet",
    "wifi": "router",
    "extender": "router",
    "modem": "router",
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
    "keyboard": "instrument",
    "ssd": "ssd",
    "smartphone": "phone",
    "radio": "radio",
    "camcorder": "camera",
}
# Words that narrow a category but never name one on their own.
_MODIFIERS = {"gaming", "mini", "smart", "home", "video", "two", "way", "voice", "computer", "pc", "notebook"}
_IGNORED = {"&", "and", "s"}
_COMMON_WORDS = frozenset(
    [
        "my",
        "me",
        "we",
        "us",
        "our",
        "your",
        "you",
        "it",
        "its",
        "the",
        "a",
        "an",
        "one",
        "all",
        "any",
        "best",
        "top",
        "new",
        "go",
        "on",
        "in",
        "at",
        "up",
        "so",
        "no",
        "not",
        "only",
        "just",
        "home",
        "smart",
        "simple",
        "brilliant",
        "defender",
    ]
)

# Feature words worth matching literally in titles and descriptions.
FEATURE_KEYWORDS = (
    "4k",
    "8k",
    "1080p",
    "oled",
    "qled",
    "hdr",
    "dolby atmos",
    "dolby vision",
    "wireless",
    "bluetooth",
    "noise cancelling",
    "touchscreen",
    "2-in-1",
    "waterproof",
    "hdmi",
    "usb-c",
    "wifi 6",
    "wi-fi 6",
    "rgb",
    "curved",
    "mechanical",
    "refurbished",
    "portable",
    "rtx",
    "outdoor",
    "indoor",
    "night vision",
    "solar",
    "mesh",
    "alexa",
    "google assistant",
    "backlit",
    "gps",
    "webcam",
    "microphone",
    "remote",
)
_FEATURE_SPELLINGS = {"noise canceling": "noise cancelling", "touch screen": "touchscreen", "2 in 1": "2-in-1"}
COLOURS = (
    "space gray",
    "rose gold",
    "black",
    "white",
    "silver",
    "gray",
    "grey",
    "red",
    "blue",
    "green",
    "pink",
    "gold",
    "purple",
    "midnight",
    "starlight",
)
_SIZE = re.compile(r"\b(\d{2,3}(?:\.\d)?)\s*(?:\"|”|''|-?\s*inch(?:es)?\b|-?\s*in\b)", re.I)
_CAPACITY = re.compile(r"\b(\d{1,4})\s*(gb|tb)\b", re.I)
_REFRESH = re.compile(r"\b(\d{2,3})\s*hz\b", re.I)

# One group per amount: "$12", "₹300", "Rs. 300", "300 rupees", "USD 12", "12 euros", "2k", "1,500".
_AMOUNT = rf"({AMOUNT})"
_PRICE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("range", re.compile(rf"\b(?:between|from)\s+{_AMOUNT}\s+(?:and|to|-)\s+{_AMOUNT}", re.I)),
    ("range", re.compile(rf"(?<![\w.]){_AMOUNT}\s*(?:-|–|to)\s*{_AMOUNT}(?=\s|$|[,.?!])", re.I)),
    (
        "max",
        re.compile(
            rf"\b(?:under|below|less than|lower than|cheaper than|max(?:imum)?|up ?to|no more than|not more than|"
            rf"at most|within|budget(?:\s+(?:is|of|to))?(?:\s+(?:now|only|just))?|<=?)\s*{_AMOUNT}",
            re.I,
        ),
    ),
    ("min", re.compile(rf"\b(?:over|above|more than|at least|min(?:imum)?|starting at|>=?)\s*{_AMOUNT}", re.I)),
    ("around", re.compile(rf"\b(?:around|about|approximately|roughly|~)\s*{_AMOUNT}", re.I)),
    # A bare amount with its currency ("a kettle, 40 dollars", "₹300") is a budget.
    ("max", re.compile(rf"({PRICED_AMOUNT})", re.I)),
]
_RATING = re.compile(
    r"\b(?:at least\s+|rated\s+|only\s+)?(\d(?:\.\d)?)\s*(?:\+\s*)?(?:stars?|★)"
    r"(?:\s*(?:and up|or more|or better|\+|and above|or higher))?",
    re.I,
)
_CLEARS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (
        ("price_min", "price_max"),
        re.compile(
            r"\b(?:forget|ignore|drop|remove|no|any|never mind|clear)\s+(?:the\s+|my\s+|about\s+the\s+)?"
            r"(?:budget|price(?:\s+limit|\s+range)?|max(?:imum)? price)\b|\bprice doesn'?t matter\b",
            re.I,
        ),
    ),
    (
        ("brand", "exclude_brand"),
        re.compile(
            r"\b(?:forget|ignore|drop|remove|clear)\s+(?:the\s+)?brands?\b|\bany brands?\b|"
            r"\bdoesn'?t matter which brand\b|\bbrand doesn'?t matter\b",
            re.I,
        ),
    ),
    (("rating_min",), re.compile(r"\b(?:forget|ignore|drop|remove|clear)\s+(?:the\s+)?rating(?:\s+filter)?\b", re.I)),
]
_SORTS: list[tuple[Sort, re.Pattern[str]]] = [
    (
        "price_desc",
        re.compile(r"\b(?:most expensive|highest price|priciest)(?:\s+first)?\b|\bprice\s+high\s+to\s+low\b", re.I),
    ),
    (
        "price_asc",
        re.compile(
            r"\b(?:cheapest|lowest price|least expensive)(?:\s+first)?\b|\bsort(?:ed)?\s+(?:them\s+)?by\s+price\b|"
            r"\bprice\s+low\s+to\s+high\b|\b(?:cheap|affordable|inexpensive|low[- ]cost)\b|"
            rf"\bbudget\b(?!\s+(?:is\s+|of\s+|to\s+)?(?:now\s+|only\s+|just\s+)?{AMOUNT})",
            re.I,
        ),
    ),
    (
        "rating_desc",
        re.compile(
            r"\b(?:best|highest|top)[- ]rated(?:\s+first)?\b|\bsort(?:ed)?\s+(?:them\s+)?by\s+(?:rating|reviews?)\b|"
            r"\bbest reviewed\b",
            re.I,
        ),
    ),
]
_RELATIVES: list[tuple[Relative, re.Pattern[str]]] = [
    (
        "cheaper",
        re.compile(
            r"\b(?:cheaper|less expensive|lower(?: price)?|too (?:expensive|pricey|much)|over my budget|"
            r"out of my budget|go lower)\b",
            re.I,
        ),
    ),
    (
        "pricier",
        re.compile(
            r"\b(?:more expensive|pricier|premium|higher[- ]end|fancier|raise the budget|"
            r"more upmarket)\b",
            re.I,
        ),
    ),
    ("better_rated", re.compile(r"\b(?:better|higher)[- ](?:rated|reviewed|reviews)\b|\bwell[- ]reviewed\b", re.I)),
]
_NEGATION = re.compile(
    r"\b(?:not|no|without|except|excluding|anything but|other than|non|skip(?: the)?)\s+(?:an?\s+|the\s+|any\s+)?", re.I
)
_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
}
_COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "2": 2, "3": 3, "4": 4, "5": 5}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_FIRST_N = re.compile(r"\b(?:first|top)\s+(two|three|four|five|[2-5])\b", re.I)
_LAST_N = re.compile(r"\blast\s+(two|three|four|five|[2-5])\b", re.I)
_ORDINAL = re.compile(r"\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last)\b", re.I)
_NUMBERED = re.compile(r"(?:#|\bnumber\s+|\bno\.\s*|\boption\s+|\bitem\s+)([1-5]|one|two|three|four|five)\b", re.I)
_BARE_PAIR = re.compile(
    r"(?<![\w$.])([1-5])\s*(?:vs\.?|versus|and|&|or|,)\s*([1-5])(?![\w.%$]|\s*(?:stars?|k\b))", re.I
)
_BOTH = re.compile(r"\bboth\b", re.I)
_ALL = re.compile(r"\ball\s+(?:of\s+)?(?:them|these|those|three|four|five)\b", re.I)
_WORD = re.compile(r"[a-z0-9]+")


def _amount(text: str, currency: str) -> float | None:
    """The amount in the store's ``currency``; None for another currency or a figure no price can be."""
    amount = read_amount(text, currency)
    if amount is None or amount.currency not in (None, currency):
        return None
    return amount.value


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("s") and len(word) > 2 and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


@dataclass
class Constraints:
    """What the customer wants, under the slot names the script format uses: the constraint ledger."""

    category: str | None = None
    brand: str | None = None
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
            categories=(self.category,) if self.category else (),
            brands=(self.brand,) if self.brand else (),
            exclude_brands=tuple(self.exclude_brand),
            rating_min=self.rating_min,
        )

    def as_slots(self) -> dict[str, str | float | list[str]]:
        """The slots that are set, under the slot names scripts use."""
        slots = {slot.name: getattr(self, slot.name) for slot in fields(self) if slot.compare}
        return {name: value for name, value in slots.items() if value not in (None, [])}

    def phrase(self, slot: str) -> str:
        """How one slot reads to the customer: "under $500", "4★ and up", "not LG, Sony", "cheapest first".

        Price limits read exactly as applied, in the store's currency: "under ₹49.96", "over $500".
        """
        phrases = {
            "category": self.category or "",
            "brand": self.brand or "",
            "price_max": f"under {self._limit(self.price_max)}",
            "price_min": f"over {self._limit(self.price_min)}",
            "rating_min": f"{self.rating_min or 0:g}★ and up",
            "exclude_brand": _LIST_SLOT_PREFIX["exclude_brand"] + ", ".join(self.exclude_brand),
            "exclude_keywords": _LIST_SLOT_PREFIX["exclude_keywords"] + ", ".join(self.exclude_keywords),
            "sort": _SORT_PHRASES.get(self.sort or "", ""),
        }
        return phrases[slot]

    def _limit(self, amount: float | None) -> str:
        return format_money(amount or 0.0, self.currency, exact=True)

    def chips(self) -> list[tuple[str, str | float, str]]:
        """(slot, value, label) per removable constraint; list slots give one chip per value."""
        chips: list[tuple[str, str | float, str]] = []
        for slot, value in self.as_slots().items():
            if slot in _LIST_SLOT_PREFIX:
                chips += [(slot, item, _LIST_SLOT_PREFIX[slot] + item) for item in value]  # type: ignore[union-attr]
            else:
                chips.append((slot, value, self.phrase(slot)))  # type: ignore[arg-type]
        return chips

    def without(self, slot: str, value: str | float | None = None) -> Constraints:
        """A copy with one slot cleared; for list slots, only ``value`` when it is given."""
        current = getattr(self, slot)
        kept = [item for item in current if value is not None and item != value] if isinstance(current, list) else None
        return replace(self, **{slot: kept})  # type: ignore[arg-type]

    def describe(self) -> list[str]:
        """Human-readable parts: ["TVs", "Samsung", "under $500", "4★ and up", "not LG", "cheapest first"]."""
        parts = [part for part in (self.category, self.brand) if part]
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

    def admits(self, product: Product) -> bool:
        """The post-filter the search backends cannot express: words the product must not mention."""
        text = product.lexical_text()
        return not any(mentions(text, keyword) for keyword in self.exclude_keywords)

    def keywords_met(self, product: Product) -> list[str]:
        """Wanted keywords the listing mentions; they rank a product up but do not exclude others."""
        text = product.lexical_text()
        return [keyword for keyword in self.keywords if mentions(text, keyword)]


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """How a normalised keyword appears in listings: 65 inch ~ 65", 65-inch, 65in; 16GB ~ 16 GB."""
    size = re.fullmatch(r"(\d+(?:\.\d)?) inch", keyword)
    if size:
        return re.compile(rf"(?<![\d.]){re.escape(size.group(1))}\s*(?:\"|”|''|-?\s*inch|-?\s*in\b|-?\s*class)", re.I)
    capacity = re.fullmatch(r"(\d+)(gb|tb)", keyword)
    if capacity:
        return re.compile(rf"(?<!\d){capacity.group(1)}\s*{capacity.group(2)}\b", re.I)
    # "cancelling" ~ "canceling": British and American spellings of the same feature.
    words = [re.escape(word).replace("ll", "ll?") for word in re.split(r"[\s-]+", keyword)]
    return re.compile(r"(?<![\w])" + r"[\s-]?".join(words) + r"(?![\w])", re.I)


def mentions(text: str, keyword: str) -> bool:
    return keyword_pattern(keyword).search(text) is not None


@dataclass
class ParsedRequest:
    """The slots found in one message, and what it asks to change in the ledger.

    ``query`` is the text with its price, rating, sort and reference phrases removed (what retrieval
    should match). ``reference`` holds 1-based positions of shown results ("the second one", "both").
    """

    constraints: Constraints
    query: str = ""
    reference: list[int] = field(default_factory=list)
    cleared: set[str] = field(default_factory=set)
    relative: Relative | None = None


@dataclass(frozen=True)
class Vocabulary:
    """The catalog's own category and brand values, and the currency its prices are in."""

    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    currency: str = "USD"

    @classmethod
    def of(cls, categories: Iterable[str], brands: Iterable[str], currency: str = "USD") -> Vocabulary:
        return cls(tuple(categories), tuple(sorted(brands, key=len, reverse=True)), currency)

    def category_words(self, category: str) -> set[str]:
        return {singular(word) for word in _WORD.findall(category.lower())} - _IGNORED

    def brand_in(self, text: str) -> tuple[str, int, int] | None:
        """(brand, start, end) of the longest catalog brand named in ``text``, word-bounded.

        Case-insensitive, except for brands spelled like common words ("My Arcade" lists as "My"), which
        count only as the catalog writes them.
        """
        lowered = text.lower()
        for brand in self.brands:
            if len(brand) < 2:
                continue
            exact = brand.lower() in _COMMON_WORDS
            pattern = rf"(?<![\w-]){re.escape(brand if exact else brand.lower())}(?![\w-])"
            match = re.search(pattern, text if exact else lowered)
            if match:
                return brand, match.start(), match.end()
        return None


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


class _Text:
    """The message being consumed: each recognised phrase is cut out so later rules do not see it again."""

    def __init__(self, text: str) -> None:
        self.value = text

    def cut(self, match: re.Match[str]) -> None:
        self.value = self.value[: match.start()] + " " + self.value[match.end() :]


def _parse_price(text: _Text, constraints: Constraints) -> None:
    """The first price phrase of ``text``, read in the store's currency (``constraints.currency``).

    A phrase in another currency, or with a figure no price can be ("1e400", 309 digits), is cut from
    the text but sets no slot: an amount is never read in a currency it was not written in.
    """
    for kind, pattern in _PRICE_PATTERNS:
        match = pattern.search(text.value)
        if match is None:
            continue
        text.cut(match)
        amounts = [_amount(group, constraints.currency) for group in match.groups()]
        if kind == "range":
            low, high = amounts
            if low is not None and high is not None and low <= high:
                constraints.price_min, constraints.price_max = low, high
        elif amounts[0] is None:
            return
        elif kind == "max":
            constraints.price_max = amounts[0]
        elif kind == "min":
            constraints.price_min = amounts[0]
        else:
            constraints.price_min, constraints.price_max = round(amounts[0] * 0.8, 2), round(amounts[0] * 1.2, 2)
        return


def _parse_reference(text: _Text, shown_brands: Sequence[str], vocabulary: Vocabulary) -> list[int]:
    shown = len(shown_brands)
    positions: list[int] = []

    def take(pattern: re.Pattern[str], found: Callable[[re.Match[str]], Iterable[int]]) -> None:
        for match in list(pattern.finditer(text.value))[::-1]:
            positions.extend(p for p in found(match) if 1 <= p <= max(shown, 5))
            text.cut(match)

    take(_FIRST_N, lambda m: range(1, _COUNTS[m.group(1).lower()] + 1))
    if shown:
        take(_LAST_N, lambda m: range(max(1, shown - _COUNTS[m.group(1).lower()] + 1), shown + 1))
        take(_ALL, lambda _: range(1, min(shown, 4) + 1))
    take(_BOTH, lambda _: [1, 2])
    take(_NUMBERED, lambda m: [_NUMBER_WORDS.get(m.group(1).lower()) or int(m.group(1))])
    if shown:
        take(_BARE_PAIR, lambda m: [int(m.group(1)), int(m.group(2))])
    take(_ORDINAL, lambda m: [shown if m.group(1).lower() == "last" else _ORDINALS[m.group(1).lower()]])
    # "that Dell", "the Sony": shown products of that brand.
    for brand_match in re.finditer(r"\b(?:that|the|this)\s+([\w-]+)", text.value, re.I):
        named = vocabulary.brand_in(brand_match.group(1))
        if named is not None:
            brand = named[0].casefold()
            matching = [i for i, b in enumerate(shown_brands, start=1) if b.casefold() == brand]
            # "that Dell" among five Dells singles nothing out.
            if len(matching) < shown:
                positions.extend(matching)
    positions = [p for p in positions if p > 0]
    return sorted(dict.fromkeys(positions))


def _parse_keywords(text: _Text) -> tuple[list[str], list[str]]:
    """(wanted, excluded) feature, colour and size keywords; an excluded one follows a negation and is cut."""
    for spelling, canonical in _FEATURE_SPELLINGS.items():
        text.value = re.sub(rf"\b{re.escape(spelling)}\b", canonical, text.value, flags=re.I)
    found: list[tuple[int, int, str]] = []
    for keyword in (*FEATURE_KEYWORDS, *COLOURS):
        for match in re.finditer(rf"(?<![\w-]){re.escape(keyword)}(?![\w-])", text.value, re.I):
            if not any(start <= match.start() < end for start, end, _ in found):
                found.append((match.start(), match.end(), "wifi 6" if keyword == "wi-fi 6" else keyword))
    renderers: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
        (_SIZE, lambda m: f"{m.group(1)} inch"),
        (_CAPACITY, lambda m: f"{m.group(1)}{m.group(2).lower()}"),
        (_REFRESH, lambda m: f"{m.group(1)}hz"),
    )
    for pattern, render in renderers:
        found += [(m.start(), m.end(), render(m)) for m in pattern.finditer(text.value)]
    negations = {m.end(): m.start() for m in _NEGATION.finditer(text.value)}
    wanted: list[str] = []
    excluded: list[tuple[int, int, str]] = []
    for start, end, keyword in sorted(found):
        if start in negations:
            excluded.append((negations[start], end, keyword))
        else:
            wanted.append(keyword)
    for start, end, _ in reversed(excluded):
        text.value = text.value[:start] + " " + text.value[end:]
    return list(dict.fromkeys(wanted)), list(dict.fromkeys(keyword for _, _, keyword in excluded))


def parse_request(text: str, vocabulary: Vocabulary, shown_brands: Sequence[str] = ()) -> ParsedRequest:
    """Extract slots from one message; never raises, whatever the text.

    ``shown_brands`` are the brands of the results on screen, in order, so references like "the
    second one" or "that Dell" resolve to positions.
    """
    constraints = Constraints(currency=vocabulary.currency)
    rest = _Text(text)
    cleared: set[str] = set()
    for names, pattern in _CLEARS:
        match = pattern.search(rest.value)
        if match:
            cleared.update(names)
            rest.cut(match)
    for sort, pattern in _SORTS:
        match = pattern.search(rest.value)
        if match:
            constraints.sort = sort
            rest.cut(match)
            break
    reference = _parse_reference(rest, shown_brands, vocabulary)
    relative = next((name for name, pattern in _RELATIVES if pattern.search(rest.value)), None)
    if relative == "cheaper" and re.search(rf"\bcheaper than\s+{AMOUNT}", rest.value, re.I):
        relative = None
    rating = _RATING.search(rest.value)
    if rating is not None and float(rating.group(1)) <= 5:
        constraints.rating_min = float(rating.group(1))
        rest.cut(rating)
    _parse_price(rest, constraints)
    constraints.keywords, constraints.exclude_keywords = _parse_keywords(rest)
    # Negated brands first, so "not Samsung" never becomes brand = Samsung.
    for negation in list(_NEGATION.finditer(rest.value))[::-1]:
        named = vocabulary.brand_in(rest.value[negation.end() : negation.end() + 40].split(",")[0])
        if named is not None and named[1] == 0:
            constraints.exclude_brand.insert(0, named[0])
            rest.value = rest.value[: negation.start()] + " " + rest.value[negation.end() + named[2] :]
    if not reference:
        named = vocabulary.brand_in(rest.value)
        if named is not None:
            constraints.brand = named[0]
    words = {singular(word) for word in _WORD.findall(rest.value.lower())}
    words |= {CATEGORY_SYNONYMS[word] for word in words if word in CATEGORY_SYNONYMS}
    constraints.category = _category_for(words, vocabulary)
    return ParsedRequest(constraints, " ".join(rest.value.split()), reference, cleared, relative)
