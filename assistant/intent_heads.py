"""The intent head each store uses: trained on the shipped utterances and the store's own catalog and FAQ,
saved under the store's models folder by training hash, and loaded (or trained) on first use."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from pathlib import Path

from assistant.errors import IntentModelError
from assistant.intents import (
    IntentClassifier,
    StoreSample,
    TrainingExample,
    default_training_data_path,
    load_situated,
    load_utterances,
    public_data_paths,
    situated_data_path,
    training_examples,
)
from assistant.intents import data_hash as training_data_hash
from retrieval import Store

logger = logging.getLogger(__name__)

_classifiers: dict[tuple[Path, str], IntentClassifier] = {}
_classifiers_lock = threading.Lock()


def intent_model_path(store: Store, training_hash: str | None = None) -> Path:
    """Where the store's head is saved: the shipped head's file is named by its training hash, one trained on a
    store's own utterances (``training_hash`` None) by the model alone.

    The shipped head depends on the catalog and FAQ: stores with different catalogs sharing a data folder
    (tests, staging) each keep theirs instead of retraining in turn.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", store.embedder.name).strip("_")
    return (
        store.settings.models_path / "intents" / (f"{slug}-{training_hash}.json" if training_hash else f"{slug}.json")
    )


_TITLES_FOR_INTENTS = 200


def store_sample(store: Store) -> StoreSample:
    """The store's categories, brands and FAQ questions, and the titles of a stable sample of its products."""
    lexicon = store.products.lexicon()
    # A hash of the id picks the sample: it does not move when unrelated products are added or edited.
    ids = sorted(store.products.hashes(), key=lambda product_id: hashlib.sha1(product_id.encode()).hexdigest())
    titles = sorted(product.title for product in store.products.get(ids[:_TITLES_FOR_INTENTS]).values())
    questions = [text for entry in store.faq.all() for text in (entry.question, *entry.alternatives)]
    return StoreSample(lexicon.categories, lexicon.brands, tuple(titles), tuple(questions))


def intent_training_examples(store: Store, data_file: Path | None = None) -> list[TrainingExample]:
    """What the store's head trains on: ``data_file`` (default: the shipped written utterances), the situated
    and public utterances shipped with shopassist, and utterances generated from the store's catalog."""
    return training_examples(
        load_utterances(data_file or default_training_data_path()),
        load_situated(situated_data_path()),
        [load_utterances(path, every_intent=False) for path in public_data_paths()],
        store_sample(store),
    )


def train_intent_classifier(store: Store, data_file: Path | None = None) -> IntentClassifier:
    """Train the head on ``data_file`` (default: the shipped utterances) and save it for the store's model."""
    examples = intent_training_examples(store, data_file)
    classifier = IntentClassifier.train(examples, store.embedder, custom=data_file is not None)
    path = intent_model_path(store, None if classifier.custom else classifier.training_hash)
    classifier.save(path)
    with _classifiers_lock:
        _classifiers[(path.resolve(), store.embedder.name)] = classifier
    return classifier


def load_intent_classifier(store: Store) -> IntentClassifier:
    """The saved head for the store's embedding model; trained first when missing, or older than the shipped
    data or the store's catalog and FAQ.

    A head trained by ``shopassist train intents --data FILE`` on a store's own utterances is kept as it is
    (delete it to go back to the shipped one).
    """
    shipped = intent_model_path(store, training_data_hash(intent_training_examples(store)))
    for path in (intent_model_path(store), shipped):
        key = (path.resolve(), store.embedder.name)
        with _classifiers_lock:
            if key in _classifiers:
                return _classifiers[key]
        if not path.exists():
            continue
        try:
            classifier = IntentClassifier.load(path)
        except IntentModelError:
            logger.warning("the saved intent model is unusable; retraining it", exc_info=True)
            continue
        if classifier.model_name == store.embedder.name and (classifier.custom or path == shipped):
            with _classifiers_lock:
                _classifiers[key] = classifier
            return classifier
    return train_intent_classifier(store)
