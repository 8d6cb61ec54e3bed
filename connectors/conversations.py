"""Conversation scripts through a front door: the same YAML, checked against what that channel delivers.

``core`` calls the assistant directly; ``web`` drives the JSON API of a real uvicorn server on
loopback; ``slack`` sends signed events to the Bolt app on that server and reads the turns back from
what it posted to a loopback Slack Web API (the turn travels as Slack message metadata).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, get_args

import httpx
from pydantic import SecretStr

from assistant import Assistant, InvalidMessageError, Turn
from assistant.scripts import Reply, Script, ScriptResult, run_script
from connectors.service import ShopService
from connectors.slack import LoopbackSlackApi, SeenEvents, SignedSlackClient, create_slack_app
from connectors.slack.blocks import TURN_EVENT_TYPE
from connectors.web import BackgroundServer, create_app
from recommender import EventStore
from retrieval import Settings, Store

Channel = Literal["core", "web", "slack"]
CHANNELS: tuple[str, ...] = get_args(Channel)
_LOOPBACK_SECRET = "loopback-signing-secret"


def scripted_service(store: Store) -> ShopService:
    """An assistant over ``store`` whose impressions go to a throwaway log: test runs must not become training data."""
    events = EventStore.ephemeral()
    return ShopService(Assistant(store, events=events), events)


@contextmanager
def channel_reply(service: ShopService, channel: Channel, settings: Settings | None = None) -> Iterator[Reply]:
    """``reply(session, text) -> Turn`` through ``channel``; servers run while the context is open."""
    if channel == "core":
        yield service.message
        return
    settings = settings or Settings()
    if channel == "web":
        with (
            BackgroundServer(create_app(service, secrets.token_urlsafe(16))) as server,
            httpx.Client(base_url=server.url, timeout=60.0) as http,
        ):
            yield _web_reply(http)
        return
    with LoopbackSlackApi() as api:
        slack_settings = settings.model_copy(
            update={
                "slack_signing_secret": SecretStr(_LOOPBACK_SECRET),
                "slack_api_url": api.url,
                "slack_bot_token": SecretStr("xoxb-loopback"),
            }
        )
        slack = create_slack_app(service, slack_settings, seen=SeenEvents.ephemeral())
        with BackgroundServer(create_app(service, secrets.token_urlsafe(16), slack=slack)) as server:
            sender = SignedSlackClient(f"{server.url}/slack/events", _LOOPBACK_SECRET)
            try:
                yield _slack_reply(sender, api)
            finally:
                sender.close()


def _web_reply(http: httpx.Client) -> Reply:
    public_ids: dict[str, str] = {}

    def reply(session: str, text: str) -> Turn:
        if session not in public_ids:
            public_ids[session] = http.post("/api/sessions").raise_for_status().json()["session_id"]
        response = http.post(f"/api/sessions/{public_ids[session]}/messages", json={"text": text})
        if response.status_code != 200:
            raise InvalidMessageError(f"web API answered {response.status_code}: {response.text}")
        return Turn.model_validate(response.json())

    return reply


def _slack_reply(sender: SignedSlackClient, api: LoopbackSlackApi) -> Reply:
    def reply(session: str, text: str) -> Turn:
        channel = "D" + hashlib.sha1(session.encode()).hexdigest()[:10].upper()
        before = len(api.posts(channel))
        response = sender.direct_message(channel, text)
        if response.status_code != 200:
            raise InvalidMessageError(f"Slack endpoint answered {response.status_code}: {response.text}")
        api.wait_for(lambda: len(api.posts(channel)) > before)
        posted = api.posts(channel)[before]
        metadata = posted.get("metadata") or {}
        if metadata.get("event_type") != TURN_EVENT_TYPE:
            raise InvalidMessageError(f"the Slack app posted no turn: {posted.get('text')!r}")
        return Turn.model_validate(metadata["event_payload"])

    return reply


def run_conversations(
    store: Store, scripts: Sequence[Script], channel: Channel = "core", settings: Settings | None = None
) -> list[ScriptResult]:
    with channel_reply(scripted_service(store), channel, settings) as reply:
        return [run_script(script, reply, store.products.get) for script in scripts]
