"""The HTTP front door: JSON API, the embeddable widget, the demo store page, the agent console, Slack events.

Customer endpoints address a session by an unguessable public id and only ever see that session; the
agent endpoints need the bearer token. Assistant calls are synchronous and run in the thread pool.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from slack_bolt import App as SlackApp
from slack_bolt.adapter.starlette.handler import to_starlette_response
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant import MAX_MESSAGE_CHARS, AssistantError, InvalidMessageError, Turn
from connectors.copilot import CopilotSuggestion
from connectors.errors import UnknownSessionError
from connectors.service import Message, QueuePage, ShopService
from connectors.slack import MalformedSlackRequest, slack_request
from connectors.web.guards import (
    BodyGuard,
    FieldProblem,
    Problem,
    RateLimited,
    SecurityHeaders,
    Throttle,
    clipped,
    problem_body,
)
from recommender import ACTIONS, EventError
from retrieval import RetrievalError, Settings

logger = logging.getLogger(__name__)
_RETRY_STORAGE_AFTER_S = 5
_STATIC = resources.files("connectors.web") / "static"
_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_ASSETS = ("widget.js", "widget.css", "agent.js", "agent.css", "store.css")
PublicId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{16,64}$", description="From POST /api/sessions.")]
_PAGE_SIZE = 100
_MAX_PAGE_SIZE = 500
# What each limit counts, as its 429 message names it.
_REQUESTS = "requests from this address"
_MESSAGES = "messages in this conversation"
_NEW_SESSIONS = "new conversations from this address"
_HANDOFFS = "handoffs to a person from this address"
After = Annotated[int, Query(ge=0, description="Skip the first N messages (those already on screen).")]
Limit = Annotated[int, Query(ge=1, le=_MAX_PAGE_SIZE, description="At most this many messages.")]
# Documented for every operation: FastAPI's own 422 schema is replaced, as every error has the Problem shape.
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": description}
    for code, description in {
        400: "Malformed request: a body that is not JSON any encoder writes (NaN, unpaired surrogates)",
        401: "Agent token missing or wrong (agent endpoints)",
        404: "Unknown session",
        413: "Request body over SHOPASSIST_MAX_REQUEST_BYTES",
        422: "A field is missing or invalid",
        429: "Rate limit reached; see the Retry-After header",
        503: "The vector store or a database is unavailable for a moment (see /readyz); retry after Retry-After",
    }.items()
}


class Readiness(BaseModel):
    ready: bool
    problems: list[str] = Field(default_factory=list, description="What fails now; empty when ready.")


class NewSession(BaseModel):
    session_id: str


class CustomerMessage(BaseModel):
    text: str = Field(max_length=MAX_MESSAGE_CHARS)


class CustomerAction(BaseModel):
    impression_id: str
    action: str = Field(description="One of: " + ", ".join(ACTIONS))


class Transcript(BaseModel):
    messages: list[Message] = Field(description="The page: messages after `after`, at most `limit`.")
    total: int = Field(description="Messages in the whole conversation; ask again with a larger `after` for more.")
    handoff: bool = Field(description="A person has this conversation; the bot is not replying.")


class AgentMessage(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    suggestion_id: str | None = Field(None, description="The copilot suggestion this text came from, if any.")


class SuggestRequest(BaseModel):
    text: str | None = Field(None, max_length=MAX_MESSAGE_CHARS, description="Pasted customer text.")
    session_id: str | None = Field(None, description="Read the text in this session's context.")


class Feedback(BaseModel):
    suggestion_id: str
    accepted: bool


class AgentSession(BaseModel):
    session_id: str
    messages: list[Message] = Field(description="The page: messages after `after`, at most `limit`.")
    total: int = Field(description="Messages in the whole conversation.")
    handoff: bool
    suggestion: CopilotSuggestion | None


_bearer = HTTPBearer(auto_error=False, description="SHOPASSIST_AGENT_TOKEN")


def _agent(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    expected: str = request.app.state.agent_token
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "agent token required", headers={"WWW-Authenticate": "Bearer"}
        )
    return "agent"


# Staff only: every agent endpoint takes this parameter, so none can forget the token check.
Agent = Annotated[str, Depends(_agent)]


def _web_session(public_id: str) -> str:
    return f"web:{public_id}"


def _client_ip(request: Request) -> str:
    # Behind a proxy, uvicorn's --forwarded-allow-ips makes this the customer's address, not the proxy's.
    return request.client.host if request.client else "unknown"


def _issued(request: Request, public_id: PublicId) -> str:
    """The core's session id of a session this server issued; 404 for any other id."""
    service: ShopService = request.app.state.service
    if not service.web_sessions.issued(public_id):
        raise UnknownSessionError(f"unknown session {public_id!r}: start one with POST /api/sessions")
    return _web_session(public_id)


def _writable(request: Request, session_id: Annotated[str, Depends(_issued)]) -> str:
    """An issued session that may write now: per-address and per-session limits, and the address's handoffs."""
    service: ShopService = request.app.state.service
    throttle: Throttle = request.app.state.throttle
    address = _client_ip(request)
    throttle.hit(_REQUESTS, throttle.per_ip, address)
    throttle.hit(_MESSAGES, throttle.per_session, session_id)
    if not service.handed_over(session_id):
        throttle.check(_HANDOFFS, throttle.handoffs_per_ip, address)
    return session_id


# Every customer endpoint names its session through one of these, so none can skip the checks.
Session = Annotated[str, Depends(_issued)]
WritingSession = Annotated[str, Depends(_writable)]


def _page(name: str) -> HTMLResponse:
    return HTMLResponse((_STATIC / name).read_text(encoding="utf-8"))


def _problem(
    code: int, detail: str, errors: list[FieldProblem] | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(problem_body(detail, errors or []), code, headers=headers, media_type="application/json")


def _field_problems(error: RequestValidationError) -> list[FieldProblem]:
    return [
        FieldProblem(
            loc=[str(part) if not isinstance(part, int) else part for part in problem.get("loc", ())],
            msg=str(problem.get("msg", "")),
            type=str(problem.get("type", "")),
            input=clipped(problem.get("input")),
        )
        for problem in error.errors()
    ]


def create_app(
    service: ShopService, agent_token: str, settings: Settings | None = None, *, slack: SlackApp | None = None
) -> FastAPI:
    """The ASGI app, configured by ``settings`` (origins, framing, body size, rate limits).

    ``slack``: a Bolt app served in HTTP mode at ``/slack/events``.
    """
    settings = settings or Settings()
    throttle = Throttle.from_settings(settings)
    ready, stopping = threading.Event(), threading.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        def warm() -> None:
            try:
                service.warm_up()
            except Exception:  # the server still serves; /readyz reports what fails, live
                logger.exception("warm-up failed")
            ready.set()
            # Serving already works: product vectors not ready yet are encoded on their first turn.
            service.prepare_ranker(stopping.is_set)

        # Joined on shutdown: a thread killed inside ONNX Runtime or PyTorch aborts the whole process.
        warming = threading.Thread(target=warm, name="warm-up")
        warming.start()
        yield
        stopping.set()
        await run_in_threadpool(warming.join)

    app = FastAPI(
        title="shopassist",
        summary="Conversational shopping assistant: customer chat API, agent copilot API, Slack events.",
        lifespan=lifespan,
        # Swagger UI and ReDoc load their scripts from a CDN; offline, only the schema itself works.
        docs_url=None,
        redoc_url=None,
        responses=_ERRORS,
    )
    # Added innermost first: the security headers also go on what the body guard and CORS answer themselves.
    app.add_middleware(BodyGuard, max_bytes=settings.max_request_bytes)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type"],
            expose_headers=["Retry-After"],
        )
    app.add_middleware(SecurityHeaders, frame_ancestors=settings.frame_ancestors, unframed_paths=["/agent"])
    app.state.agent_token = agent_token
    app.state.service = service
    app.state.throttle = throttle

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> Response:
        problems = _field_problems(error)
        first = problems[0] if problems else None
        detail = f"{'.'.join(map(str, first.loc))}: {first.msg}" if first else "invalid request"
        return _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, detail, problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> Response:
        return _problem(error.status_code, str(error.detail), headers=error.headers)

    @app.exception_handler(RateLimited)
    async def rate_limited(_: Request, error: RateLimited) -> Response:
        return _problem(status.HTTP_429_TOO_MANY_REQUESTS, str(error), headers={"Retry-After": str(error.retry_after)})

    @app.exception_handler(Exception)
    async def server_error(_: Request, error: Exception) -> Response:
        # Logged by the server with its traceback; the client learns nothing about the internals.
        return _problem(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error")

    @app.exception_handler(RetrievalError)
    @app.exception_handler(sqlite3.OperationalError)
    async def storage_unavailable(_: Request, error: Exception) -> Response:
        # The vector store or a database cannot be reached or written (a stopped Chroma server, a full disk):
        # a client may retry; /readyz says what fails.
        logger.error("storage unavailable: %s", error)
        return _problem(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the store is unavailable for a moment; try again shortly",
            headers={"Retry-After": str(_RETRY_STORAGE_AFTER_S)},
        )

    @app.exception_handler(InvalidMessageError)
    async def invalid_message(_: Request, error: InvalidMessageError) -> Response:
        return _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error))

    @app.exception_handler(UnknownSessionError)
    async def unknown_session(_: Request, error: UnknownSessionError) -> Response:
        return _problem(status.HTTP_404_NOT_FOUND, str(error))

    @app.exception_handler(EventError)
    async def bad_event(_: Request, error: EventError) -> Response:
        return _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error))

    # --- pages -----------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def store_page() -> HTMLResponse:
        return _page("store.html")

    @app.get("/agent", include_in_schema=False)
    def agent_page() -> HTMLResponse:
        return _page("agent.html")

    def asset(request: Request) -> Response:
        name = request.url.path.lstrip("/")
        return Response((_STATIC / name).read_bytes(), media_type=_CONTENT_TYPES[name[name.rindex(".") :]])

    for name in _ASSETS:
        app.get(f"/{name}", include_in_schema=False)(asset)

    @app.get("/healthz", tags=["operations"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readiness(response: Response) -> Readiness:
        """A real product search and a write to the data dir, each time; 503 with the problems while either fails."""
        problems = service.readiness_problems() if ready.is_set() else ["warming up"]
        if problems:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Readiness(ready=not problems, problems=problems)

    # --- customers -------------------------------------------------------------------------------

    def answered(request: Request, reply: Turn) -> Turn:
        if reply.handoff and not reply.held:  # a new handoff: it uses up some of the address's allowance
            throttle.count(_HANDOFFS, throttle.handoffs_per_ip, _client_ip(request))
        return reply

    @app.post("/api/sessions", status_code=status.HTTP_201_CREATED, tags=["customer"])
    def create_session(request: Request) -> NewSession:
        address = _client_ip(request)
        throttle.hit(_REQUESTS, throttle.per_ip, address)
        throttle.hit(_NEW_SESSIONS, throttle.new_sessions_per_ip, address)
        return NewSession(session_id=service.web_sessions.issue())

    @app.post("/api/sessions/{public_id}/messages", tags=["customer"])
    def send_message(request: Request, session_id: WritingSession, body: CustomerMessage) -> Turn:
        return answered(request, service.message(session_id, body.text))

    @app.post(
        "/api/sessions/{public_id}/stream",
        tags=["customer"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "typing, delta…, turn (or error)"}},
    )
    async def stream_message(request: Request, session_id: WritingSession, body: CustomerMessage) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            yield _event("typing", {})
            try:
                turn = await run_in_threadpool(service.message, session_id, body.text)
                answered(request, turn)
            except AssistantError as error:
                yield _event("error", {"detail": str(error)})
                return
            except Exception:
                # The 200 and the typing event are already sent: the stream itself must say it failed.
                logger.exception("a streamed reply failed")
                yield _event("error", {"detail": "the assistant could not answer this message; please try again"})
                return
            for chunk in _chunks(turn.text):
                yield _event("delta", {"text": chunk})
            yield _event("turn", turn.model_dump(mode="json"))

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.get("/api/sessions/{public_id}/messages", tags=["customer"])
    def read_messages(session_id: Session, after: After = 0, limit: Limit = _PAGE_SIZE) -> Transcript:
        messages = service.transcript(session_id)
        return Transcript(
            messages=messages[after : after + limit], total=len(messages), handoff=service.handed_over(session_id)
        )

    @app.post("/api/sessions/{public_id}/actions", status_code=status.HTTP_204_NO_CONTENT, tags=["customer"])
    def record_action(session_id: WritingSession, body: CustomerAction) -> None:
        service.action(session_id, body.impression_id, body.action)

    @app.delete("/api/sessions/{public_id}/constraints/{slot}", tags=["customer"])
    def remove_constraint(session_id: WritingSession, slot: str, value: str | None = None) -> Turn:
        return service.drop_constraint(session_id, slot, value)

    # --- agents ----------------------------------------------------------------------------------

    @app.get("/api/agent/queue", tags=["agent"])
    def queue(
        _: Agent,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=_MAX_PAGE_SIZE)] = 50,
    ) -> QueuePage:
        return service.queue(offset, limit)

    @app.get("/api/agent/sessions/{session_id}", tags=["agent"])
    def agent_session(
        session_id: str,
        _: Agent,
        suggest: Annotated[
            bool, Query(description="Also compute the copilot's suggestion (a full dialogue turn).")
        ] = True,
        after: After = 0,
        limit: Limit = _PAGE_SIZE,
    ) -> AgentSession:
        messages = service.transcript(session_id)
        if not messages:
            raise UnknownSessionError(f"unknown session {session_id!r}")
        customer_spoke = any(message.role == "customer" for message in messages)
        return AgentSession(
            session_id=session_id,
            messages=messages[after : after + limit],
            total=len(messages),
            handoff=service.handed_over(session_id),
            suggestion=service.suggest(session_id) if suggest and customer_spoke else None,
        )

    @app.post("/api/agent/suggest", tags=["agent"])
    def suggest(body: SuggestRequest, _: Agent) -> CopilotSuggestion:
        if body.text is None and body.session_id is None:
            raise InvalidMessageError("give text, session_id, or both")
        return service.suggest(body.session_id, body.text)

    @app.post("/api/agent/sessions/{session_id}/messages", status_code=status.HTTP_204_NO_CONTENT, tags=["agent"])
    def agent_send(session_id: str, body: AgentMessage, name: Agent) -> None:
        service.send_as_agent(session_id, body.text, name, body.suggestion_id)

    @app.post("/api/agent/sessions/{session_id}/feedback", status_code=status.HTTP_204_NO_CONTENT, tags=["agent"])
    def agent_feedback(session_id: str, body: Feedback, _: Agent) -> None:
        service.feedback(session_id, body.suggestion_id, body.accepted)

    @app.post("/api/agent/sessions/{session_id}/close", status_code=status.HTTP_204_NO_CONTENT, tags=["agent"])
    def agent_close(session_id: str, _: Agent) -> None:
        service.close(session_id)

    if slack is not None:

        @app.post("/slack/events", include_in_schema=False)
        async def slack_events(request: Request) -> Response:
            try:
                bolt_request = slack_request(await request.body(), request.headers, request.url.query)
            except MalformedSlackRequest as error:
                return _problem(error.status, str(error))
            return to_starlette_response(await run_in_threadpool(slack.dispatch, bolt_request))

    return app


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def _chunks(text: str) -> Iterator[str]:
    """Word-sized pieces, so a widget can render the reply as it arrives."""
    yield from re.findall(r"\S+\s*|\s+", text)
