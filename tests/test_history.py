import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from typer.testing import CliRunner

from assistant import Assistant, ConversationStore
from connectors.cli import app
from retrieval import Store
from tests.test_cli import FIXTURES, MAP_ARGS


def test_history_is_a_langchain_chat_history_that_survives_reopening(tmp_path: Path) -> None:
    store = ConversationStore.persistent(tmp_path)
    history = store.history("s1")
    history.add_user_message("hi")
    history.add_ai_message("hello, what are you looking for?")
    store.history("s2").add_user_message("other session")
    store.close()

    reopened = ConversationStore.persistent(tmp_path)
    assert [(type(m).__name__, m.content) for m in reopened.history("s1").messages] == [
        ("HumanMessage", "hi"),
        ("AIMessage", "hello, what are you looking for?"),
    ]
    reopened.history("s1").clear()
    assert reopened.history("s1").messages == []
    assert len(reopened.history("s2").messages) == 1


def test_assistant_turns_are_kept_with_their_structure(loaded_store: Store, tmp_path: Path) -> None:
    conversations = ConversationStore.persistent(tmp_path)
    assistant = Assistant(loaded_store, conversations=conversations)
    turn = assistant.reply("shopper", "headphones under $300")
    user, answer = conversations.history("shopper").messages
    assert isinstance(user, HumanMessage) and user.content == "headphones under $300"
    assert isinstance(answer, AIMessage) and answer.content == turn.text
    assert [card["id"] for card in answer.additional_kwargs["turn"]["products"]] == [c.id for c in turn.products]


def test_cli_sessions_continue_across_invocations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPASSIST_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "products", str(FIXTURES / "products.csv"), *MAP_ARGS]).exit_code == 0
    assert runner.invoke(app, ["ingest", "faq", str(FIXTURES / "faq.yaml")]).exit_code == 0
    for text in ("laptop", "how much is shipping"):
        result = runner.invoke(app, ["ask", text, "--session", "cust-1", "--json"])
        assert json.loads(result.stdout)["session_id"] == "cust-1"
    messages = ConversationStore.persistent(tmp_path / "var").history("cust-1").messages
    assert [m.content for m in messages][::2] == ["laptop", "how much is shipping"]
