"""Reading labeled data: annotation rows (post_id, task, label, annotator) and users' own labeled tables.

Unknown tasks and labels are errors that list the valid names, never silently dropped rows. Labels given to a
copy that ingest dropped as a duplicate are moved to the post it repeats.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from labeling.dataset import DatasetError
from labeling.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

NONE_LABEL = ""
"""An annotation row with an empty label on a multi-label task means "labeled: none of the labels apply"."""


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
