"""SQLite catalog of record: documents, their content hashes, full-text index and index metadata.

The SQLite commit is the moment an ingest takes effect; vectors in Chroma are content-addressed, so
until that commit the previous catalog keeps serving unchanged.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TABLE_NAME = re.compile(r"^[a-z_]+$")


class CatalogDatabase:
    """One SQLite file (or memory) opened on first use, shared by all document kinds."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._prepared: set[str] = set()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                str(self.path) if self.path else ":memory:", check_same_thread=False, isolation_level=None
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._connection = connection
        return self._connection

    def ensure_kind(self, table: str) -> None:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"bad table name {table!r}")
        with self._lock:
            if table in self._prepared:
                return
            connection = self._connect()
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {table} ("
                "rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL)"
            )
            connection.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {table}_fts USING fts5("
                "text, tokenize='porter unicode61 remove_diacritics 2')"
            )
            connection.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {table}_vocab USING fts5vocab({table}_fts, 'row')")
            self._prepared.add(table)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connect()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: an exception inside rolls every statement back."""
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        with self.read() as connection:
            row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
                self._prepared.clear()
