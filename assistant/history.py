"""Conversations in SQLite: transcripts as standard LangChain chat histories, plus each session's dialogue state.

Both survive restarts; a turn's messages and its new state are written in one transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, HumanMessage, message_to_dict, messages_from_dict

from assistant.ledger import Constraints
from retrieval.storage import SQLiteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, message TEXT NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages(session_id, id);
CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at REAL NOT NULL);
"""


@dataclass
class DialogueState:
    """What the assistant remembers about one session between turns."""

    ledger: Constraints = field(default_factory=Constraints)
    query: str = field(default="", metadata={"doc": "The words of the search the ledger refines."})
    shown: list[str] = field(default_factory=list, metadata={"doc": "Ids of the products on screen, in order."})
    focus: str | None = field(default=None, metadata={"doc": "The product the customer last asked about."})
    handed_over: bool = False
    misses: int = field(default=0, metadata={"doc": "Consecutive turns the assistant could not answer."})
    last_intent: str | None = field(default=None, metadata={"doc": "The intent the last turn answered."})
    faq_topic: str | None = field(default=None, metadata={"doc": "Id of the FAQ entry the last turn quoted."})
    clarifying: bool = field(default=False, metadata={"doc": "The last turn asked the customer a question."})

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DialogueState:
        data = json.loads(text)
        return cls(**{**data, "ledger": Constraints.from_dict(data.get("ledger", {}))})


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

    def append(self, session_id: str, messages: Sequence[BaseMessage], state: DialogueState | None = None) -> None:
        """Add messages and, when given, replace the session's dialogue state, atomically."""
        now = time.time()
        with self._database.transaction() as connection:
            connection.executemany(
                "INSERT INTO messages (session_id, message, created_at) VALUES (?, ?, ?)",
                [(session_id, json.dumps(message_to_dict(message)), now) for message in messages],
            )
            if state is not None:
                connection.execute(
                    "INSERT OR REPLACE INTO sessions (session_id, state, updated_at) VALUES (?, ?, ?)",
                    (session_id, state.to_json(), now),
                )

    def exists(self, session_id: str) -> bool:
        with self._database.read() as connection:
            row = connection.execute("SELECT 1 FROM messages WHERE session_id = ? LIMIT 1", (session_id,)).fetchone()
        return row is not None

    def last_customer_text(self, session_id: str) -> str:
        """What the customer last wrote in the session ("" if nothing yet)."""
        said = [message for message in self.read(session_id) if isinstance(message, HumanMessage)]
        return str(said[-1].content) if said else ""

    def state(self, session_id: str) -> DialogueState:
        """The session's dialogue state; a new session starts empty."""
        with self._database.read() as connection:
            row = connection.execute("SELECT state FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return DialogueState.from_json(row[0]) if row else DialogueState()

    def handed_over(self) -> list[tuple[str, float]]:
        """(session id, time of its last change) of every session waiting for or talking to a person, oldest first."""
        with self._database.read() as connection:
            rows = connection.execute(
                "SELECT session_id, updated_at FROM sessions WHERE json_extract(state, '$.handed_over') "
                "ORDER BY updated_at"
            ).fetchall()
        return [(session_id, float(updated_at)) for session_id, updated_at in rows]

    def delete(self, session_id: str) -> None:
        """Forget the session: transcript and dialogue state."""
        with self._database.transaction() as connection:
            connection.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
            connection.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))

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
