"""Slack's side of the wire, on loopback: a recording stand-in for the Web API and a request signer.

``shopassist test-conversations --channel slack``, the tests and ``benchmarks/channels.py`` point the
Bolt app's ``WebClient`` at :class:`LoopbackSlackApi` and send it events signed like Slack signs them.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from connectors.errors import ConnectorError

BOT_USER_ID = "UBOTSHOP"
TEAM_ID = "TSHOP"


class LoopbackSlackApi:
    """Answers Web API calls like Slack would and records every call as ``(method, arguments)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise ConnectorError("the loopback Slack API is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def __enter__(self) -> LoopbackSlackApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                arguments = (
                    json.loads(raw) if "json" in (self.headers.get("Content-Type") or "") else dict(parse_qsl(raw))
                )
                for key in ("blocks", "metadata", "view"):
                    if isinstance(arguments.get(key), str):
                        arguments[key] = json.loads(arguments[key])
                body = json.dumps(api._record(self.path.rsplit("/", 1)[-1], arguments)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _record(self, method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        with self._changed:
            self.calls.append((method, arguments))
            self._changed.notify_all()
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER_ID, "bot_id": "BSHOP", "team_id": TEAM_ID, "user": "shopassist"}
        if method == "chat.postMessage":
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            return {"ok": True, "channel": arguments.get("channel"), "ts": ts, "message": {**arguments, "ts": ts}}
        return {"ok": True}

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """``chat.postMessage`` arguments, oldest first; only those to ``channel`` when given."""
        with self._changed:
            return [
                arguments
                for method, arguments in self.calls
                if method == "chat.postMessage" and channel in (None, arguments.get("channel"))
            ]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConnectorError(f"the Slack app did not call the Web API as expected within {timeout:.0f} s")
                self._changed.wait(left)


class SignedSlackClient:
    """Sends events, commands and button clicks to a Bolt endpoint, signed with the app's signing secret."""

    def __init__(self, endpoint: str, signing_secret: str, http: httpx.Client | None = None) -> None:
        self.endpoint = endpoint
        self._verifier = SignatureVerifier(signing_secret)
        self._http = http or httpx.Client(timeout=30.0)

    def post(
        self, body: str, content_type: str, *, retry: int | None = None, secret: str | None = None
    ) -> httpx.Response:
        timestamp = str(int(time.time()))
        verifier = SignatureVerifier(secret) if secret is not None else self._verifier
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": verifier.generate_signature(timestamp=timestamp, body=body) or "",
        }
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return self._http.post(self.endpoint, content=body, headers=headers)

    def event(self, event: dict[str, Any], *, event_id: str | None = None, **options: Any) -> httpx.Response:
        body = {
            "type": "event_callback",
            "team_id": TEAM_ID,
            "api_app_id": "ASHOP",
            "event": event,
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:12]}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
        }
        return self.post(json.dumps(body), "application/json", **options)

    def direct_message(self, channel: str, text: str, user: str = "UCUSTOMER", **options: Any) -> httpx.Response:
        ts = f"{time.time():.6f}"
        event = {"type": "message", "channel_type": "im", "channel": channel, "user": user, "text": text, "ts": ts}
        return self.event(event, **options)

    def interaction(self, payload: dict[str, Any]) -> httpx.Response:
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def command(self, fields: dict[str, str]) -> httpx.Response:
        return self.post(urlencode(fields), "application/x-www-form-urlencoded")

    def close(self) -> None:
        self._http.close()
