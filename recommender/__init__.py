"""Ordering of retrieved products and the interaction log it learns from."""

from recommender.ctr_ranker import CtrRanker
from recommender.errors import EventError, RecommenderError
from recommender.events import ACTIONS, Action, EventStore, ShownProduct
from recommender.features import RankingContext
from recommender.ranking import BaselineRanker, RankedProduct, Ranker
from recommender.registry import ModelRegistry, RankerArtifactError

__all__ = [
    "ACTIONS",
    "Action",
    "BaselineRanker",
    "CtrRanker",
    "EventError",
    "EventStore",
    "ModelRegistry",
    "RankedProduct",
    "Ranker",
    "RankerArtifactError",
    "RankingContext",
    "RecommenderError",
    "ShownProduct",
]
