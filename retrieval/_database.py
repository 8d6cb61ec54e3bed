"""SQLite catalog of record: documents, their content hashes, full-text index and index metadata.

The SQLite commit is the moment an ingest takes effect; vectors in Chroma are content-addressed, so
until that commit the previous catalog keeps serving unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path

from retrieval.storage import SQLiteDatabase

_TABLE_NAME = re.compile(r"^[a-z_]+$")


class CatalogDatabase(SQLiteDatabase):
    """Shared by all document kinds; each kind gets its table, FTS5 index and vocabulary view."""

    def __init__(self, path: Path | None) -> None:
        super().__init__(path, "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
        self._prepared: set[str] = set()

    def ensure_kind(self, table: str) -> None:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"bad table name {table!r}")
        with self.read() as connection:
            if table in self._prepared:
                return
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

    def get_meta(self, key: str) -> str | None:
        with self.read() as connection:
            row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            super().close()
            self._prepared.clear()
