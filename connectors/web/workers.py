"""The app each worker process of ``shopassist serve --workers N`` builds for itself.

uvicorn starts the workers as fresh processes and calls :func:`app_from_environment` in each; everything they
need comes from the environment (``SHOPASSIST_*``), which ``serve`` sets before it starts them. The catalog is
read, not written, by the workers: embedded Chroma takes many reading processes, and a Chroma server many
more. Conversations, events and sessions are SQLite files every worker opens (WAL: concurrent readers, one
writer at a time); rate limits are counted per worker.
"""

from __future__ import annotations

from fastapi import FastAPI

from connectors.errors import ConnectorError
from connectors.service import ShopService
from connectors.slack import create_slack_app
from connectors.web.app import create_app
from retrieval import Settings


def app_from_environment() -> FastAPI:
    settings = Settings()
    if settings.agent_token is None:
        raise ConnectorError("a worker needs SHOPASSIST_AGENT_TOKEN; `shopassist serve --workers N` sets it")
    service = ShopService.from_settings(settings)
    slack = create_slack_app(service, settings) if settings.slack_signing_secret else None
    return create_app(service, settings.agent_token.get_secret_value(), settings, slack=slack)
