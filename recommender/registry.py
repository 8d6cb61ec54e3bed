"""Versioned CTR-ranker artifacts under ``data_dir/models/ranker``: save, promote behind a gate, activate, roll back.

Each version is a directory ``vNNNN`` holding ``model.safetensors`` and ``manifest.json`` (model config,
training arguments, feature names, dev metrics, fingerprints of the training and dev data, and whether the
data was synthetic). ``ACTIVE`` names the version served; ``history.json`` lists earlier activations for
``rollback``. Directories and pointer files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recommender.ctr_model import CtrModel, CtrModelConfig
from recommender.errors import RecommenderError
from recommender.features import FEATURE_NAMES
from retrieval.storage import write_atomically

logger = logging.getLogger(__name__)
GATE_METRIC = "auc"


class RankerArtifactError(RecommenderError):
    """A ranker version is missing, incomplete or corrupt; the message names the path."""


@dataclass(frozen=True)
class ModelVersion:
    name: str
    path: Path
    manifest: dict[str, Any]

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.manifest.get("metrics", {}))

    @property
    def synthetic(self) -> bool:
        return bool(self.manifest.get("synthetic"))


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def persistent(cls, models_path: Path) -> ModelRegistry:
        return cls(models_path / "ranker")

    def versions(self) -> list[ModelVersion]:
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.glob("v[0-9][0-9][0-9][0-9]")):
            try:
                found.append(self.version(path.name))
            except RankerArtifactError:
                logger.warning("skipping unreadable ranker version %s", path)
        return found

    def version(self, name: str) -> ModelVersion:
        path = self.root / name
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise RankerArtifactError(f"{path / 'manifest.json'}: unreadable ranker manifest ({error})") from error
        return ModelVersion(name, path, manifest)

    def active_name(self) -> str | None:
        pointer = self.root / "ACTIVE"
        return pointer.read_text(encoding="utf-8").strip() or None if pointer.exists() else None

    def active(self) -> ModelVersion | None:
        name = self.active_name()
        return self.version(name) if name else None

    def save(self, model: CtrModel, manifest: dict[str, Any]) -> ModelVersion:
        """Write a new version (not yet active)."""
        from safetensors.torch import save_file

        self.root.mkdir(parents=True, exist_ok=True)
        names = [v.path.name for v in self.versions()]
        name = f"v{(int(names[-1][1:]) if names else 0) + 1:04d}"
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".staging-"))
        try:
            state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
            save_file(state, str(staging / "model.safetensors"))
            full = {**manifest, "version": name, "config": model.config.to_dict(), "features": list(FEATURE_NAMES)}
            (staging / "manifest.json").write_text(json.dumps(full, indent=2), encoding="utf-8")
            os.replace(staging, self.root / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.version(name)

    def activate(self, name: str) -> None:
        version = self.version(name)  # refuses unknown or unreadable versions
        if not (version.path / "model.safetensors").exists():
            raise RankerArtifactError(f"{version.path}: no model.safetensors")
        previous = self.active_name()
        if previous and previous != name:
            history = self._history()
            write_atomically(self.root / "history.json", json.dumps([*history, previous]))
        write_atomically(self.root / "ACTIVE", name)

    def rollback(self) -> str:
        """Re-activate the version that was active before the current one."""
        history = self._history()
        if not history:
            raise RecommenderError(f"{self.root}: no earlier ranker version to roll back to")
        previous = history[-1]
        write_atomically(self.root / "history.json", json.dumps(history[:-1]))
        write_atomically(self.root / "ACTIVE", previous)
        return previous

    def _history(self) -> list[str]:
        path = self.root / "history.json"
        return list(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else []

    def load(self, name: str, device: str = "cpu") -> tuple[CtrModel, Any, ModelVersion]:
        """The model and tokenizer of a version; any problem with the files raises RankerArtifactError."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from recommender.training import load_encoder

        version = self.version(name)
        weights = version.path / "model.safetensors"
        try:
            config = CtrModelConfig(**version.manifest["config"])
            if list(version.manifest.get("features", [])) != list(FEATURE_NAMES):
                raise ValueError("it was trained with other features; retrain it")
            encoder, tokenizer, dimension = load_encoder(config)
            model = CtrModel(encoder, dimension, config)
            model.load_state_dict(load_file(str(weights)))
            model.merge_adapters()
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
            raise RankerArtifactError(f"{weights}: cannot load ranker {name} ({error})") from error
        model.to(device).eval()
        return model, tokenizer, version


def gate(candidate: dict[str, float], active: dict[str, float] | None) -> tuple[bool, str]:
    """A new version goes live only if it is at least as good as the active one on the same dev set."""
    if active is None:
        return True, "no active version"
    new, old = candidate.get(GATE_METRIC, float("nan")), active.get(GATE_METRIC, float("nan"))
    if new >= old:
        return True, f"dev {GATE_METRIC} {new:.4f} ≥ active {old:.4f}"
    return False, f"dev {GATE_METRIC} {new:.4f} < active {old:.4f}: kept the active version"
