"""The CTR ranker as the assistant uses it: the active registry version, or the baseline when it cannot be used."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recommender.ctr_model import CtrModel, clicked_similarity
from recommender.errors import RecommenderError
from recommender.events import EventStore
from recommender.features import CandidateSignals, RankingContext, features, product_text
from recommender.ranking import BaselineRanker, RankedProduct
from recommender.registry import ModelRegistry
from retrieval import Product, ProductHit, export_onnx_transformer, onnx_mean_pooled, onnx_session
from retrieval.embeddings import pick_device

logger = logging.getLogger(__name__)
MAX_CANDIDATES = 100
_QUERY_CACHE = 1024
_ENCODE_CHUNK = 64
_QUERY_ONNX = "query_encoder.onnx"
_PROBES = ["4k tv under 500", "cordless drill with battery", "what is your return policy?"]


@dataclass(frozen=True)
class _Loaded:
    name: str
    model: CtrModel
    tokenizer: Any
    # On the CPU the query tower runs in ONNX Runtime (about half the time of PyTorch for one short text).
    query_session: Any | None


class CtrRanker:
    """Scores up to 100 candidates with the active model; product vectors are cached per model version.

    Anything wrong with the model (none trained, a missing or corrupt file) logs one warning and the
    baseline ranks instead: chat never breaks because of the ranker.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        events: EventStore | None = None,
        fallback: BaselineRanker | None = None,
        device: str = "auto",
    ) -> None:
        self.registry = registry
        self.events = events
        self.fallback = fallback or BaselineRanker()
        self._device = device
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._failed: str | None = None  # the version that could not be loaded, so we warn once
        self._product_vectors: dict[tuple[str, str], Any] = {}
        self._query_vectors: dict[tuple[str, str], Any] = {}

    @property
    def version(self) -> str:
        loaded = self._model()
        return loaded.name if loaded else self.fallback.version

    def _model(self) -> _Loaded | None:
        with self._lock:
            # The pointer is re-read on every call (a tiny file) so `shopassist models activate|rollback`, run
            # from another process, takes effect on the next turn without restarting the server.
            try:
                name = self.registry.active_name()
            except OSError as error:
                name = None
                logger.warning("cannot read the active ranker version: %s", error)
            if name is None:
                return None
            if self._loaded is not None and self._loaded.name == name:
                return self._loaded
            if self._failed == name:
                return None
            device = pick_device(self._device)
            try:
                model, tokenizer, version = self.registry.load(name, device)
            except RecommenderError as error:
                self._failed = name
                logger.warning("ranking with the baseline instead of ranker %s: %s", name, error)
                return None
            session = _query_session(name, version.path / _QUERY_ONNX, model, tokenizer) if device == "cpu" else None
            self._loaded, self._product_vectors = _Loaded(name, model, tokenizer, session), {}
            return self._loaded

    def rank(
        self, query: str, hits: Sequence[ProductHit], context: RankingContext | None = None
    ) -> list[RankedProduct]:
        loaded = self._model()
        if loaded is None or not hits:
            return self.fallback.rank(query, hits, context)
        import torch

        model = loaded.model
        candidates = list(hits[:MAX_CANDIDATES])
        context = context or RankingContext()
        history = self.events.product_history([hit.product.id for hit in candidates]) if self.events else {}
        device = next(model.parameters()).device
        with torch.inference_mode():
            query_vector = self._query_vector(loaded, query)
            products = self._products(model, loaded.tokenizer, [hit.product for hit in candidates])
            rows = np.stack(
                [
                    features(query, hit.product, CandidateSignals(*history.get(hit.product.id, (0, 0))), context)
                    for hit in candidates
                ]
            )
            similarity = None
            if context.clicked:
                clicked = self._products(model, loaded.tokenizer, context.clicked)
                owned = torch.ones(len(candidates), len(clicked), dtype=torch.bool, device=device)
                similarity = clicked_similarity(products, clicked, owned)
            click, _ = model.score(
                query_vector.expand(len(candidates), -1), products, torch.from_numpy(rows).to(device), similarity
            )
        ranked = [RankedProduct(hit, float(score)) for hit, score in zip(candidates, click.float().cpu(), strict=True)]
        return sorted(ranked, key=lambda item: -item.score)

    def prepare(self, products: Sequence[Product], batch_size: int = 64) -> None:
        """Encode the catalog with the active version's product tower now, not on the products' first turns.

        The server calls this when it starts; products added or edited later are encoded when first seen.
        """
        import torch

        loaded = self._model()
        if loaded is None:
            return
        with torch.inference_mode():
            for start in range(0, len(products), batch_size):
                self._products(loaded.model, loaded.tokenizer, products[start : start + batch_size])

    def _products(self, model: CtrModel, tokenizer: Any, products: Sequence[Product]) -> Any:
        import torch

        # The tower reads only product_text, so that text is the exact cache key (an edited title re-encodes).
        cache = self._product_vectors  # a new version replaces the whole dict; keep writing to the one read
        keys = [(product.id, product_text(product)) for product in products]
        missing = list({key: None for key in keys if key not in cache})
        if missing:
            texts = [text for _, text in missing]
            vectors = model.encode_texts(tokenizer, texts, model.config.max_product_tokens, _ENCODE_CHUNK)
            for key, vector in zip(missing, vectors, strict=True):
                cache[key] = vector
        return torch.stack([cache[key] for key in keys])

    def _query_vector(self, loaded: _Loaded, query: str) -> Any:
        """One encoder pass per distinct message: relaxing a constraint re-ranks for the same words."""
        import torch

        key = (loaded.name, query)
        vector = self._query_vectors.get(key)
        if vector is None:
            max_tokens = loaded.model.config.max_query_tokens
            if loaded.query_session is not None:
                vector = torch.from_numpy(onnx_mean_pooled(loaded.query_session, loaded.tokenizer, [query], max_tokens))
            else:
                vector = loaded.model.encode_texts(loaded.tokenizer, [query], max_tokens, _ENCODE_CHUNK)
            if len(self._query_vectors) >= _QUERY_CACHE:
                self._query_vectors.pop(next(iter(self._query_vectors)))
            self._query_vectors[key] = vector
        return vector


def _query_session(name: str, path: Path, model: CtrModel, tokenizer: Any) -> Any | None:
    """The version's query tower in ONNX Runtime (exported on first use, checked against PyTorch), or None."""
    import torch

    try:
        if not path.is_file():
            export_onnx_transformer(model.encoder, tokenizer, path)
        session = onnx_session(path, spinning=False)
        with torch.inference_mode():
            reference = model.encode_texts(tokenizer, _PROBES, model.config.max_query_tokens, _ENCODE_CHUNK).numpy()
        agreement = float(
            (onnx_mean_pooled(session, tokenizer, _PROBES, model.config.max_query_tokens) * reference).sum(axis=1).min()
        )
        if agreement < 0.9999:
            raise ValueError(f"the export does not reproduce the model (cosine {agreement:.4f})")
    except Exception as error:  # noqa: BLE001 - export and runtime raise untyped errors; PyTorch still works
        logger.warning("ranker %s encodes queries with PyTorch: no usable %s (%s)", name, path, error)
        return None
    return session
