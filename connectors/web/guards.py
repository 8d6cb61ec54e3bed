"""What stands between the internet and the API: body size and strict JSON, rate limits, security headers,
and the one shape every error body has.

The ASGI middlewares here answer before FastAPI reads a byte it should not: a body over the limit is refused
from its ``Content-Length`` (or as soon as it grows past the limit), and JSON that Python would parse but no
JSON encoder can write back (``NaN``, ``Infinity``, unpaired UTF-16 surrogates) is refused as malformed, so
it never reaches a handler, a database or an error message.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import limits
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.errors import ConnectorError
from retrieval import Settings

_INPUT_ECHO_CHARS = 80


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query or path, then the field.")
    msg: str
    type: str
    input: Any = Field(None, description=f"What was sent, cut to {_INPUT_ECHO_CHARS} characters.")


class Problem(BaseModel):
    """The body of every error response."""

    detail: str = Field(description="One line saying what was wrong.")
    errors: list[FieldProblem] = Field(default_factory=list, description="Per-field problems of a rejected request.")


def problem_body(detail: str, errors: Sequence[FieldProblem] = ()) -> bytes:
    return Problem(detail=detail, errors=list(errors)).model_dump_json().encode()


def clipped(value: Any) -> Any:
    """An echo of rejected input that is short and always encodable: finite numbers as they are, the rest as text."""
    if value is None or isinstance(value, bool) or (isinstance(value, int | float) and math.isfinite(value)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=True)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= _INPUT_ECHO_CHARS else text[:_INPUT_ECHO_CHARS] + "…"


async def _send_problem(send: Send, code: int, detail: str) -> None:
    body = problem_body(detail)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if code == 413:  # the rest of the body is never read, so the connection cannot carry another request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BadJson(ValueError):
    """A request body that is not JSON a JSON encoder could have written."""


def _reject_constant(name: str) -> Any:
    raise BadJson(f"{name} is not a JSON number")


def strict_json(body: bytes) -> Any:
    """``json.loads`` without the extensions no encoder writes back; :class:`BadJson` names what is wrong."""
    try:
        parsed = json.loads(body, parse_constant=_reject_constant)
    except BadJson:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadJson(str(error)) from error
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        raise BadJson(f"it holds {error.object[error.start : error.end]!r}, an unpaired UTF-16 surrogate") from error
    return parsed


def _is_json(content_type: str | None) -> bool:
    # The bodies FastAPI would parse as JSON: no content type, application/json, application/*+json.
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class BodyGuard:
    """413 above ``max_bytes``; 400 for JSON bodies :func:`strict_json` refuses. Other requests pass untouched."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        too_large = f"the request body is larger than {self.max_bytes} bytes"
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_problem(send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_problem(send, 413, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and _is_json(headers.get("content-type")):
            try:
                strict_json(body)
            except BadJson as error:
                await _send_problem(send, 400, f"the request body is not valid JSON: {error}")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the disconnect, as the server would
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class SecurityHeaders:
    """CSP (with ``frame-ancestors``), nosniff and no referrer on every response; the console is never framed."""

    def __init__(self, app: ASGIApp, frame_ancestors: Iterable[str], unframed_paths: Iterable[str]) -> None:
        self.app = app
        self.unframed_paths = frozenset(unframed_paths)
        base = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors "
        )
        self._framed = self._headers(base + " ".join(["'self'", *frame_ancestors]))
        self._unframed = self._headers(base + "'none'")

    @staticmethod
    def _headers(policy: str) -> list[tuple[bytes, bytes]]:
        return [
            (b"content-security-policy", policy.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self._unframed if scope["path"] in self.unframed_paths else self._framed

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        await self.app(scope, receive, with_headers)


class RateLimited(ConnectorError):
    """A client went past one of its limits; ``retry_after`` is in whole seconds."""

    def __init__(self, what: str, limit: limits.RateLimitItem, retry_after: int) -> None:
        super().__init__(f"too many {what}: the limit is {limit}; retry in {retry_after} s")
        self.retry_after = retry_after


class Throttle:
    """Moving-window limits kept in this process (several workers each keep their own)."""

    def __init__(
        self, *, per_ip: str, per_session: str, new_sessions_per_ip: str, handoffs_per_ip: str, enabled: bool = True
    ) -> None:
        self.enabled = enabled
        self.per_ip = limits.parse(per_ip)
        self.per_session = limits.parse(per_session)
        self.new_sessions_per_ip = limits.parse(new_sessions_per_ip)
        self.handoffs_per_ip = limits.parse(handoffs_per_ip)
        self._limiter = limits.strategies.MovingWindowRateLimiter(limits.storage.MemoryStorage())

    @classmethod
    def from_settings(cls, settings: Settings) -> Throttle:
        return cls(
            per_ip=settings.rate_limit_per_ip,
            per_session=settings.rate_limit_per_session,
            new_sessions_per_ip=settings.new_sessions_per_ip,
            handoffs_per_ip=settings.handoffs_per_ip,
            enabled=settings.rate_limiting,
        )

    def hit(self, what: str, limit: limits.RateLimitItem, key: str) -> None:
        """Count one against ``key``; :class:`RateLimited` when it is already at ``limit``."""
        if self.enabled and not self._limiter.hit(limit, what, key):
            self._refuse(what, limit, key)

    def count(self, what: str, limit: limits.RateLimitItem, key: str) -> None:
        """Count one against ``key`` for what already happened (no refusal: it cannot be undone)."""
        if self.enabled:
            self._limiter.hit(limit, what, key)

    def check(self, what: str, limit: limits.RateLimitItem, key: str) -> None:
        """:class:`RateLimited` when ``key`` is at ``limit``, counting nothing."""
        if self.enabled and not self._limiter.test(limit, what, key):
            self._refuse(what, limit, key)

    def _refuse(self, what: str, limit: limits.RateLimitItem, key: str) -> None:
        reset_at = self._limiter.get_window_stats(limit, what, key).reset_time
        raise RateLimited(what, limit, max(1, math.ceil(reset_at - time.time())))
