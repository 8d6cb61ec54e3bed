"""The ranker interface the assistant uses, and the baseline every learned ranker must beat."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from recommender.features import RankingContext
from retrieval import Product, ProductHit


@dataclass(frozen=True)
class RankedProduct:
    hit: ProductHit
    score: float


@runtime_checkable
class Ranker(Protocol):
    """Orders retrieved candidates for one query; ``version`` is logged with every impression."""

    @property
    def version(self) -> str: ...

    def rank(
        self, query: str, hits: Sequence[ProductHit], context: RankingContext | None = None
    ) -> list[RankedProduct]: ...

    def prepare(self, products: Sequence[Product]) -> None:
        """Do per-product work for the catalog ahead of the first customer (may take a while; optional work)."""


@dataclass(frozen=True)
class BaselineRanker:
    """Retrieval score plus a rating prior.

    score = fused / max(fused) + rating_weight · (smoothed_rating − prior_rating) / 2, where the
    smoothed rating is the Bayesian average (n·rating + prior_strength·prior_rating) / (n + prior_strength)
    over the product's n reviews (n = prior_strength when the count is unknown). A 4.8★ product with
    3 reviews therefore does not outrank a 4.6★ product with 400 on rating alone.
    """

    rating_weight: float = 0.25
    prior_rating: float = 4.0
    prior_strength: float = 10.0

    @property
    def version(self) -> str:
        return "baseline-1"

    def prepare(self, products: Sequence[Product]) -> None:
        """Nothing to precompute."""

    def smoothed_rating(self, hit: ProductHit) -> float:
        product = hit.product
        if product.rating is None:
            return self.prior_rating
        reviews = product.attributes.get("review_count")
        count = float(reviews) if isinstance(reviews, int | float) else self.prior_strength
        weight = self.prior_strength
        return (count * product.rating + weight * self.prior_rating) / (count + weight)

    def rank(
        self, query: str, hits: Sequence[ProductHit], context: RankingContext | None = None
    ) -> list[RankedProduct]:
        if not hits:
            return []
        top = max(hit.score for hit in hits) or 1.0
        ranked = [
            RankedProduct(
                hit,
                hit.score / top + self.rating_weight * (self.smoothed_rating(hit) - self.prior_rating) / 2,
            )
            for hit in hits
        ]
        return sorted(ranked, key=lambda item: -item.score)
