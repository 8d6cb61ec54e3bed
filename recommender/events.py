"""The interaction log: what was shown (impressions) and what customers did with it (actions).

SQLite in WAL mode, so a web server can write while a trainer or an export reads. Session ids are
stored as salted hashes and query text is PII-redacted before it is written.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from recommender.errors import EventError
from recommender.features import SESSION_CLICKS
from retrieval.privacy import redact
from retrieval.storage import SQLiteDatabase

Action = Literal["click", "add_to_cart", "thumbs_up", "thumbs_down", "dismissed"]
ACTIONS: tuple[str, ...] = get_args(Action)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS turns (
    turn_id TEXT PRIMARY KEY, session TEXT NOT NULL, channel TEXT NOT NULL, query TEXT NOT NULL,
    ledger TEXT NOT NULL, intent TEXT NOT NULL, results INTEGER NOT NULL, ranker_version TEXT,
    created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS impressions (
    impression_id TEXT PRIMARY KEY, turn_id TEXT NOT NULL REFERENCES turns(turn_id),
    product_id TEXT NOT NULL, position INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS actions (
    action_id INTEGER PRIMARY KEY, impression_id TEXT NOT NULL REFERENCES impressions(impression_id),
    action TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS copilot_feedback (
    feedback_id INTEGER PRIMARY KEY, session TEXT NOT NULL, suggestion_id TEXT NOT NULL, verdict TEXT NOT NULL,
    text TEXT NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS turns_by_session ON turns(session);
CREATE INDEX IF NOT EXISTS impressions_by_turn ON impressions(turn_id);
CREATE INDEX IF NOT EXISTS actions_by_impression ON actions(impression_id);
"""


@dataclass(frozen=True)
class ShownProduct:
    product_id: str
    position: int


class EventStore:
    """Opened on first use. ``EventStore.persistent(data_dir)`` or ``EventStore.ephemeral()``."""

    def __init__(self, path: Path | None) -> None:
        self._database = SQLiteDatabase(path, _SCHEMA)
        self._salt: str | None = None

    @property
    def path(self) -> Path | None:
        return self._database.path

    @classmethod
    def persistent(cls, data_dir: Path) -> EventStore:
        return cls(data_dir / "events.sqlite3")

    @classmethod
    def ephemeral(cls) -> EventStore:
        return cls(None)

    def pseudonym(self, session_id: str) -> str:
        if self._salt is None:
            # The salt never leaves this database: pseudonyms cannot be matched to other systems' ids.
            with self._database.read() as connection:
                connection.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('session_salt', ?)", (secrets.token_hex(16),)
                )
                self._salt = connection.execute("SELECT value FROM meta WHERE key = 'session_salt'").fetchone()[0]
        return hashlib.sha256(f"{self._salt}\x1f{session_id}".encode()).hexdigest()[:20]

    def log_turn(
        self,
        *,
        turn_id: str,
        session_id: str,
        channel: str,
        query: str,
        ledger: Mapping[str, Any],
        intent: str,
        shown: Sequence[ShownProduct],
        ranker_version: str | None,
        matched: int | None = None,
    ) -> list[str]:
        """Record one turn and an impression per shown product; returns the impression ids in order.

        ``matched`` counts the products that met every constraint (default: all shown); 0 with products
        shown means they were alternatives, and the query counts as a zero-result query.
        """
        now = time.time()
        impression_ids = [uuid.uuid4().hex for _ in shown]
        session = self.pseudonym(session_id)
        with self._database.transaction() as connection:
            connection.execute(
                "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    turn_id,
                    session,
                    channel,
                    redact(query),
                    json.dumps(dict(ledger)),
                    intent,
                    len(shown) if matched is None else matched,
                    ranker_version,
                    now,
                ),
            )
            connection.executemany(
                "INSERT INTO impressions VALUES (?, ?, ?, ?, ?)",
                [
                    (iid, turn_id, item.product_id, item.position, now)
                    for iid, item in zip(impression_ids, shown, strict=True)
                ],
            )
        return impression_ids

    def retract_turn(self, turn_id: str) -> None:
        """Forget a logged turn and its impressions: its reply never reached the customer (nothing can have been
        clicked on it), so analytics and training must not count it."""
        with self._database.transaction() as connection:
            connection.execute("DELETE FROM impressions WHERE turn_id = ?", (turn_id,))
            connection.execute("DELETE FROM turns WHERE turn_id = ?", (turn_id,))

    def log_action(self, impression_id: str, action: str, *, session_id: str | None = None) -> None:
        """Record what a customer did with a card; with ``session_id``, only that session's impressions count."""
        if action not in ACTIONS:
            raise EventError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        with self._database.read() as connection:
            known = connection.execute(
                "SELECT t.session FROM impressions i JOIN turns t ON t.turn_id = i.turn_id WHERE i.impression_id = ?",
                (impression_id,),
            ).fetchone()
            if known is None or (session_id is not None and known[0] != self.pseudonym(session_id)):
                raise EventError(f"unknown impression id {impression_id!r}")
            connection.execute(
                "INSERT INTO actions (impression_id, action, created_at) VALUES (?, ?, ?)",
                (impression_id, action, time.time()),
            )

    def log_feedback(
        self, session_id: str, suggestion_id: str, verdict: Literal["accepted", "rejected"], text: str
    ) -> None:
        """An agent's verdict on a copilot suggestion; ``text`` (what was finally sent, if anything) is redacted."""
        with self._database.transaction() as connection:
            connection.execute(
                "INSERT INTO copilot_feedback (session, suggestion_id, verdict, text, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (self.pseudonym(session_id), suggestion_id, verdict, redact(text), time.time()),
            )

    def feedback(self) -> list[dict[str, Any]]:
        with self._database.read() as connection:
            cursor = connection.execute(
                "SELECT session, suggestion_id, verdict, text, created_at FROM copilot_feedback ORDER BY feedback_id"
            )
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def rows(self) -> list[dict[str, Any]]:
        """One row per impression, with its turn's context and a 0/1 column per action."""
        flags = ", ".join(f"MAX(CASE WHEN a.action = '{action}' THEN 1 ELSE 0 END) AS {action}" for action in ACTIONS)
        with self._database.read() as connection:
            cursor = connection.execute(
                f"SELECT i.impression_id, i.turn_id, t.session, t.channel, t.query, t.ledger, t.intent, "
                f"t.ranker_version, i.product_id, i.position, i.created_at, {flags} "
                "FROM impressions i JOIN turns t ON t.turn_id = i.turn_id "
                "LEFT JOIN actions a ON a.impression_id = i.impression_id "
                "GROUP BY i.impression_id ORDER BY i.created_at, i.position"
            )
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def product_history(self, product_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(impressions, clicked impressions) per product that has any, for the ranker's CTR prior."""
        if not product_ids:
            return {}
        marks = ", ".join("?" * len(product_ids))
        with self._database.read() as connection:
            rows = connection.execute(
                f"SELECT i.product_id, COUNT(*), SUM(EXISTS (SELECT 1 FROM actions a WHERE a.impression_id = "
                f"i.impression_id AND a.action IN ('click', 'add_to_cart'))) FROM impressions i "
                f"WHERE i.product_id IN ({marks}) GROUP BY i.product_id",
                list(product_ids),
            ).fetchall()
        return {product_id: (int(shown), int(clicked or 0)) for product_id, shown, clicked in rows}

    def clicked_products(self, session_id: str, limit: int = SESSION_CLICKS) -> list[str]:
        """Products this session clicked or put in the cart, most recent first (the ranker's session signal)."""
        with self._database.read() as connection:
            rows = connection.execute(
                "SELECT i.product_id, MAX(a.created_at) AS last FROM actions a "
                "JOIN impressions i ON i.impression_id = a.impression_id JOIN turns t ON t.turn_id = i.turn_id "
                "WHERE t.session = ? AND a.action IN ('click', 'add_to_cart') "
                "GROUP BY i.product_id ORDER BY last DESC LIMIT ?",
                (self.pseudonym(session_id), limit),
            ).fetchall()
        return [str(product_id) for product_id, _ in rows]

    def ctr_by(self, column: Literal["position", "channel", "ranker_version"]) -> list[tuple[Any, int, int]]:
        """(value, impressions, clicked impressions) grouped by position, channel or ranker version."""
        source = "i.position" if column == "position" else f"t.{column}"
        with self._database.read() as connection:
            return connection.execute(
                f"SELECT {source}, COUNT(*), SUM(EXISTS (SELECT 1 FROM actions a WHERE a.impression_id = "
                f"i.impression_id AND a.action IN ('click', 'add_to_cart'))) "
                f"FROM impressions i JOIN turns t ON t.turn_id = i.turn_id GROUP BY {source} ORDER BY {source}"
            ).fetchall()

    def top_queries(self, limit: int = 10, *, zero_results: bool = False) -> list[tuple[str, int]]:
        condition = "results = 0" if zero_results else "1"
        with self._database.read() as connection:
            return connection.execute(
                f"SELECT query, COUNT(*) AS n FROM turns WHERE intent = 'product_search' AND {condition} "
                "GROUP BY query ORDER BY n DESC, query LIMIT ?",
                (limit,),
            ).fetchall()

    def close(self) -> None:
        self._database.close()
