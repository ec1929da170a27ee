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
                       frozen_test: Optional[Path], settings: Settings,
                       adjudications: Optional[Path] = None) -> dict[str, Any]:
    """Annotations (+ ingested posts, + adjudicated decisions) or a user's own labeled table -> a saved DatasetDict.

    Adjudicated decisions outrank annotators' votes; the returned metadata says how many gold labels of each
    task came from adjudication, a majority of several annotators, or a single annotator.
    """
    from labeling.annotations import attach_to_kept_posts, own_labels_table, read_annotations, read_duplicate_map
    from labeling.dataset import DatasetError, build_dataset, read_posts
    from labeling.gold import adjudicate
    from labeling.ingest.redaction import Redactor
    from labeling.loop.adjudication import read_adjudications
    from labeling.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(taxonomy_path)
    sources = None
    if posts is not None:
        duplicates = read_duplicate_map(posts)
        annotations = attach_to_kept_posts(read_annotations(labels), duplicates)
        decided = None
        if adjudications is not None:
            decided = read_adjudications(adjudications, taxonomy)
            decided = decided.assign(post_id=decided["post_id"].map(lambda p: duplicates.get(p, p)))
        gold, report = adjudicate(annotations, taxonomy, decided)
        logger.info("gold labels: %s", json.dumps(report.to_dict()))
        sources = report.to_dict().get("sources")
        post_table = read_posts(posts)
    else:
        if adjudications is not None:
            raise DatasetError("--adjudications applies to annotation rows (with --posts); an own-labels table "
                               "already holds one decision per post: correct it there")
        post_table, gold = own_labels_table(labels, taxonomy)
        redactor = Redactor(settings.ingest.redaction)
        post_table["text"] = [redactor.redact(t)[0] for t in post_table["text"]]  # own tables were never ingested
    meta = build_dataset(post_table, gold, taxonomy, settings.dataset, out, frozen_test)
    if sources is not None:
        meta["gold_sources"] = sources
    return meta
