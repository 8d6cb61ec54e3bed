"""Offline comparison of rankers on judged queries: random, BM25, zero-shot dense, their fusion, and the CTR model.

Each method re-ranks every query's judged products; metrics come from :mod:`recommender.evaluation`,
and the CTR ranker's difference to the best baseline gets a 95 % bootstrap interval over queries.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from recommender.evaluation import METRICS, JudgedGroup, bootstrap_difference, summarize
from recommender.features import product_text, tokens
from recommender.training import RankingExample, TrainingDataError, groups_of
from retrieval import Product
from retrieval.embeddings import Embedder

Scorer = Callable[[Sequence[RankingExample]], list[float]]
BASELINES = ("random", "bm25", "dense", "fusion")
_RRF_K = 60


def bm25_scorer(corpus: Sequence[str]) -> Scorer:
    """BM25 (Okapi) with document frequencies from ``corpus`` (the catalog's product texts)."""
    from rank_bm25 import BM25Okapi

    index = BM25Okapi([tokens(text) or ["∅"] for text in corpus])

    def score(examples: Sequence[RankingExample]) -> list[float]:
        scores = []
        for example in examples:
            document = tokens(product_text(example.product))
            frequencies = {term: document.count(term) for term in set(document)}
            length_norm = 1 - index.b + index.b * len(document) / index.avgdl
            scores.append(
                sum(
                    index.idf.get(term, 0.0)
                    * frequencies.get(term, 0)
                    * (index.k1 + 1)
                    / (frequencies.get(term, 0) + index.k1 * length_norm)
                    for term in tokens(example.query)
                )
            )
        return scores

    return score


def dense_scorer(embedder: Embedder) -> Scorer:
    """Zero-shot cosine between query and product text with the retrieval model."""

    def score(examples: Sequence[RankingExample]) -> list[float]:
        queries = list(dict.fromkeys(e.query for e in examples))
        texts = list(dict.fromkeys(product_text(e.product) for e in examples))
        query_vectors = dict(zip(queries, embedder.embed(queries), strict=True))
        product_vectors = dict(zip(texts, embedder.embed(texts), strict=True))
        return [float(query_vectors[e.query] @ product_vectors[product_text(e.product)]) for e in examples]

    return score


def _within_group_ranks(examples: Sequence[RankingExample], scores: Sequence[float]) -> list[int]:
    ranks = [0] * len(examples)
    for _, rows in groups_of(examples, 0.0):
        for rank, i in enumerate(sorted(rows, key=lambda i: -scores[i]), start=1):
            ranks[i] = rank
    return ranks


def baseline_scorers(embedder: Embedder, corpus: Sequence[str], seed: int = 0) -> dict[str, Scorer]:
    bm25, dense = bm25_scorer(corpus), dense_scorer(embedder)

    def random_scores(examples: Sequence[RankingExample]) -> list[float]:
        return list(np.random.default_rng(seed).random(len(examples)))

    def fusion(examples: Sequence[RankingExample]) -> list[float]:
        """Reciprocal-rank fusion of BM25 and dense, as product search fuses its two signals."""
        lexical_ranks = _within_group_ranks(examples, bm25(examples))
        dense_ranks = _within_group_ranks(examples, dense(examples))
        return [1 / (_RRF_K + a) + 1 / (_RRF_K + b) for a, b in zip(lexical_ranks, dense_ranks, strict=True)]

    return {"random": random_scores, "bm25": bm25, "dense": dense, "fusion": fusion}


def scored_groups(
    examples: Sequence[RankingExample], scorers: dict[str, Scorer], *, threshold: float
) -> tuple[list[JudgedGroup], dict[str, list[list[float]]]]:
    """The judged groups, and each method's scores per group (in the group's product order)."""
    grouped = groups_of(examples, threshold)
    per_method: dict[str, list[list[float]]] = {}
    for name, scorer in scorers.items():
        scores = scorer(examples)
        per_method[name] = [[scores[i] for i in rows] for _, rows in grouped]
    return [group for group, _ in grouped], per_method


def comparison_report(
    groups: Sequence[JudgedGroup],
    per_method: dict[str, list[list[float]]],
    *,
    model: str | None = None,
    bootstrap_samples: int = 1000,
) -> dict[str, Any]:
    """The report ``shopassist eval ranking --json`` prints."""
    methods = {name: summarize(groups, scores) for name, scores in per_method.items()}
    baselines = [name for name in methods if name in BASELINES]
    best = max(baselines, key=lambda name: methods[name]["ndcg@10"])
    report: dict[str, Any] = {"methods": methods, "best_baseline": best, "queries": len(groups), "model": model}
    if "ctr" in per_method:
        report["ctr_vs_best_baseline"] = {}
        for metric in METRICS:
            diff, (low, high) = bootstrap_difference(
                groups, per_method["ctr"], per_method[best], metric, samples=bootstrap_samples
            )
            report["ctr_vs_best_baseline"][metric] = {"diff": diff, "ci95": [low, high]}
    return report


def compare_rankers(
    examples: Sequence[RankingExample],
    scorers: dict[str, Scorer],
    *,
    threshold: float,
    model: str | None = None,
    bootstrap_samples: int = 1000,
) -> dict[str, Any]:
    groups, per_method = scored_groups(examples, scorers, threshold=threshold)
    return comparison_report(groups, per_method, model=model, bootstrap_samples=bootstrap_samples)


def load_catalog(path: Path) -> list[Product]:
    """A products file in the Home Depot format: ``product_uid, title`` (+ ``description``)."""
    try:
        with path.open(encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file)
            missing = {"product_uid", "title"} - set(reader.fieldnames or [])
            if missing:
                raise TrainingDataError(f"{path}: missing columns {', '.join(sorted(missing))}")
            return [
                Product(id=row["product_uid"], title=row["title"], description=row.get("description") or "", price=0.0)
                for row in reader
            ]
    except OSError as error:
        raise TrainingDataError(f"{path}: {error}") from error


def full_catalog_recall(
    examples: Sequence[RankingExample],
    catalog: Sequence[Product],
    embedder: Embedder,
    *,
    threshold: float,
    ctr: Scorer | None = None,
    depth: int = 100,
    model: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Recall@10 and @100 of each query's relevant products when retrieving from the whole catalog.

    bm25, dense and their fusion retrieve ``depth`` candidates; ctr re-ranks the fusion's candidates (so
    its recall@100 is the fusion's); random draws ``depth`` products. Queries with no relevant product
    are left out.
    """
    from rank_bm25 import BM25Okapi

    wanted: dict[str, tuple[str, set[str]]] = {}
    for example in examples:
        query, positives = wanted.setdefault(example.group, (example.query, set()))
        if example.relevance >= threshold:
            positives.add(example.product.id)
    wanted = {group: value for group, value in wanted.items() if value[1]}
    texts = [product_text(product) for product in catalog]
    vectors = embedder.embed(texts)
    bm25 = BM25Okapi([tokens(text) or ["∅"] for text in texts])
    ids = np.array([product.id for product in catalog])
    generator = np.random.default_rng(seed)
    depth = min(depth, len(catalog))
    names = [*BASELINES, "ctr"] if ctr is not None else list(BASELINES)
    recalls: dict[str, dict[int, list[float]]] = {name: {10: [], 100: []} for name in names}
    query_vectors = dict(zip(wanted, embedder.embed([query for query, _ in wanted.values()]), strict=True))

    def top(scores: npt.NDArray[np.float64]) -> list[int]:
        best = np.argpartition(-scores, depth - 1)[:depth]
        return [int(i) for i in best[np.argsort(-scores[best], kind="stable")]]

    for group, (query, positives) in wanted.items():
        dense = top(vectors @ query_vectors[group])
        lexical = top(np.asarray(bm25.get_scores(tokens(query) or ["∅"]), dtype=np.float64))
        fused_scores: dict[int, float] = defaultdict(float)
        for ranking in (dense, lexical):
            for rank, index in enumerate(ranking, start=1):
                fused_scores[index] += 1 / (_RRF_K + rank)
        fusion = sorted(fused_scores, key=lambda index: -fused_scores[index])[:depth]
        rankings = {
            "random": [int(i) for i in generator.choice(len(catalog), depth, replace=False)],
            "bm25": lexical,
            "dense": dense,
            "fusion": fusion,
        }
        if ctr is not None:
            candidates = [
                RankingExample(group=group, query=query, product=catalog[i], click=0.0, cart=0.0, relevance=0.0)
                for i in fusion
            ]
            scores = ctr(candidates)
            rankings["ctr"] = [fusion[i] for i in sorted(range(len(fusion)), key=lambda i: -scores[i])]
        for name, ranking in rankings.items():
            for k, values in recalls[name].items():
                values.append(len(positives & set(ids[ranking[:k]].tolist())) / len(positives))
    methods = {name: {f"recall@{k}": float(np.mean(v)) for k, v in by_k.items()} for name, by_k in recalls.items()}
    return {
        "mode": "full-catalog",
        "methods": methods,
        "queries": len(wanted),
        "products": len(catalog),
        "model": model,
    }
