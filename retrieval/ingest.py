"""Load a file and write it into a store, all or nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval._document_index import DocumentIndex, IngestMode, IngestReport, Progress
from retrieval.catalog import Store
from retrieval.demo import DEMO_PRODUCT_MAPPING, demo_catalog_path, demo_faq_path
from retrieval.errors import RowError
from retrieval.loaders import LoadResult, load_faq, load_products


@dataclass
class IngestOutcome:
    report: IngestReport
    errors: list[RowError]


def _write(
    index: DocumentIndex[Any],
    result: LoadResult,
    source: Path,
    mode: IngestMode,
    strict: bool,
    progress: Progress | None,
) -> IngestOutcome:
    if strict:
        result.raise_if_errors(source)
    report = index.ingest(result.records, mode=mode, keep_ids=result.rejected_ids, progress=progress)
    report.skipped = len({(error.source, error.line) for error in result.errors})
    return IngestOutcome(report, result.errors)


def ingest_products(
    store: Store,
    path: Path,
    mapping: Mapping[str, str] | None = None,
    *,
    file_format: str | None = None,
    mode: IngestMode = "upsert",
    strict: bool = False,
    progress: Progress | None = None,
    constants: Mapping[str, str] | None = None,
) -> IngestOutcome:
    """Bad rows are skipped and reported (or, with ``strict``, fail the load before anything is written).

    ``constants`` give every product of the file one value, e.g. ``{"currency": "INR"}``.
    In snapshot mode a product whose row was rejected is kept, not deleted: a typo in one row must not
    take a live product off the shelf.
    """
    result = load_products(path, mapping, file_format, constants)
    return _write(store.products, result, path, mode, strict, progress)


def ingest_faq(
    store: Store,
    path: Path,
    *,
    file_format: str | None = None,
    mode: IngestMode = "snapshot",
    strict: bool = False,
    progress: Progress | None = None,
) -> IngestOutcome:
    result = load_faq(path, file_format)
    return _write(store.faq, result, path, mode, strict, progress)


def ensure_demo_data(store: Store, progress: Progress | None = None) -> list[IngestOutcome]:
    """Load the demo catalog and FAQ into an empty store; a store with data is left alone."""
    outcomes: list[IngestOutcome] = []
    if store.products.count() == 0:
        outcomes.append(ingest_products(store, demo_catalog_path(), DEMO_PRODUCT_MAPPING, progress=progress))
    if store.faq.count() == 0:
        outcomes.append(ingest_faq(store, demo_faq_path(), progress=progress))
    return outcomes
