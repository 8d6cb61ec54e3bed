"""The intent classifier: a softmax head over the message's sentence embedding and the dialogue's state.

The head reads the message together with a small description of the session (``IntentContext``: how many
product cards are on screen, the last turn's intent, whether it answered from the FAQ, whether the
assistant just asked a question), so that "how long does that take" after a shipping answer and "how much
is it" next to a product card mean different things.

It is trained on (context, utterance) pairs built at train time (``training_examples``) from:

- the project's written utterances (``assistant/data/intents.yaml``) and its situated ones
  (``intents_context.yaml``: follow-ups whose intent depends on the situation);
- samples of two public sets relabelled to our intents (``intents_bitext.yaml``, CDLA-Sharing-1.0, and
  ``intents_clinc150.yaml``, CC BY 3.0; attribution in ``assistant/data/README.md``);
- the store's own words: its FAQ questions, and utterances generated from its catalog (category, brand and
  title words in search, refine, product-question and compare templates), so the head is retrained when the
  catalog's vocabulary or the FAQ changes;
- noisy copies (lower case, no punctuation, a typo).

Training takes seconds on a CPU (a few thousand short texts to embed, one linear layer); the head is
cached next to the other models, keyed by the embedding model and a hash of the training examples.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml

from assistant.errors import IntentModelError
from assistant.turn import INTENTS
from retrieval.embeddings import Embedder
from retrieval.storage import write_atomically

_FORMAT = 2
# Situations a follow-up is said in (the keys of ``after`` in intents_context.yaml).
SITUATIONS = ("start", "results", "product", "faq", "clarify", "chat")
_PUBLIC_FILES = ("intents_bitext.yaml", "intents_clinc150.yaml")
# The share of written and generated utterances that also get a noisy copy.
_NOISY_SHARE = 0.25
_SEARCH_TEMPLATES = (
    "do you sell {item}?", "do you have {item}", "do you carry {item}?", "i'm looking for {item}", "show me {item}",
    "{item}", "i need {item}", "any {item} under ${amount}?", "do you sell refurbished {item}?", "got any used {item}",
    "{brand} {category}", "looking for a {brand} {category} under {amount}", "cheapest {category} you have",
    "best {category}", "{item} with {feature}", "what {category} do you have", "{brand}", "{category} please",
)  # fmt: skip
_REFINE_TEMPLATES = (
    "only {brand}", "just {brand} please", "not {brand}", "no {brand}", "anything but {brand}",
    "show me {brand} instead", "what about {brand}?", "with {feature}", "only ones with {feature}",
    "under ${amount} please", "cheaper {brand} ones", "make it {brand}",
)  # fmt: skip
_QUESTION_TEMPLATES = (
    "does the {ordinal} one have {feature}?", "how much {feature} does the {ordinal} one have?",
    "is the {brand} one {feature}?", "does it have {feature}", "what about the {feature} on the {ordinal} one",
    "tell me more about the {ordinal} one", "is the {ordinal} one any good", "does the {brand} come with {feature}?",
    "what's the {feature} of the {ordinal} one", "how much is the {brand} one",
)  # fmt: skip
_COMPARE_TEMPLATES = (
    "compare the {brand} and the {other_brand}", "{brand} or {other_brand}, which is better?",
    "what's the difference between the {ordinal} and the {other_ordinal}", "{ordinal} vs {other_ordinal}",
    "compare the {ordinal} and {other_ordinal} ones", "is the {brand} better than the {other_brand}?",
)  # fmt: skip
_ORDINALS = ("first", "second", "third", "fourth", "last", "1st", "2nd")
_TITLE_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+-]{2,}")
_GENERATED_PER_TEMPLATE = 8


def _data_path(name: str) -> Path:
    return Path(str(resources.files("assistant") / "data" / name))


def default_training_data_path() -> Path:
    """The project's written utterances, one list per intent (what ``--data`` replaces)."""
    return _data_path("intents.yaml")


def situated_data_path() -> Path:
    return _data_path("intents_context.yaml")


def public_data_paths() -> list[Path]:
    return [_data_path(name) for name in _PUBLIC_FILES]


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise IntentModelError(f"{path}: cannot read intent utterances: {error}") from error


def _utterance_lists(data: object, where: str) -> dict[str, list[str]]:
    if not isinstance(data, dict):
        raise IntentModelError(f"{where}: expected a mapping of intent → list of utterances")
    utterances: dict[str, list[str]] = {}
    for intent, examples in data.items():
        if intent not in INTENTS:
            raise IntentModelError(f"{where}: unknown intent {intent!r}; known: {', '.join(INTENTS)}")
        if not isinstance(examples, list) or not all(isinstance(e, str) and e.strip() for e in examples):
            raise IntentModelError(f"{where}: {intent}: expected a list of non-empty strings")
        utterances[intent] = list(examples)
    return utterances


def load_utterances(path: Path, *, every_intent: bool = True) -> dict[str, list[str]]:
    """``{intent: [utterance, ...]}`` from a YAML file; every key must be a known intent (and, by default, every
    intent must have utterances)."""
    utterances = _utterance_lists(_read_yaml(path), str(path))
    missing = [intent for intent in INTENTS if not utterances.get(intent)]
    if every_intent and missing:
        raise IntentModelError(f"{path}: no utterances for {', '.join(missing)}")
    return utterances


@dataclass(frozen=True)
class SituatedUtterances:
    """``anywhere``: intent → utterances in any situation; ``after``: situation → intent → utterances."""

    anywhere: dict[str, list[str]]
    after: dict[str, dict[str, list[str]]]


def load_situated(path: Path) -> SituatedUtterances:
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("after", {}), dict):
        raise IntentModelError(f"{path}: expected `anywhere: {{intent: [...]}}` and `after: {{situation: ...}}`")
    unknown = set(data.get("after", {})) - set(SITUATIONS)
    if unknown:
        raise IntentModelError(f"{path}: unknown situations {sorted(unknown)}; known: {', '.join(SITUATIONS)}")
    return SituatedUtterances(
        _utterance_lists(data.get("anywhere", {}), f"{path}: anywhere"),
        {
            situation: _utterance_lists(by_intent, f"{path}: after.{situation}")
            for situation, by_intent in data.get("after", {}).items()
        },
    )


@dataclass(frozen=True)
class IntentContext:
    """What the classifier knows about the session besides the message."""

    cards: int = 0  # product cards on screen
    last_intent: str | None = None
    faq_answered: bool = False  # the last turn quoted an FAQ entry
    clarifying: bool = False  # the last turn asked the customer a question

    def features(self) -> npt.NDArray[np.float32]:
        """None / one / several cards, the last intent one-hot, and the two flags."""
        vector = np.zeros(CONTEXT_FEATURES, dtype=np.float32)
        vector[min(self.cards, 2)] = 1.0
        if self.last_intent in INTENTS:
            vector[3 + INTENTS.index(self.last_intent)] = 1.0
        vector[3 + len(INTENTS)] = float(self.faq_answered)
        vector[4 + len(INTENTS)] = float(self.clarifying)
        return vector


CONTEXT_FEATURES = 5 + len(INTENTS)
# The situations in which the same words change meaning get their own copy of the embedding weights:
# after an FAQ answer ("how long does it take to get there") and with cards on screen ("how much is it").
# A shift of the logits by context alone cannot say "vague questions become FAQ follow-ups here".
_INTERACTIONS = 2


def design_matrix(vectors: npt.NDArray[np.float32], contexts: Sequence[IntentContext]) -> npt.NDArray[np.float32]:
    """[embedding; context features; embedding × after an FAQ answer; embedding × cards on screen]."""
    if len(contexts) != len(vectors):
        raise ValueError(f"{len(vectors)} messages but {len(contexts)} contexts")
    after_faq = np.array([[float(c.faq_answered)] for c in contexts], dtype=np.float32)
    with_cards = np.array([[float(c.cards > 0)] for c in contexts], dtype=np.float32)
    features = np.stack([context.features() for context in contexts])
    return np.hstack([vectors, features, vectors * after_faq, vectors * with_cards]).astype(np.float32)


def _width(dimension: int) -> int:
    return dimension * (1 + _INTERACTIONS) + CONTEXT_FEATURES


def _embedding_columns(dimension: int) -> npt.NDArray[np.bool_]:
    columns = np.ones(_width(dimension), dtype=bool)
    columns[dimension : dimension + CONTEXT_FEATURES] = False
    return columns


def sample_context(situation: str, rng: random.Random) -> IntentContext:
    """A plausible session state for a situation (``SITUATIONS``)."""
    if situation == "start":
        return IntentContext()
    if situation == "results":
        return IntentContext(rng.randint(1, 5), rng.choice(("product_search", "refine")))
    if situation == "product":
        return IntentContext(rng.randint(1, 5), rng.choice(("product_question", "compare", "product_question")))
    if situation == "faq":
        # Policy questions come before a search and in the middle of one (the cards stay on screen).
        return IntentContext(rng.choice((0, 0, 1, 3, 5)), "faq", faq_answered=True)
    if situation == "clarify":
        return IntentContext(0, "product_search", clarifying=True)
    if situation == "chat":
        return IntentContext(0, rng.choice(("smalltalk", "out_of_scope", "order_status", "faq", "handoff")))
    raise IntentModelError(f"unknown situation {situation!r}; known: {', '.join(SITUATIONS)}")


@dataclass(frozen=True)
class StoreSample:
    """The store's own words: catalog categories, brands, a sample of product titles, and its FAQ questions."""

    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    faq_questions: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainingExample:
    """One utterance and its intent in each of ``contexts`` (the utterance is embedded once)."""

    text: str
    intent: str
    contexts: tuple[IntentContext, ...] = (IntentContext(),)


def examples_without_context(utterances: Mapping[str, Sequence[str]]) -> list[TrainingExample]:
    """The text-only examples of a ``{intent: [utterance, ...]}`` mapping (the previous head's training set)."""
    return [TrainingExample(text, intent) for intent in utterances for text in utterances[intent]]


def _noisy(text: str, rng: random.Random) -> str:
    """How people type in a chat box: lower case, no punctuation, and one slip of the finger."""
    words = re.sub(r"[^\w\s$'-]", "", text.lower()).split()
    long = [i for i, word in enumerate(words) if len(word) >= 4 and word.isalpha()]
    if long:
        i = rng.choice(long)
        word, cut = words[i], rng.randint(1, len(words[i]) - 2)
        slips = (word[:cut] + word[cut + 1 :], word[:cut] + word[cut + 1] + word[cut] + word[cut + 2 :])
        words[i] = rng.choice(slips)
    return " ".join(words)


def _catalog_terms(catalog: StoreSample) -> tuple[list[str], list[str], list[str]]:
    """(categories as people say them, item phrases, feature words) from the catalog's own values."""
    # "Laptops & Notebook Computers" is said "laptops" or "notebook computers".
    categories = sorted(
        {part.strip().lower() for c in catalog.categories for part in re.split(r"[&,/]| and ", c) if part.strip()}
    )
    naming = {w.lower() for text in (*catalog.brands, *categories) for w in _TITLE_WORD.findall(text)}
    items: list[str] = []
    features: set[str] = set()
    for title in catalog.titles:
        words = _TITLE_WORD.findall(title.split(" - ")[0])
        plain = [w for w in words if w.lower() not in naming]
        if len(words) >= 2:
            items.append(" ".join(words[:3]).lower())
        features.update(w.lower() for w in plain if not w.isupper() or len(w) <= 5)
    return categories, sorted(set(items)), sorted(features)


def catalog_utterances(catalog: StoreSample, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """(text, intent, situation) from templates filled with the store's own words."""
    categories, items, features = _catalog_terms(catalog)
    brands = [brand for brand in catalog.brands if brand.strip()]
    if not categories and not brands:
        return
    pick = {
        "category": lambda: rng.choice(categories or brands).lower(),
        "brand": lambda: rng.choice(brands or categories),
        "other_brand": lambda: rng.choice(brands or categories),
        "item": lambda: rng.choice(items + categories if items else categories or brands).lower(),
        "feature": lambda: rng.choice(features or categories or brands).lower(),
        "ordinal": lambda: rng.choice(_ORDINALS),
        "other_ordinal": lambda: rng.choice(_ORDINALS),
        "amount": lambda: str(rng.choice((20, 50, 100, 200, 300, 500, 800, 1000))),
    }
    groups = (
        # A new search comes first, after small talk, or in the middle of another one.
        (_SEARCH_TEMPLATES, "product_search", ("start", "start", "chat", "results", "faq")),
        (_REFINE_TEMPLATES, "refine", ("results",)),
        (_QUESTION_TEMPLATES, "product_question", ("results", "product")),
        (_COMPARE_TEMPLATES, "compare", ("results",)),
    )
    for templates, intent, situations in groups:
        for template in templates:
            for _ in range(_GENERATED_PER_TEMPLATE):
                names = re.findall(r"{(\w+)}", template)
                yield template.format(**{name: pick[name]() for name in names}), intent, rng.choice(situations)


def training_examples(
    written: Mapping[str, Sequence[str]],
    situated: SituatedUtterances,
    public: Sequence[Mapping[str, Sequence[str]]],
    store: StoreSample,
    seed: int = 0,
) -> list[TrainingExample]:
    """The (context, utterance) pairs the head is trained on; deterministic for a given seed."""
    rng = random.Random(seed)
    examples: list[TrainingExample] = []

    def anywhere(text: str, intent: str) -> None:
        situation = rng.choice(SITUATIONS[1:])
        if intent == "refine":
            # "only Sony" edits the results on screen; with nothing to edit it is a new search.
            examples.append(TrainingExample(text, "product_search", (IntentContext(),)))
            examples.append(TrainingExample(text, intent, (sample_context("results", rng),)))
        elif intent == "faq":
            examples.append(TrainingExample(text, intent, (IntentContext(), sample_context(situation, rng))))
        else:
            # Every other intent also after an FAQ answer: the follow-ups there are FAQ questions, but "can I
            # speak to a person" or "hello" still mean what they say.
            contexts = (IntentContext(), sample_context(situation, rng), sample_context("faq", rng))
            examples.append(TrainingExample(text, intent, contexts))

    def situated_in(text: str, intent: str, situation: str) -> None:
        examples.append(TrainingExample(text, intent, tuple(sample_context(situation, rng) for _ in range(3))))

    own = [(text, intent) for source in (written, situated.anywhere) for intent in source for text in source[intent]]
    for text, intent in own:
        anywhere(text, intent)
        if rng.random() < _NOISY_SHARE:
            anywhere(_noisy(text, rng), intent)
    # The store's FAQ questions define what this store answers from its FAQ: a few hundred at most, each
    # seen in every situation and as typed in a hurry, so they outweigh look-alikes from the public sets.
    for question in store.faq_questions:
        for text in (question, _noisy(question, rng)):
            examples.append(TrainingExample(text, "faq", tuple(sample_context(s, rng) for s in SITUATIONS)))
    for mapping in public:
        for intent, texts in mapping.items():
            for text in texts:
                anywhere(text, intent)
    followups = [
        (text, intent, situation)
        for situation, by_intent in situated.after.items()
        for intent, texts in by_intent.items()
        for text in texts
    ]
    for text, intent, situation in [*followups, *catalog_utterances(store, rng)]:
        situated_in(text, intent, situation)
        if rng.random() < _NOISY_SHARE:
            situated_in(_noisy(text, rng), intent, situation)
    return examples


def data_hash(examples: Sequence[TrainingExample]) -> str:
    rows = [[e.text, e.intent, [asdict(c) for c in e.contexts]] for e in examples]
    return hashlib.sha1(json.dumps(rows).encode()).hexdigest()[:16]


@dataclass
class IntentTrainingArguments:
    epochs: int = 200
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
    """Multinomial logistic regression on [L2-normalised sentence embedding; context features]."""

    labels: list[str]
    weights: npt.NDArray[np.float32]  # (labels, design_matrix width)
    bias: npt.NDArray[np.float32]
    model_name: str
    training_hash: str
    custom: bool = False  # trained on a store's own utterances rather than the shipped ones

    @classmethod
    def train(
        cls,
        examples: Sequence[TrainingExample],
        embedder: Embedder,
        args: IntentTrainingArguments | None = None,
        *,
        custom: bool = False,
    ) -> IntentClassifier:
        args = args or IntentTrainingArguments()
        present = {example.intent for example in examples}
        labels = [intent for intent in INTENTS if intent in present]
        texts = list(dict.fromkeys(example.text for example in examples))
        row_of = {text: i for i, text in enumerate(texts)}
        vectors = embedder.embed(texts)
        rows = [(row_of[e.text], labels.index(e.intent), context) for e in examples for context in e.contexts]
        inputs = design_matrix(vectors[[row for row, _, _ in rows]] * args.scale, [context for _, _, context in rows])
        targets = np.array([label for _, label, _ in rows], dtype=np.int64)
        weights, bias = _fit_softmax(inputs, targets, len(labels), args)
        # Fold the scale into the embedding weights: predictions take raw embeddings.
        weights[:, _embedding_columns(vectors.shape[1])] *= args.scale
        return cls(labels, weights, bias, embedder.name, data_hash(examples), custom)

    def probabilities(
        self, vectors: npt.NDArray[np.float32], contexts: Sequence[IntentContext] | None = None
    ) -> npt.NDArray[np.float64]:
        """One row of label probabilities per message; ``contexts`` default to an empty session."""
        features = design_matrix(vectors, contexts or [IntentContext()] * len(vectors))
        logits = features.astype(np.float64) @ self.weights.T.astype(np.float64) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def predict_vectors(
        self, vectors: npt.NDArray[np.float32], contexts: Sequence[IntentContext] | None = None
    ) -> list[IntentPrediction]:
        predictions = []
        for row in self.probabilities(vectors, contexts):
            best = int(row.argmax())
            scores = {label: float(p) for label, p in zip(self.labels, row, strict=True)}
            predictions.append(IntentPrediction(self.labels[best], float(row[best]), scores))
        return predictions

    def classify(
        self,
        vectors: npt.NDArray[np.float32],
        threshold: float,
        contexts: Sequence[IntentContext] | None = None,
    ) -> list[str]:
        """The predicted intent per row, or ``out_of_scope`` when the classifier is less sure than ``threshold``."""
        return [
            p.intent if p.confidence >= threshold else "out_of_scope" for p in self.predict_vectors(vectors, contexts)
        ]

    def save(self, path: Path) -> None:
        """Written atomically: a crash never leaves a half-written model where a good one was."""
        payload = {
            "format": _FORMAT,
            "labels": self.labels,
            "context_features": CONTEXT_FEATURES,
            "weights": self.weights.tolist(),
            "bias": self.bias.tolist(),
            "model_name": self.model_name,
            "training_hash": self.training_hash,
            "custom": self.custom,
        }
        write_atomically(path, json.dumps(payload))

    @classmethod
    def load(cls, path: Path) -> IntentClassifier:
        """A saved head; one saved before the head read the context (format 1) gets zero context weights."""
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            labels = [str(label) for label in payload["labels"]]
            weights = np.asarray(payload["weights"], dtype=np.float32)
            bias = np.asarray(payload["bias"], dtype=np.float32)
            if weights.ndim != 2 or weights.shape[0] != len(labels) or bias.shape != (len(labels),):
                raise ValueError(f"weights {weights.shape} and bias {bias.shape} do not fit {len(labels)} labels")
            if payload.get("format") == 1:
                padding = _width(weights.shape[1]) - weights.shape[1]
                weights = np.hstack([weights, np.zeros((len(labels), padding), dtype=np.float32)])
            elif payload.get("format") != _FORMAT:
                raise ValueError(f"format {payload.get('format')!r}, expected {_FORMAT}")
            elif (weights.shape[1] - CONTEXT_FEATURES) % (1 + _INTERACTIONS) or payload.get(
                "context_features"
            ) != CONTEXT_FEATURES:
                raise ValueError(f"weights {weights.shape} do not fit {CONTEXT_FEATURES} context features")
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
    inputs: npt.NDArray[np.float32], targets: npt.NDArray[np.int64], classes: int, args: IntentTrainingArguments
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    import torch

    generator = torch.Generator().manual_seed(args.seed)
    features = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    labels = torch.from_numpy(targets)
    counts = torch.bincount(labels, minlength=classes).float()
    # Balanced classes: the public sets bring far more FAQ and out-of-scope utterances than compare ones.
    class_weights = counts.sum() / (classes * counts.clamp(min=1.0))
    layer = torch.nn.Linear(features.shape[1], classes)
    with torch.no_grad():
        layer.weight.normal_(0.0, 0.01, generator=generator)
        layer.bias.zero_()
    optimizer = torch.optim.Adam(layer.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weights)
    for _ in range(args.epochs):
        optimizer.zero_grad()
        loss = loss_fn(layer(features), labels)
        loss.backward()
        optimizer.step()
    return layer.weight.detach().numpy().astype(np.float32), layer.bias.detach().numpy().astype(np.float32)
