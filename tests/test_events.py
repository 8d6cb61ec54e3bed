import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from assistant import Assistant
from connectors.cli import app
from recommender import EventError, EventStore, ShownProduct
from retrieval import Store


def test_turns_impressions_and_actions_round_trip_with_redaction(tmp_path: Path) -> None:
    events = EventStore.persistent(tmp_path)
    ids = events.log_turn(
        turn_id="t1",
        session_id="customer-42",
        channel="web",
        query="tv for jane@example.com, card 4111 1111 1111 1111",
        ledger={"category": "TVs", "price_max": 500},
        intent="product_search",
        shown=[ShownProduct("tv-1", 1), ShownProduct("tv-3", 2)],
        ranker_version="baseline-1",
    )
    events.log_action(ids[1], "click")
    events.log_action(ids[1], "add_to_cart")
    events.close()

    rows = EventStore.persistent(tmp_path).rows()
    assert [(row["product_id"], row["position"], row["click"], row["add_to_cart"]) for row in rows] == [
        ("tv-1", 1, 0, 0),
        ("tv-3", 2, 1, 1),
    ]
    first = rows[0]
    assert first["query"] == "tv for [EMAIL], card [CARD]"
    assert json.loads(first["ledger"]) == {"category": "TVs", "price_max": 500}
    assert first["session"] != "customer-42" and len(first["session"]) == 20
    assert first["ranker_version"] == "baseline-1" and first["channel"] == "web"
    raw = (tmp_path / "events.sqlite3").read_bytes() + (tmp_path / "events.sqlite3-wal").read_bytes()
    assert b"jane@example.com" not in raw and b"4111" not in raw and b"customer-42" not in raw


def test_pseudonyms_are_stable_per_store_and_differ_between_stores(tmp_path: Path) -> None:
    first, second = EventStore.persistent(tmp_path / "a"), EventStore.persistent(tmp_path / "b")
    assert first.pseudonym("s") == first.pseudonym("s") != second.pseudonym("s")


def test_actions_need_a_known_impression_and_action() -> None:
    events = EventStore.ephemeral()
    (impression,) = events.log_turn(
        turn_id="t",
        session_id="s",
        channel="cli",
        query="q",
        ledger={},
        intent="product_search",
        shown=[ShownProduct("p", 1)],
        ranker_version=None,
    )
    with pytest.raises(EventError, match="unknown impression id 'nope'"):
        events.log_action("nope", "click")
    with pytest.raises(EventError, match="unknown action 'like'"):
        events.log_action(impression, "like")


def test_assistant_logs_impressions_with_positions_and_ranker_version(loaded_store: Store) -> None:
    events = EventStore.ephemeral()
    assistant = Assistant(loaded_store, events=events)
    turn = assistant.reply("shopper", "headphones under $300", channel="slack")
    assert turn.products and all(card.impression_id for card in turn.products)
    events.log_action(turn.products[0].impression_id or "", "click")
    alternatives = assistant.reply("shopper", "tv under $5", channel="slack")
    assert alternatives.relaxed == ["price_max"]
    rows = events.rows()
    shown = [(row["product_id"], row["position"]) for row in rows]
    assert shown == [(c.id, c.position) for c in [*turn.products, *alternatives.products]]
    assert {row["ranker_version"] for row in rows} == {"baseline-1"}
    assert rows[0]["click"] == 1 and rows[0]["channel"] == "slack"
    assert events.top_queries(zero_results=True) == [("tv under $5", 1)]
    assert events.ctr_by("position")[0] == (1, 2, 1)  # position 1: one click over two impressions


def test_a_reply_that_could_not_be_stored_is_not_counted(loaded_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The transcript write fails (a full disk): the customer gets an error, and the event log keeps no trace of
    a turn nobody saw."""
    events = EventStore.ephemeral()
    assistant = Assistant(loaded_store, events=events)
    delivered = assistant.reply("shopper", "headphones under $300")

    def disk_full(*_: object, **__: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(assistant.conversations, "append", disk_full)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        assistant.reply("shopper", "tvs under $2000")
    assert [row["turn_id"] for row in events.rows()] == [delivered.turn_id] * len(delivered.products)
    assert events.top_queries() == [("headphones under $300", 1)]


def test_cli_ask_logs_and_events_commands_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_cli import FIXTURES, MAP_ARGS

    monkeypatch.setenv("SHOPASSIST_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "products", str(FIXTURES / "products.csv"), *MAP_ARGS]).exit_code == 0
    assert runner.invoke(app, ["ingest", "faq", str(FIXTURES / "faq.yaml")]).exit_code == 0
    assert runner.invoke(app, ["ask", "laptop under $1000", "--json"]).exit_code == 0
    stats = runner.invoke(app, ["events", "stats", "--json"])
    payload = json.loads(stats.stdout)
    assert payload["by_channel"] == [{"channel": "cli", "impressions": 2, "clicks": 0}]
    assert payload["top_queries"] == [{"query": "laptop under $1000", "count": 1}]
    export = tmp_path / "events.parquet"
    assert runner.invoke(app, ["events", "export", str(export)]).exit_code == 0
    table = pq.read_table(export)
    assert table.num_rows == 2 and {"position", "click", "add_to_cart", "ranker_version"} <= set(table.column_names)
