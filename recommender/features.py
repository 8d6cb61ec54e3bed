"""Hand-built features the CTR ranker sees beside the text towers, computed the same way in training and serving."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from retrieval import Product
from retrieval.spelling import singular

_TOKEN = re.compile(r"[a-z0-9]+(?:[./][0-9]+)?")

# The query–product cosine is not here: the model's own towers compute it (fine-tuned from the same MiniLM).
# Word matches use light stemming ("doors" = "door") and character trigrams, because search terms are
# misspelt ("vynal", "whirpool") far more often than listings are.
FEATURE_NAMES = (
    "lexical_coverage",  # share of the query's (stemmed) words the listing contains
    "fuzzy_coverage",  # mean over query words of their best match: 1 if present, else trigram containment
    "weakest_word_match",  # the worst-matched query word: one missing word often makes a listing wrong
    "head_word_match",  # the last query word, usually the kind of product ("deck *paint*")
    "first_word_match",  # the first, often a brand or material
    "bigram_coverage",  # share of the query's adjacent word pairs the listing contains in order
    "trigram_containment",  # share of the whole query's character trigrams found in the listing
    "number_coverage",  # share of the query's numbers ("1/2", "65", "2.5") the listing contains
    "log_query_words",  # longer queries ask for more, and fewer listings satisfy all of it
    "log_title_words",
    "price_to_budget",  # price / price_max when the ledger has a budget, else 0
    "has_budget",
    "rating",  # rating / 5, 0 when unknown
    "has_rating",
    "ctr_prior",  # smoothed click-through rate of the product over its impressions
    "category_match",  # the product's category is the ledger's
    "brand_match",
    "clicked_similarity",  # best cosine to products this session clicked (the model fills it from its own tower)
    "new_item",  # no impressions yet: ranked on content alone
)


SESSION_CLICKS = 10  # how many of a session's clicked products (most recent first) the ranker compares with


@dataclass(frozen=True)
class RankingContext:
    """What the assistant knows besides the query: the constraint ledger and what this session clicked."""

    ledger: Mapping[str, object] = field(default_factory=dict)
    clicked: Sequence[Product] = ()  # most recent first


@dataclass(frozen=True)
class CandidateSignals:
    """Per-candidate inputs that do not come from the product record itself: its history in the event log."""

    impressions: int = 0
    clicks: int = 0


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def smoothed_ctr(clicks: int, impressions: int, prior: float = 0.05, strength: float = 20.0) -> float:
    """Bayesian average so that 1 click in 2 impressions does not read as a 50 % product."""
    return (clicks + prior * strength) / (impressions + strength)


def product_text(product: Product) -> str:
    """What the product tower reads: title first (the strongest signal), then brand and category."""
    return " · ".join(part for part in (product.title, product.brand, product.category) if part)


def _trigrams(text: str) -> frozenset[str]:
    padded = f"#{text}#"
    return frozenset(padded[i : i + 3] for i in range(max(1, len(padded) - 2)))


@dataclass(frozen=True)
class _Words:
    """A text analysed once for matching: stems in order, their pairs, and character trigrams."""

    stems: tuple[str, ...]
    stem_set: frozenset[str]
    numbers: frozenset[str]  # stems with a digit: "65", "1/2", "2.5"
    bigrams: frozenset[tuple[str, str]]
    trigrams_per_word: tuple[frozenset[str], ...]
    word_trigrams: frozenset[str]  # of all words, each separately: what one query word is matched against
    text_trigrams: frozenset[str]  # of the words joined: for the whole query, across word breaks


@lru_cache(maxsize=65_536)  # serving sees the same listings turn after turn
def _words(text: str) -> _Words:
    stems = tuple(singular(token) for token in tokens(text))
    per_word = tuple(_trigrams(stem) for stem in stems)
    return _Words(
        stems,
        frozenset(stems),
        frozenset(stem for stem in stems if any(ch.isdigit() for ch in stem)),
        frozenset(zip(stems, stems[1:], strict=False)),
        per_word,
        frozenset().union(*per_word),
        _trigrams("_".join(stems)),
    )


def _word_match(word: str, grams: frozenset[str], listing: _Words) -> float:
    if word in listing.stem_set:
        return 1.0
    return len(grams & listing.word_trigrams) / len(grams)


def _lexical(query: _Words, listing: _Words) -> list[float]:
    if not query.stems:
        return [0.0] * 6
    matches = [
        _word_match(word, grams, listing) for word, grams in zip(query.stems, query.trigrams_per_word, strict=True)
    ]
    return [
        sum(word in listing.stem_set for word in query.stems) / len(query.stems),
        sum(matches) / len(matches),
        min(matches),
        matches[-1],
        matches[0],
        len(query.bigrams & listing.bigrams) / len(query.bigrams) if query.bigrams else 0.0,
    ]


def features(
    query: str, product: Product, signals: CandidateSignals, context: RankingContext
) -> npt.NDArray[np.float32]:
    query_words = _words(query)
    listing = _words(f"{product.title} {product.brand} {product.category}")
    budget = context.ledger.get("price_max")
    # A product without a listed price tells nothing against a budget: scored as if there were none.
    has_budget = isinstance(budget, int | float) and budget > 0 and product.price is not None
    category, brand = context.ledger.get("category"), context.ledger.get("brand")
    values = [
        *_lexical(query_words, listing),
        len(query_words.text_trigrams & listing.text_trigrams) / len(query_words.text_trigrams),
        len(query_words.numbers & listing.numbers) / len(query_words.numbers) if query_words.numbers else 0.0,
        math.log1p(len(query_words.stems)),
        math.log1p(len(product.title.split())),
        min((product.price or 0.0) / float(budget), 3.0) if has_budget else 0.0,  # type: ignore[arg-type]
        float(has_budget),
        (product.rating or 0.0) / 5.0,
        float(product.rating is not None),
        smoothed_ctr(signals.clicks, signals.impressions),
        float(bool(category) and product.category == category),
        float(bool(brand) and product.brand == brand),
        0.0,  # clicked_similarity: CtrModel.score fills it in from its product tower
        float(signals.impressions == 0),
    ]
    return np.asarray(values, dtype=np.float32)
