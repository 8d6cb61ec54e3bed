"""``shopassist eval ranking --report DIR``: one self-contained HTML page of plots, because people would rather look.

ROC curves per method, NDCG@10 by query length, score distributions of relevant and other products, and,
when the store has an interaction log, CTR by position and by ranker version. Plots are PNGs embedded in
the page (matplotlib, no display needed); the page is written atomically.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recommender.evaluation import JudgedGroup, group_metrics
from retrieval.storage import write_atomically

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# (value, impressions, clicked impressions), as EventStore.ctr_by returns them.
CtrRows = Sequence[tuple[Any, int, int]]
_LENGTH_BUCKETS = ("1 word", "2 words", "3 words", "4 words", "5+ words")


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _roc(groups: Sequence[JudgedGroup], per_method: dict[str, list[list[float]]]) -> Figure:
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_auc_score, roc_curve

    labels = [label for group in groups for label in group.labels]
    figure = Figure(figsize=(5.5, 5))
    axes = figure.subplots()
    for name, scores in per_method.items():
        flat = [score for query in scores for score in query]
        false_positive, true_positive, _ = roc_curve(labels, flat)
        axes.plot(false_positive, true_positive, label=f"{name} (AUC {roc_auc_score(labels, flat):.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, all judged pairs pooled")
    axes.legend(loc="lower right", fontsize=8)
    return figure


def _ndcg_by_length(groups: Sequence[JudgedGroup], per_method: dict[str, list[list[float]]]) -> Figure:
    from matplotlib.figure import Figure

    buckets = [min(len(group.query.split()), 5) - 1 for group in groups]
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    width = 0.8 / max(len(per_method), 1)
    floor = 0.8  # NDCG with gain = relevance − 1 sits high; start the axis near the lowest bar
    for offset, (name, scores) in enumerate(per_method.items()):
        values = [group_metrics(group, query)["ndcg@10"] for group, query in zip(groups, scores, strict=True)]
        means = [
            float(np.mean([v for v, b in zip(values, buckets, strict=True) if b == bucket and v is not None] or [0]))
            for bucket in range(len(_LENGTH_BUCKETS))
        ]
        axes.bar(np.arange(len(_LENGTH_BUCKETS)) + offset * width, means, width, label=name)
        floor = min(floor, *(mean for mean in means if mean > 0))
    counts = [buckets.count(bucket) for bucket in range(len(_LENGTH_BUCKETS))]
    axes.set_xticks(
        np.arange(len(_LENGTH_BUCKETS)) + 0.4 - width / 2,
        [f"{label}\n({n} queries)" for label, n in zip(_LENGTH_BUCKETS, counts, strict=True)],
    )
    axes.set(ylabel="mean NDCG@10", title="NDCG@10 by query length", ylim=(max(0.0, floor - 0.02), 1.0))
    axes.legend(fontsize=8, ncol=len(per_method))
    return figure


def _distributions(groups: Sequence[JudgedGroup], per_method: dict[str, list[list[float]]]) -> Figure:
    from matplotlib.figure import Figure

    labels = np.array([label for group in groups for label in group.labels])
    figure = Figure(figsize=(3.2 * len(per_method), 3))
    for axes, (name, scores) in zip(
        np.atleast_1d(figure.subplots(1, len(per_method))), per_method.items(), strict=True
    ):
        flat = np.array([score for query in scores for score in query])
        bins = np.linspace(flat.min(), flat.max() if flat.max() > flat.min() else flat.min() + 1, 30)
        axes.hist(flat[labels], bins=bins, alpha=0.6, density=True, label="relevant")
        axes.hist(flat[~labels], bins=bins, alpha=0.6, density=True, label="other")
        axes.set(title=name, xlabel="score")
        axes.set_yticks([])
    figure.axes[0].legend(fontsize=8)
    figure.suptitle("Score distributions: relevant vs other judged products")
    return figure


def _ctr(rows: CtrRows, title: str, xlabel: str) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 3.5))
    axes = figure.subplots()
    names = [str(value) for value, _, _ in rows]
    rates = [clicked / shown if shown else 0.0 for _, shown, clicked in rows]
    axes.bar(names, rates)
    for index, (_, shown, _) in enumerate(rows):
        axes.annotate(f"n={shown}", (index, rates[index]), ha="center", va="bottom", fontsize=7)
    axes.set(title=title, xlabel=xlabel, ylabel="click or cart rate")
    return figure


def write_report(
    directory: Path,
    report: dict[str, Any],
    groups: Sequence[JudgedGroup],
    per_method: dict[str, list[list[float]]],
    *,
    source: str,
    ctr_by_position: CtrRows = (),
    ctr_by_version: CtrRows = (),
) -> Path:
    """Write ``directory/index.html``; returns its path."""
    import matplotlib

    matplotlib.use("Agg")  # no display: servers and CI
    figures = [
        ("ROC curves", _roc(groups, per_method)),
        ("NDCG@10 by query length", _ndcg_by_length(groups, per_method)),
        ("Score distributions", _distributions(groups, per_method)),
    ]
    if ctr_by_position:
        figures.append(("CTR by position (interaction log)", _ctr(ctr_by_position, "CTR by position", "position")))
    if ctr_by_version:
        figures.append(
            ("CTR by ranker version (interaction log)", _ctr(ctr_by_version, "CTR by ranker version", "version"))
        )
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th>"
        + "".join(f"<td>{m[k]:.3f}</td>" for k in ("ndcg@5", "ndcg@10", "mrr", "auc"))
        + "</tr>"
        for name, m in report["methods"].items()
    )
    differences = "".join(
        f"<li>ctr − {html.escape(report['best_baseline'])} {html.escape(metric)}: {d['diff']:+.4f} "
        f"(95% CI {d['ci95'][0]:+.4f} … {d['ci95'][1]:+.4f})</li>"
        for metric, d in report.get("ctr_vs_best_baseline", {}).items()
    )
    plots = "".join(
        f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="data:image/png;base64,{_png(figure)}">'
        for title, figure in figures
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shopassist ranking report</title>
<style>body{{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#1d232b}}
table{{border-collapse:collapse}}td,th{{border:1px solid #d6dbe1;padding:4px 10px;text-align:right}}
img{{max-width:100%}}</style></head><body>
<h1>Ranking report</h1>
<p>{html.escape(source)} · {report["queries"]} queries · model {html.escape(str(report.get("model")))}
· best baseline {html.escape(report["best_baseline"])}</p>
<table><tr><th>method</th><th>NDCG@5</th><th>NDCG@10</th><th>MRR</th><th>AUC</th></tr>{rows}</table>
<ul>{differences}</ul>{plots}
</body></html>
"""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "index.html"
    write_atomically(target, page)
    return target
