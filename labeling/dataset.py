"""Gold labels + posts -> author-grouped splits -> a `datasets.DatasetDict` on disk.

Gold labels come from `labeling.gold` (votes) or a user's own table (`labeling.annotations`). Splits are grouped by author (no author in two splits) so that the test score is not inflated by the model
recognising an author's style, stratified as far as the grouping allows, deterministic from a seed. The test
split is frozen: its post ids live in a file that later runs reuse, so challenger and champion are always
compared on the same posts.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from common.atomic import write_bytes_atomic, write_json_atomic
from common.errors import OccError
from common.settings import DatasetSettings
from labeling.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


class DatasetError(OccError, ValueError):
    """The labels cannot become a dataset; the message names the problem and the fix."""


def _strata(gold: pd.DataFrame, taxonomy: Taxonomy) -> np.ndarray:
    parts = []
    for task in taxonomy.tasks:
        if task.kind in ("single", "binary"):
            parts.append(gold[task.name].fillna("_").astype(str))
    if not parts:
        return np.zeros(len(gold), dtype=int)
    key = parts[0]
    for extra in parts[1:]:
        key = key + "/" + extra
    codes, _ = pd.factorize(key)
    return codes


def _group_fold(indices: np.ndarray, strata: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Pick about `fraction` of `indices` as whole groups, stratified as far as grouping allows."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = max(2, int(round(1 / fraction)))
    if len(np.unique(groups[indices])) < n_splits:
        raise DatasetError(f"only {len(np.unique(groups[indices]))} distinct author(s): too few to split by author "
                           f"into train/validation/test; label posts from more authors")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, held = next(splitter.split(indices, strata[indices], groups[indices]))
    return indices[held]


def split_by_author(gold: pd.DataFrame, authors: pd.Series, taxonomy: Taxonomy, config: DatasetSettings,
                    frozen_test_ids: set[str] | None = None) -> dict[str, np.ndarray]:
    """Row indices of each split. With `frozen_test_ids`, those posts are the test split and their authors'
    other posts are held out of train/validation (reported, not silently leaked)."""
    n = len(gold)
    post_ids = gold["post_id"].to_numpy()
    groups = authors.fillna("").to_numpy(dtype=object)
    groups = np.array([a if a else f"post:{pid}" for a, pid in zip(groups, post_ids)], dtype=object)
    strata = _strata(gold, taxonomy)
    everything = np.arange(n)
    if frozen_test_ids:
        in_test = np.isin(post_ids, list(frozen_test_ids))
        test = everything[in_test]
        test_authors = set(groups[test])
        rest_mask = ~in_test & ~np.isin(groups, list(test_authors))
        held_out = int((~in_test & ~rest_mask).sum())
        if held_out:
            logger.info("%d new labeled post(s) by frozen-test authors held out of train/validation", held_out)
        rest = everything[rest_mask]
    else:
        test = _group_fold(everything, strata, groups, config.test_fraction, config.seed)
        rest = np.setdiff1d(everything, test)
    val_fraction = config.validation_fraction / (1 - config.test_fraction)
    validation = _group_fold(rest, strata, groups, val_fraction, config.seed + 1)
    train = np.setdiff1d(rest, validation)
    return {"train": train, "validation": validation, "test": np.sort(test)}


def build_dataset(posts: pd.DataFrame, gold: pd.DataFrame, taxonomy: Taxonomy, config: DatasetSettings,
                  out_dir: Path, frozen_test_file: Path | None = None) -> dict[str, Any]:
    """Join gold labels with posts, split, check, and save a DatasetDict plus metadata to `out_dir`."""
    import datasets

    unknown = sorted(set(gold["post_id"]) - set(posts["post_id"]))
    if unknown:
        raise DatasetError(f"{len(unknown)} labeled post id(s) are not among the ingested posts (e.g. {unknown[:3]}); "
                           "ingest the dump those posts come from, or remove those annotation rows")
    joined = gold.merge(posts[["post_id", "text", "author_id"]], on="post_id", how="left")
    frozen: set[str] | None = None
    if frozen_test_file is not None and Path(frozen_test_file).is_file():
        frozen = {line.strip() for line in Path(frozen_test_file).read_text(encoding="utf-8").splitlines() if line.strip()}
        missing = frozen - set(joined["post_id"])
        if missing:
            raise DatasetError(f"{len(missing)} post(s) of the frozen test split {frozen_test_file} have no gold label now; "
                               "restore their annotations, or delete that file to draw a new test split (and retrain both models)")
    indices = split_by_author(joined, joined["author_id"], taxonomy, config, frozen)
    for split_name, idx in indices.items():
        if len(idx) < config.min_examples_per_split:
            raise DatasetError(f"the {split_name} split is empty; label more posts (from more authors)")
    for task in taxonomy.tasks:
        labeled_train = joined.iloc[indices["train"]][task.name].dropna()
        if task.is_multi:
            seen = {l for labels in labeled_train for l in labels}
            if not seen:
                raise DatasetError(f"task {task.name!r} has no positive label in the training split; label more posts")
        elif labeled_train.nunique() < 2:
            raise DatasetError(f"task {task.name!r} has a single class ({sorted(labeled_train.unique())}) in the training "
                               "split: a classifier needs at least two; label posts of the other classes or drop the task")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    features = datasets.Features({
        "post_id": datasets.Value("string"), "text": datasets.Value("string"), "author_id": datasets.Value("string"),
        **{t.name: (datasets.Sequence(datasets.Value("string")) if t.is_multi else datasets.Value("string")) for t in taxonomy.tasks},
    })
    splits = {}
    for split_name, idx in indices.items():
        part = joined.iloc[idx].reset_index(drop=True)
        records = {col: [None if _missing(v) else v for v in part[col].tolist()] for col in features}
        records["author_id"] = [None if a is None else str(a) for a in records["author_id"]]
        splits[split_name] = datasets.Dataset.from_dict(records, features=features)
    dataset_dict = datasets.DatasetDict(splits)
    dataset_dict.save_to_disk(str(out_dir / "hf"))
    if frozen_test_file is not None and frozen is None:
        Path(frozen_test_file).parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(Path(frozen_test_file), ("\n".join(sorted(splits["test"]["post_id"])) + "\n").encode())
        logger.info("froze %d test post ids in %s", len(splits["test"]), frozen_test_file)
    write_bytes_atomic(out_dir / "taxonomy.json", json.dumps(taxonomy.to_dict(), indent=2).encode())
    meta = {"taxonomy_version": taxonomy.version, "seed": config.seed,
            "sizes": {k: len(v) for k, v in splits.items()},
            "authors": {k: len(set(v["author_id"])) for k, v in splits.items()},
            "label_counts": {k: _label_counts(v, taxonomy) for k, v in splits.items()},
            "frozen_test_reused": frozen is not None}
    write_json_atomic(out_dir / "dataset_meta.json", meta)
    return meta


def _missing(value: Any) -> bool:
    """None or a float NaN (what pandas puts in a cell no gold label reached); never an empty list."""
    return value is None or (isinstance(value, float) and value != value)


def _label_counts(split: Any, taxonomy: Taxonomy) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for task in taxonomy.tasks:
        values = split[task.name]
        c: Counter = Counter()
        for value in values:
            if value is None:
                c["<unlabeled>"] += 1
            elif task.is_multi:
                c.update(value or ["<none>"])
            else:
                c[value] += 1
        counts[task.name] = dict(c)
    return counts


def load_dataset_dir(out_dir: Path) -> tuple[Any, dict[str, Any]]:
    """Load a saved DatasetDict and the taxonomy dict it was built with."""
    import datasets

    out_dir = Path(out_dir)
    if not (out_dir / "hf").is_dir():
        raise DatasetError(f"{out_dir} holds no dataset; run `occ dataset` first")
    taxonomy = json.loads((out_dir / "taxonomy.json").read_text(encoding="utf-8"))
    return datasets.load_from_disk(str(out_dir / "hf")), taxonomy


def read_posts(path: Path) -> pd.DataFrame:
    """Ingested posts (post_id, text, author_id) from a posts.parquet file or a folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "posts.parquet"
    if not path.is_file():
        raise DatasetError(f"{path}: no ingested posts; run `occ ingest` first")
    return pq.read_table(path, columns=["post_id", "text", "author_id"]).to_pandas()
