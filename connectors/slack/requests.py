"""What reaches ``/slack/events`` before Bolt sees it: a request Bolt could not even read is refused here.

Bolt parses the body while building its request and compares the timestamp as an integer while verifying it;
either failing would otherwise be a 500 (and Slack retries a 500).
"""

from __future__ import annotations

from collections.abc import Mapping

from slack_bolt import BoltRequest

from connectors.errors import ConnectorError

_TIMESTAMP = "x-slack-request-timestamp"


class MalformedSlackRequest(ConnectorError):
    """A request to the Slack endpoint that is not one Slack sends; ``status`` is the HTTP answer (400 or 401)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def slack_request(body: bytes, headers: Mapping[str, str], query: str) -> BoltRequest:
    """The Bolt request for an HTTP delivery; :class:`MalformedSlackRequest` when Bolt could not process it."""
    timestamp = headers.get(_TIMESTAMP)
    if timestamp is not None and not (timestamp.isascii() and timestamp.isdigit()):
        raise MalformedSlackRequest(401, f"X-Slack-Request-Timestamp {timestamp[:20]!r} is not a Unix time")
    try:
        request = BoltRequest(body=body.decode("utf-8"), query=query, headers=dict(headers))
    # Bolt decodes JSON bodies and interaction payloads as it builds the request and reads them as objects.
    except (ValueError, AttributeError, TypeError) as error:
        raise MalformedSlackRequest(400, f"not a Slack request body: {error}") from error
    if not isinstance(request.body, dict) or not isinstance(request.body.get("event", {}), dict):
        raise MalformedSlackRequest(400, "not a Slack request body: the body or its event is not an object")
    return request
