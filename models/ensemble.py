"""`EnsembleClassifier`: the TF-IDF baseline and the transformer, combined per task by a weighted mean.

Why a weighted mean of calibrated probabilities and not a stacker: users bring hundreds to a few thousand
labels, and the combiner could only be fitted on the validation split; a stacker over every label's probability
overfits that. The weight is one number per task: equal shares by default (`ensemble.baseline_weight`), which
measured better than a weight chosen on validation log loss on most shared corpora (`training.recipe.combine`
says why). Both members are calibrated (temperature scaling) before they are mixed, so the weight trades skill,
not scale. The two families err differently (character n-grams against contextual meaning), which is where the
gain comes from.

Saved as one folder: each member's own `save()` output in a subfolder, and `ensemble.json` with the weights, the
members' temperatures and the thresholds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from models.calibration import apply_temperatures
from models.tasks import TaskSpec, as_texts, check_specs, default_thresholds, read_artifact_meta

ARTIFACT_FORMAT = "occ-insights/ensemble"
ARTIFACT_FORMAT_VERSION = 1
META_FILE = "ensemble.json"
MEMBERS = ("baseline", "transformer")


def _load_member(kind: str, directory: Path) -> Any:
    if kind == "baseline":
        from models.baseline import TfidfMultiTaskClassifier

        return TfidfMultiTaskClassifier.load(directory)
    from models.transformer import TransformerClassifier

    return TransformerClassifier.load(directory)


class EnsembleClassifier:
    """p(task) = w_task * p_baseline(task) + (1 - w_task) * p_transformer(task), each member calibrated first.

    Args:
        tasks: the task specs. members: {"baseline": fitted model, "transformer": fitted model}.
        temperatures: each member's per-task temperatures (`models.calibration`), or None.
        weights: {task: weight of the baseline in [0, 1]}.
    """

    def __init__(self, tasks: Sequence[TaskSpec], members: Mapping[str, Any],
                 temperatures: Mapping[str, Mapping[str, list[float]] | None], weights: Mapping[str, float]) -> None:
        self.tasks = check_specs(tasks)
        missing = [m for m in MEMBERS if m not in members]
        if missing:
            raise ValueError(f"an ensemble needs both members {MEMBERS}; missing {missing}")
        bad = {t: w for t, w in weights.items() if not 0.0 <= float(w) <= 1.0}
        if bad or set(weights) != {t.name for t in self.tasks}:
            raise ValueError(f"weights must give every task a value in [0, 1]; got {dict(weights)}")
        self.members = dict(members)
        self.temperatures = {m: (dict(temperatures.get(m) or {}) or None) for m in MEMBERS}
        self.weights = {t: float(w) for t, w in weights.items()}
        self.thresholds_ = default_thresholds(self.tasks)

    @property
    def history_(self) -> list[dict]:
        """The transformer member's epoch history: the ensemble's training curve (MLflow steps, DVC's plot)."""
        return list(getattr(self.members["transformer"], "history_", None) or [])

    def member_proba(self, texts: Sequence[str], batch_size: int | None = None,
                     precision: str | None = None) -> dict[str, dict[str, np.ndarray]]:
        """Each member's calibrated probabilities (what the mix is made of)."""
        texts = as_texts(texts)
        raw = {"baseline": self.members["baseline"].predict_proba(texts),
               "transformer": self.members["transformer"].predict_proba(texts, batch_size=batch_size, precision=precision)}
        return {m: apply_temperatures(self.tasks, raw[m], self.temperatures[m]) for m in MEMBERS}

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None,
                      precision: str | None = None) -> dict[str, np.ndarray]:
        parts = self.member_proba(texts, batch_size=batch_size, precision=precision)
        return mix(self.tasks, parts["baseline"], parts["transformer"], self.weights)

    def save(self, directory: str | Path) -> Path:
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        for name in MEMBERS:
            self.members[name].save(folder / name)
        meta = {"format": ARTIFACT_FORMAT, "format_version": ARTIFACT_FORMAT_VERSION,
                "tasks": [t.to_dict() for t in self.tasks], "weights": self.weights,
                "temperatures": self.temperatures, "thresholds": self.thresholds_}
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, directory: str | Path) -> "EnsembleClassifier":
        folder = Path(directory)
        meta = read_artifact_meta(folder / META_FILE, ARTIFACT_FORMAT, ARTIFACT_FORMAT_VERSION, cls.__name__)
        tasks = [TaskSpec.from_dict(t) for t in meta["tasks"]]
        members = {name: _load_member(name, folder / name) for name in MEMBERS}
        self = cls(tasks, members, meta["temperatures"], meta["weights"])
        self.thresholds_ = {k: list(v) for k, v in meta["thresholds"].items()}
        return self


def mix(specs: Sequence[TaskSpec], first: Mapping[str, np.ndarray], second: Mapping[str, np.ndarray],
        weights: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Per task: weights[task] * first + (1 - weights[task]) * second."""
    return {s.name: weights[s.name] * np.asarray(first[s.name], dtype=float)
            + (1.0 - weights[s.name]) * np.asarray(second[s.name], dtype=float) for s in specs}
