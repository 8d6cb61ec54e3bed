"""Slack redelivers an event it thinks was missed; each event id is handled once, across processes."""

from __future__ import annotations

import time
from pathlib import Path

from retrieval.storage import SQLiteDatabase

_KEEP_SECONDS = 24 * 3600
_SCHEMA = "CREATE TABLE IF NOT EXISTS seen_events (event_id TEXT PRIMARY KEY, seen_at REAL NOT NULL);"


class SeenEvents:
    def __init__(self, path: Path | None) -> None:
        self._database = SQLiteDatabase(path, _SCHEMA)

    @classmethod
    def persistent(cls, data_dir: Path) -> SeenEvents:
        return cls(data_dir / "slack.sqlite3")

    @classmethod
    def ephemeral(cls) -> SeenEvents:
        return cls(None)

    def first_time(self, event_id: str) -> bool:
        """Record ``event_id``; False when it was already recorded."""
        now = time.time()
        with self._database.transaction() as connection:
            connection.execute("DELETE FROM seen_events WHERE seen_at < ?", (now - _KEEP_SECONDS,))
            cursor = connection.execute("INSERT OR IGNORE INTO seen_events VALUES (?, ?)", (event_id, now))
            return cursor.rowcount == 1
