"""The scale-out path for real: stores on a `chroma run` server on loopback (``SHOPASSIST_CHROMA_URL``).

Several processes share one Chroma server and one data dir; unlike embedded Chroma, whose data dir takes one
writer at a time, an ingest in one process must not be refused and must reach the others without a restart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import chromadb
import httpx
import pytest
from chromadb.config import Settings as ChromaSettings

from connectors.conversations import scripted_service
from connectors.web import BackgroundServer, create_app
from retrieval import RetrievalError, SentenceTransformerEmbedder, Settings, Store, ingest_products
from retrieval.models import SearchFilters
from tests.chroma_server import ChromaServer
from tests.conftest import AGENT_TOKEN, FIXTURE_MAPPING, FIXTURES, readiness_after_warm_up

# A product of a brand the fixture catalog does not have, in the fixture's own columns.
NEW_PRODUCT_CSV = (
    "SKU,Name,Maker,Dept,Cost,Stars,Blurb,Stock\n"
    'fan-1,Vornado 660 Large Whole Room Air Circulator Fan,Vornado,Fans,$99.99,4.6,"Deep-pitched blades move air '
    'up to 100 feet, four speeds",yes\n'
)


def _settings(data_dir: Path) -> Settings:
    # Each test's collections on the shared server are its own, as two shops' would be.
    return Settings(data_dir=data_dir, collection_prefix=f"t{uuid.uuid4().hex[:12]}")


def _top_ids(store: Store, query: str, filters: SearchFilters | None = None) -> list[str]:
    return [hit.product.id for hit in store.products.search(query, filters)]


@pytest.fixture
def served_store(chroma_server: ChromaServer, tmp_path: Path, minilm: SentenceTransformerEmbedder) -> Iterator[Store]:
    """The fixture catalog in a data dir whose vectors live on the module's Chroma server."""
    store = Store.http(chroma_server.url, settings=_settings(tmp_path / "data"), embedder=minilm)
    outcome = ingest_products(store, FIXTURES / "products.csv", FIXTURE_MAPPING)
    assert outcome.report.added == 12 and not outcome.errors
    yield store
    store.close()


def test_a_store_on_a_chroma_server_ingests_and_searches_the_catalog(
    served_store: Store, chroma_server: ChromaServer
) -> None:
    assert _top_ids(served_store, "UN55CU7000")[0] == "tv-1"  # an exact model number leads
    assert _top_ids(served_store, "noise cancelling headphones")[0] in {"hp-1", "hp-2"}
    cheap_laptops = served_store.products.search("laptop", SearchFilters(price_max=500))
    assert [hit.product.id for hit in cheap_laptops][0] == "lp-2"
    assert all(hit.product.price is not None and hit.product.price <= 500 for hit in cheap_laptops)
    in_stock_tvs = served_store.products.search("4k tv", SearchFilters(categories=("TVs",), in_stock=True))
    assert {hit.product.id for hit in in_stock_tvs} == {"tv-1", "tv-2", "tv-3"}  # tv-4 is out of stock

    # The vectors are the server's (another client sees them), and the data dir holds no embedded Chroma.
    other_client = chromadb.HttpClient(
        host="127.0.0.1", port=chroma_server.port, settings=ChromaSettings(anonymized_telemetry=False)
    )
    prefix = served_store.settings.collection_prefix
    (collection,) = [c for c in other_client.list_collections() if c.name.startswith(f"{prefix}-products-")]
    assert collection.count() == 12
    assert not served_store.settings.chroma_path.exists()


def test_an_ingest_in_another_process_reaches_the_serving_store_without_a_restart(
    served_store: Store, chroma_server: ChromaServer, tmp_path: Path
) -> None:
    assert _top_ids(served_store, "UN55CU7000")[0] == "tv-1"
    version_before = served_store.products.version()
    assert "Vornado" not in served_store.products.lexicon().brands
    new_products = tmp_path / "new.csv"
    new_products.write_text(NEW_PRODUCT_CSV, encoding="utf-8")
    settings = served_store.settings
    environment = {
        **os.environ,
        "SHOPASSIST_CHROMA_URL": chroma_server.url,
        "SHOPASSIST_DATA_DIR": str(settings.data_dir),
        "SHOPASSIST_COLLECTION_PREFIX": settings.collection_prefix,
        "SHOPASSIST_EMBEDDING_BACKEND": "torch",  # the serving store's MiniLM, loaded the same way
    }
    map_args = [arg for field, column in FIXTURE_MAPPING.items() for arg in ("--map", f"{field}={column}")]
    command = [str(Path(sys.executable).with_name("shopassist")), "ingest", "products", str(new_products), *map_args]
    log = tmp_path / "ingest.log"
    with log.open("wb") as output:
        ingest = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment)
    # This process keeps serving while the other one writes: every search answers, with the catalog it had.
    searches_during_ingest = 0
    while ingest.poll() is None:
        assert _top_ids(served_store, "UN55CU7000")[0] == "tv-1"
        searches_during_ingest += 1
        time.sleep(0.1)
    assert searches_during_ingest > 0  # the other process loads a model first: searches overlap its run
    assert ingest.returncode == 0, log.read_text()  # a Chroma server takes writers from any process
    assert "1 added" in log.read_text()

    # The next search sees the new product, and the vocabulary learned from the catalog knows its brand.
    assert served_store.products.version() != version_before
    assert "Vornado" in served_store.products.lexicon().brands
    assert _top_ids(served_store, "vornado air circulator")[0] == "fan-1"
    assert _top_ids(served_store, "UN55CU7000")[0] == "tv-1"
    assert served_store.products.count() == 13


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ChromaServer]:
    """A server of the test's own, which it may stop, restart and freeze."""
    server = ChromaServer(tmp_path / "server")
    server.path.mkdir()
    server.start()
    yield server
    server.stop()


def test_a_stopped_server_fails_searches_clearly_and_the_same_store_recovers_after_a_restart(
    own_server: ChromaServer, tmp_path: Path, minilm: SentenceTransformerEmbedder
) -> None:
    settings = _settings(tmp_path / "data")
    store = Store.http(own_server.url, settings=settings, embedder=minilm)
    ingest_products(store, FIXTURES / "products.csv", FIXTURE_MAPPING)
    assert _top_ids(store, "UN55CU7000")[0] == "tv-1"

    own_server.stop()
    with pytest.raises(RetrievalError, match=f"Chroma server at {own_server.url} is unreachable"):
        store.products.search("wireless headphones")
    # A store (a process) that comes up while the server is down is told so, and is not left broken.
    late_store = Store.http(own_server.url, settings=settings, embedder=minilm)
    with pytest.raises(RetrievalError, match=f"cannot open the Chroma server at {own_server.url}"):
        late_store.products.search("wireless headphones")

    own_server.start()  # same port, same path: the vectors are still there
    assert _top_ids(store, "wireless headphones")[0] in {"hp-1", "hp-2", "hp-3"}
    assert _top_ids(store, "UN55CU7000")[0] == "tv-1"
    assert _top_ids(late_store, "UN55CU7000")[0] == "tv-1"
    late_store.close()
    store.close()


def test_a_frozen_server_fails_a_search_after_the_time_limit_instead_of_hanging(
    own_server: ChromaServer, tmp_path: Path, minilm: SentenceTransformerEmbedder
) -> None:
    store = Store.http(own_server.url, settings=_settings(tmp_path / "data"), embedder=minilm, request_timeout_s=3)
    ingest_products(store, FIXTURES / "products.csv", FIXTURE_MAPPING)
    assert _top_ids(store, "UN55CU7000")[0] == "tv-1"

    with own_server.frozen(), pytest.raises(RetrievalError, match="unreachable \\(ReadTimeout"):
        store.products.search("wireless headphones")
    assert _top_ids(store, "wireless headphones")[0] in {"hp-1", "hp-2", "hp-3"}
    store.close()


def test_readiness_and_messages_say_503_while_the_chroma_server_is_down_and_recover(
    served_store: Store, chroma_server: ChromaServer
) -> None:
    service = scripted_service(served_store)
    app = create_app(service, AGENT_TOKEN, Settings(rate_limiting=False))
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=120.0) as http:
        ready = readiness_after_warm_up(http)
        assert ready.status_code == 200, ready.json()
        session = http.post("/api/sessions").json()["session_id"]
        chroma_server.stop()
        try:
            down = http.get("/readyz")
            assert down.status_code == 503
            assert any("product search fails" in problem for problem in down.json()["problems"]), down.json()
            message = http.post(f"/api/sessions/{session}/messages", json={"text": "a 4k tv"})
            assert message.status_code == 503 and message.headers["Retry-After"], message.text
            assert message.json()["detail"].startswith("the store is unavailable")
        finally:
            chroma_server.start()
        assert http.get("/readyz").json() == {"ready": True, "problems": []}
        assert http.post(f"/api/sessions/{session}/messages", json={"text": "a 4k tv"}).status_code == 200
