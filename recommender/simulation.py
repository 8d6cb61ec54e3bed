"""SYNTHETIC shopping sessions over a catalog, to bootstrap a first ranker before any real clicks exist.

Everything produced here is simulated and is labelled synthetic wherever it is reported (model registry,
``models list``, README). The click model is position-based:

- a simulated customer searches with a query made from a catalog product's title (its first words) and
  the category, and is shown the baseline ranker's top results for it;
- they examine position k with probability 1 / k (examination falls with rank: the bias the ranker's
  position term must learn to discount);
- an examined product is clicked with probability 0.05 + 0.9 · c², where c is the share of the query's
  words that its title contains (the simulated notion of relevance);
- a clicked product is added to the cart with probability 0.4 · rating / 5 (0.2 without a rating).

Real events from the widget and Slack replace this with ``shopassist train ranker --from-events``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence

from recommender.events import EventStore, ShownProduct
from recommender.features import tokens
from recommender.ranking import BaselineRanker
from retrieval import Product, ProductHit

SYNTHETIC_CHANNEL = "simulation"


def simulate_sessions(
    products: Sequence[Product],
    search: Callable[[str], list[ProductHit]],
    events: EventStore,
    *,
    sessions: int = 300,
    shown: int = 5,
    seed: int = 0,
) -> int:
    """Log ``sessions`` simulated searches with their clicks and carts; returns the number of impressions."""
    generator = random.Random(seed)
    ranker = BaselineRanker()
    impressions = 0
    for _ in range(sessions):
        source = generator.choice(products)
        words = source.title.split()[: generator.randint(2, 4)]
        query = " ".join([*words, source.category.split()[0] if source.category else ""]).strip()
        ranked = ranker.rank(query, search(query))[:shown]
        if not ranked:
            continue
        turn_id = uuid.uuid4().hex
        ids = events.log_turn(
            turn_id=turn_id,
            session_id=f"simulated-{turn_id}",
            channel=SYNTHETIC_CHANNEL,
            query=query,
            ledger={},
            intent="product_search",
            shown=[ShownProduct(item.hit.product.id, position) for position, item in enumerate(ranked, start=1)],
            ranker_version=ranker.version,
        )
        query_tokens = set(tokens(query))
        for position, (impression_id, item) in enumerate(zip(ids, ranked, strict=True), start=1):
            product = item.hit.product
            coverage = len(query_tokens & set(tokens(product.title))) / max(1, len(query_tokens))
            if generator.random() < 1 / position and generator.random() < 0.05 + 0.9 * coverage**2:
                events.log_action(impression_id, "click")
                cart = 0.4 * product.rating / 5 if product.rating is not None else 0.2
                if generator.random() < cart:
                    events.log_action(impression_id, "add_to_cart")
        impressions += len(ids)
    return impressions
