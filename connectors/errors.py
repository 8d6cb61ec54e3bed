"""The root exception of the front doors."""

from __future__ import annotations


class ConnectorError(Exception):
    """Raised by shopassist's channels (web, Slack, copilot)."""


class UnknownSessionError(ConnectorError):
    """A session id that names no conversation."""
