"""Shared fixtures: the real bundled MiniLM, real Chroma (ephemeral or on disk), small written catalogs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.conversations import scripted_service
from connectors.service import ShopService
from connectors.web import BackgroundServer, create_app
from retrieval import SentenceTransformerEmbedder, Settings, Store, ingest_faq, ingest_products
from retrieval.embeddings import Vectors
from tests.chroma_server import ChromaServer

pytest_plugins = ["connectors.pytest_plugin"]

FIXTURES = Path(__file__).parent / "fixtures"
# Column names of tests/fixtures/products.csv → Product fields.
FIXTURE_MAPPING = {
    "id": "SKU",
    "title": "Name",
    "brand": "Maker",
    "category": "Dept",
    "price": "Cost",
    "rating": "Stars",
    "description": "Blurb",
    "in_stock": "Stock",
}
# Column names of tests/fixtures/grocery_inr.csv (a grocery priced in rupees, without a currency column).
INR_MAPPING = {"id": "sku", "title": "name", "category": "dept", "brand": "maker", "price": "mrp", "rating": "stars"}


class CountingEmbedder:
    """The real model, counting how many texts it was asked to embed."""

    def __init__(self, inner: SentenceTransformerEmbedder, name: str | None = None) -> None:
        self.inner = inner
        self._name = name or inner.name
        self.texts_embedded = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.texts_embedded += len(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture
def embedder(minilm: SentenceTransformerEmbedder) -> CountingEmbedder:
    return CountingEmbedder(minilm)


@pytest.fixture
def store(embedder: CountingEmbedder) -> Iterator[Store]:
    store = Store.ephemeral(embedder=embedder)
    yield store
    store.close()


@pytest.fixture
def products_csv() -> Path:
    return FIXTURES / "products.csv"


@pytest.fixture
def loaded_store(store: Store, products_csv: Path) -> Store:
    ingest_products(store, products_csv, FIXTURE_MAPPING)
    ingest_faq(store, FIXTURES / "faq.yaml")
    return store


@pytest.fixture(scope="module")
def loaded_store_module(minilm: SentenceTransformerEmbedder) -> Iterator[Store]:
    """The fixture catalog and FAQ, shared by the tests of one module that only read it."""
    store = Store.ephemeral(embedder=minilm)
    ingest_products(store, FIXTURES / "products.csv", FIXTURE_MAPPING)
    ingest_faq(store, FIXTURES / "faq.yaml")
    yield store
    store.close()


@pytest.fixture(scope="session")
def demo_store() -> Store:
    """The shipped demo catalog and FAQ, embedded once per test session (shared with conversation tests)."""
    # Imported here: the plugin module must be imported by pytest first, so that pytest can rewrite it.
    from connectors.pytest_plugin import conversation_store

    return conversation_store()


AGENT_TOKEN = "test-agent-token"


@pytest.fixture
def service(demo_store: Store) -> ShopService:
    """The demo store behind a fresh service: its own event log and conversations, in memory."""
    return scripted_service(demo_store)


@pytest.fixture
def web_server(service: ShopService) -> Iterator[BackgroundServer]:
    """A real uvicorn server on a free loopback port."""
    settings = Settings(allowed_origins=["https://shop.example"])
    with BackgroundServer(create_app(service, AGENT_TOKEN, settings)) as server:
        yield server


@pytest.fixture(scope="module")
def rupee_store(minilm: SentenceTransformerEmbedder) -> Iterator[Store]:
    """A small grocery priced in rupees, with the demo FAQ fixture."""
    store = Store.ephemeral(embedder=minilm)
    ingest_products(store, FIXTURES / "grocery_inr.csv", INR_MAPPING, constants={"currency": "INR"})
    ingest_faq(store, FIXTURES / "faq.yaml")
    yield store
    store.close()


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A real Chroma server (`chroma run`) on loopback, shared by the tests of one module."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server"))
    server.start()
    yield server
    server.stop()


def stream_events(http: httpx.Client, session: str, text: str) -> list[tuple[str, Any]]:
    """The server-sent events of one streamed turn, as (event name, data) pairs; the stream must be a 200."""
    events: list[tuple[str, Any]] = []
    with http.stream("POST", f"/api/sessions/{session}/stream", json={"text": text}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def readiness_after_warm_up(http: httpx.Client) -> httpx.Response:
    """``/readyz`` once the server's warm-up is over (until then it says "warming up")."""
    for _ in range(600):
        response = http.get("/readyz")
        if response.json()["problems"] != ["warming up"]:
            return response
        threading.Event().wait(0.5)
    raise AssertionError("the server never finished warming up")
