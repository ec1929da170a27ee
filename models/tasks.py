"""Task specifications and the shared encoding of targets and decisions for every model family.

Conventions (one place, so the baseline, the transformer, evaluation and scoring agree):
- targets `Y[task]`: for `single`/`binary` an int array (n,) of label indices, `UNLABELED` where the post has
  no gold label for that task; for `multi` an int8 array (n, L) of 0/1, every entry `UNLABELED` in a row with
  no gold label.
- probabilities `P[task]`: a float array (n, L) in label order (binary tasks too: two columns).
- thresholds `T[task]`: for `multi` one threshold per label; for `binary` one threshold on the positive label;
  `single` tasks take the argmax and have no threshold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

UNLABELED = -1
"""Target value meaning "no gold label for this task on this post" (masked out of losses and metrics)."""


@dataclass(frozen=True)
class TaskSpec:
    name: str
    kind: str  # single | multi | binary
    labels: tuple[str, ...]
    positive: str | None = None

    @property
    def positive_index(self) -> int:
        if self.kind != "binary" or self.positive is None:
            raise ValueError(f"task {self.name!r} is not binary")
        return self.labels.index(self.positive)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TaskSpec":
        labels = tuple(l["name"] if isinstance(l, Mapping) else str(l) for l in data["labels"])
        return cls(str(data["name"]), str(data["kind"]), labels, data.get("positive"))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "labels": list(self.labels), "positive": self.positive}


def specs_from_taxonomy_dict(taxonomy: Mapping[str, Any]) -> list[TaskSpec]:
    """Task specs from the YAML-shaped taxonomy dict that travels inside artifacts."""
    return [TaskSpec.from_dict(task) for task in taxonomy["tasks"]]


def labeled_mask(spec: TaskSpec, y: np.ndarray) -> np.ndarray:
    """Boolean (n,) mask of posts that carry a gold label for this task."""
    if spec.kind == "multi":
        return ~(y == UNLABELED).all(axis=1)
    return y != UNLABELED


def default_thresholds(specs: Sequence[TaskSpec]) -> dict[str, list[float]]:
    return {s.name: ([0.5] * len(s.labels) if s.kind == "multi" else [0.5]) for s in specs if s.kind != "single"}


def decide(spec: TaskSpec, proba: np.ndarray, thresholds: Sequence[float] | None = None) -> list[Any]:
    """Turn probabilities into labels: a label per post, or a list of labels per post for multi tasks."""
    names = spec.labels
    if spec.kind == "multi":
        cut = np.asarray(thresholds if thresholds is not None else [0.5] * len(names), dtype=float)
        hits = proba >= cut
        return [[names[j] for j in np.flatnonzero(row)] for row in hits]
    if spec.kind == "binary":
        cut = float(thresholds[0]) if thresholds is not None else 0.5
        pos = spec.positive_index
        neg = 1 - pos
        return [names[pos] if p >= cut else names[neg] for p in proba[:, pos]]
    return [names[j] for j in proba.argmax(axis=1)]


def decide_indices(spec: TaskSpec, proba: np.ndarray, thresholds: Sequence[float] | None = None) -> np.ndarray:
    """Decisions in target encoding (indices, or a 0/1 matrix for multi tasks), for metrics."""
    if spec.kind == "multi":
        cut = np.asarray(thresholds if thresholds is not None else [0.5] * len(spec.labels), dtype=float)
        return (proba >= cut).astype(np.int8)
    if spec.kind == "binary":
        cut = float(thresholds[0]) if thresholds is not None else 0.5
        pos = spec.positive_index
        return np.where(proba[:, pos] >= cut, pos, 1 - pos)
    return proba.argmax(axis=1)


def read_artifact_meta(meta_path: Path, fmt: str, version: int, writer: str) -> dict[str, Any]:
    """The JSON metadata of a saved model folder, after checking it is the format this code reads.

    Shared by every model family so that a wrong folder or an old format fails the same, readable way
    before any weights or pickles are touched.
    """
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: expected a folder written by {writer}.save")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != fmt or meta.get("format_version") != version:
        raise ValueError(f"{meta_path}: expected format {fmt!r} version {version}, found "
                         f"{meta.get('format')!r} version {meta.get('format_version')!r}")
    return meta
