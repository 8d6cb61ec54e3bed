"""Conversation scripts through a front door: the same YAML, checked against what that channel delivers.

``core`` calls the assistant directly; ``web`` drives the JSON API of a real uvicorn server on
loopback; ``slack`` sends signed events to the Bolt app on that server and reads the turns back from
what it posted to a loopback Slack Web API (the turn travels as Slack message metadata).

Scripts run against a store: the demo, or the one a ``store.yaml`` beside them describes (see
:class:`ConversationStoreConfig`), built in memory from a catalog read in place.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from assistant import Assistant, InvalidMessageError, Turn
from assistant.scripts import Reply, Script, ScriptResult, run_script
from connectors.errors import ConnectorError
from connectors.service import ShopService
from connectors.slack import LoopbackSlackApi, SeenEvents, SignedSlackClient, create_slack_app
from connectors.slack.blocks import TURN_EVENT_TYPE
from connectors.web import BackgroundServer, create_app
from recommender import EventStore
from retrieval import Embedder, RetrievalError, Settings, Store, ingest_faq, load_products, parse_mapping

Channel = Literal["core", "web", "slack"]
CHANNELS: tuple[str, ...] = get_args(Channel)
_LOOPBACK_SECRET = "loopback-signing-secret"
STORE_CONFIG_NAME = "store.yaml"


class StoreConfigError(ConnectorError):
    """A conversation store that cannot be built: a bad ``store.yaml``, or a catalog or FAQ file that is missing."""


class CatalogSource(BaseModel):
    """Where a conversation store's products come from. The file is read in place, never copied."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: Path = Field(description="The products file, relative to the data root (the repository's parent).")
    mapping: dict[str, str] = Field(
        default_factory=dict, description="Product field → column, as `shopassist ingest products --map` takes them."
    )
    first: int | None = Field(
        None, ge=1, description="Keep only the first N products in file order: a deterministic subset of a big catalog."
    )
    currency: str | None = Field(
        None, description="ISO 4217 code of every price, for a catalog without a currency column (ingest's --currency)."
    )


class _StoreFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    products: CatalogSource
    faq: Path = Field(description="The store's FAQ file, relative to the directory of the store.yaml.")


@dataclass(frozen=True)
class ConversationStoreConfig:
    """A ``store.yaml``: the store that the conversation scripts of its directory (and those below) run against.

    ```yaml
    products:
      file: shared/data/bigbasket/products.csv   # relative to the repository's parent
      mapping: {id: product_id, price: sale_price, category: sub_category}
      currency: INR
      first: 2000                               # optional: the first 2,000 products only
    faq: faq.yaml                               # relative to this file
    ```
    """

    source: Path
    products: CatalogSource
    faq: Path

    @classmethod
    def load(cls, path: Path, data_root: Path) -> ConversationStoreConfig:
        """Read ``path``, resolving the products file against ``data_root`` and the FAQ against ``path``'s folder."""
        try:
            document = _StoreFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
            parse_mapping([f"{target}={column}" for target, column in document.products.mapping.items()])
        except (OSError, yaml.YAMLError, ValidationError, RetrievalError) as error:
            raise StoreConfigError(f"{path}: not a valid conversation store config: {error}") from error
        products = document.products.model_copy(update={"file": data_root / document.products.file})
        return cls(path, products, path.parent / document.faq)

    def build(self, embedder: Embedder | None = None) -> Store:
        """An in-memory store holding this catalog (or its first N products) and FAQ; every row must load."""
        return self.ingest_into(Store.ephemeral(embedder=embedder))

    def ingest_into(self, store: Store) -> Store:
        """Make ``store`` hold exactly this catalog (or its first N products) and FAQ; unchanged rows embed nothing."""
        for needed in (self.products.file, self.faq):
            if not needed.is_file():
                raise StoreConfigError(
                    f"{self.source}: {needed} is missing. The scripts of this store read it in place: "
                    "put the shared data beside the repository (../shared/data)."
                )
        try:
            constants = {"currency": self.products.currency} if self.products.currency else {}
            loaded = load_products(self.products.file, self.products.mapping, constants=constants)
            loaded.raise_if_errors(self.products.file)
            store.products.ingest(loaded.records[: self.products.first], mode="snapshot")
            ingest_faq(store, self.faq, strict=True)
        except RetrievalError as error:
            raise StoreConfigError(f"{self.source}: cannot build the store: {error}") from error
        return store


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
        # One loopback client runs every script: the per-address limits are for customers, not for this harness.
        unthrottled = settings.model_copy(update={"rate_limiting": False})
        with (
            BackgroundServer(create_app(service, secrets.token_urlsafe(16), unthrottled)) as server,
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
