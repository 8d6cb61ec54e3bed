"""Product and FAQ search over one store (SQLite + Chroma), and the ``Store`` that wires them."""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import numpy as np

from retrieval._database import CatalogDatabase
from retrieval._document_index import DocumentIndex, model_meta_key
from retrieval.embeddings import Embedder, Vectors, embedder_from_settings
from retrieval.errors import RetrievalError
from retrieval.models import FaqEntry, FaqHit, Product, ProductHit, SearchFilters
from retrieval.settings import Settings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI


class ProductIndex(DocumentIndex[Product]):
    kind = "products"

    def _parse(self, body: str) -> Product:
        return Product.model_validate_json(body)

    def search(self, query: str, filters: SearchFilters | None = None, k: int = 10) -> list[ProductHit]:
        """Dense and lexical retrieval under the same filters, fused by reciprocal rank (RRF).

        RRF needs no score calibration between cosine and BM25; an exact model number that the dense
        model blurs still ranks first lexically, and the fusion keeps it near the top.
        """
        filters = filters or SearchFilters()
        query = self.correct_spelling(query)
        n = max(self._settings.search_candidates, k)
        dense = self.dense(query, n, filters.to_chroma_where())
        if query.strip():
            lexical = self.lexical(query, n, filters.to_sql("d.body"))
        else:
            lexical = self._filtered_by_rating(filters, n)
        rrf_k = self._settings.rrf_k
        fused: dict[str, float] = {}
        for ranking in (dense, lexical):
            for rank, (doc_id, _) in enumerate(ranking, start=1):
                fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (rrf_k + rank)
        top = sorted(fused, key=lambda doc_id: -fused[doc_id])[:k]
        products = self.get(top)
        dense_rank = {doc_id: (rank, sim) for rank, (doc_id, sim) in enumerate(dense, start=1)}
        lexical_rank = {doc_id: rank for rank, (doc_id, _) in enumerate(lexical, start=1)}
        return [
            ProductHit(
                product=products[doc_id],
                score=fused[doc_id],
                dense_similarity=dense_rank[doc_id][1] if doc_id in dense_rank else None,
                dense_rank=dense_rank[doc_id][0] if doc_id in dense_rank else None,
                lexical_rank=lexical_rank.get(doc_id),
            )
            for doc_id in top
            if doc_id in products
        ]

    def correct_spelling(self, query: str) -> str:
        """``query`` as search reads it: misspelt words corrected towards the catalog's (unless turned off)."""
        return self.speller().correct(query) if self._settings.spelling_correction else query

    def _filtered_by_rating(self, filters: SearchFilters, n: int) -> list[tuple[str, float]]:
        """With no words to match, list what the filters allow, best rated first."""
        table = self._table()
        clause, params = filters.to_sql("body")
        with self._database.read() as connection:
            rows = connection.execute(
                f"SELECT id, COALESCE(json_extract(body, '$.rating'), 0) AS r FROM {table} "
                f"WHERE {clause} ORDER BY r DESC, id LIMIT ?",
                [*params, n],
            ).fetchall()
        return [(row[0], float(row[1])) for row in rows]

    def vocabulary(self) -> tuple[list[str], list[str]]:
        """The catalog's own category and brand values, most listed first, for slot parsing."""
        table = self._table()

        def values(field: str) -> list[str]:
            with self._database.read() as connection:
                rows = connection.execute(
                    f"SELECT json_extract(body, '$.{field}') AS value FROM {table} "
                    "WHERE value != '' GROUP BY value ORDER BY COUNT(*) DESC, value"
                ).fetchall()
            return [row[0] for row in rows]

        return values("category"), values("brand")

    def currency(self) -> str:
        """The catalog's currency: the one most of its priced products use (USD for an empty catalog)."""
        with self._database.read() as connection:
            row = connection.execute(
                f"SELECT json_extract(body, '$.currency') AS code FROM {self._table()} GROUP BY code "
                "ORDER BY SUM(json_extract(body, '$.price') IS NOT NULL) DESC, COUNT(*) DESC, code LIMIT 1"
            ).fetchone()
        return str(row[0]) if row and row[0] else "USD"


# Enough nearest vectors that the top entries come with their answer vectors (FAQs are small).
_FAQ_VECTORS = 200


class FaqIndex(DocumentIndex[FaqEntry]):
    kind = "faq"

    def _parse(self, body: str) -> FaqEntry:
        return FaqEntry.model_validate_json(body)

    def calibrate(self, similarity: float) -> float:
        """Cosine similarity → probability that the entry answers the question (logistic fit)."""
        slope = self._settings.faq_calibration_slope
        midpoint = self._settings.faq_calibration_midpoint
        return 1.0 / (1.0 + math.exp(-slope * (similarity - midpoint)))

    def search(self, query: str, k: int = 3) -> list[FaqHit]:
        """Entries ranked by their best question similarity plus ``faq_answer_weight`` × answer similarity.

        The answer's words break ties between neighbouring entries ("return policy" vs "how to return");
        the calibrated score, and so the decision to answer at all, uses the question similarity alone.
        """
        vectors = self.nearest_vectors(query, max(_FAQ_VECTORS, k * 8))
        entries = self.get(list({doc_id for doc_id, _, _ in vectors}))
        question: dict[str, float] = {}
        answer: dict[str, float] = {}
        for doc_id, position, similarity in vectors:
            entry = entries.get(doc_id)
            if entry is None:
                continue
            if position == entry.answer_position():
                answer[doc_id] = similarity
            else:
                question[doc_id] = max(similarity, question.get(doc_id, -1.0))
        weight = self._settings.faq_answer_weight
        ranked = sorted(question, key=lambda doc_id: -(question[doc_id] + weight * answer.get(doc_id, 0.0)))
        return [
            FaqHit(entry=entries[doc_id], score=self.calibrate(question[doc_id]), similarity=question[doc_id])
            for doc_id in ranked[:k]
        ]

    def answer(self, query: str) -> FaqHit | None:
        """The best entry if its calibrated score reaches the threshold, else None (decline)."""
        hits = self.search(query, k=1)
        if hits and hits[0].score >= self._settings.faq_threshold:
            return hits[0]
        return None


def _chroma_settings() -> object:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


class Store:
    """Products and FAQ of one shop. Build it with ``persistent``, ``ephemeral``, ``http`` or ``from_settings``.

    Nothing is opened or loaded here; connections and the model come up on first use.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        database: CatalogDatabase,
        chroma: Callable[[], ClientAPI],
        embedder: Embedder,
        collection_prefix: str,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self._database = database
        chroma_client = functools.cache(chroma)
        # Both indexes and the intent classifier see the same customer message; encode it once.
        self.encode_query: Callable[[str], Vectors] = functools.lru_cache(maxsize=2048)(self._encode_query)
        self.products = ProductIndex(database, chroma_client, embedder, self.encode_query, collection_prefix, settings)
        self.faq = FaqIndex(database, chroma_client, embedder, self.encode_query, collection_prefix, settings)

    def _encode_query(self, text: str) -> Vectors:
        return np.asarray(self.embedder.embed([text])[0], dtype=np.float32)

    @classmethod
    def persistent(
        cls, data_dir: Path | None = None, *, settings: Settings | None = None, embedder: Embedder | None = None
    ) -> Store:
        settings = settings or Settings()
        if data_dir is not None:
            settings = settings.model_copy(update={"data_dir": data_dir})

        def client() -> ClientAPI:
            import chromadb

            settings.chroma_path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(settings.chroma_path), settings=_chroma_settings())  # type: ignore[arg-type]

        return cls._build(
            settings, CatalogDatabase(settings.catalog_db_path), client, embedder, settings.collection_prefix
        )

    @classmethod
    def ephemeral(cls, *, settings: Settings | None = None, embedder: Embedder | None = None) -> Store:
        """In memory, isolated from every other ephemeral store in the process (for tests and demos)."""
        settings = settings or Settings()

        def client() -> ClientAPI:
            import chromadb

            return chromadb.EphemeralClient(settings=_chroma_settings())  # type: ignore[arg-type]

        # Chroma shares one in-memory system per process, so each ephemeral store gets its own prefix.
        prefix = f"eph{uuid.uuid4().hex[:10]}"
        return cls._build(settings, CatalogDatabase(None), client, embedder, prefix)

    @classmethod
    def http(cls, url: str, *, settings: Settings | None = None, embedder: Embedder | None = None) -> Store:
        """Vectors on a Chroma server (the scale-out path); the SQLite catalog stays in the data dir."""
        settings = settings or Settings()
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise RetrievalError(f"SHOPASSIST_CHROMA_URL {url!r} is not an http(s)://host[:port] address")

        def client() -> ClientAPI:
            import chromadb

            return chromadb.HttpClient(
                host=parsed.hostname or "",
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=_chroma_settings(),  # type: ignore[arg-type]
            )

        return cls._build(
            settings, CatalogDatabase(settings.catalog_db_path), client, embedder, settings.collection_prefix
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, embedder: Embedder | None = None) -> Store:
        settings = settings or Settings()
        if settings.chroma_url:
            return cls.http(settings.chroma_url, settings=settings, embedder=embedder)
        return cls.persistent(settings=settings, embedder=embedder)

    @classmethod
    def _build(
        cls,
        settings: Settings,
        database: CatalogDatabase,
        chroma: Callable[[], ClientAPI],
        embedder: Embedder | None,
        prefix: str,
    ) -> Store:
        def indexed_model() -> str | None:
            # Products and FAQ share one embedder, so whichever index exists decides.
            return database.get_meta(model_meta_key(ProductIndex.kind)) or database.get_meta(
                model_meta_key(FaqIndex.kind)
            )

        embedder = embedder or embedder_from_settings(settings, indexed_model=indexed_model)
        return cls(settings=settings, database=database, chroma=chroma, embedder=embedder, collection_prefix=prefix)

    def close(self) -> None:
        self._database.close()
