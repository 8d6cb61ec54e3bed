"""CTR ranker vs baselines on Home Depot judgements: train on train.csv, evaluate on dev.csv, same run.

Baselines: random, BM25 (document frequencies from products.csv), zero-shot MiniLM cosine, and their
reciprocal-rank fusion (what product search does). Metrics: NDCG@5/10 with gain = relevance − 1, MRR and
AUC (positive = relevance ≥ 2.5, pooled over pairs), with a 95 % bootstrap interval over queries for the
CTR ranker's difference to the best baseline. Early stopping watches queries held out of train.csv, so
dev.csv only ever measures. Also prints training time, throughput and the device.
The data is research-use-only Kaggle data read in place from ../shared/data/homedepot (never copied).

    python benchmarks/ranking.py [--homedepot DIR] [--finetune last-2] [--epochs 1] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import SHARED_DATA, emit_json, machine, markdown_table, percentile_ms  # noqa: E402
from recommender import BaselineRanker, CtrRanker, ModelRegistry  # noqa: E402
from recommender.ctr_model import FINETUNE_MODES, CtrModelConfig  # noqa: E402
from recommender.evaluation import bootstrap_difference  # noqa: E402
from recommender.offline import baseline_scorers, comparison_report, scored_groups  # noqa: E402
from recommender.training import (  # noqa: E402
    SELECTION_METRICS,
    RankerTrainingArguments,
    RankingExample,
    TrainingResult,
    load_judgements,
    query_split,
    score_examples,
    train_ranker,
    with_corrected_queries,
)
from retrieval import CatalogSpeller, ProductHit, Settings  # noqa: E402
from retrieval.embeddings import embedder_from_settings  # noqa: E402


def serving_latency(result: TrainingResult, dev: list[RankingExample], candidates: int = 50) -> dict[str, float]:
    """p50/p95 ms of CtrRanker.rank over 50 candidates per query (product vectors cached), vs the baseline."""
    import random
    import tempfile

    products = list({e.product.id: e.product for e in dev}.values())
    queries = list(dict.fromkeys(e.query for e in dev))[:200]
    generator = random.Random(0)
    with tempfile.TemporaryDirectory() as folder:
        registry = ModelRegistry(Path(folder))
        registry.activate(registry.save(result.model, {"source": "benchmark", "metrics": result.metrics}).name)
        ranker = CtrRanker(registry, device=result.device)
        baseline = BaselineRanker()
        timings: dict[str, list[float]] = {"ctr": [], "baseline": []}
        for query in queries:
            hits = [ProductHit(product=p, score=1.0) for p in generator.sample(products, candidates)]
            # First sight of these products fills their cache, as in a live store; another query, so the
            # timed call below still pays for encoding its own message.
            ranker.rank(f"warm-up {query}", hits)
            for name, method in (("ctr", ranker), ("baseline", baseline)):
                started = time.perf_counter()
                method.rank(query, hits)
                timings[name].append(time.perf_counter() - started)
    return {f"{name}_p{q}_ms": percentile_ms(samples, q) for name, samples in timings.items() for q in (50, 95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homedepot", type=Path, default=SHARED_DATA / "homedepot")
    parser.add_argument("--finetune", default="last-2", choices=FINETUNE_MODES)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="only the first N training pairs")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after N optimiser steps")
    parser.add_argument(
        "--early-stopping-fraction",
        type=float,
        default=0.03,
        help="share of train.csv's queries held out and watched for early stopping (dev.csv is only reported)",
    )
    parser.add_argument(
        "--select-on", default="auc", choices=SELECTION_METRICS, help="held-out metric that picks the checkpoint"
    )
    parser.add_argument(
        "--no-spelling-correction",
        action="store_true",
        help="the ranker reads queries as typed, not corrected towards products.csv's words as the assistant does",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threshold", type=float, default=2.5)
    parser.add_argument(
        "--serving-only", action="store_true", help="skip the dev-set comparison: training and serving figures only"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (args.homedepot / "train.csv").exists():
        print(f"Home Depot data absent at {args.homedepot}: nothing to measure (pass --homedepot DIR).")
        return

    with (args.homedepot / "products.csv").open(encoding="utf-8") as file:
        corpus = [row["title"] for row in csv.DictReader(file)]
    # The store's vocabulary would be its catalog's: here, every Home Depot product.
    speller = CatalogSpeller.from_texts([] if args.no_spelling_correction else corpus)
    train, watched = query_split(
        with_corrected_queries(
            load_judgements(args.homedepot / "train.csv", threshold=args.threshold, limit=args.limit), speller
        ),
        args.early_stopping_fraction,
    )
    dev = load_judgements(args.homedepot / "dev.csv", threshold=args.threshold)
    # The checkpoint is chosen on queries held out of train.csv, so nothing about dev.csv steers the model.
    result = train_ranker(
        train,
        watched,
        CtrModelConfig(finetune=args.finetune),
        RankerTrainingArguments(
            epochs=args.epochs,
            device=args.device,
            eval_every=200,
            max_steps=args.max_steps,
            selection_metric=args.select_on,
        ),
        threshold=args.threshold,
        on_step=None
        if args.json
        else lambda s, t, loss, auc: (
            print(f"step {s}/{t} loss {loss:.4f}", file=sys.stderr) if s % 50 == 0 else None
        ),  # fmt: skip
    )
    report: dict[str, Any] = {"methods": {}}
    if not args.serving_only:
        # The zero-shot baseline is the model's own vectors, not the int8 export a new CPU store defaults to.
        scorers = baseline_scorers(embedder_from_settings(Settings(embedding_backend="onnx")), corpus)
        # Baselines read the queries as typed; the ranker as the assistant serves them (corrected).
        scorers["ctr"] = lambda examples: score_examples(
            result.model, result.tokenizer, with_corrected_queries(examples, speller), result.device
        )
        # Not a baseline of the reference figures, but how much of the ranker's lead is the correction alone.
        dense = scorers["dense"]
        scorers["dense (corrected queries)"] = lambda examples: dense(with_corrected_queries(examples, speller))
        groups, per_method = scored_groups(dev, scorers, threshold=args.threshold)
        report = comparison_report(groups, per_method, model=f"benchmark-{args.finetune}")
        report["ctr_vs_corrected_dense"] = {}
        for metric in ("ndcg@10", "auc"):
            diff, (low, high) = bootstrap_difference(
                groups, per_method["ctr"], per_method["dense (corrected queries)"], metric
            )
            report["ctr_vs_corrected_dense"][metric] = {"diff": diff, "ci95": [low, high]}
    report["training"] = {
        "pairs": len(train),
        "early_stopping_pairs": len(watched),
        "selected_on": args.select_on,
        "spelling_correction": not args.no_spelling_correction,
        "epochs": args.epochs,
        "finetune": args.finetune,
        "seconds": result.seconds,
        "pairs_per_second": result.pairs_per_second,
        "device": result.device,
        "history": result.history,
    }
    report["serving"] = serving_latency(result, dev)
    report["machine"] = machine()
    if args.json:
        emit_json(report)
        return
    if report["methods"]:
        rows = [
            [name, *(f"{m[k]:.3f}" for k in ("ndcg@5", "ndcg@10", "mrr", "auc"))]
            for name, m in report["methods"].items()
        ]
        print(markdown_table(["method", "NDCG@5", "NDCG@10", "MRR", "AUC"], rows))
        print(f"\nCTR vs best baseline ({report['best_baseline']}), {report['queries']} dev queries:")
        for metric, d in report["ctr_vs_best_baseline"].items():
            print(f"- {metric}: {d['diff']:+.4f} (95% CI {d['ci95'][0]:+.4f} … {d['ci95'][1]:+.4f})")
        print("CTR vs dense on the same corrected queries:")
        for metric, d in report["ctr_vs_corrected_dense"].items():
            print(f"- {metric}: {d['diff']:+.4f} (95% CI {d['ci95'][0]:+.4f} … {d['ci95'][1]:+.4f})")
    serving = report["serving"]
    print(
        f"\nserving 50 candidates (product vectors cached): CTR p50 {serving['ctr_p50_ms']:.1f} / "
        f"p95 {serving['ctr_p95_ms']:.1f} ms; baseline p50 {serving['baseline_p50_ms']:.2f} / "
        f"p95 {serving['baseline_p95_ms']:.2f} ms"
    )
    t = report["training"]
    print(
        f"\ntraining: {t['pairs']:,} pairs × {t['epochs']} epoch(s), --finetune {t['finetune']}, "
        f"{t['seconds']:.0f} s ({t['pairs_per_second']:.0f} pairs/s incl. early-stopping evaluations) on {t['device']}"
    )


if __name__ == "__main__":
    main()
