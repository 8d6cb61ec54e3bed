"""What a reliability and security probe of the web API found (issue 20), each reproduced on a real uvicorn server:
unencodable JSON, huge bodies and echoed input, missing rate limits, client-chosen session ids, missing security
headers, a streamed reply that failed silently."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.conversations import scripted_service
from connectors.service import ShopService
from connectors.web import BackgroundServer, create_app
from retrieval import Settings, Store
from tests.conftest import AGENT_TOKEN, readiness_after_warm_up, stream_events

AGENT = {"Authorization": f"Bearer {AGENT_TOKEN}"}
JSON = {"Content-Type": "application/json"}


@contextmanager
def served(service: ShopService, **settings: Any) -> Iterator[httpx.Client]:
    """A real server configured with ``settings``, and a client for it."""
    app = create_app(service, AGENT_TOKEN, Settings(**settings))
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=60.0) as http:
        yield http


@pytest.fixture(scope="module")
def shared_service(demo_store: Store) -> ShopService:
    return scripted_service(demo_store)


@pytest.fixture(scope="module")
def http(shared_service: ShopService) -> Iterator[httpx.Client]:
    """One server for the checks that are not about limits (so its limits are off)."""
    with served(shared_service, frame_ancestors=["https://shop.example"], rate_limiting=False) as client:
        yield client


def _session(http: httpx.Client) -> str:
    response = http.post("/api/sessions")
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


def _is_problem(response: httpx.Response) -> dict[str, Any]:
    """Every error body has one shape: a one-line ``detail`` and a list of per-field ``errors``."""
    body = response.json()
    assert set(body) == {"detail", "errors"} and isinstance(body["detail"], str) and body["detail"]
    return dict(body)


# --- finding 4: JSON that parses but cannot be encoded ------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"text": "\\ud800"}',
        '{"text": "tv \\udfff under $500"}',
        '{"text": NaN}',
        '{"text": -Infinity}',
        '{"text": "a laptop", "extra": [Infinity]}',
        '{"\\ud800": "key"}',
    ],
)
@pytest.mark.parametrize("endpoint", ["messages", "stream", "actions", "agent-suggest"])
def test_json_no_encoder_could_write_is_a_400_not_a_500(http: httpx.Client, body: str, endpoint: str) -> None:
    path = "/api/agent/suggest" if endpoint == "agent-suggest" else f"/api/sessions/{_session(http)}/{endpoint}"
    response = http.post(path, content=body.encode(), headers={**JSON, **AGENT})
    assert response.status_code == 400, response.text
    assert "not valid JSON" in _is_problem(response)["detail"]


def test_broken_json_and_bad_utf8_are_400_too(http: httpx.Client) -> None:
    path = f"/api/sessions/{_session(http)}/messages"
    for body in (b'{"text": ', b'{"text": "\xff\xfe"}'):
        response = http.post(path, content=body, headers=JSON)
        assert response.status_code == 400 and _is_problem(response)


# --- finding 5: body size limit and echoed input ------------------------------------------------------------


def test_a_body_over_the_configured_limit_is_413_before_it_is_read(service: ShopService) -> None:
    with served(service, max_request_bytes=2048) as http:
        path = f"/api/sessions/{_session(http)}/messages"
        declared = http.post(path, content=json.dumps({"text": "x" * 3000}), headers=JSON)
        assert declared.status_code == 413
        assert _is_problem(declared)["detail"] == "the request body is larger than 2048 bytes"
        # Chunked, with no Content-Length to refuse it by: refused once it grows past the limit.
        chunked = http.post(path, content=iter([b'{"text": "', b"y" * 1500, b"y" * 1500, b'"}']), headers=JSON)
        assert chunked.status_code == 413 and len(chunked.content) < 200
        assert http.post(path, json={"text": "a laptop"}).status_code == 200


def test_validation_errors_echo_only_a_truncated_input(http: httpx.Client) -> None:
    response = http.post(f"/api/sessions/{_session(http)}/messages", json={"text": "z" * 20_000})
    assert response.status_code == 422
    body = _is_problem(response)
    assert "at most 4000 characters" in body["detail"]
    (error,) = body["errors"]
    assert error["loc"] == ["body", "text"] and error["input"] == "z" * 80 + "…"
    assert len(response.content) < 1000
    nested = http.post("/api/agent/suggest", json={"text": ["a" * 5000]}, headers=AGENT)
    assert nested.status_code == 422 and len(nested.content) < 1000


def test_errors_of_every_kind_have_one_shape(http: httpx.Client) -> None:
    session = _session(http)
    assert http.get("/api/agent/queue").status_code == 401
    for response in (
        http.get("/api/agent/queue"),  # 401
        http.get("/no/such/page"),  # 404 from the router
        http.post(f"/api/sessions/{session}/actions", json={"impression_id": "i", "action": "buy"}),  # 422
        http.post(f"/api/sessions/{session}/messages", json={}),  # 422 from validation
    ):
        assert response.status_code >= 400 and _is_problem(response)
    schema = http.get("/openapi.json").json()
    responses = schema["paths"]["/api/sessions/{public_id}/messages"]["post"]["responses"]
    assert {"400", "404", "413", "422", "429"} <= set(responses)
    assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/Problem")


# --- finding 6: rate limits, throttled creation and handoffs, paginated queue and transcripts ----------------


def _retry_after(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    _is_problem(response)
    return int(response.headers["Retry-After"])


def test_messages_per_session_are_limited_with_429_and_retry_after(service: ShopService) -> None:
    with served(service, rate_limit_per_session="2/minute") as http:
        busy, other = _session(http), _session(http)
        for text in ("a laptop", "cheaper"):
            assert http.post(f"/api/sessions/{busy}/messages", json={"text": text}).status_code == 200
        refused = http.post(f"/api/sessions/{busy}/messages", json={"text": "cheaper"})
        assert 1 <= _retry_after(refused) <= 60
        assert "messages in this conversation" in refused.json()["detail"]
        assert _retry_after(http.post(f"/api/sessions/{busy}/stream", json={"text": "hi"})) >= 1
        assert http.post(f"/api/sessions/{other}/messages", json={"text": "a tablet"}).status_code == 200
        assert http.get(f"/api/sessions/{busy}/messages").status_code == 200  # reading is not writing


def test_requests_and_new_conversations_per_address_are_limited(service: ShopService) -> None:
    with served(service, new_sessions_per_ip="2/minute") as http:
        _session(http), _session(http)
        refused = http.post("/api/sessions")
        assert 1 <= _retry_after(refused) <= 60 and "new conversations" in refused.json()["detail"]
    with served(service, rate_limit_per_ip="3 per hour") as http:
        session = _session(http)
        assert http.post(f"/api/sessions/{session}/messages", json={"text": "a laptop"}).status_code == 200
        assert http.post(f"/api/sessions/{session}/messages", json={"text": "cheaper"}).status_code == 200
        refused = http.post(f"/api/sessions/{session}/messages", json={"text": "cheaper"})
        assert 60 < _retry_after(refused) <= 3600 and "from this address" in refused.json()["detail"]


def test_handoffs_per_address_are_limited(service: ShopService) -> None:
    with served(service, handoffs_per_ip="1/hour") as http:
        first, second = _session(http), _session(http)
        handoff = http.post(f"/api/sessions/{first}/messages", json={"text": "I want to talk to a person"})
        assert handoff.json()["handoff"] is True
        refused = http.post(f"/api/sessions/{second}/messages", json={"text": "I want to talk to a person"})
        assert _retry_after(refused) > 60 and "handoffs" in refused.json()["detail"]
        # The conversation already with a person goes on.
        assert http.post(f"/api/sessions/{first}/messages", json={"text": "hello?"}).json()["held"] is True
    assert [entry.session_id for entry in service.queue().entries] == [f"web:{first}"]


def test_rate_limits_can_be_switched_off(service: ShopService) -> None:
    with served(service, rate_limiting=False, new_sessions_per_ip="1/hour") as http:
        assert len({_session(http) for _ in range(3)}) == 3


def test_the_agent_queue_and_transcripts_come_in_pages(service: ShopService) -> None:
    with served(service, rate_limiting=False) as http:
        sessions = [_session(http) for _ in range(3)]
        for session in sessions:
            http.post(f"/api/sessions/{session}/messages", json={"text": "I want to talk to a person"})
        first = http.get("/api/agent/queue", params={"limit": 2}, headers=AGENT).json()
        rest = http.get("/api/agent/queue", params={"offset": 2, "limit": 2}, headers=AGENT).json()
        assert first["total"] == rest["total"] == 3
        paged = [entry["session_id"] for entry in first["entries"] + rest["entries"]]
        assert paged == [f"web:{session}" for session in sessions]
        assert http.get("/api/agent/queue", params={"limit": 100_000}, headers=AGENT).status_code == 422

        transcript = http.get(f"/api/sessions/{sessions[0]}/messages", params={"limit": 1}).json()
        assert [m["role"] for m in transcript["messages"]] == ["customer"] and transcript["total"] == 2
        tail = http.get(f"/api/sessions/{sessions[0]}/messages", params={"after": 1, "limit": 1}).json()
        assert [m["role"] for m in tail["messages"]] == ["assistant"]
        agent_view = http.get(
            f"/api/agent/sessions/web:{sessions[0]}", params={"suggest": "false", "after": 1}, headers=AGENT
        ).json()
        assert agent_view["total"] == 2 and len(agent_view["messages"]) == 1


# --- finding 10: only server-issued session ids -------------------------------------------------------------


def test_a_session_id_the_server_did_not_issue_names_nothing(http: httpx.Client) -> None:
    made_up = "aaaaaaaaaaaaaaaa"
    for response in (
        http.post(f"/api/sessions/{made_up}/messages", json={"text": "a laptop"}),
        http.post(f"/api/sessions/{made_up}/stream", json={"text": "a laptop"}),
        http.get(f"/api/sessions/{made_up}/messages"),
        http.post(f"/api/sessions/{made_up}/actions", json={"impression_id": "i", "action": "click"}),
        http.delete(f"/api/sessions/{made_up}/constraints/price_max"),
    ):
        assert response.status_code == 404 and "unknown session" in _is_problem(response)["detail"]
    issued = {_session(http) for _ in range(5)}
    assert len(issued) == 5 and all(len(public_id) >= 32 for public_id in issued)
    assert http.post(f"/api/sessions/{issued.pop()}/messages", json={"text": "a laptop"}).status_code == 200


# --- finding 11: security headers ---------------------------------------------------------------------------


def test_every_response_carries_csp_and_nosniff(http: httpx.Client, shared_service: ShopService) -> None:
    store_page = http.get("/")
    policy = store_page.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://shop.example" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in http.get("/agent").headers["content-security-policy"]
    for response in (
        store_page,
        http.get("/widget.js"),
        http.post("/api/sessions"),
        http.get("/api/agent/queue"),
        http.post("/api/agent/suggest", content=b'{"text": NaN}', headers=JSON),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors" in response.headers["content-security-policy"]
    with served(shared_service, max_request_bytes=1024) as small:
        refused = small.post("/api/agent/suggest", content=b"x" * 2000, headers=JSON)
        assert refused.status_code == 413 and refused.headers["x-content-type-options"] == "nosniff"


def test_pages_need_no_inline_style_or_script_the_policy_would_block(http: httpx.Client) -> None:
    for page in ("/", "/agent"):
        html = http.get(page).text
        assert "<style" not in html and " style=" not in html
        assert all('src="' in tag for tag in html.split("<script")[1:])
    for sheet in ("/agent.css", "/store.css", "/widget.css"):
        response = http.get(sheet)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")


def test_the_console_reads_no_token_from_its_url(http: httpx.Client) -> None:
    script = http.get("/agent.js").text
    assert "location.hash" not in script and "location.search" not in script
    assert '"Bearer " + token' in script


# --- finding 3: an absurd price, a stream that fails --------------------------------------------------------


def test_a_309_digit_price_streams_a_turn(http: httpx.Client) -> None:
    events = stream_events(http, _session(http), "tv under $" + "9" * 309)
    assert [name for name, _ in events][-1] == "turn"
    assert "price_max" not in events[-1][1]["slots"]


def test_a_stream_whose_reply_fails_ends_with_an_error_event(
    http: httpx.Client, shared_service: ShopService, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = _session(http)

    def broken(session_id: str, text: str) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(shared_service, "message", broken)
    events = stream_events(http, session, "a laptop")
    assert [name for name, _ in events] == ["typing", "error"]
    assert "could not answer" in events[-1][1]["detail"] and "disk full" not in events[-1][1]["detail"]
    plain = http.post(f"/api/sessions/{session}/messages", json={"text": "a laptop"})
    assert plain.status_code == 500 and _is_problem(plain)["detail"] == "internal error"


def test_readiness_is_a_real_search_and_a_write_to_the_data_dir(demo_store: Store, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    service = scripted_service(demo_store)
    service.data_dir = data_dir
    with served(service) as http:
        ready = readiness_after_warm_up(http)
        assert ready.status_code == 200 and ready.json() == {"ready": True, "problems": []}
        data_dir.rmdir()  # the disk the data dir was on is gone: nothing can be written
        gone = http.get("/readyz")
        assert gone.status_code == 503
        assert gone.json()["ready"] is False
        assert any(str(data_dir) in problem for problem in gone.json()["problems"]), gone.json()


def test_a_failed_warm_up_leaves_readiness_to_what_works_now(
    demo_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = scripted_service(demo_store)

    def failing_warm_up() -> None:
        raise RuntimeError("the model could not load")

    monkeypatch.setattr(service, "warm_up", failing_warm_up)
    with served(service) as http:
        assert readiness_after_warm_up(http).json() == {"ready": True, "problems": []}
