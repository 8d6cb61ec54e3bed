"""Ordering of retrieved products and the interaction log it learns from."""

from recommender.errors import EventError, RecommenderError
from recommender.events import ACTIONS, Action, EventStore, ShownProduct
from recommender.ranking import BaselineRanker, RankedProduct, Ranker

__all__ = [
    "ACTIONS",
    "Action",
    "BaselineRanker",
    "EventError",
    "EventStore",
    "RankedProduct",
    "Ranker",
    "RecommenderError",
    "ShownProduct",
]
