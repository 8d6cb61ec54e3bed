"""Hand-built features the CTR ranker sees beside the text towers, computed the same way in training and serving."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from retrieval import Product

_TOKEN = re.compile(r"[a-z0-9]+(?:[./][0-9]+)?")

# The query–product cosine is not here: the model's own towers compute it (fine-tuned from the same MiniLM).
FEATURE_NAMES = (
    "lexical_coverage",  # share of the query's words the listing contains
    "number_coverage",  # share of the query's numbers ("1/2", "65", "2.5") the listing contains
    "price_to_budget",  # price / price_max when the ledger has a budget, else 0
    "has_budget",
    "rating",  # rating / 5, 0 when unknown
    "has_rating",
    "ctr_prior",  # smoothed click-through rate of the product over its impressions
    "category_match",  # the product's category is the ledger's
    "brand_match",
    "clicked_similarity",  # best cosine to products this session clicked (filled in by the ranker)
    "new_item",  # no impressions yet: ranked on content alone
    "log_title_words",
)


@dataclass(frozen=True)
class RankingContext:
    """What the assistant knows besides the query: the constraint ledger and this session's clicks."""

    ledger: Mapping[str, object] = field(default_factory=dict)
    clicked: Sequence[str] = ()


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


def features(
    query: str, product: Product, signals: CandidateSignals, context: RankingContext
) -> npt.NDArray[np.float32]:
    query_tokens = set(tokens(query))
    listing = set(tokens(f"{product.title} {product.brand} {product.category}"))
    numbers = {token for token in query_tokens if any(ch.isdigit() for ch in token)}
    budget = context.ledger.get("price_max")
    has_budget = isinstance(budget, int | float) and budget > 0
    category, brand = context.ledger.get("category"), context.ledger.get("brand")
    values = [
        len(query_tokens & listing) / len(query_tokens) if query_tokens else 0.0,
        len(numbers & listing) / len(numbers) if numbers else 0.0,
        min(product.price / float(budget), 3.0) if has_budget else 0.0,  # type: ignore[arg-type]
        float(has_budget),
        (product.rating or 0.0) / 5.0,
        float(product.rating is not None),
        smoothed_ctr(signals.clicks, signals.impressions),
        float(bool(category) and product.category == category),
        float(bool(brand) and product.brand == brand),
        0.0,
        float(signals.impressions == 0),
        math.log1p(len(product.title.split())),
    ]
    return np.asarray(values, dtype=np.float32)
