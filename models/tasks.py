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


# ------------------------------------------------------------------------------------- shared validation
# Every model family checks its inputs the same way, so a wrong call fails with the same readable message
# whichever family it reaches.


class TextInputError(TypeError):
    """The texts passed to a model are not a sequence of strings (or a DataFrame with a `text` column)."""


def as_texts(X: Any) -> list[str]:
    """Normalize model input to a list of strings.

    Why: a DataFrame (what an MLflow pyfunc receives) iterates over its *column names*, so passing one to a
    vectorizer silently featurizes the word "text"; a bare string iterates over characters.

    Args:
        X: list/tuple/ndarray/Series of strings, or a DataFrame with a `text` column.

    Returns:
        The texts as a list of `str`.
    """
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # pandas DataFrame, without importing pandas
        if "text" not in X.columns:
            raise TextInputError(
                f"expected a DataFrame with a 'text' column, found columns {list(X.columns)[:10]}; "
                "rename the column holding the post text to 'text'"
            )
        X = X["text"]
    if isinstance(X, (str, bytes)):
        raise TextInputError("expected a sequence of texts, got a single string; wrap it in a list: [text]")
    if hasattr(X, "tolist"):
        X = X.tolist()
    texts = list(X)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TextInputError(
                f"expected every text to be a str, found {type(t).__name__} ({t!r:.40}) at position {i}; "
                "drop or fill missing texts before scoring"
            )
    return texts


def check_specs(tasks: Sequence["TaskSpec | Mapping[str, Any]"] | None) -> tuple[TaskSpec, ...]:
    """Task specs (or their dicts) checked for what every family relies on; returns them as `TaskSpec`s."""
    if not tasks:
        raise ValueError("`tasks` is empty: pass the TaskSpecs to learn, e.g. specs_from_taxonomy_dict(taxonomy)")
    specs = tuple(t if isinstance(t, TaskSpec) else TaskSpec.from_dict(t) for t in tasks)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")
    for s in specs:
        if not s.name or "." in s.name:
            raise ValueError(f"task name {s.name!r} cannot be empty or contain '.' (it names metrics and modules)")
        if s.kind not in ("single", "multi", "binary"):
            raise ValueError(f"task {s.name!r}: kind must be single, multi or binary, got {s.kind!r}")
        if len(set(s.labels)) != len(s.labels):
            raise ValueError(f"task {s.name!r}: label names must be unique, got {list(s.labels)}")
        if s.kind == "single" and len(s.labels) < 2:
            raise ValueError(f"task {s.name!r}: a single-label task needs at least two labels, got {list(s.labels)}")
        if s.kind == "binary" and (len(s.labels) != 2 or s.positive not in s.labels):
            raise ValueError(
                f"task {s.name!r}: a binary task needs exactly two labels and `positive` naming one of them, "
                f"got labels {list(s.labels)} and positive {s.positive!r}"
            )
        if s.kind == "multi" and not s.labels:
            raise ValueError(f"task {s.name!r}: a multi-label task needs at least one label")
    return specs


def check_targets(specs: Sequence[TaskSpec], Y: Mapping[str, Any], n: int, what: str = "Y") -> dict[str, np.ndarray]:
    """Targets in the encoding above, one entry per task, with shapes and values checked.

    Returns int64 label indices for single/binary tasks and an int8 0/1/UNLABELED matrix for multi tasks.
    """
    if not isinstance(Y, Mapping):
        raise TypeError(f"{what} must be a dict {{task: targets}}, got {type(Y).__name__}")
    names = [s.name for s in specs]
    unknown = sorted(set(Y) - set(names))
    if unknown:
        raise ValueError(f"{what} has targets for unknown task(s) {unknown}; the model's tasks are {sorted(names)}")
    out: dict[str, np.ndarray] = {}
    for s in specs:
        if s.name not in Y:
            raise ValueError(
                f"{what} has no targets for task {s.name!r}; pass them (UNLABELED = {UNLABELED} for posts without "
                f"a label) or leave {s.name!r} out of `tasks`"
            )
        y = np.asarray(Y[s.name])
        L = len(s.labels)
        if s.kind == "multi":
            if y.shape != (n, L):
                raise ValueError(f"{what}[{s.name!r}]: expected shape ({n}, {L}) (posts x labels), got {y.shape}")
            bad = ~np.isin(y, (0, 1, UNLABELED))
            allowed = f"0, 1 or UNLABELED ({UNLABELED})"
        else:
            if y.shape != (n,):
                raise ValueError(f"{what}[{s.name!r}]: expected shape ({n},) (one label index per post), got {y.shape}")
            if y.size and not np.issubdtype(y.dtype, np.integer):
                raise ValueError(f"{what}[{s.name!r}]: expected integer label indices, got dtype {y.dtype}")
            bad = ~np.isin(y, list(range(L)) + [UNLABELED])
            allowed = f"a label index 0..{L - 1} or UNLABELED ({UNLABELED})"
        if bad.any():
            raise ValueError(f"{what}[{s.name!r}]: every value must be {allowed}; found {y[bad].ravel()[0]!r}")
        out[s.name] = y.astype(np.int8 if s.kind == "multi" else np.int64)
    return out
