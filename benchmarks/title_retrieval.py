"""Title self-retrieval: does a shopper who types a product's exact title (or the title with a typo or two) get it?

For each store — the demo, and the BigBasket and Home Depot stores of ``tests/conversations/*/store.yaml``
(BigBasket's 6,059 products, Home Depot's first 2,000), read in place from ``../shared/data`` — a seeded sample
of products. Each product's title is a query as it stands, and once more with one or two typos (seeded per
product: two neighbouring letters swapped, a letter dropped or a letter doubled, in words of four letters or
more). A query hits when the product — or one with the very same title, which no title can tell apart — is
among the first 3 of:

- the cards of ``Assistant.reply(fresh session, query)``: the full path a shopper takes (intent, slots,
  "we don't carry that", ranking);
- ``store.products.search(query, k=3)``: retrieval alone (dense + BM25 fused, spelling corrected);
- baselines on the same index: the dense signal alone and BM25 alone (neither corrects spelling).

Targets: exact titles ≥ 99 %, typo'd titles ≥ 90 %.

    python benchmarks/title_retrieval.py [--data-root PATH] [--sample N] [--seed S] [--json]

Figures go to ``benchmarks/results/title_retrieval.json`` as well.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant import Assistant, AssistantError  # noqa: E402
from benchmarks._common import REPO_ROOT, emit_json, machine, markdown_table, write_results  # noqa: E402
from connectors.conversations import ConversationStoreConfig, StoreConfigError  # noqa: E402
from retrieval import Embedder, Product, Settings, Store, embedder_from_settings, ensure_demo_data  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "title_retrieval.json"
CONVERSATIONS = REPO_ROOT / "tests" / "conversations"
TOP = 3
_EDITABLE_WORD = re.compile(r"[^\W\d_]{4,}")
Finder = Callable[[str, str], list[str]]  # (session, query) -> product ids, best first


def typo(text: str, rng: random.Random) -> str:
    """``text`` with one or two typos a shopper makes: neighbours swapped, a letter dropped, a letter doubled.

    Only words of four letters or more are touched, and the first letter of a word never moves; a title
    without such a word comes back unchanged.
    """
    for _ in range(rng.choice((1, 2))):
        words = list(_EDITABLE_WORD.finditer(text))
        if not words:
            break
        word = rng.choice(words)
        at = rng.randrange(word.start() + 1, word.end() - 1)
        kind = rng.choice(("swap", "drop", "double"))
        if kind == "swap" and text[at] != text[at + 1]:
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        elif kind == "double":
            text = text[:at] + text[at] + text[at:]
        else:  # drop, or a swap of two equal letters (which would change nothing)
            text = text[:at] + text[at + 1 :]
    return text


@dataclass(frozen=True)
class Query:
    product: Product
    text: str


def queries(products: Sequence[Product], sample: int, seed: int) -> dict[str, list[Query]]:
    """The exact-title and typo'd-title queries of a seeded sample of ``products``."""
    chosen = sorted(products, key=lambda product: product.id)
    if sample < len(chosen):
        chosen = random.Random(seed).sample(chosen, sample)
    typod = [Query(p, typo(p.title, random.Random(f"{seed}:{p.id}"))) for p in chosen]
    return {
        "exact": [Query(product, product.title) for product in chosen],
        "typo": [query for query in typod if query.text != query.product.title],
    }


def finders(store: Store) -> dict[str, Finder]:
    assistant = Assistant(store)
    products = store.products

    def assistant_path(session: str, text: str) -> list[str]:
        return [card.id for card in assistant.reply(session, text).products[:TOP]]

    return {
        "assistant reply (shipped)": assistant_path,
        "products.search (shipped retrieval)": lambda _, text: [hit.product.id for hit in products.search(text, k=TOP)],
        "dense only (baseline)": lambda _, text: [doc_id for doc_id, _ in products.dense(text, TOP)],
        "BM25 only (baseline)": lambda _, text: [doc_id for doc_id, _ in products.lexical(text, TOP)],
    }


def hit_rates(store: Store, by_variant: dict[str, list[Query]]) -> dict[str, Any]:
    """Top-3 hit rate per finder and variant, with a few misses to look at."""
    titles = {product.id: product.title for product in store.products.all()}
    results: dict[str, Any] = {}
    for finder_name, find in finders(store).items():
        for variant, variant_queries in by_variant.items():
            hits, misses, errors = 0, [], []
            started = time.perf_counter()
            for index, query in enumerate(variant_queries):
                try:
                    found = find(f"title-{variant}-{index}", query.text)
                except AssistantError as error:  # a crash on a shopper's message is a miss, and worth a look
                    errors.append({"query": query.text, "error": str(error)})
                    found = []
                if any(titles[doc_id].casefold() == query.product.title.casefold() for doc_id in found):
                    hits += 1
                elif len(misses) < 10:
                    got = [titles[doc_id] for doc_id in found]
                    misses.append({"query": query.text, "wanted": query.product.title, "got": got})
            results.setdefault(finder_name, {})[variant] = {
                "n": len(variant_queries),
                "top3_hit_rate": hits / len(variant_queries) if variant_queries else float("nan"),
                "seconds": time.perf_counter() - started,
                "misses": misses,
                "errors": errors,
            }
    return results


def open_store(name: str, data_root: Path, cache: Path | None, embedder: Embedder) -> Store:
    """The named store, in memory, or kept in ``cache/name`` so that a second run embeds nothing."""
    store = Store.ephemeral(embedder=embedder) if cache is None else Store.persistent(cache / name)
    if name == "demo":
        ensure_demo_data(store)
        return store
    return ConversationStoreConfig.load(CONVERSATIONS / name / "store.yaml", data_root).ingest_into(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-root", type=Path, default=REPO_ROOT.parent, help="the folder holding shared/data (default: ../)"
    )
    parser.add_argument("--sample", type=int, default=1000, help="products queried per store (all if fewer)")
    parser.add_argument("--seed", type=int, default=19, help="seed of the product sample and of the typos")
    parser.add_argument("--stores", default="demo,bigbasket,homedepot", help="comma-separated stores to measure")
    parser.add_argument("--cache", type=Path, help="keep each store's index in CACHE/<store> between runs")
    parser.add_argument("--json", action="store_true", help="print machine-readable figures only")
    args = parser.parse_args()

    embedder = embedder_from_settings(Settings())
    stores: dict[str, Any] = {}
    for name in args.stores.split(","):
        started = time.perf_counter()
        try:
            store = open_store(name, args.data_root, args.cache, embedder)
        except StoreConfigError as error:
            stores[name] = f"absent: {error}"
            continue
        built = time.perf_counter() - started
        by_variant = queries(store.products.all(), args.sample, args.seed)
        methods = hit_rates(store, by_variant)
        stores[name] = {"products": store.products.count(), "build_seconds": built, "methods": methods}
        store.close()
    results = {"machine": machine(), "top": TOP, "sample": args.sample, "seed": args.seed, "stores": stores}
    write_results(RESULTS, results)
    if args.json:
        emit_json(results)
        return
    rows: list[list[Any]] = []
    for name, figures in stores.items():
        if isinstance(figures, str):
            rows.append([name, figures, "", "", "", "", ""])
            continue
        for method, by_variant in figures["methods"].items():
            exact, typod = by_variant["exact"], by_variant["typo"]
            rows.append(
                [name, method, f"{figures['products']:,}", exact["n"], f"{exact['top3_hit_rate']:.3f}",
                 f"{typod['top3_hit_rate']:.3f} (n={typod['n']})", len(exact["errors"]) + len(typod["errors"])]
            )  # fmt: skip
    print(f"## Title self-retrieval: the product among the first {TOP} (targets: exact ≥ 0.99, typo'd ≥ 0.90)\n")
    print(markdown_table(["store", "method", "products", "queries", "exact title", "1–2 typos", "errors"], rows))


if __name__ == "__main__":
    main()
