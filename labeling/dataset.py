"""Annotations -> adjudicated gold labels -> author-grouped splits -> a `datasets.DatasetDict` on disk.

Gold labels come from a majority vote per (post, task); a tie is reported and left out, never guessed.
Splits are grouped by author (no author in two splits) so that the test score is not inflated by the model
recognising an author's style, stratified as far as the grouping allows, deterministic from a seed. The test
split is frozen: its post ids live in a file that later runs reuse, so challenger and champion are always
compared on the same posts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from labeling.atomic import write_bytes_atomic, write_json_atomic
from labeling.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
NONE_LABEL = ""
"""An annotation row with an empty label on a multi-label task means "labeled: none of the labels apply"."""


class DatasetError(ValueError):
    """The labels cannot become a dataset; the message names the problem and the fix."""


@dataclass(frozen=True)
class DatasetConfig:
    """The `dataset` section of params.yaml."""

    seed: int = 13
    validation_fraction: float = 0.15
    test_fraction: float = 0.2
    min_examples_per_split: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.validation_fraction < 0.5 or not 0 < self.test_fraction < 0.5:
            raise ValueError("dataset.validation_fraction and dataset.test_fraction must be between 0 and 0.5")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DatasetConfig":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class GoldReport:
    posts: int = 0
    ties: Counter = field(default_factory=Counter)  # task -> (post, task) pairs left out for a tie
    annotations: int = 0
    annotators: int = 0
    agreement: dict[str, float] = field(default_factory=dict)  # task -> share of multiply-annotated posts in full agreement

    def to_dict(self) -> dict[str, Any]:
        return {"posts": self.posts, "annotations": self.annotations, "annotators": self.annotators,
                "ties_left_out": dict(self.ties), "full_agreement": self.agreement}


def read_annotations(path: Path) -> pd.DataFrame:
    """Read annotation rows (post_id, task, label, annotator) from CSV or JSONL."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"annotations {path}: no such file")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        frame = pd.read_json(path, lines=True, dtype=False)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"post_id", "task", "label"} - set(frame.columns)
    if missing:
        raise DatasetError(f"annotations {path}: missing column(s) {sorted(missing)}; expected post_id, task, label, annotator")
    if "annotator" not in frame.columns:
        frame["annotator"] = "annotator"
    frame = frame[["post_id", "task", "label", "annotator"]].astype(str)
    frame["label"] = frame["label"].replace({"nan": "", "None": ""}).str.strip()
    return frame


def check_annotations(frame: pd.DataFrame, taxonomy: Taxonomy) -> None:
    """Unknown tasks or label names are errors that list the valid names (no silent dropping)."""
    known_tasks = set(taxonomy.task_names)
    unknown_tasks = sorted(set(frame["task"]) - known_tasks)
    if unknown_tasks:
        raise DatasetError(f"annotations name task(s) {unknown_tasks} that taxonomy {taxonomy.version} lacks; "
                           f"its tasks are {sorted(known_tasks)}: fix the task names or pass --taxonomy")
    for task in taxonomy.tasks:
        rows = frame[frame["task"] == task.name]
        allowed = set(task.label_names) | ({NONE_LABEL} if task.is_multi else set())
        bad = sorted(set(rows["label"]) - allowed)
        if bad:
            raise DatasetError(f"task {task.name!r}: unknown label(s) {bad[:10]}; valid labels are {task.label_names}"
                               f"{' (or empty for none)' if task.is_multi else ''}: fix the labels or the taxonomy")


def adjudicate(frame: pd.DataFrame, taxonomy: Taxonomy) -> tuple[pd.DataFrame, GoldReport]:
    """Majority vote per (post, task). Returns one row per post with a column per task.

    Single/binary cells hold the winning label; multi cells hold the labels (taxonomy order) chosen by a strict
    majority of that post's annotators for the task. A tie (no strict winner for a single-label task, or any
    label chosen by exactly half of the annotators of a multi-label task) leaves the cell empty (None).
    An annotator who labeled the same single-label post twice counts once, with their last label.
    """
    check_annotations(frame, taxonomy)
    report = GoldReport(annotations=len(frame), annotators=frame["annotator"].nunique())
    gold: dict[str, dict[str, Any]] = defaultdict(dict)
    for task in taxonomy.tasks:
        rows = frame[frame["task"] == task.name]
        if rows.empty:
            continue
        raters = rows.groupby("post_id")["annotator"].nunique()
        if task.is_multi:
            chosen = rows[rows["label"] != NONE_LABEL].drop_duplicates(["post_id", "annotator", "label"])
            votes = chosen.groupby(["post_id", "label"]).size().rename("votes").reset_index()
            votes["raters"] = votes["post_id"].map(raters)
            tied = set(votes.loc[2 * votes["votes"] == votes["raters"], "post_id"])
            winners = votes[2 * votes["votes"] > votes["raters"]]
            order = {name: i for i, name in enumerate(task.label_names)}
            won = winners.groupby("post_id")["label"].agg(lambda s: sorted(s, key=order.__getitem__))
            for post_id in raters.index:
                if post_id in tied:
                    continue
                gold[post_id][task.name] = list(won.get(post_id, []))
            sets = chosen.groupby(["post_id", "annotator"])["label"].agg(frozenset)
            multi = raters[raters > 1].index
            if len(multi):
                distinct = sets.reset_index().groupby("post_id")["label"].nunique().reindex(multi, fill_value=0)
                n_with_labels = sets.reset_index().groupby("post_id")["annotator"].nunique().reindex(multi, fill_value=0)
                full = ((distinct <= 1) & ((n_with_labels == 0) | (n_with_labels == raters[multi]))).mean()
                report.agreement[task.name] = round(float(full), 4)
        else:
            last = rows.drop_duplicates(["post_id", "annotator"], keep="last")
            counts = last.groupby(["post_id", "label"]).size().rename("votes").reset_index()
            counts = counts.sort_values(["post_id", "votes"], ascending=[True, False])
            top = counts.groupby("post_id").head(2)
            first = top.groupby("post_id").nth(0).set_index("post_id")
            second_votes = top.groupby("post_id")["votes"].apply(lambda v: v.iloc[1] if len(v) > 1 else 0)
            tied = set(second_votes[second_votes == first["votes"].reindex(second_votes.index)].index)
            for post_id, label in first["label"].items():
                if post_id not in tied:
                    gold[post_id][task.name] = label
            multi = raters[raters > 1].index
            if len(multi):
                agreeing = last.groupby("post_id")["label"].nunique().reindex(multi)
                report.agreement[task.name] = round(float((agreeing == 1).mean()), 4)
        if tied:
            report.ties[task.name] = len(tied)
            logger.info("task %s: %d post(s) left out for a tied vote", task.name, len(tied))
    records = [{"post_id": pid, **{t: labels.get(t) for t in taxonomy.task_names}} for pid, labels in sorted(gold.items())]
    table = pd.DataFrame.from_records(records, columns=["post_id", *taxonomy.task_names])
    report.posts = len(table)
    return table, report


def own_labels_table(path: Path, taxonomy: Taxonomy) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a user's own labeled table (text, optional post_id, one column per task; multi cells `a|b`).

    Returns (posts, gold) in the same shapes that ingest + adjudicate produce, so training is identical.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"labels {path}: no such file")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        frame = pd.read_json(path, lines=True, dtype=False)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "text" not in frame.columns:
        raise DatasetError(f"labels {path}: needs a `text` column (and one column per task: {taxonomy.task_names})")
    tasks_present = [t for t in taxonomy.task_names if t in frame.columns]
    if not tasks_present:
        raise DatasetError(f"labels {path}: no column named after a task of taxonomy {taxonomy.version} "
                           f"({taxonomy.task_names}); add one column per task or pass the matching --taxonomy")
    frame = frame.fillna("")
    if "post_id" not in frame.columns or (frame["post_id"].astype(str).str.strip() == "").any():
        frame["post_id"] = [hashlib.blake2b(str(t).encode(), digest_size=8).hexdigest() for t in frame["text"]]
    frame["post_id"] = frame["post_id"].astype(str)
    duplicates = frame["post_id"][frame["post_id"].duplicated()].unique()
    if len(duplicates):
        raise DatasetError(f"labels {path}: post_id values repeat ({list(duplicates[:5])}); give each row its own id")
    gold_rows = []
    for _, row in frame.iterrows():
        entry: dict[str, Any] = {"post_id": row["post_id"]}
        for task in taxonomy.tasks:
            cell = str(row.get(task.name, "")).strip() if task.name in frame.columns else ""
            if task.is_multi:
                if task.name not in frame.columns:
                    entry[task.name] = None
                    continue
                labels = [p.strip() for p in cell.split("|") if p.strip()]
                unknown = [l for l in labels if l not in task.label_names]
                if unknown:
                    raise DatasetError(f"labels {path}: task {task.name!r} has unknown label(s) {unknown}; valid: {task.label_names}")
                entry[task.name] = sorted(set(labels), key=task.label_names.index)
            else:
                if cell and cell not in task.label_names:
                    raise DatasetError(f"labels {path}: task {task.name!r} has unknown label {cell!r}; valid: {task.label_names}")
                entry[task.name] = cell or None
        gold_rows.append(entry)
    posts = pd.DataFrame({"post_id": frame["post_id"], "text": frame["text"].astype(str),
                          "author_id": frame["author_id"].astype(str) if "author_id" in frame.columns else None})
    return posts, pd.DataFrame(gold_rows, columns=["post_id", *taxonomy.task_names])


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


def split_by_author(gold: pd.DataFrame, authors: pd.Series, taxonomy: Taxonomy, config: DatasetConfig,
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


def build_dataset(posts: pd.DataFrame, gold: pd.DataFrame, taxonomy: Taxonomy, config: DatasetConfig,
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


def read_duplicate_map(path: Path) -> dict[str, str]:
    """Dropped duplicate post id -> the kept post it repeats (from ingest's duplicates.parquet, if any)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    target = folder / "duplicates.parquet"
    if not target.is_file():
        return {}
    table = pq.read_table(target, columns=["post_id", "duplicate_of", "kind"]).to_pandas()
    table = table[table["kind"] == "same_author_same_text"]
    return dict(zip(table["post_id"], table["duplicate_of"]))


def attach_to_kept_posts(annotations: pd.DataFrame, duplicate_map: dict[str, str]) -> pd.DataFrame:
    """Labels given to a copy that ingest dropped as a duplicate count for the post it repeats."""
    if not duplicate_map:
        return annotations
    moved = annotations["post_id"].isin(duplicate_map.keys())
    if moved.any():
        logger.info("%d annotation row(s) on %d dropped duplicate post(s) attached to the posts they repeat",
                    int(moved.sum()), annotations.loc[moved, "post_id"].nunique())
        annotations = annotations.assign(post_id=annotations["post_id"].map(lambda p: duplicate_map.get(p, p)))
    return annotations
