"""Conversation transcripts in SQLite, as standard LangChain chat histories, so they survive restarts."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from retrieval.storage import SQLiteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, message TEXT NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages(session_id, id);
"""


class ConversationStore:
    """All sessions' transcripts in one SQLite file (WAL), opened on first use."""

    def __init__(self, path: Path | None) -> None:
        self._database = SQLiteDatabase(path, _SCHEMA)

    @classmethod
    def persistent(cls, data_dir: Path) -> ConversationStore:
        return cls(data_dir / "conversations.sqlite3")

    @classmethod
    def ephemeral(cls) -> ConversationStore:
        return cls(None)

    def history(self, session_id: str) -> SQLiteChatMessageHistory:
        return SQLiteChatMessageHistory(session_id, self)

    def read(self, session_id: str) -> list[BaseMessage]:
        with self._database.read() as connection:
            rows = connection.execute(
                "SELECT message FROM messages WHERE session_id = ? ORDER BY id", (session_id,)
            ).fetchall()
        return messages_from_dict([json.loads(row[0]) for row in rows])

    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        now = time.time()
        with self._database.transaction() as connection:
            connection.executemany(
                "INSERT INTO messages (session_id, message, created_at) VALUES (?, ?, ?)",
                [(session_id, json.dumps(message_to_dict(message)), now) for message in messages],
            )

    def delete(self, session_id: str) -> None:
        with self._database.read() as connection:
            connection.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))

    def close(self) -> None:
        self._database.close()


class SQLiteChatMessageHistory(BaseChatMessageHistory):
    """One session's transcript; assistant messages carry the structured turn in ``additional_kwargs``."""

    def __init__(self, session_id: str, store: ConversationStore) -> None:
        self.session_id = session_id
        self._store = store

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        return self._store.read(self.session_id)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        self._store.append(self.session_id, messages)

    def clear(self) -> None:
        self._store.delete(self.session_id)
