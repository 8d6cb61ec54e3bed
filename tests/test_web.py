"""The web front door, through a real uvicorn server on loopback and the demo store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.service import ShopService
from connectors.web import BackgroundServer
from tests.conftest import AGENT_TOKEN, stream_events

AGENT = {"Authorization": f"Bearer {AGENT_TOKEN}"}


@pytest.fixture
def http(web_server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web_server.url, timeout=60.0) as client:
        yield client


def _session(http: httpx.Client) -> str:
    response = http.post("/api/sessions")
    assert response.status_code == 201
    return str(response.json()["session_id"])


def _say(http: httpx.Client, session: str, text: str) -> dict[str, Any]:
    response = http.post(f"/api/sessions/{session}/messages", json={"text": text})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_search_returns_cards_with_impressions_and_click_is_logged(http: httpx.Client, service: ShopService) -> None:
    session = _session(http)
    turn = _say(http, session, "a laptop under $800")
    assert turn["intent"] == "product_search"
    assert turn["products"] and all(card["price"] <= 800 for card in turn["products"])
    assert {"slot": "price_max", "value": 800.0, "label": "under $800"} in turn["ledger"]
    first = turn["products"][0]
    response = http.post(
        f"/api/sessions/{session}/actions", json={"impression_id": first["impression_id"], "action": "click"}
    )
    assert response.status_code == 204
    (row,) = [row for row in service.events.rows() if row["impression_id"] == first["impression_id"]]
    assert row["click"] == 1 and row["channel"] == "web" and row["position"] == 1


def test_actions_only_count_for_the_session_that_saw_the_card(http: httpx.Client, service: ShopService) -> None:
    owner, other = _session(http), _session(http)
    impression = _say(http, owner, "a laptop")["products"][0]["impression_id"]
    stolen = http.post(f"/api/sessions/{other}/actions", json={"impression_id": impression, "action": "click"})
    assert stolen.status_code == 422 and "unknown impression" in stolen.json()["detail"]
    unknown = http.post(f"/api/sessions/{owner}/actions", json={"impression_id": impression, "action": "buy"})
    assert unknown.status_code == 422 and "unknown action 'buy'" in unknown.json()["detail"]
    assert all(row["click"] == 0 for row in service.events.rows())


@pytest.mark.parametrize(("text", "detail"), [("   ", "the message is empty"), ("x" * 4001, "at most 4000 characters")])
def test_bad_messages_get_a_clear_422(http: httpx.Client, text: str, detail: str) -> None:
    response = http.post(f"/api/sessions/{_session(http)}/messages", json={"text": text})
    assert response.status_code == 422
    assert detail in json.dumps(response.json())


def test_malformed_session_ids_are_refused(http: httpx.Client) -> None:
    response = http.post("/api/sessions/slack:T1:C1/messages", json={"text": "hi"})
    assert response.status_code in (404, 422)


def test_customers_only_read_their_own_transcript(http: httpx.Client) -> None:
    mine, theirs = _session(http), _session(http)
    _say(http, theirs, "my email is jane@example.com, I want a tv")
    _say(http, mine, "headphones")
    messages = http.get(f"/api/sessions/{mine}/messages").json()["messages"]
    assert [m["role"] for m in messages] == ["customer", "assistant"]
    assert "jane" not in json.dumps(messages)


def test_stream_sends_typing_deltas_and_the_turn(http: httpx.Client) -> None:
    events = stream_events(http, _session(http), "what is your return policy?")
    names = [name for name, _ in events]
    assert names[0] == "typing" and names[-1] == "turn" and "delta" in names
    turn = events[-1][1]
    assert turn["intent"] == "faq" and turn["faq_sources"]
    assert "".join(data["text"] for name, data in events if name == "delta") == turn["text"]


def test_removing_a_ledger_chip_searches_again_without_it(http: httpx.Client) -> None:
    session = _session(http)
    before = _say(http, session, "a 4k tv under $400")
    assert any(chip["slot"] == "price_max" for chip in before["ledger"])
    response = http.delete(f"/api/sessions/{session}/constraints/price_max", params={"value": "400"})
    assert response.status_code == 200, response.text
    after = response.json()
    assert not any(chip["slot"] == "price_max" for chip in after["ledger"])
    assert after["products"] and after["intent"] == "refine"
    missing = http.delete(f"/api/sessions/{session}/constraints/brand")
    assert missing.status_code == 422 and "no constraint brand" in missing.json()["detail"]


def test_agent_api_requires_the_token(http: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = http.get("/api/agent/queue", headers=headers)
        assert response.status_code == 401 and response.json() == {"detail": "agent token required", "errors": []}
        assert http.post("/api/agent/suggest", json={"text": "hi"}, headers=headers).status_code == 401


def test_handoff_agent_reply_and_close(http: httpx.Client, service: ShopService) -> None:
    session = _session(http)
    _say(http, session, "a laptop")
    handoff = _say(http, session, "I want to talk to a person")
    assert handoff["handoff"] is True and "person" in handoff["text"]
    held = _say(http, session, "hello? my order never arrived, this is terrible")
    assert held["held"] is True and held["text"] == "" and held["products"] == []

    (entry,) = http.get("/api/agent/queue", headers=AGENT).json()["entries"]
    assert entry["session_id"] == f"web:{session}" and entry["channel"] == "web"
    refreshed = http.get(f"/api/agent/sessions/web:{session}", params={"suggest": "false"}, headers=AGENT).json()
    assert refreshed["suggestion"] is None and refreshed["messages"][-1]["role"] == "customer"
    view = http.get(f"/api/agent/sessions/web:{session}", headers=AGENT).json()
    suggestion = view["suggestion"]
    assert suggestion["customer_message"].startswith("hello? my order never arrived")
    assert "upset" in suggestion["escalation_hint"]
    assert suggestion["faq"] and all(0 <= snippet["score"] <= 1 for snippet in suggestion["faq"])

    sent = http.post(
        f"/api/agent/sessions/web:{session}/messages",
        json={"text": "Sorry about that! I'm checking your order now.", "suggestion_id": suggestion["suggestion_id"]},
        headers=AGENT,
    )
    assert sent.status_code == 204
    transcript = http.get(f"/api/sessions/{session}/messages").json()
    assert transcript["handoff"] is True
    assert transcript["messages"][-1] == {
        "role": "agent",
        "text": "Sorry about that! I'm checking your order now.",
        "turn": None,
    }
    (feedback,) = service.events.feedback()
    assert feedback["verdict"] == "accepted" and feedback["suggestion_id"] == suggestion["suggestion_id"]

    assert http.post(f"/api/agent/sessions/web:{session}/close", headers=AGENT).status_code == 204
    assert http.get("/api/agent/queue", headers=AGENT).json() == {"entries": [], "total": 0}
    assert _say(http, session, "headphones")["products"]


def test_copilot_on_pasted_text(http: httpx.Client) -> None:
    response = http.post("/api/agent/suggest", json={"text": "noise cancelling headphones under $200"}, headers=AGENT)
    suggestion = response.json()
    assert suggestion["intent"] == "product_search" and suggestion["session_id"] is None
    assert suggestion["products"] and all(card["price"] <= 200 for card in suggestion["products"])
    assert suggestion["reply"] and {chip["slot"] for chip in suggestion["ledger"]} >= {"price_max"}
    unknown = http.get("/api/agent/sessions/web:nobody-here-at-all", headers=AGENT)
    assert unknown.status_code == 404


def test_pages_health_openapi_and_cors(http: httpx.Client) -> None:
    assert '<script src="/widget.js"' in http.get("/").text
    assert "Agent console" in http.get("/agent").text
    assert http.get("/widget.js").headers["content-type"].startswith("text/javascript")
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").status_code in (200, 503)
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/api/sessions/{public_id}/messages", "/api/sessions/{public_id}/stream", "/api/agent/queue"} <= set(paths)
    allowed = http.options(
        "/api/sessions", headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    )
    assert allowed.headers.get("access-control-allow-origin") == "https://shop.example"
    refused = http.options(
        "/api/sessions", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("amount", ["$" + "9" * 309, "1e400", "9" * 400 + "k"])
def test_absurd_amounts_get_an_answer_not_an_error(http: httpx.Client, amount: str) -> None:
    turn = _say(http, _session(http), f"tv under {amount}")
    assert "price_max" not in turn["slots"]
    response = http.post("/api/agent/suggest", json={"text": f"tv under {amount}"}, headers=AGENT)
    assert response.status_code == 200
    assert "price_max" not in {chip["slot"] for chip in response.json()["ledger"]}
