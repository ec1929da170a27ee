"""Labels in, model inputs out: build the dataset from annotations or an own-labels table, and turn a saved
split into texts and targets in the `models.tasks` encoding."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from common.settings import Settings
from labeling.taxonomy import Taxonomy
from models.tasks import UNLABELED, TaskSpec, specs_from_taxonomy_dict

logger = logging.getLogger(__name__)


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


def build_dataset_from(labels: Path, posts: Optional[Path], taxonomy_path: Optional[Path], out: Path,
                       frozen_test: Optional[Path], settings: Settings) -> dict[str, Any]:
    """Annotations (+ ingested posts) or a user's own labeled table -> a saved DatasetDict."""
    from labeling.annotations import attach_to_kept_posts, own_labels_table, read_annotations, read_duplicate_map
    from labeling.dataset import build_dataset, read_posts
    from labeling.gold import adjudicate
    from labeling.ingest.redaction import Redactor
    from labeling.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(taxonomy_path)
    if posts is not None:
        annotations = attach_to_kept_posts(read_annotations(labels), read_duplicate_map(posts))
        gold, report = adjudicate(annotations, taxonomy)
        logger.info("gold labels: %s", json.dumps(report.to_dict()))
        post_table = read_posts(posts)
    else:
        post_table, gold = own_labels_table(labels, taxonomy)
        redactor = Redactor(settings.ingest.redaction)
        post_table["text"] = [redactor.redact(t)[0] for t in post_table["text"]]  # own tables were never ingested
    return build_dataset(post_table, gold, taxonomy, settings.dataset, out, frozen_test)
