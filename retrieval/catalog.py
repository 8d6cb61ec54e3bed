"""Product search over one store (SQLite + Chroma), and the ``Store`` that wires it with the FAQ."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import numpy as np

from retrieval._chroma_access import SERVER_REQUEST_TIMEOUT_S, ChromaAccess, DataDirLock, bounded_server_client
from retrieval._database import CatalogDatabase
from retrieval._document_index import DocumentIndex, model_meta_key
from retrieval.embeddings import Embedder, Vectors, embedder_from_settings
from retrieval.errors import RetrievalError
from retrieval.faq import FaqIndex
from retrieval.lexicon import CatalogLexicon
from retrieval.models import Product, ProductHit, SearchFilters
from retrieval.settings import Settings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

__all__ = ["FaqIndex", "ProductIndex", "Store"]  # FaqIndex lives in retrieval.faq; re-exported for old imports


class ProductIndex(DocumentIndex[Product]):
    kind = "products"
    _lexicon: CatalogLexicon | None = None

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

    def lexicon(self) -> CatalogLexicon:
        """The catalog's categories, brands and product lines; rebuilt on first use after each ingest."""
        self._refresh_derived()
        lexicon = self._lexicon
        if lexicon is None:
            table = self._table()
            with self._database.read() as connection:
                rows = connection.execute(
                    "SELECT json_extract(body, '$.title'), json_extract(body, '$.category'), "
                    f"json_extract(body, '$.brand') FROM {table} ORDER BY rowid"
                ).fetchall()
                currency = connection.execute(
                    f"SELECT json_extract(body, '$.currency') AS code FROM {table} GROUP BY code "
                    "ORDER BY SUM(json_extract(body, '$.price') IS NOT NULL) DESC, COUNT(*) DESC, code LIMIT 1"
                ).fetchone()
            lexicon = self._lexicon = CatalogLexicon.from_listings(
                ((str(title or ""), str(category or ""), str(brand or "")) for title, category, brand in rows),
                currency=str(currency[0]) if currency and currency[0] else "USD",
            )
        return lexicon

    def _forget_derived(self) -> None:
        super()._forget_derived()
        self._lexicon = None

    def currency(self) -> str:
        """The catalog's currency: the one most of its priced products use (USD for an empty catalog)."""
        return self.lexicon().currency


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
        chroma: ChromaAccess,
        embedder: Embedder,
        collection_prefix: str,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self._database = database
        self._chroma = chroma
        # Both indexes and the intent classifier see the same customer message; encode it once.
        self.encode_query: Callable[[str], Vectors] = functools.lru_cache(maxsize=2048)(self._encode_query)
        self.products = ProductIndex(database, chroma, embedder, self.encode_query, collection_prefix, settings)
        self.faq = FaqIndex(database, chroma, embedder, self.encode_query, collection_prefix, settings)

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

        access = ChromaAccess(client, DataDirLock.of(settings.chroma_path))
        return cls._build(
            settings, CatalogDatabase(settings.catalog_db_path), access, embedder, settings.collection_prefix
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
        return cls._build(settings, CatalogDatabase(None), ChromaAccess(client), embedder, prefix)

    @classmethod
    def http(
        cls,
        url: str,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        request_timeout_s: float = SERVER_REQUEST_TIMEOUT_S,
    ) -> Store:
        """Vectors on a Chroma server (the scale-out path); the SQLite catalog stays in the data dir.

        Many processes may share the server and the data dir: an ingest in one shows in the others' next search.
        A server that cannot be reached within ``request_timeout_s`` fails the search or ingest with a
        ``RetrievalError`` naming it, and the same store works again once the server is back.
        """
        settings = settings or Settings()
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise RetrievalError(f"SHOPASSIST_CHROMA_URL {url!r} is not an http(s)://host[:port] address")

        def client() -> ClientAPI:
            import chromadb

            try:
                opened = chromadb.HttpClient(
                    host=parsed.hostname or "",
                    port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                    ssl=parsed.scheme == "https",
                    settings=_chroma_settings(),  # type: ignore[arg-type]
                )
            except ValueError as error:  # how chromadb reports a server it cannot reach while opening
                raise RetrievalError(f"cannot open the Chroma server at {url}: {error}") from error
            return bounded_server_client(opened, url, request_timeout_s)

        return cls._build(
            settings,
            CatalogDatabase(settings.catalog_db_path),
            ChromaAccess(client),
            embedder,
            settings.collection_prefix,
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
        chroma: ChromaAccess,
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
        self._chroma.close()
