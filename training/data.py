"""From a saved DatasetDict split to model inputs: texts and targets in the `models.tasks` encoding."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from labeling.taxonomy import Taxonomy
from models.tasks import UNLABELED, TaskSpec, specs_from_taxonomy_dict


def task_specs(taxonomy: Taxonomy) -> list[TaskSpec]:
    return specs_from_taxonomy_dict(taxonomy.to_dict())


def encode_targets(specs: Sequence[TaskSpec], rows: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    """Gold label columns -> target arrays (`UNLABELED` where a post has no gold label for a task)."""
    targets: dict[str, np.ndarray] = {}
    for spec in specs:
        values = rows[spec.name]
        index = {name: i for i, name in enumerate(spec.labels)}
        if spec.kind == "multi":
            y = np.full((len(values), len(spec.labels)), UNLABELED, dtype=np.int8)
            for i, labels in enumerate(values):
                if labels is not None:
                    y[i] = 0
                    for label in labels:
                        y[i, index[label]] = 1
        else:
            y = np.array([index[v] if v is not None else UNLABELED for v in values], dtype=np.int64)
        targets[spec.name] = y
    return targets


def split_inputs(split: Any, specs: Sequence[TaskSpec]) -> tuple[list[str], dict[str, np.ndarray]]:
    columns = split.to_dict()
    return list(columns["text"]), encode_targets(specs, columns)
