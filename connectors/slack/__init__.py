"""The Slack front door (slack-bolt): HTTP mode on the web app's /slack/events, or Socket Mode."""

from connectors.slack.app import address_of, create_slack_app, session_for
from connectors.slack.dedupe import SeenEvents
from connectors.slack.loopback import LoopbackSlackApi, SignedSlackClient
from connectors.slack.requests import MalformedSlackRequest, slack_request

__all__ = [
    "LoopbackSlackApi",
    "MalformedSlackRequest",
    "SeenEvents",
    "SignedSlackClient",
    "address_of",
    "create_slack_app",
    "session_for",
    "slack_request",
]
