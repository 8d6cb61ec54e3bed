"""Ranking metrics over judged query groups, and bootstrap confidence intervals for differences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METRICS = ("ndcg@5", "ndcg@10", "mrr", "auc")


@dataclass(frozen=True)
class JudgedGroup:
    """One query's judged products: graded relevance (gain = relevance − 1) and binary labels."""

    query: str
    product_ids: tuple[str, ...]
    relevance: tuple[float, ...]
    threshold: float

    @property
    def labels(self) -> list[bool]:
        return [r >= self.threshold for r in self.relevance]


def ndcg(relevance_in_order: Sequence[float], ideal: Sequence[float], k: int) -> float:
    def dcg(values: Sequence[float]) -> float:
        return sum((r - 1.0) / math.log2(i + 2) for i, r in enumerate(values[:k]))

    best = dcg(sorted(ideal, reverse=True))
    return dcg(relevance_in_order) / best if best > 0 else 1.0


def pooled_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """ROC AUC over all judged pairs pooled across queries (positives vs negatives, ties half)."""
    from sklearn.metrics import roc_auc_score

    if len(set(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(np.asarray(labels, dtype=bool), np.asarray(scores, dtype=np.float64)))


def group_metrics(group: JudgedGroup, scores: Sequence[float]) -> dict[str, float | None]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    ranked = [group.relevance[i] for i in order]
    labels = group.labels
    first = next((rank for rank, i in enumerate(order, start=1) if labels[i]), None)
    return {
        "ndcg@5": ndcg(ranked, group.relevance, 5),
        "ndcg@10": ndcg(ranked, group.relevance, 10),
        "mrr": (1.0 / first if first else 0.0) if any(labels) else None,
    }


def summarize(groups: Sequence[JudgedGroup], scores: Sequence[Sequence[float]]) -> dict[str, float]:
    """NDCG@5/10 (gain = relevance − 1) and MRR averaged over queries; AUC pooled over all pairs."""
    per_group = [group_metrics(group, group_scores) for group, group_scores in zip(groups, scores, strict=True)]
    means = {}
    for metric in ("ndcg@5", "ndcg@10", "mrr"):
        values = [value for row in per_group if (value := row[metric]) is not None]
        means[metric] = float(np.mean(values)) if values else float("nan")
    means["auc"] = pooled_auc(
        [s for group_scores in scores for s in group_scores], [y for group in groups for y in group.labels]
    )
    return means


def bootstrap_difference(
    groups: Sequence[JudgedGroup],
    a: Sequence[Sequence[float]],
    b: Sequence[Sequence[float]],
    metric: str,
    *,
    samples: int = 1000,
    seed: int = 0,
) -> tuple[float, tuple[float, float]]:
    """Metric of a minus metric of b, and its 95 % percentile-bootstrap interval (queries resampled)."""
    generator = np.random.default_rng(seed)
    observed = summarize(groups, a)[metric] - summarize(groups, b)[metric]
    draws = generator.integers(0, len(groups), size=(samples, len(groups)))
    if metric == "auc":  # pooled: recompute on each resample
        differences = [
            summarize([groups[i] for i in picked], [a[i] for i in picked])[metric]
            - summarize([groups[i] for i in picked], [b[i] for i in picked])[metric]
            for picked in draws
        ]
    else:  # a mean over queries: resample the per-query values
        per_query = np.asarray(
            [
                np.nan if (x := group_metrics(g, sa)[metric]) is None or (y := group_metrics(g, sb)[metric]) is None
                else x - y
                for g, sa, sb in zip(groups, a, b, strict=True)
            ]
        )  # fmt: skip
        differences = list(np.nanmean(per_query[draws], axis=1))
    low, high = np.nanpercentile(differences, [2.5, 97.5])
    return float(observed), (float(low), float(high))
