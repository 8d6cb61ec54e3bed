"""Exception hierarchy of the recommender package: catch ``RecommenderError`` for all of them."""


class RecommenderError(Exception):
    """Root of every error raised by :mod:`recommender`."""


class EventError(RecommenderError):
    """An interaction event that cannot be recorded (unknown impression id, unknown action)."""
