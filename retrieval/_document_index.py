"""What products and FAQ entries share: content-hash ingest, dense search in Chroma, lexical in SQLite."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from retrieval._chroma_access import ChromaAccess
from retrieval._database import CatalogDatabase
from retrieval.embeddings import Embedder, Vectors
from retrieval.errors import IndexMismatchError
from retrieval.models import MetadataValue
from retrieval.settings import Settings
from retrieval.spelling import CatalogSpeller

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

logger = logging.getLogger(__name__)

IngestMode = Literal["upsert", "snapshot"]
# Called as progress(documents_just_written, documents_to_write_in_total), first with (0, total).
Progress = Callable[[int, int], None]
_TOKEN = re.compile(r"\w+", re.UNICODE)
_MAX_QUERY_TOKENS = 32
_EMBED_CHUNK = 256
_WRITE_CHUNK = 2000
_HASH_PREFIX = 16
_LEXICAL_FILTER_POOL = 20
_PRUNE_TERMS_FROM = 2000  # documents; below this every query is fast enough unpruned


class IndexedDocument(Protocol):
    @property
    def id(self) -> str: ...

    def content_hash(self) -> str: ...

    def embedding_texts(self) -> list[str]: ...

    def lexical_text(self) -> str: ...

    def vector_metadata(self) -> dict[str, MetadataValue]: ...

    def model_dump_json(self) -> str: ...


DocumentT = TypeVar("DocumentT", bound=IndexedDocument)


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    embedded: int = 0
    skipped: int = 0

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.deleted} deleted, {self.skipped} skipped; {self.embedded} texts embedded"
        )


def fts_query(text: str, frequent: frozenset[str] = frozenset()) -> str | None:
    """A safe FTS5 query: each word of the text as a quoted term, OR-ed, so BM25 ranks partial overlap.

    Terms in ``frequent`` carry almost no BM25 weight yet make FTS5 score a large part of the catalog,
    so they are left out; a query made only of such terms requires all of them (AND) instead.
    """
    tokens = list(dict.fromkeys(token.casefold() for token in _TOKEN.findall(text)))[:_MAX_QUERY_TOKENS]
    rare = [token for token in tokens if token not in frequent]
    if not rare:
        return " AND ".join(f'"{token}"' for token in tokens) or None
    return " OR ".join(f'"{token}"' for token in rare)


def _upsert(
    collection: Collection, ids: list[str], vectors: Vectors, metadatas: list[dict[str, MetadataValue]]
) -> None:
    for offset in range(0, len(ids), _WRITE_CHUNK):
        window = slice(offset, offset + _WRITE_CHUNK)
        collection.upsert(
            ids=ids[window],
            embeddings=vectors[window],
            metadatas=metadatas[window],  # type: ignore[arg-type]
        )


def _doc_key(doc_id: str, content_hash: str) -> str:
    return f"{doc_id}\x1f{content_hash}"


def vector_id(doc_id: str, content_hash: str, position: int) -> str:
    """The Chroma id of one embedding text (``position`` in ``embedding_texts()``) of a document version."""
    return f"{doc_id}\x1f{content_hash[:_HASH_PREFIX]}\x1f{position}"


def model_meta_key(kind: str) -> str:
    """The catalog database's record of which embedding model built the ``kind`` index."""
    return f"{kind}.embedding_model"


def version_meta_key(kind: str) -> str:
    """A new value at every ingest commit: how any process sees that the ``kind`` index changed."""
    return f"{kind}.version"


class DocumentIndex(Generic[DocumentT]):
    """Documents of one kind: rows in SQLite (source of truth) and content-addressed vectors in Chroma."""

    kind: str

    def __init__(
        self,
        database: CatalogDatabase,
        chroma: ChromaAccess,
        embedder: Embedder,
        query_encoder: Callable[[str], Vectors],
        collection_prefix: str,
        settings: Settings,
    ) -> None:
        self._database = database
        self._chroma = chroma
        self.embedder = embedder
        self._encode_query = query_encoder
        self._collection_prefix = collection_prefix
        self._collection_cache: Collection | None = None
        self._settings = settings
        self._frequent_terms: frozenset[str] | None = None
        self._speller: CatalogSpeller | None = None
        self._derived_from: str | None = None  # the catalog version the cached vocabularies were built from

    def _parse(self, body: str) -> DocumentT:
        raise NotImplementedError

    # -- storage ---------------------------------------------------------------------------------
    def _model_meta_key(self) -> str:
        return model_meta_key(self.kind)

    def _collection_name(self) -> str:
        model_tag = hashlib.sha1(self.embedder.name.encode()).hexdigest()[:8]
        return f"{self._collection_prefix}-{self.kind}-{model_tag}"

    def _collection(self) -> Collection:
        if self._collection_cache is None:
            self._collection_cache = self._chroma().get_or_create_collection(
                self._collection_name(),
                embedding_function=None,
                metadata={"embedding_model": self.embedder.name, "dimension": self.embedder.dimension},
                configuration={"hnsw": {"space": "cosine"}},
            )
        return self._collection_cache

    def _table(self) -> str:
        self._database.ensure_kind(self.kind)
        return self.kind

    def check_model(self) -> None:
        """Refuse to mix vectors of two models: a model change needs ``shopassist reindex``."""
        stored = self._database.get_meta(self._model_meta_key())
        if stored is not None and stored != self.embedder.name and self.count():
            raise IndexMismatchError(
                f"the {self.kind} index was built with embedding model {stored!r} but the configured model is "
                f"{self.embedder.name!r}; run `shopassist reindex` to re-embed with the new model"
            )

    def count(self) -> int:
        table = self._table()
        with self._database.read() as connection:
            return int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def hashes(self) -> dict[str, str]:
        table = self._table()
        with self._database.read() as connection:
            return dict(connection.execute(f"SELECT id, hash FROM {table}").fetchall())

    def get(self, ids: Sequence[str]) -> dict[str, DocumentT]:
        if not ids:
            return {}
        table = self._table()
        found: dict[str, DocumentT] = {}
        with self._database.read() as connection:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                rows = connection.execute(
                    f"SELECT id, body FROM {table} WHERE id IN ({', '.join('?' * len(chunk))})", chunk
                ).fetchall()
                found.update({row[0]: self._parse(row[1]) for row in rows})
        return found

    def all(self) -> list[DocumentT]:
        table = self._table()
        with self._database.read() as connection:
            return [self._parse(row[0]) for row in connection.execute(f"SELECT body FROM {table} ORDER BY id")]

    # -- ingest ----------------------------------------------------------------------------------
    def ingest(
        self,
        documents: Iterable[DocumentT],
        *,
        mode: IngestMode = "upsert",
        keep_ids: Iterable[str] = (),
        progress: Progress | None = None,
    ) -> IngestReport:
        """Write documents; in ``snapshot`` mode also delete ids absent from them (except ``keep_ids``).

        Everything expensive (embedding, vector writes) happens before the single SQLite commit, and
        vectors are keyed by content hash, so a failure at any point leaves the previous state serving.
        """
        with self._chroma.writing():
            return self._ingest(documents, mode, keep_ids, progress)

    def _ingest(
        self, documents: Iterable[DocumentT], mode: IngestMode, keep_ids: Iterable[str], progress: Progress | None
    ) -> IngestReport:
        self.check_model()
        current = self.hashes()
        incoming = {document.id: document for document in documents}
        report = IngestReport()
        changed: list[tuple[DocumentT, str]] = []
        for document in incoming.values():
            content_hash = document.content_hash()
            if current.get(document.id) == content_hash:
                report.unchanged += 1
            else:
                changed.append((document, content_hash))
                if document.id in current:
                    report.updated += 1
                else:
                    report.added += 1
        deleted = set(current) - set(incoming) - set(keep_ids) if mode == "snapshot" else set()
        report.deleted = len(deleted)
        report.embedded = self._write_vectors(changed, progress)
        self._commit_rows(changed, deleted)
        stale = [_doc_key(doc_id, current[doc_id]) for doc_id in deleted]
        stale += [_doc_key(doc.id, current[doc.id]) for doc, _ in changed if doc.id in current]
        self._delete_vectors(stale)
        return report

    def _write_vectors(self, changed: list[tuple[DocumentT, str]], progress: Progress | None) -> int:
        """Embed in chunks; each chunk's vectors go to Chroma on a writer thread while the next one embeds.

        Documents go in order of text length, so that the embedder's batches hold texts of similar length
        and pad little. Chroma's index inserts (an eighth of the time on Home Depot titles) run while the
        next chunk embeds: the encoder releases the GIL. At most one write is in flight, and its error
        surfaces before anything is committed to SQLite.
        """
        from concurrent.futures import Future, ThreadPoolExecutor

        changed = sorted(changed, key=lambda item: sum(map(len, item[0].embedding_texts())))
        embedded = 0
        if progress is not None:
            progress(0, len(changed))
        collection = self._collection()
        in_flight: tuple[Future[None], int] | None = None  # the write and how many documents it carries

        def finish_write() -> None:
            if in_flight is not None:
                in_flight[0].result()
                if progress is not None:
                    progress(in_flight[1], len(changed))

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.kind}-vector-writes") as writer:
            for start in range(0, len(changed), _EMBED_CHUNK):
                chunk = changed[start : start + _EMBED_CHUNK]
                ids: list[str] = []
                texts: list[str] = []
                metadatas: list[dict[str, MetadataValue]] = []
                for document, content_hash in chunk:
                    metadata = {**document.vector_metadata(), "doc_key": _doc_key(document.id, content_hash)}
                    for position, text in enumerate(document.embedding_texts()):
                        ids.append(vector_id(document.id, content_hash, position))
                        texts.append(text)
                        metadatas.append(metadata)
                vectors = self.embedder.embed(texts)
                finish_write()
                in_flight = writer.submit(_upsert, collection, ids, vectors, metadatas), len(chunk)
                embedded += len(texts)
            finish_write()
        return embedded

    def _commit_rows(self, changed: list[tuple[DocumentT, str]], deleted: set[str]) -> None:
        table = self._table()
        with self._database.transaction() as connection:
            for doc_id in deleted:
                row = connection.execute(f"SELECT rowid FROM {table} WHERE id = ?", (doc_id,)).fetchone()
                connection.execute(f"DELETE FROM {table}_fts WHERE rowid = ?", (row[0],))
                connection.execute(f"DELETE FROM {table} WHERE rowid = ?", (row[0],))
            for document, content_hash in changed:
                body = document.model_dump_json()
                row = connection.execute(f"SELECT rowid FROM {table} WHERE id = ?", (document.id,)).fetchone()
                if row is None:
                    cursor = connection.execute(
                        f"INSERT INTO {table} (id, hash, body) VALUES (?, ?, ?)", (document.id, content_hash, body)
                    )
                    rowid = cursor.lastrowid
                else:
                    rowid = row[0]
                    connection.execute(
                        f"UPDATE {table} SET hash = ?, body = ? WHERE rowid = ?", (content_hash, body, rowid)
                    )
                    connection.execute(f"DELETE FROM {table}_fts WHERE rowid = ?", (rowid,))
                connection.execute(
                    f"INSERT INTO {table}_fts (rowid, text) VALUES (?, ?)", (rowid, document.lexical_text())
                )
            connection.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (self._model_meta_key(), self.embedder.name)
            )
            if changed or deleted:
                self._new_version(connection)

    def _new_version(self, connection: sqlite3.Connection) -> None:
        connection.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (version_meta_key(self.kind), uuid.uuid4().hex)
        )

    def version(self) -> str:
        """The catalog version: changes with every ingest that changed something, in whichever process."""
        return self._database.get_meta(version_meta_key(self.kind)) or ""

    def _refresh_derived(self) -> None:
        """Drop vocabularies built from an older catalog (an ingest here or in another process)."""
        version = self.version()
        if version != self._derived_from:
            self._derived_from = version
            self._forget_derived()

    def _forget_derived(self) -> None:
        self._frequent_terms, self._speller = None, None

    def _delete_vectors(self, doc_keys: list[str]) -> None:
        # Leftovers are harmless (searches verify hashes against SQLite), so failures only get logged.
        try:
            for start in range(0, len(doc_keys), _WRITE_CHUNK):
                batch: list[str | int | float | bool] = list(doc_keys[start : start + _WRITE_CHUNK])
                condition: dict[Literal["$in", "$nin"], list[str | int | float | bool]] = {"$in": batch}
                self._collection().delete(where={"doc_key": condition})
        except Exception:
            logger.warning("could not delete %d stale %s vectors; they will be ignored", len(doc_keys), self.kind)

    def reindex(self, progress: Progress | None = None) -> int:
        """Re-embed every stored document with the configured model (after a model change)."""
        with self._chroma.writing():
            return self._reindex(progress)

    def _reindex(self, progress: Progress | None) -> int:
        documents = self.all()
        embedded = self._write_vectors([(doc, doc.content_hash()) for doc in documents], progress)
        with self._database.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (self._model_meta_key(), self.embedder.name)
            )
            self._new_version(connection)
        return embedded

    # -- search ----------------------------------------------------------------------------------
    def dense(self, query: str, n: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the ``n`` nearest documents, best first, only current versions."""
        best: dict[str, float] = {}
        for doc_id, _, similarity in self.nearest_vectors(query, n * 2, where):  # doubled: several per document
            best[doc_id] = max(similarity, best.get(doc_id, -1.0))
        return sorted(best.items(), key=lambda item: -item[1])[:n]

    def nearest_vectors(self, query: str, n: int, where: dict[str, Any] | None = None) -> list[tuple[str, int, float]]:
        """(id, position in ``embedding_texts()``, cosine similarity) of the ``n`` nearest current vectors."""
        if not query.strip():
            return []
        self.check_model()
        vector = self._encode_query(query)
        # Chroma returns fewer when it holds fewer (asking its count first costs more than the query).
        result = self._collection().query(
            query_embeddings=[vector.tolist()],
            n_results=n,
            where=where,
            include=["distances"],  # the vector id carries id and hash; fetching metadata costs more
        )
        distances = (result["distances"] or [[]])[0]
        found = []
        for vector_id, distance in zip(result["ids"][0], distances, strict=True):
            doc_id, hash_prefix, position = vector_id.rsplit("\x1f", 2)
            found.append((doc_id, hash_prefix, int(position), 1.0 - float(distance)))
        current = self._current_hashes(list({doc_id for doc_id, *_ in found}))
        return [
            (doc_id, position, similarity)
            for doc_id, prefix, position, similarity in found
            if current.get(doc_id, "")[:_HASH_PREFIX] == prefix
        ]

    def _current_hashes(self, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        table = self._table()
        with self._database.read() as connection:
            rows = connection.execute(
                f"SELECT id, hash FROM {table} WHERE id IN ({', '.join('?' * len(ids))})", ids
            ).fetchall()
        return dict(rows)

    def _frequent(self) -> frozenset[str]:
        """Terms in over 5% of a large catalog's documents; recomputed after each ingest (about 30 ms)."""
        self._refresh_derived()
        if self._frequent_terms is None:
            table = self._table()
            with self._database.read() as connection:
                total = int(connection.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0)
                rows = (
                    connection.execute(f"SELECT term FROM {table}_vocab WHERE doc > ?", (total // 20,)).fetchall()
                    if total >= _PRUNE_TERMS_FROM
                    else []
                )
            self._frequent_terms = frozenset(row[0] for row in rows)
        return self._frequent_terms

    def speller(self) -> CatalogSpeller:
        """Spelling correction towards this index's own words; built on first use after each ingest."""
        self._refresh_derived()
        if self._speller is None:
            table = self._table()
            with self._database.read() as connection:
                texts = [row[0] for row in connection.execute(f"SELECT text FROM {table}_fts")]
            self._speller = CatalogSpeller.from_texts(texts)
        return self._speller

    def lexical(self, query: str, n: int, sql_filter: tuple[str, list[Any]] = ("1", [])) -> list[tuple[str, float]]:
        """(id, BM25 score, higher is better) of the ``n`` best full-text matches passing ``sql_filter``.

        Filters apply to the best ``n * 20`` matches rather than to every match: decoding JSON bodies of
        thousands of hits costs more than the whole rest of a search. Under a very narrow filter the
        dense signal, filtered inside Chroma, still finds what the lexical pool missed.
        """
        match = fts_query(query, self._frequent())
        if match is None:
            return []
        table = self._table()
        clause, params = sql_filter
        pool = n if clause == "1" else n * _LEXICAL_FILTER_POOL
        with self._database.read() as connection:
            rows = connection.execute(
                f"WITH hits AS (SELECT rowid, rank FROM {table}_fts WHERE {table}_fts MATCH ? ORDER BY rank LIMIT ?) "
                f"SELECT d.id, hits.rank FROM hits JOIN {table} d ON d.rowid = hits.rowid "
                f"WHERE {clause} ORDER BY hits.rank LIMIT ?",
                [match, pool, *params, n],
            ).fetchall()
        return [(row[0], -float(row[1])) for row in rows]
