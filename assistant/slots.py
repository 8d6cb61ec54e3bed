"""Slot extraction against the catalog's own vocabulary.

``parse_request`` turns one message into slots (category, brand, exclude_brand, price_min, price_max,
rating_min, sort, keywords, reference) plus the edits a refinement asks for (``cheaper``, ``forget the
budget``). It is pure and never raises: the dialogue layer decides what the slots mean in context.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from assistant.ledger import UNITS, Constraints, Relative, Sort
from retrieval import BrandMention, CatalogLexicon, CatalogSpeller, is_english_word
from retrieval.money import AMOUNT, PRICED_AMOUNT, read_amount
from retrieval.text import function_words

_SIZE = re.compile(
    r"(?<![\w./])(\d{2,3}(?:\.\d)?|\d+(?:-\d+)?/\d+)\s*(?:\"|”|''|-?\s*inch(?:es)?\b|-?\s*in\b\.?)", re.I
)
_UNIT_OF = {spelling: unit for unit, spellings in UNITS.items() for spelling in spellings}
_UNIT_WORDS = "|".join(sorted(map(re.escape, _UNIT_OF), key=len, reverse=True))
_MEASURE = re.compile(rf"(?<![\w./$₹€£])(\d+(?:\.\d+)?)\s*-?\s*({_UNIT_WORDS})(?![a-z])", re.I)
# "RTX 4070", "Gen 2", "wifi 7": a word the catalog's titles write before numbers, and a number.
_PREFIXED_SPEC = re.compile(r"\b([a-z]{1,6})[ -]?(\d[\w.]*)", re.I)

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
_BARE_LIST = re.compile(
    r"(?<![\w$.])[1-5](?:\s*(?:vs\.?|versus|and|&|or|,)\s*(?:,\s*)?[1-5])+(?![\w.%$]|\s*(?:stars?|k\b))", re.I
)
_ALTERNATIVES = re.compile(r"\b(?:or|either)\b|/", re.I)


def alternatives(text: str) -> list[str]:
    """The parts of ``text`` offered as alternatives: "headphones or a speaker" → "headphones ", " a speaker"."""
    return _ALTERNATIVES.split(text)


_PURPOSE = re.compile(r"\b(?:for|to go with|that goes with|compatible with|to use with)\b", re.I)
_BOTH = re.compile(r"\bboth\b", re.I)
_ALL = re.compile(r"\ball\s+(?:of\s+)?(?:them|these|those|three|four|five)\b", re.I)


def _amount(text: str, currency: str) -> float | None:
    """The amount in the store's ``currency``; None for another currency or a figure no price can be."""
    amount = read_amount(text, currency)
    if amount is None or amount.currency not in (None, currency):
        return None
    return amount.value


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
    # Categories whose names the message uses, with how strongly (see CatalogLexicon.named_categories), one
    # mapping per alternative ("headphones or a speaker": two); the dialogue decides with retrieval's evidence
    # which, if any, filter.
    named_categories: list[dict[str, float]] = field(default_factory=list)
    # Brands named only through a product line ("MacBook" → Apple): a hint, never a filter.
    brand_hints: list[str] = field(default_factory=list)


class _Text:
    """The message being consumed: each recognised phrase is cut out so later rules do not see it again."""

    def __init__(self, text: str) -> None:
        self.value = text

    def cut(self, match: re.Match[str]) -> None:
        self.value = self.value[: match.start()] + " " + self.value[match.end() :]

    @contextlib.contextmanager
    def holding(self, patterns: Sequence[re.Pattern[str]]) -> Iterator[None]:
        """Hide what ``patterns`` match from the rules run inside, and put it back afterwards."""
        held: list[str] = []

        def hold(match: re.Match[str]) -> str:
            held.append(match.group())
            return f"\x00{chr(ord('a') + len(held) - 1)}\x00" if len(held) <= 26 else match.group()

        for pattern in patterns:
            self.value = pattern.sub(hold, self.value)
        yield
        for index, original in enumerate(held[:26]):
            self.value = self.value.replace(f"\x00{chr(ord('a') + index)}\x00", original)


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


def _parse_reference(text: _Text, shown_brands: Sequence[str], lexicon: CatalogLexicon) -> list[int]:
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
        take(_BARE_LIST, lambda m: [int(digit) for digit in re.findall(r"[1-5]", m.group())])
    take(_ORDINAL, lambda m: [shown if m.group(1).lower() == "last" else _ORDINALS[m.group(1).lower()]])
    # "that Dell", "the Sony": shown products of that brand.
    for brand_match in re.finditer(r"\b(?:that|the|this)\s+([\w-]+)", text.value, re.I):
        named = lexicon.brand_mentions(brand_match.group(1))
        if named:
            brand = named[0].brand.casefold()
            matching = [i for i, b in enumerate(shown_brands, start=1) if b.casefold() == brand]
            # "that Dell" among five Dells singles nothing out.
            if len(matching) < shown:
                positions.extend(matching)
    positions = [p for p in positions if p > 0]
    return sorted(dict.fromkeys(positions))


def without_specs(text: str, spec_prefixes: frozenset[str]) -> str:
    """``text`` less its sizes, measures and prefixed specs ("55 inch", "500 ml", "RTX 4070"): a spec is checked
    as a whole, so its unit or prefix is not one more word a listing's name must say."""
    for pattern in (_SIZE, _MEASURE):
        text = pattern.sub(" ", text)
    return _PREFIXED_SPEC.sub(lambda m: " " if m.group(1).lower() in spec_prefixes else m.group(0), text)


def _parse_keywords(text: _Text, spec_prefixes: frozenset[str]) -> tuple[list[str], list[str]]:
    """(wanted, excluded) specs: sizes, measures and the catalog's spec words with a number ("55 inch", "500 ml",
    "RTX 4070"); an excluded one follows a negation and is cut. Other words the customer wants ("wireless",
    "red", "crunchy") stay in the query: the search requires them of the cards by how telling they are in
    this catalog (``assistant._search``), without a word list."""
    found: list[tuple[int, int, str]] = []

    def add(matches: Iterable[re.Match[str]], render: Callable[[re.Match[str]], str]) -> None:
        for match in matches:
            if not any(match.start() < end and start < match.end() for start, end, _ in found):
                found.append((match.start(), match.end(), render(match)))

    # Specs first: "RTX 4070" is one spec, not the feature "rtx" and a stray number.
    add(_SIZE.finditer(text.value), lambda m: f"{m.group(1)} inch")
    add(_MEASURE.finditer(text.value), lambda m: f"{m.group(1)}{_UNIT_OF[m.group(2).lower()]}")
    prefixed = (m for m in _PREFIXED_SPEC.finditer(text.value) if m.group(1).lower() in spec_prefixes)
    add(prefixed, lambda m: f"{m.group(1).lower()} {m.group(2).lower()}")
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


def parse_request(
    text: str, lexicon: CatalogLexicon, shown_brands: Sequence[str] = (), *, currency: str = "USD"
) -> ParsedRequest:
    """Extract slots from one message; never raises, whatever the text.

    ``lexicon`` is the catalog's own (categories, brands, product lines); ``shown_brands`` are the brands of
    the results on screen, in order, so references like "the second one" or "that Dell" resolve to positions.
    ``currency`` is the store's: budgets count only in it. The text should already be spelling-corrected
    (:class:`SlotSpeller`).
    """
    constraints = Constraints(currency=currency)
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
    reference = _parse_reference(rest, shown_brands, lexicon)
    relative = next((name for name, pattern in _RELATIVES if pattern.search(rest.value)), None)
    if relative == "cheaper" and re.search(rf"\bcheaper than\s+{AMOUNT}", rest.value, re.I):
        relative = None
    rating = _RATING.search(rest.value)
    if rating is not None and float(rating.group(1)) <= 5:
        constraints.rating_min = float(rating.group(1))
        rest.cut(rating)
    # "at least 16GB", "a 2 kg bag": a measure is never a price.
    with rest.holding([_SIZE, _MEASURE]):
        _parse_price(rest, constraints)
    constraints.keywords, constraints.exclude_keywords = _parse_keywords(rest, lexicon.spec_prefixes)
    # Negated brands first, so "not Samsung" never becomes brand = Samsung; "not LG or Sony" negates both.
    for negation in list(_NEGATION.finditer(rest.value))[::-1]:
        following = rest.value[negation.end() : negation.end() + 80].split(",")[0]
        excluded = _listed_brands(following, lexicon.brand_mentions(following))
        if excluded:
            constraints.exclude_brand[:0] = [mention.brand for mention in excluded]
            rest.value = rest.value[: negation.start()] + " " + rest.value[negation.end() + excluded[-1].end :]
            continue
        # "shampoo without sulphate", "no onion": a word the catalog uses is one the cards must not mention.
        word = re.match(r"\s*([a-z][a-z'-]+)", following, re.I)
        negated = word.group(1).lower() if word else ""
        if word and (lexicon.knows(negated) or is_english_word(negated)) and negated not in _never_excluded():
            constraints.exclude_keywords.insert(0, negated)
            rest.value = rest.value[: negation.start()] + " " + rest.value[negation.end() + word.end() :]
    hints: list[str] = []
    if not reference:
        for mention in lexicon.brand_mentions(rest.value):
            chosen = hints if mention.via_line else constraints.brand
            if mention.brand not in chosen and mention.brand not in constraints.exclude_brand:
                chosen.append(mention.brand)
    # "a soundbar for my TV", "batteries for my remote": what follows a purpose names the use, not the product.
    head = _PURPOSE.split(rest.value, maxsplit=1)[0]
    if not lexicon.named_categories(head):
        head = rest.value
    named_categories = [named for part in alternatives(head) if (named := lexicon.named_categories(part))]
    order = {category: rank for rank, category in enumerate(lexicon.categories)}
    for named in named_categories:
        best = min(named, key=lambda c: (-named[c], order.get(c, 0)))
        if best not in constraints.category:
            constraints.category.append(best)
    return ParsedRequest(
        constraints, " ".join(rest.value.split()), reference, cleared, relative, named_categories, hints
    )


def _listed_brands(text: str, mentions: Sequence[BrandMention]) -> list[BrandMention]:
    """The brands that open ``text`` and those joined to them by "or"/"and"/"nor"/commas ("LG or Sony")."""
    listed: list[BrandMention] = []
    position = 0
    for mention in mentions:
        if mention.via_line or not re.fullmatch(r"\s*(?:(?:or|and|nor|,|/)\s*)*", text[position : mention.start]):
            break
        if listed and position == mention.start:
            break
        listed.append(mention)
        position = mention.end
    return listed


@functools.cache
def _never_excluded() -> frozenset[str]:
    """Words after a negation that are grammar, not a thing to avoid ("not too expensive", "no more than")."""
    return grammar_words() | function_words()


@functools.cache
def grammar_words() -> frozenset[str]:
    """The words the slot grammar reads (prices, sorting, edits, comparison, negation), taken from its own rules."""
    patterns = [pattern for _, pattern in (*_PRICE_PATTERNS, *_SORTS, *_RELATIVES)]
    patterns += [pattern for _, pattern in _CLEARS] + [_NEGATION, _RATING, _FIRST_N, _LAST_N, _ORDINAL, _NUMBERED]
    return frozenset(word for pattern in patterns for word in re.findall(r"[a-z]{3,}", pattern.pattern))


class SlotSpeller:
    """Corrects a message before slots are read: towards the grammar's words first ("undr" → "under",
    "chepa" → "cheap"), then towards the catalog's ("samsng" → "samsung"). Numbers, model codes and real
    English words are never changed."""

    def __init__(self, catalog: CatalogSpeller) -> None:
        self._catalog = catalog
        self._grammar = CatalogSpeller(
            Counter(grammar_words()), is_known=lambda word: catalog.knows(word) or is_english_word(word)
        )

    def correct(self, text: str) -> str:
        return self._catalog.correct(self._grammar.correct(text))
