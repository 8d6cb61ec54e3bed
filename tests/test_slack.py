"""The Slack app: real Bolt app on the real web server, signed requests in, a loopback Slack Web API out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.service import ShopService
from connectors.slack import LoopbackSlackApi, SeenEvents, SignedSlackClient, create_slack_app
from connectors.slack.blocks import TURN_EVENT_TYPE
from connectors.web import BackgroundServer, create_app
from retrieval import Settings
from tests.conftest import AGENT_TOKEN

SECRET = "test-signing-secret"


@dataclass
class SlackRig:
    api: LoopbackSlackApi
    slack: SignedSlackClient
    service: ShopService

    def reply_in(self, channel: str, count: int = 1) -> list[dict[str, Any]]:
        """Wait until ``count`` messages were posted to ``channel``, then return them."""
        self.api.wait_for(lambda: len(self.api.posts(channel)) >= count)
        return self.api.posts(channel)

    def settle(self, channel: str, expected: int) -> None:
        """A message that must not be answered: send one that must, and check it is the only reply."""
        self.slack.direct_message(channel, "thanks")
        self.reply_in(channel, expected)
        time.sleep(0.3)  # a wrong second reply would be posted by now
        assert len(self.api.posts(channel)) == expected


@pytest.fixture
def rig(service: ShopService, tmp_path: Any) -> Iterator[SlackRig]:
    with LoopbackSlackApi() as api:
        settings = Settings(
            data_dir=tmp_path,
            slack_signing_secret=SecretStr(SECRET),
            slack_bot_token=SecretStr("xoxb-test"),
            slack_api_url=api.url,
        )
        slack_app = create_slack_app(service, settings, seen=SeenEvents.ephemeral())
        assert api.calls == []  # nothing talks to Slack before a request arrives
        with BackgroundServer(create_app(service, AGENT_TOKEN, slack=slack_app)) as server:
            client = SignedSlackClient(f"{server.url}/slack/events", SECRET)
            yield SlackRig(api, client, service)
            client.close()


def _turn(post: dict[str, Any]) -> dict[str, Any]:
    assert post["metadata"]["event_type"] == TURN_EVENT_TYPE
    return dict(post["metadata"]["event_payload"])


def test_direct_message_search_posts_block_kit_cards(rig: SlackRig) -> None:
    response = rig.slack.direct_message("D1", "noise cancelling headphones")
    assert response.status_code == 200
    (post,) = rig.reply_in("D1")
    turn = _turn(post)
    assert turn["intent"] == "product_search" and turn["products"]
    buttons = [e for block in post["blocks"] if block["type"] == "actions" for e in block["elements"]]
    assert {b["action_id"] for b in buttons} >= {"product_details", "more_like_this", "thumbs_up", "thumbs_down"}
    titles = " ".join(b["text"]["text"] for b in post["blocks"] if b["type"] == "section")
    assert turn["products"][0]["title"] in titles


def test_mention_replies_in_thread_and_the_thread_is_one_conversation(rig: SlackRig) -> None:
    mention = {"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@UBOTSHOP> a 4k tv", "ts": "100.1"}
    rig.slack.event(mention)
    (first,) = rig.reply_in("C1")
    assert first["thread_ts"] == "100.1" and _turn(first)["products"]
    follow_up = {
        "type": "message",
        "channel_type": "channel",
        "channel": "C1",
        "user": "U1",
        "text": "cheaper",
        "ts": "100.5",
        "thread_ts": "100.1",
    }
    rig.slack.event(follow_up)
    second = rig.reply_in("C1", 2)[1]
    assert second["thread_ts"] == "100.1"
    assert _turn(second)["intent"] == "refine"
    assert max(p["price"] for p in _turn(second)["products"]) < min(p["price"] for p in _turn(first)["products"])


def test_button_click_is_logged_against_the_impression(rig: SlackRig) -> None:
    rig.slack.direct_message("D2", "a laptop")
    (post,) = rig.reply_in("D2")
    button = next(
        e
        for b in post["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "product_details"
    )
    payload = {
        "type": "block_actions",
        "team": {"id": "TSHOP"},
        "user": {"id": "UCUSTOMER"},
        "channel": {"id": "D2"},
        "trigger_id": "1.2.3",
        "actions": [{**button, "block_id": "card-1", "type": "button", "action_ts": "1"}],
    }
    assert rig.slack.interaction(payload).status_code == 200
    details = rig.reply_in("D2", 2)[1]
    impression = json.loads(button["value"])["i"]
    assert details["text"].startswith(f"*{_turn(post)['products'][0]['title']}*")
    (row,) = [row for row in rig.service.events.rows() if row["impression_id"] == impression]
    assert row["click"] == 1 and row["channel"] == "slack"


def test_retries_and_duplicate_event_ids_get_no_second_reply(rig: SlackRig) -> None:
    first = rig.slack.direct_message("D3", "a tablet", event_id="Ev1")
    assert first.status_code == 200
    rig.reply_in("D3")
    assert rig.slack.direct_message("D3", "a tablet", event_id="Ev1", retry=1).status_code == 200
    assert rig.slack.direct_message("D3", "a tablet", event_id="Ev1").status_code == 200
    rig.settle("D3", expected=2)


def test_badly_signed_requests_are_refused(rig: SlackRig) -> None:
    forged = rig.slack.direct_message("D4", "a camera", secret="not-the-secret")
    assert forged.status_code == 401
    rig.settle("D4", expected=1)


def test_bot_messages_are_ignored(rig: SlackRig) -> None:
    bot = {"type": "message", "channel_type": "im", "channel": "D5", "bot_id": "B9", "text": "a tv", "ts": "1.1"}
    assert rig.slack.event(bot).status_code == 200
    rig.settle("D5", expected=1)


def test_shop_command_and_home_tab(rig: SlackRig) -> None:
    fields = {
        "command": "/shop",
        "text": "a smartwatch",
        "team_id": "TSHOP",
        "channel_id": "C7",
        "user_id": "U7",
        "trigger_id": "7.7",
        "response_url": "http://127.0.0.1:9/unused",
    }
    assert rig.slack.command(fields).status_code == 200
    (post,) = rig.reply_in("C7")
    assert "thread_ts" not in post or post["thread_ts"] is None
    assert _turn(post)["session_id"] == "slack:TSHOP:C7:U7"
    rig.slack.event({"type": "app_home_opened", "user": "U7", "channel": "D7", "tab": "home"})
    rig.api.wait_for(lambda: any(method == "views.publish" for method, _ in rig.api.calls))
    (view,) = [args for method, args in rig.api.calls if method == "views.publish"]
    assert view["user_id"] == "U7" and view["view"]["type"] == "home"


def test_handoff_silences_the_bot_and_agent_messages_reach_the_thread(rig: SlackRig) -> None:
    rig.slack.direct_message("D8", "I need to speak to a human")
    (handoff,) = rig.reply_in("D8")
    assert _turn(handoff)["handoff"] is True
    rig.slack.direct_message("D8", "are you there?")
    rig.service.send_as_agent("slack:TSHOP:D8", "Hi, Sam here from support.", "agent")
    posts = rig.reply_in("D8", 2)
    assert posts[1]["text"] == "Hi, Sam here from support."
    time.sleep(0.3)
    assert len(rig.api.posts("D8")) == 2  # "are you there?" got no bot reply


def test_block_kit_escapes_what_slack_would_read_as_markup() -> None:
    from assistant import ProductCard, Turn
    from connectors.slack.blocks import turn_message

    card = ProductCard(
        id="p1", title="AT&T <Pro> phone", brand="AT&T", category="Phones", price=9.5, currency="USD",
        rating=None, reason="matches: phone", position=1, impression_id="i1",
    )  # fmt: skip
    message = turn_message("slack:T:D", Turn(turn_id="t", session_id="s", intent="product_search", text="1. x",
                                              products=[card]))  # fmt: skip
    section = message["blocks"][0]["text"]["text"]
    assert "AT&amp;T &lt;Pro&gt; phone" in section and "<Pro>" not in section
    fallback = turn_message("slack:T:D", Turn(turn_id="t", session_id="s", intent="faq", text="Use <!channel> & AT&T"))
    assert fallback["text"] == "Use &lt;!channel&gt; &amp; AT&amp;T"


def test_an_absurd_budget_gets_an_answer_not_an_error(rig: SlackRig) -> None:
    rig.slack.direct_message("D9", "a 4k tv under $" + "9" * 309)
    (post,) = rig.reply_in("D9")
    turn = _turn(post)
    assert turn["products"] and "price_max" not in turn["slots"]


def test_the_ack_does_not_wait_for_slack(rig: SlackRig, service: ShopService, tmp_path: Any) -> None:
    rig.slack.direct_message("D10", "a laptop")
    rig.reply_in("D10")
    assert "auth.test" not in [method for method, _ in rig.api.calls]
    # Slack's Web API unreachable (a closed port): the signed event is still acknowledged.
    settings = Settings(
        data_dir=tmp_path,
        slack_signing_secret=SecretStr(SECRET),
        slack_bot_token=SecretStr("xoxb-test"),
        slack_api_url="http://127.0.0.1:9/api/",
    )
    offline = create_slack_app(service, settings, seen=SeenEvents.ephemeral())
    with BackgroundServer(create_app(service, AGENT_TOKEN, slack=offline)) as server:
        slack = SignedSlackClient(f"{server.url}/slack/events", SECRET)
        assert slack.direct_message("D11", "a laptop").status_code == 200
        slack.close()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('{"type": "event_callback", "event": null}', "application/json"),
        ('{"type": "event_callback", "event": "message"}', "application/json"),
        ("payload=not-json", "application/x-www-form-urlencoded"),
        ("payload=%5B1%5D", "application/x-www-form-urlencoded"),
    ],
)
def test_a_signed_malformed_body_is_a_400(rig: SlackRig, body: str, content_type: str) -> None:
    response = rig.slack.post(body, content_type)
    assert response.status_code == 400 and response.json()["detail"].startswith(("not a Slack", "the request body"))


@pytest.mark.parametrize("timestamp", ["abc", "1e9", "-5", "", "1.5"])
def test_a_timestamp_that_is_not_unix_time_is_a_401(rig: SlackRig, timestamp: str) -> None:
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=0"}
    response = httpx.post(rig.slack.endpoint, content='{"type": "event_callback"}', headers=headers)
    assert response.status_code == 401


def test_a_failing_reply_still_answers_the_customer(rig: SlackRig, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(session_id: str, text: str) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(rig.service, "message", broken)
    rig.slack.direct_message("D12", "a laptop")
    (post,) = rig.reply_in("D12")
    assert post["text"].startswith("Sorry, something went wrong") and "disk full" not in post["text"]
    command = {"command": "/shop", "text": "a tv", "team_id": "TSHOP", "channel_id": "C12", "user_id": "U12"}
    assert rig.slack.command(command).status_code == 200
    assert rig.reply_in("C12")[0]["text"].startswith("Sorry, something went wrong")
