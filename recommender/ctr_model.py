"""The CTR model: a two-tower MiniLM (shared weights) plus hand-built features, crossed DCN-v2-style.

score(query, product) = s·(cos(q, p) − ½) + heads(MLP(Cross([q ⊙ p, |q − p|, cos(q, p), features])))
with a click head and an add-to-cart head. Product vectors depend only on the product, so serving
caches them per model version; a query costs one encoder pass plus a small MLP over the candidates.
A position-bias term is added to the click logit in training only (debiasing) and left out at inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
from torch import nn

from recommender.features import FEATURE_NAMES
from retrieval.embeddings import length_sorted_batches

Finetune = Literal["head", "last-1", "last-2", "last-3", "lora", "full"]
FINETUNE_MODES: tuple[str, ...] = get_args(Finetune)
MAX_POSITIONS = 20
CLICKED_SIMILARITY = FEATURE_NAMES.index("clicked_similarity")


@dataclass(frozen=True)
class CtrModelConfig:
    encoder: str = "all-MiniLM-L6-v2"
    finetune: Finetune = "last-2"
    cross_layers: int = 2
    hidden: int = 256
    dropout: float = 0.1
    max_query_tokens: int = 32
    max_product_tokens: int = 64
    # finetune = "lora": low-rank adapters (peft) on every attention projection, the encoder itself frozen.
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class CrossLayer(nn.Module):
    """DCN-v2: x_{l+1} = x_0 ⊙ (W x_l + b) + x_l."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        crossed: torch.Tensor = x0 * self.linear(x) + x
        return crossed


class CtrModel(nn.Module):
    feature_varied: torch.Tensor
    feature_fill: torch.Tensor

    def __init__(self, encoder: nn.Module, dimension: int, config: CtrModelConfig) -> None:
        super().__init__()
        if config.finetune == "lora":
            from peft import LoraConfig, get_peft_model

            adapters = LoraConfig(
                r=config.lora_rank,
                lora_alpha=config.lora_alpha,
                lora_dropout=config.lora_dropout,
                target_modules=["query", "key", "value"],
            )
            encoder = get_peft_model(encoder, adapters)
        self.encoder = encoder
        self.config = config
        self.dimension = dimension
        width = 2 * dimension + 1 + len(FEATURE_NAMES)
        # A feature the training data never varied (ratings when the judgements have none, budgets, click
        # history) has no learned meaning: serving holds it at its training value instead of feeding the
        # network numbers it never saw, which batch normalisation of a zero-variance column would blow up.
        self.register_buffer("feature_varied", torch.ones(len(FEATURE_NAMES), dtype=torch.bool))
        self.register_buffer("feature_fill", torch.zeros(len(FEATURE_NAMES)))
        self.feature_norm = nn.BatchNorm1d(len(FEATURE_NAMES))
        self.cross = nn.ModuleList(CrossLayer(width) for _ in range(config.cross_layers))
        self.mlp = nn.Sequential(
            nn.Linear(width, config.hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, 64),
            nn.ReLU(),
        )
        self.click_head = nn.Linear(64, 1)
        self.cart_head = nn.Linear(64, 1)
        # The click logit starts as the scaled zero-shot cosine (a good ranker already); the network learns
        # corrections on top instead of rediscovering text similarity from a random head.
        self.cosine_scale = nn.Parameter(torch.tensor(10.0))
        self.position_bias = nn.Embedding(MAX_POSITIONS + 1, 1)  # index 0 = position unknown
        nn.init.zeros_(self.position_bias.weight)
        self.freeze_encoder(config.finetune)

    def freeze_encoder(self, finetune: Finetune) -> None:
        for name, parameter in self.encoder.named_parameters():
            parameter.requires_grad = finetune == "full" or (finetune == "lora" and "lora_" in name)
        if finetune.startswith("last-"):
            layers: nn.ModuleList = self.encoder.encoder.layer  # type: ignore[union-attr,assignment]
            for layer in list(layers)[-int(finetune.split("-")[1]) :]:
                for parameter in layer.parameters():
                    parameter.requires_grad = True

    def fit_feature_mask(self, rows: torch.Tensor, *, sessions_clicked: bool) -> None:
        """Record which features vary in the training rows (``sessions_clicked``: any example has session clicks)."""
        varied = rows.std(dim=0) > 1e-6
        varied[CLICKED_SIMILARITY] = sessions_clicked
        self.feature_varied.copy_(varied)
        self.feature_fill.copy_(rows.mean(dim=0))

    def merge_adapters(self) -> None:
        """Fold LoRA adapters into the encoder's weights: same outputs, no adapter cost when serving."""
        if self.config.finetune == "lora":
            self.encoder = self.encoder.merge_and_unload()  # type: ignore[operator]

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled, L2-normalised sentence vectors (as sentence-transformers computes them)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, dim=-1)

    def encode_texts(self, tokenizer: Any, texts: Sequence[str], max_tokens: int, chunk_size: int) -> torch.Tensor:
        """:meth:`encode` of ``texts``, in their order, on the model's device.

        Texts go through in chunks of similar length, each padded only to its own longest: one batch padded
        to its longest title spends about half its work on padding (Home Depot titles: 20 tokens on average;
        batches of 64 pad them to 39).
        """
        device = self.feature_fill.device
        if not texts:
            return torch.empty((0, self.dimension), device=device)
        token_ids = tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
        chunks = length_sorted_batches([len(ids) for ids in token_ids], chunk_size)
        vectors = []
        for chunk in chunks:
            padded = tokenizer.pad({"input_ids": [token_ids[i] for i in chunk]}, return_tensors="pt")
            vectors.append(self.encode(padded["input_ids"].to(device), padded["attention_mask"].to(device)))
        order = torch.tensor([i for chunk in chunks for i in chunk], device=device)
        return torch.cat(vectors)[torch.argsort(order)]

    def score(
        self,
        query: torch.Tensor,
        product: torch.Tensor,
        features: torch.Tensor,
        clicked_similarity: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(click logit, cart logit) for aligned rows of query vectors, product vectors and features.

        ``clicked_similarity`` (one value per row, see :func:`clicked_similarity`) fills that feature in.
        """
        if clicked_similarity is not None:
            features = features.clone()
            features[:, CLICKED_SIMILARITY] = clicked_similarity
        features = torch.where(self.feature_varied, features, self.feature_fill)
        cosine = (query * product).sum(-1, keepdim=True)
        x0 = torch.cat([query * product, (query - product).abs(), cosine, self.feature_norm(features)], dim=-1)
        x = x0
        for layer in self.cross:
            x = layer(x0, x)
        hidden = self.mlp(x)
        residual = self.cosine_scale * (cosine.squeeze(-1) - 0.5)
        return self.click_head(hidden).squeeze(-1) + residual, self.cart_head(hidden).squeeze(-1) + residual

    def biased_click_logit(self, click_logit: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        biased: torch.Tensor = click_logit + self.position_bias(positions.clamp(0, MAX_POSITIONS)).squeeze(-1)
        return biased


def clicked_similarity(products: torch.Tensor, clicked: torch.Tensor, owned: torch.Tensor) -> torch.Tensor:
    """Each row's best cosine to the clicked products of its own session (0 when it has none).

    ``products``: rows × d and ``clicked``: m × d product-tower vectors; ``owned``: rows × m, True where
    clicked product j belongs to row i's session.
    """
    cosines = (products @ clicked.T).clamp(min=0.0)
    return cosines.masked_fill(~owned, 0.0).amax(dim=1)
