"""The intent classifier: a softmax head trained over the sentence embeddings the store already computes.

Training takes seconds on a CPU (a few hundred utterances, one linear layer), so the head is trained
on first use from the utterances shipped in ``assistant/data/intents.yaml`` and cached next to the
other models, keyed by the embedding model and a hash of the training data. ``shopassist train
intents`` trains it explicitly, from that file or a store's own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml

from assistant.errors import AssistantError
from assistant.turn import INTENTS
from retrieval.embeddings import Embedder
from retrieval.storage import write_atomically

_FORMAT = 1


class IntentModelError(AssistantError):
    """Training data or a saved intent model is unusable; the message names the file."""


def default_training_data_path() -> Path:
    return Path(str(resources.files("assistant") / "data" / "intents.yaml"))


def load_utterances(path: Path) -> dict[str, list[str]]:
    """``{intent: [utterance, ...]}`` from a YAML file; every key must be a known intent."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise IntentModelError(f"{path}: cannot read intent utterances: {error}") from error
    if not isinstance(data, dict):
        raise IntentModelError(f"{path}: expected a mapping of intent → list of utterances")
    utterances: dict[str, list[str]] = {}
    for intent, examples in data.items():
        if intent not in INTENTS:
            raise IntentModelError(f"{path}: unknown intent {intent!r}; known: {', '.join(INTENTS)}")
        if not isinstance(examples, list) or not all(isinstance(e, str) and e.strip() for e in examples):
            raise IntentModelError(f"{path}: {intent}: expected a list of non-empty strings")
        utterances[intent] = list(examples)
    missing = [intent for intent in INTENTS if not utterances.get(intent)]
    if missing:
        raise IntentModelError(f"{path}: no utterances for {', '.join(missing)}")
    return utterances


def data_hash(utterances: Mapping[str, Sequence[str]]) -> str:
    return hashlib.sha1(json.dumps(utterances, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class IntentTrainingArguments:
    epochs: int = 400
    learning_rate: float = 0.1
    weight_decay: float = 1e-3
    # Logit scale: normalised embeddings have cosine-sized dot products, too flat for a softmax.
    scale: float = 30.0
    seed: int = 0


@dataclass(frozen=True)
class IntentPrediction:
    intent: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class IntentClassifier:
    """Multinomial logistic regression on L2-normalised sentence embeddings."""

    labels: list[str]
    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    model_name: str
    training_hash: str
    custom: bool = False  # trained on a store's own utterances rather than the shipped ones

    @classmethod
    def train(
        cls,
        utterances: Mapping[str, Sequence[str]],
        embedder: Embedder,
        args: IntentTrainingArguments | None = None,
        *,
        custom: bool = False,
    ) -> IntentClassifier:
        args = args or IntentTrainingArguments()
        labels = [intent for intent in INTENTS if intent in utterances]
        texts = [text for intent in labels for text in utterances[intent]]
        targets = np.array([i for i, intent in enumerate(labels) for _ in utterances[intent]])
        vectors = embedder.embed(texts)
        weights, bias = _fit_softmax(vectors, targets, len(labels), args)
        return cls(labels, weights, bias, embedder.name, data_hash(utterances), custom)

    def probabilities(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        logits = vectors.astype(np.float64) @ self.weights.T.astype(np.float64) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def predict_vectors(self, vectors: npt.NDArray[np.float32]) -> list[IntentPrediction]:
        predictions = []
        for row in self.probabilities(vectors):
            best = int(row.argmax())
            scores = {label: float(p) for label, p in zip(self.labels, row, strict=True)}
            predictions.append(IntentPrediction(self.labels[best], float(row[best]), scores))
        return predictions

    def classify(self, vectors: npt.NDArray[np.float32], threshold: float) -> list[str]:
        """The predicted intent per row, or ``out_of_scope`` when the classifier is less sure than ``threshold``."""
        return [p.intent if p.confidence >= threshold else "out_of_scope" for p in self.predict_vectors(vectors)]

    def save(self, path: Path) -> None:
        """Written atomically: a crash never leaves a half-written model where a good one was."""
        payload = {
            "format": _FORMAT,
            "labels": self.labels,
            "weights": self.weights.tolist(),
            "bias": self.bias.tolist(),
            "model_name": self.model_name,
            "training_hash": self.training_hash,
            "custom": self.custom,
        }
        write_atomically(path, json.dumps(payload))

    @classmethod
    def load(cls, path: Path) -> IntentClassifier:
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if payload.get("format") != _FORMAT:
                raise ValueError(f"format {payload.get('format')!r}, expected {_FORMAT}")
            labels = [str(label) for label in payload["labels"]]
            weights = np.asarray(payload["weights"], dtype=np.float32)
            bias = np.asarray(payload["bias"], dtype=np.float32)
            if weights.ndim != 2 or weights.shape[0] != len(labels) or bias.shape != (len(labels),):
                raise ValueError(f"weights {weights.shape} and bias {bias.shape} do not fit {len(labels)} labels")
            unknown = set(labels) - set(INTENTS)
            if unknown:
                raise ValueError(f"unknown intents {sorted(unknown)}")
            return cls(
                labels,
                weights,
                bias,
                str(payload["model_name"]),
                str(payload["training_hash"]),
                bool(payload["custom"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise IntentModelError(
                f"{path}: corrupt intent model ({error}); delete it or run `shopassist train intents`"
            ) from error


def _fit_softmax(
    vectors: npt.NDArray[np.float32], targets: npt.NDArray[np.int64], classes: int, args: IntentTrainingArguments
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    import torch

    generator = torch.Generator().manual_seed(args.seed)
    inputs = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)) * args.scale
    labels = torch.from_numpy(targets.astype(np.int64))
    counts = torch.bincount(labels, minlength=classes).float()
    # Balanced classes: the shipped data has more search utterances than compare utterances.
    class_weights = counts.sum() / (classes * counts)
    layer = torch.nn.Linear(inputs.shape[1], classes)
    with torch.no_grad():
        layer.weight.normal_(0.0, 0.01, generator=generator)
        layer.bias.zero_()
    optimizer = torch.optim.Adam(layer.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weights)
    for _ in range(args.epochs):
        optimizer.zero_grad()
        loss = loss_fn(layer(inputs), labels)
        loss.backward()
        optimizer.step()
    weights = (layer.weight.detach() * args.scale).numpy().astype(np.float32)
    return weights, layer.bias.detach().numpy().astype(np.float32)
