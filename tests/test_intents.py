"""The trained intent head: training, saving, loading, corrupt files, and the held-out split staying held out."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from assistant import IntentClassifier, IntentModelError, train_intent_classifier
from assistant.intents import default_training_data_path, load_utterances
from retrieval import Store

HELD_OUT = Path(__file__).parents[1] / "benchmarks" / "data" / "intents_heldout.yaml"


def test_held_out_utterances_never_appear_in_training() -> None:
    training = {
        text.casefold().strip() for texts in load_utterances(default_training_data_path()).values() for text in texts
    }
    held_out = yaml.safe_load(HELD_OUT.read_text(encoding="utf-8"))
    overlap = [text for texts in held_out.values() for text in texts if text.casefold().strip() in training]
    assert overlap == []
    assert sum(len(texts) for texts in held_out.values()) >= 200


def test_training_saving_and_loading_round_trip(store: Store, tmp_path: Path) -> None:
    classifier = IntentClassifier.train(load_utterances(default_training_data_path()), store.embedder)
    path = tmp_path / "intents.json"
    classifier.save(path)
    loaded = IntentClassifier.load(path)
    vectors = store.embedder.embed(["where is my parcel", "compare the first two", "hi"])
    assert [p.intent for p in loaded.predict_vectors(vectors)] == ["order_status", "compare", "smalltalk"]
    np.testing.assert_allclose(loaded.probabilities(vectors), classifier.probabilities(vectors), rtol=1e-5)


def test_a_corrupt_model_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "intents.json"
    path.write_text('{"format": 1, "labels": ["faq"], "weights": [[0.1, 0.2]], "bias": [0.0, 1.0]}')
    with pytest.raises(IntentModelError, match=rf"{path}: corrupt intent model"):
        IntentClassifier.load(path)


def test_training_data_with_an_unknown_intent_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("faq: [how much is shipping]\nweather: [will it rain]\n")
    with pytest.raises(IntentModelError, match=rf"{path}: unknown intent 'weather'"):
        load_utterances(path)


def test_a_store_can_train_on_its_own_utterances(store: Store, tmp_path: Path) -> None:
    utterances = load_utterances(default_training_data_path())
    utterances["faq"] = [*utterances["faq"], "do you do layaway", "can I put an item on layaway"]
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(utterances))
    store.settings = store.settings.model_copy(update={"data_dir": tmp_path / "var"})
    classifier = train_intent_classifier(store, path)
    assert classifier.custom
    assert IntentClassifier.load(tmp_path / "var" / "models" / "intents" / "all-MiniLM-L6-v2.json").custom
