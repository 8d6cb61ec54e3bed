from pathlib import Path

import numpy as np
import pytest

from retrieval import EmbeddingError, SentenceTransformerEmbedder, Settings, Store
from retrieval._onnx import OnnxEmbedder
from retrieval.embeddings import IndexFollowingEmbedder, embedder_from_settings
from retrieval.settings import BUNDLED_MODEL_NAME
from tests.conftest import FIXTURE_MAPPING


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


def test_onnx_backend_reproduces_the_pytorch_vectors(onnx_cache: Path, minilm: SentenceTransformerEmbedder) -> None:
    onnx = OnnxEmbedder(cache_dir=onnx_cache, batch_size=4)
    texts = ["4k tv under 500", "", "noise cancelling headphones " * 100, "Ñandú 😀 <b>html</b>", "ok"]
    vectors = onnx.embed(texts)
    assert vectors.shape == (5, 384) and onnx.model_path.is_file()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert float(np.sum(vectors * minilm.embed(texts), axis=1).min()) > 0.9999
    assert onnx.name == minilm.name  # same vectors, so the same index serves both backends


def test_exported_model_is_reused_and_a_corrupt_one_is_named(onnx_cache: Path) -> None:
    first = OnnxEmbedder(cache_dir=onnx_cache)
    first.embed(["warm"])
    exported_at = first.model_path.stat().st_mtime_ns
    OnnxEmbedder(cache_dir=onnx_cache).embed(["again"])
    assert first.model_path.stat().st_mtime_ns == exported_at

    first.model_path.write_bytes(b"not an onnx graph")
    with pytest.raises(EmbeddingError, match=r"model\.onnx: cannot load the ONNX model.*delete"):
        OnnxEmbedder(cache_dir=onnx_cache).embed(["broken"])


def test_auto_builds_new_indexes_in_int8_on_the_cpu_and_follows_existing_ones(
    tmp_path: Path, products_csv: Path
) -> None:
    from retrieval import ingest_products

    settings = Settings(data_dir=tmp_path / "new", embedding_device="cpu")
    assert isinstance(
        embedder_from_settings(settings.model_copy(update={"embedding_backend": "torch"})), SentenceTransformerEmbedder
    )
    store = Store.persistent(settings=settings)
    ingest_products(store, products_csv, FIXTURE_MAPPING)
    assert store.embedder.name == f"{BUNDLED_MODEL_NAME} (int8)"
    assert store.products.search("OLED65C3PUA", k=1)[0].product.id == "tv-2"
    assert (settings.models_path / "onnx").is_dir()
    store.close()

    # An index built at full precision (on a GPU machine, or before int8 was the default) keeps being
    # served at full precision: no re-index is asked for.
    full = settings.model_copy(update={"data_dir": tmp_path / "full"})
    store = Store.persistent(settings=full.model_copy(update={"embedding_backend": "torch"}))
    ingest_products(store, products_csv, FIXTURE_MAPPING)
    store.close()
    store = Store.persistent(settings=full)
    store.products.check_model()
    assert store.embedder.name == BUNDLED_MODEL_NAME
    assert store.products.search("OLED65C3PUA", k=1)[0].product.id == "tv-2"
    store.close()


def test_int8_backend_stays_close_to_full_precision_and_needs_its_own_index(
    tmp_path: Path, products_csv: Path, minilm: SentenceTransformerEmbedder
) -> None:
    from retrieval import IndexMismatchError, ingest_products

    settings = Settings(data_dir=tmp_path, embedding_device="cpu", embedding_backend="onnx")
    store = Store.persistent(settings=settings)
    ingest_products(store, products_csv, FIXTURE_MAPPING)
    store.close()

    int8_settings = settings.model_copy(update={"embedding_backend": "onnx-int8"})
    int8 = embedder_from_settings(int8_settings)
    texts = ["4k tv under 500", "LG OLED65C3PUA 65 inch OLED TV", "What is your return policy?"]
    cosines = np.sum(int8.embed(texts) * minilm.embed(texts), axis=1)
    assert isinstance(int8, OnnxEmbedder) and int8.model_path.name == "model-int8.onnx"
    assert cosines.min() > 0.95 and cosines.max() < 0.99999  # quantised for real, and still the same model
    assert int8.name == f"{minilm.name} (int8)"

    store = Store.persistent(settings=int8_settings)
    with pytest.raises(IndexMismatchError, match="reindex"):
        store.products.check_model()
    store.products.reindex()
    assert store.products.search("OLED65C3PUA", k=1)[0].product.id == "tv-2"
    store.close()


@pytest.mark.parametrize(
    ("device", "indexed", "expected"),
    [
        ("cuda", None, "torch"),
        ("cuda", BUNDLED_MODEL_NAME, "torch"),
        ("cuda", f"{BUNDLED_MODEL_NAME} (int8)", "onnx-int8"),  # built on a CPU machine, served on a GPU one
        ("cpu", None, "onnx-int8"),
        ("cpu", BUNDLED_MODEL_NAME, "onnx"),  # built on a GPU machine, served on a CPU one
        ("cpu", "some-other-model", "onnx-int8"),  # a model change: check_model asks for a re-index
    ],
)
def test_auto_backend_follows_the_index(tmp_path: Path, device: str, indexed: str | None, expected: str) -> None:
    settings = Settings(data_dir=tmp_path, embedding_device=device)  # type: ignore[arg-type]
    chosen = IndexFollowingEmbedder(settings, lambda: indexed).chosen  # choosing loads no model
    if expected == "torch":
        assert isinstance(chosen, SentenceTransformerEmbedder)
    else:
        assert isinstance(chosen, OnnxEmbedder) and chosen.int8 == (expected == "onnx-int8")
