"""What a catalog's own words say: its categories, its brands and their product lines.

Learned from the listings at ingest time (rebuilt after every ingest), never from a word list written for
one shop, so a grocery, a hardware and an electronics catalog are understood the same way.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from retrieval.text import function_words, singular

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Joining words inside names ("Bowers & Wilkins", "Fruits and Vegetables"): never a name's content.
_JOINERS = frozenset({"and", "of", "the", "for", "with"})
_LONGEST_NAME = 5  # words; longer brand names are matched by their first five words
_MIN_LINE_PRODUCTS = 2  # a product line is a word that at least two listings of one brand use
_MIN_SPEC_PRODUCTS = 2  # a spec prefix ("rtx" in "RTX 4070") is followed by a number in at least two titles
_SPEC_PREFIX = re.compile(r"\b([a-z]{1,6})\b(?:[ -]?(\d))?")
_INNER_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])")


def join_hyphenated(text: str) -> str:
    """ "Wi-Fi" → "wifi": the spelling a customer types for a hyphenated name."""
    return _INNER_HYPHEN.sub("", text.casefold())


@dataclass(frozen=True)
class BrandMention:
    """A brand the text names: directly ("Samsung") or through one of its product lines ("MacBook")."""

    brand: str
    start: int
    end: int
    via_line: bool = False


def _spans(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text.casefold())]


class CatalogLexicon:
    """Categories, brands and product lines of one catalog, and how a message names them.

    Build it with :meth:`from_listings`; it is immutable and cheap to query.
    """

    def __init__(
        self,
        categories: Sequence[str],
        brands: Sequence[str],
        brand_lines: dict[str, str],
        vocabulary: Iterable[str],
        spec_prefixes: Iterable[str] = (),
        currency: str = "USD",
        brands_per_word: dict[str, int] | None = None,
        listings_per_word: dict[str, int] | None = None,
        listing_count: int = 0,
    ) -> None:
        self.categories = tuple(categories)
        self.brands = tuple(brands)
        self.brand_lines = dict(brand_lines)
        self._vocabulary = frozenset(vocabulary)
        self.currency = currency  # the one most of the catalog's priced products use
        self._brands_per_word = dict(brands_per_word or {})  # how many brands' titles use each word
        # How many listings (title, category, brand) use each word, in catalog form: how telling a word is.
        self._listings_per_word = dict(listings_per_word or {})
        self._listing_count = listing_count
        # Words that titles write before a number ("RTX 4070", "Gen 2", "Wi-Fi 7"): "<word> <number>" is a spec.
        self.spec_prefixes = frozenset(spec_prefixes)
        self._category_words = {category: self.name_words(category) for category in self.categories}
        names_with_word = Counter(word for words in self._category_words.values() for word in set(words))
        # A word in many category names ("computer", "smart") says little about which one is meant.
        total = max(len(self.categories), 1)
        self._word_weight = {word: math.log(1 + total / count) for word, count in names_with_word.items()}
        self._brand_keys: dict[tuple[str, ...], str] = {}
        for brand in self.brands:
            key = tuple(self._name_tokens(brand))[:_LONGEST_NAME]
            if key and not (len(key) == 1 and key[0].isdigit()):
                self._brand_keys.setdefault(key, brand)

    @classmethod
    def from_listings(cls, listings: Iterable[tuple[str, str, str]], *, currency: str = "USD") -> CatalogLexicon:
        """From (title, category, brand) of every product, and the currency most of them are priced in."""
        category_counts: Counter[str] = Counter()
        brand_counts: Counter[str] = Counter()
        vocabulary: set[str] = set()
        brands_using: dict[str, Counter[str]] = defaultdict(Counter)
        before_number: Counter[str] = Counter()
        listings_per_word: Counter[str] = Counter()
        listed = 0
        for title, category, brand in listings:
            listed += 1
            before_number.update({word for word, digit in _SPEC_PREFIX.findall(join_hyphenated(title)) if digit})
            if category:
                category_counts[category] += 1
            if brand:
                brand_counts[brand] += 1
            title_words = {word for word, _, _ in _spans(title)}
            listing_words = title_words | {word for word, _, _ in _spans(f"{category} {brand}")}
            vocabulary |= listing_words
            listings_per_word.update({singular(word) for word in listing_words})
            if brand:
                for word in title_words:
                    brands_using[word][brand] += 1
        brand_words = {word for brand in brand_counts for word, _, _ in _spans(brand)}
        # A title word that only one brand's listings use is that brand's own line ("macbook", "galaxy").
        lines = {
            word: users.most_common(1)[0][0]
            for word, users in brands_using.items()
            if len(users) == 1
            and sum(users.values()) >= _MIN_LINE_PRODUCTS
            and word not in brand_words
            and word.isalpha()
            and len(word) > 2
        }
        categories = [category for category, _ in category_counts.most_common()]
        brands = [brand for brand, _ in brand_counts.most_common()]
        # "RTX 4070", "Gen 2", "Wi-Fi 7" — but not "with 16 cameras": grammar words never name a spec.
        grammar = function_words()
        spec_prefixes = {
            word for word, count in before_number.items() if count >= _MIN_SPEC_PRODUCTS and word not in grammar
        }
        brands_per_word = {word: len(users) for word, users in brands_using.items()}
        return cls(
            categories,
            brands,
            lines,
            vocabulary,
            spec_prefixes,
            currency,
            brands_per_word,
            dict(listings_per_word),
            listed,
        )

    # -- words -------------------------------------------------------------------------------------
    def canonical(self, word: str) -> str:
        """The singular of ``word``; a short plural ("tvs", "pcs") folds only where the catalog uses the singular."""
        folded = singular(word)
        if folded == word and len(word) == 3 and word.endswith("s") and word[:-1] in self._vocabulary:
            return word[:-1]
        return folded

    def rarity(self, word: str) -> float:
        """How telling ``word`` is in this catalog: high for a word few listings use ("ketchup"), low for one
        many use ("pack"), 0 for one no listing uses."""
        count = self._listings_per_word.get(self.canonical(word), 0)
        return math.log(1 + self._listing_count / count) if count else 0.0

    def name_words(self, name: str) -> frozenset[str]:
        return frozenset(self.canonical(word) for word in self._name_tokens(name))

    def _name_tokens(self, name: str) -> list[str]:
        return [word for word, _, _ in _spans(name) if word not in _JOINERS]

    # -- categories --------------------------------------------------------------------------------
    def named_categories(self, text: str) -> dict[str, float]:
        """Categories whose name the text uses, with how strongly: words shared with the name, each weighted
        by how few category names contain it, as a share of the name's own weight."""
        said = {self.canonical(word) for word, _, _ in _spans(text)}
        named: dict[str, float] = {}
        for category, name in self._category_words.items():
            shared = said & name
            if shared:
                weight = sum(self._word_weight[word] for word in name)
                named[category] = sum(self._word_weight[word] for word in shared) / weight
        return named

    # -- brands ------------------------------------------------------------------------------------
    def brand_mentions(self, text: str) -> list[BrandMention]:
        """Every brand the text names, longest names first and without overlaps, in text order."""
        spans = [(word, start, end) for word, start, end in _spans(text) if word not in _JOINERS]
        found: list[BrandMention] = []
        taken: set[int] = set()
        for size in range(_LONGEST_NAME, 0, -1):
            for first in range(len(spans) - size + 1):
                window = range(first, first + size)
                if taken.intersection(window):
                    continue
                key = tuple(spans[i][0] for i in window)
                brand = self._brand_keys.get(key)
                via_line = False
                if brand is None and size == 1:
                    brand = self.brand_lines.get(self.canonical(key[0])) or self.brand_lines.get(key[0])
                    via_line = brand is not None
                if brand is not None:
                    found.append(BrandMention(brand, spans[first][1], spans[first + size - 1][2], via_line))
                    taken.update(window)
        return sorted(found, key=lambda mention: mention.start)

    def ambiguous_brand(self, brand: str) -> bool:
        """A brand named with a grammar word ("My Arcade") or with words other brands' titles use too ("Apple"
        in a grocery's apple juices): said in passing, it may not mean the brand."""
        name = self._name_tokens(brand)
        grammar = function_words()
        return any(word in grammar or self._brands_per_word.get(word, 0) > 1 for word in name)

    def knows(self, word: str) -> bool:
        """Whether a title, category or brand of the catalog uses ``word`` (lower case)."""
        return word in self._vocabulary or self.canonical(word) in self._vocabulary
