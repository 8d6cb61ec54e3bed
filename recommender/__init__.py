"""Ordering of retrieved products: the ``Ranker`` protocol and its implementations."""

from recommender.ranking import BaselineRanker, RankedProduct, Ranker

__all__ = ["BaselineRanker", "RankedProduct", "Ranker"]
