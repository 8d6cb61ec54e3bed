"""The web sessions this server issued: a customer's id is only good if ``POST /api/sessions`` handed it out.

Ids are 192 random bits, so knowing one is the customer's key to the conversation; an id a client made up
(or guessed) names nothing. The record outlives a restart, so a customer who reloads the page goes on.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from retrieval.storage import SQLiteDatabase

_SCHEMA = "CREATE TABLE IF NOT EXISTS issued_sessions (public_id TEXT PRIMARY KEY, issued_at REAL NOT NULL);"
_ID_BYTES = 24


class IssuedSessions:
    def __init__(self, path: Path | None) -> None:
        self._database = SQLiteDatabase(path, _SCHEMA)

    @classmethod
    def persistent(cls, data_dir: Path) -> IssuedSessions:
        return cls(data_dir / "web-sessions.sqlite3")

    @classmethod
    def ephemeral(cls) -> IssuedSessions:
        return cls(None)

    def issue(self) -> str:
        """A new unguessable public id, recorded as issued."""
        public_id = secrets.token_urlsafe(_ID_BYTES)
        with self._database.transaction() as connection:
            connection.execute("INSERT INTO issued_sessions VALUES (?, ?)", (public_id, time.time()))
        return public_id

    def issued(self, public_id: str) -> bool:
        with self._database.read() as connection:
            row = connection.execute("SELECT 1 FROM issued_sessions WHERE public_id = ?", (public_id,)).fetchone()
        return row is not None
