"""The web front door: FastAPI app (customer API, widget, agent console, Slack HTTP events) and its server."""

from connectors.web.app import create_app
from connectors.web.server import BackgroundServer, stored_agent_token

__all__ = ["BackgroundServer", "create_app", "stored_agent_token"]
