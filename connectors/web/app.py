"""The HTTP front door: JSON API, the embeddable widget, the demo store page, the agent console, Slack events.

Customer endpoints address a session by an unguessable public id and only ever see that session; the
agent endpoints need the bearer token. Assistant calls are synchronous and run in the thread pool.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from slack_bolt import App as SlackApp
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

from assistant import MAX_MESSAGE_CHARS, AssistantError, InvalidMessageError, Turn
from connectors.copilot import CopilotSuggestion
from connectors.errors import UnknownSessionError
from connectors.service import Message, QueueEntry, ShopService
from recommender import ACTIONS, EventError

_STATIC = resources.files("connectors.web") / "static"
_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
PublicId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{16,64}$", description="From POST /api/sessions.")]


class NewSession(BaseModel):
    session_id: str


class CustomerMessage(BaseModel):
    text: str = Field(max_length=MAX_MESSAGE_CHARS)


class CustomerAction(BaseModel):
    impression_id: str
    action: str = Field(description="One of: " + ", ".join(ACTIONS))


class Transcript(BaseModel):
    messages: list[Message]
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
    messages: list[Message]
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


def _page(name: str) -> HTMLResponse:
    return HTMLResponse((_STATIC / name).read_text(encoding="utf-8"))


def create_app(
    service: ShopService, agent_token: str, *, allowed_origins: list[str] | None = None, slack: SlackApp | None = None
) -> FastAPI:
    """The ASGI app. ``slack``: a Bolt app served in HTTP mode at ``/slack/events``."""
    ready, stopping = threading.Event(), threading.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        def warm() -> None:
            service.warm_up()
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
    )
    if allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=allowed_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type"],
        )
    app.state.agent_token = agent_token

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

    @app.get("/widget.js", include_in_schema=False)
    @app.get("/widget.css", include_in_schema=False)
    @app.get("/agent.js", include_in_schema=False)
    def asset(request: Request) -> Response:
        name = request.url.path.lstrip("/")
        return Response((_STATIC / name).read_bytes(), media_type=_CONTENT_TYPES[name[name.rindex(".") :]])

    @app.get("/healthz", tags=["operations"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readiness(response: Response) -> dict[str, bool]:
        if not ready.is_set():
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"ready": ready.is_set()}

    # --- customers -------------------------------------------------------------------------------

    @app.post("/api/sessions", status_code=status.HTTP_201_CREATED, tags=["customer"])
    def create_session() -> NewSession:
        return NewSession(session_id=secrets.token_urlsafe(18))

    @app.post("/api/sessions/{public_id}/messages", tags=["customer"])
    def send_message(public_id: PublicId, body: CustomerMessage) -> Turn:
        return service.message(_web_session(public_id), body.text)

    @app.post(
        "/api/sessions/{public_id}/stream",
        tags=["customer"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "typing, delta…, turn (or error)"}},
    )
    async def stream_message(public_id: PublicId, body: CustomerMessage) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            yield _event("typing", {})
            try:
                turn = await run_in_threadpool(service.message, _web_session(public_id), body.text)
            except AssistantError as error:
                yield _event("error", {"detail": str(error)})
                return
            for chunk in _chunks(turn.text):
                yield _event("delta", {"text": chunk})
            yield _event("turn", turn.model_dump(mode="json"))

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.get("/api/sessions/{public_id}/messages", tags=["customer"])
    def read_messages(public_id: PublicId, after: Annotated[int, Query(ge=0)] = 0) -> Transcript:
        session_id = _web_session(public_id)
        return Transcript(messages=service.transcript(session_id)[after:], handoff=service.handed_over(session_id))

    @app.post("/api/sessions/{public_id}/actions", status_code=status.HTTP_204_NO_CONTENT, tags=["customer"])
    def record_action(public_id: PublicId, body: CustomerAction) -> None:
        service.action(_web_session(public_id), body.impression_id, body.action)

    @app.delete("/api/sessions/{public_id}/constraints/{slot}", tags=["customer"])
    def remove_constraint(public_id: PublicId, slot: str, value: str | None = None) -> Turn:
        return service.drop_constraint(_web_session(public_id), slot, value)

    # --- agents ----------------------------------------------------------------------------------

    @app.get("/api/agent/queue", tags=["agent"])
    def queue(_: Agent) -> list[QueueEntry]:
        return service.queue()

    @app.get("/api/agent/sessions/{session_id}", tags=["agent"])
    def agent_session(
        session_id: str,
        _: Agent,
        suggest: Annotated[
            bool, Query(description="Also compute the copilot's suggestion (a full dialogue turn).")
        ] = True,
    ) -> AgentSession:
        messages = service.transcript(session_id)
        if not messages:
            raise UnknownSessionError(f"unknown session {session_id!r}")
        customer_spoke = any(message.role == "customer" for message in messages)
        return AgentSession(
            session_id=session_id,
            messages=messages,
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
            bolt_request = to_bolt_request(request, await request.body())
            return to_starlette_response(await run_in_threadpool(slack.dispatch, bolt_request))

    return app


def _problem(code: int, detail: str) -> Response:
    return Response(json.dumps({"detail": detail}), status_code=code, media_type="application/json")


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def _chunks(text: str) -> Iterator[str]:
    """Word-sized pieces, so a widget can render the reply as it arrives."""
    yield from re.findall(r"\S+\s*|\s+", text)
