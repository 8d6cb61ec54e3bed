"""The Slack front door: DMs, mentions (one conversation per thread), ``/shop``, card buttons, the home tab.

Every listener acknowledges at once and does the assistant's work in a lazy listener, so Slack gets
its answer well inside 3 seconds; nothing calls Slack before the ack (the bot token is authorised as
configured, without ``auth.test``), so a slow or unreachable Slack API cannot fail it. Retries
(``X-Slack-Retry-Num``) and repeated event ids are dropped before any listener runs; messages from bots,
this one included, are ignored. Whatever goes wrong while answering, the customer gets a reply saying so.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from assistant import AssistantError, Turn
from connectors.errors import ConnectorError
from connectors.service import ShopService
from connectors.slack.blocks import CARD_ACTIONS, QUICK_REPLY, escape, home_view, turn_message
from connectors.slack.dedupe import SeenEvents
from recommender import EventError
from retrieval import Settings

logger = logging.getLogger(__name__)
_TS = re.compile(r"^\d+\.\d+$")
_CARD_ACTION_LOGGED = {
    "product_details": "click",
    "more_like_this": "click",
    "thumbs_up": "thumbs_up",
    "thumbs_down": "thumbs_down",
}


def session_for(team: str, channel: str, thread_ts: str | None = None) -> str:
    """DMs are one conversation per DM channel; channel mentions are one conversation per thread."""
    return f"slack:{team}:{channel}" + (f":{thread_ts}" if thread_ts else "")


def address_of(session_id: str) -> tuple[str, str | None]:
    """(channel, thread ts) a session's replies go to; a ``/shop`` session (keyed by user) posts in the channel."""
    parts = session_id.split(":")
    thread = parts[3] if len(parts) > 3 and _TS.match(parts[3]) else None
    return parts[2], thread


def create_slack_app(
    service: ShopService, settings: Settings, *, seen: SeenEvents | None = None, client: WebClient | None = None
) -> App:
    """A Bolt app over ``service``; makes no Slack call until the first request arrives."""
    if settings.slack_bot_token is None and client is None:
        raise ConnectorError("the Slack app needs SLACK_BOT_TOKEN (xoxb-…) to answer; it is not set")
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    client = client or WebClient(token=token, base_url=settings.slack_api_url)
    seen = seen or SeenEvents.persistent(settings.data_dir)

    def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
        # One workspace, one bot token: Bolt's default would call auth.test first, before the ack.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=client.token)

    app = App(
        # Bolt's per-request clients copy this one's base URL and get the token from ``authorize``.
        client=WebClient(base_url=client.base_url, timeout=client.timeout),
        authorize=authorize,
        signing_secret=secret,
        request_verification_enabled=bool(secret),
    )

    def post(session_id: str, turn: Turn) -> None:
        if turn.held:
            return  # a person has this conversation; the bot stays quiet
        channel, thread = address_of(session_id)
        client.chat_postMessage(channel=channel, thread_ts=thread, **turn_message(session_id, turn))

    def answer(session_id: str, text: str) -> None:
        try:
            turn = service.message(session_id, text)
        except AssistantError as error:
            deliver(session_id, escape(f"Sorry, I couldn't read that: {error}"))
            return
        except Exception:
            logger.exception("a Slack reply failed")
            deliver(session_id, "Sorry, something went wrong on my side. Please try again.")
            return
        post(session_id, turn)

    def deliver(session_id: str, mrkdwn: str) -> None:
        channel, thread = address_of(session_id)
        client.chat_postMessage(channel=channel, thread_ts=thread, text=mrkdwn)

    def deliver_agent_text(session_id: str, text: str) -> None:
        deliver(session_id, escape(text))

    service.deliver_with("slack", deliver_agent_text)

    @app.middleware
    def drop_redeliveries(request: BoltRequest, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        # The first delivery was acknowledged and is being answered; a retry must not answer again.
        if request.headers.get("x-slack-retry-num"):
            return BoltResponse(status=200, body="")
        event_id = request.body.get("event_id") if isinstance(request.body, dict) else None
        if event_id and not seen.first_time(event_id):
            return BoltResponse(status=200, body="")
        return next()

    def acknowledge(ack: Ack) -> None:
        ack()

    def on_message(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return
        team, text = body.get("team_id", ""), event.get("text", "")
        if event.get("channel_type") == "im":
            answer(session_for(team, event["channel"]), text)
            return
        # A reply in a thread the assistant is part of continues it without a mention (a mention is
        # answered by on_mention).
        thread = event.get("thread_ts")
        session_id = session_for(team, event["channel"], thread) if thread else None
        if session_id and "<@" not in text and service.assistant.conversations.exists(session_id):
            answer(session_id, text)

    def on_mention(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("bot_id"):
            return
        text = " ".join(word for word in event.get("text", "").split() if not word.startswith("<@"))
        thread = event.get("thread_ts") or event["ts"]
        answer(session_for(body.get("team_id", ""), event["channel"], thread), text)

    def on_shop_command(command: dict[str, Any]) -> None:
        text = command.get("text", "").strip()
        session_id = session_for(command.get("team_id", ""), command["channel_id"], command["user_id"])
        if not text:
            deliver(session_id, "Tell me what you need, e.g. `/shop 4k tv under $600`.")
            return
        answer(session_id, text)

    def on_card_action(body: dict[str, Any], action: dict[str, Any]) -> None:
        value = json.loads(action["value"])
        session_id, impression_id = value["s"], value.get("i")
        if impression_id:
            try:
                service.action(session_id, impression_id, _CARD_ACTION_LOGGED[action["action_id"]])
            except EventError:
                logger.warning("could not log a Slack card action", exc_info=True)
        if action["action_id"] == "product_details":
            products = service.assistant.store.products.get([value["p"]])
            product = products.get(value["p"])
            if product is not None:
                deliver(session_id, f"*{escape(product.title)}*\n{escape(product.description or 'No description.')}")
        elif action["action_id"] == "more_like_this":
            answer(session_id, f"show me more like {value['t']}")

    def on_quick_reply(action: dict[str, Any]) -> None:
        value = json.loads(action["value"])
        answer(value["s"], value["t"])

    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        categories = list(service.assistant.lexicon().categories)
        client.views_publish(user_id=event["user"], view=home_view(categories))

    app.event("message")(ack=acknowledge, lazy=[on_message])
    app.event("app_mention")(ack=acknowledge, lazy=[on_mention])
    app.command("/shop")(ack=acknowledge, lazy=[on_shop_command])
    for action_id in CARD_ACTIONS:
        app.action(action_id)(ack=acknowledge, lazy=[on_card_action])
    app.action(re.compile(f"^{QUICK_REPLY}_\\d+$"))(ack=acknowledge, lazy=[on_quick_reply])
    app.event("app_home_opened")(ack=acknowledge, lazy=[on_home_opened])
    return app
