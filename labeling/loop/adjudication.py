"""Disagreements for a person to settle, and their decisions read back so that they outrank the vote.

Why: a majority vote leaves ties out of the dataset and lets two hurried annotators outvote a careful one. An
adjudicator (a senior annotator or the medical reviewer) looks at the posts the annotators split on and
decides; `labeling.gold.adjudicate(..., adjudications=...)` then takes their decision over the vote.

The adjudications file (CSV, or JSONL with the same keys), one decision per (post, task):

    post_id,task,label,adjudicator
    p0000013,sentiment,negative,dr_lee
    p0000013,perception,efficacy|comparison,dr_lee        # multi-label: labels joined by `|` ...
    p0000020,perception,efficacy,dr_lee                   # ... or one row per label
    p0000020,perception,comparison,dr_lee
    p0000031,evidence_need,,dr_lee                        # multi-label, empty label: none of the labels apply

- Single-label and binary tasks take exactly one label; an empty label there is an error (to leave a post to
  the vote, delete its row). Two different labels for the same single-label (post, task) are an error.
- Multi-label tasks: the decision is the union of the labels given on all rows for that (post, task); an empty
  label means "none apply" and cannot be combined with labels.
- `adjudicator` is optional (kept for the audit trail); JSONL may give a multi-label `label` as a list.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from labeling.annotations import NONE_LABEL, check_annotations
from labeling.dataset import DatasetError
from labeling.loop.agreement import votes_by_annotator
from labeling.taxonomy import Task, Taxonomy

DISAGREEMENT_COLUMNS = ["post_id", "task", "n_annotators", "votes", "labels_in_dispute", "majority", "tied"]
"""`votes`: "ann_a=positive; ann_b=neutral" (multi-label: "ann_a=efficacy|comparison; ann_b=(none)");
`labels_in_dispute`: single-label, every label voted; multi-label, the labels some but not all annotators chose;
`majority`: what the vote gives today ("" when tied; multi-label "(none)" when no label has a majority);
`tied`: whether the vote leaves the (post, task) out of the gold labels."""

ADJUDICATION_COLUMNS = ["post_id", "task", "label", "adjudicator", "line"]
NONE_SHOWN = "(none)"


def _show(answer: Any, task: Task) -> str:
    if isinstance(answer, frozenset):
        return "|".join(_ordered(answer, task)) or NONE_SHOWN
    return str(answer)


def _ordered(labels: Any, task: Task) -> list[str]:
    return [name for name in task.label_names if name in set(labels)]


def disagreements(annotations: pd.DataFrame, taxonomy: Taxonomy) -> pd.DataFrame:
    """Every (post_id, task) the annotators did not answer unanimously (ties and split majorities alike).

    Columns: DISAGREEMENT_COLUMNS; rows sorted by post_id, then task name. Multi-label answers are compared as
    whole sets (an annotator who chose one label more than another disagrees with them). The majority rule is
    the one `labeling.gold` applies, so `majority`/`tied` say what the dataset gets if nobody adjudicates.
    """
    check_annotations(annotations, taxonomy)
    frame = annotations[["post_id", "task", "label", "annotator"]].astype(str)
    records: list[dict[str, Any]] = []
    for task in taxonomy.tasks:
        votes = votes_by_annotator(frame, task)
        if votes.empty:
            continue
        per_post = votes.groupby(level="post_id")
        split = per_post.size().ge(2) & per_post.nunique().ge(2)
        for post_id in split[split].index:
            answers = votes.loc[post_id]
            n = len(answers)
            record: dict[str, Any] = {"post_id": post_id, "task": task.name, "n_annotators": n,
                                      "votes": "; ".join(f"{who}={_show(a, task)}" for who, a in answers.items())}
            if task.is_multi:
                counts = pd.Series([label for chosen in answers for label in chosen], dtype=object).value_counts()
                record["labels_in_dispute"] = "|".join(_ordered(counts[counts < n].index, task))
                tied = bool((2 * counts == n).any())
                winners = _ordered(counts[2 * counts > n].index, task)
                record["majority"] = "" if tied else ("|".join(winners) or NONE_SHOWN)
            else:
                counts = answers.value_counts()
                record["labels_in_dispute"] = "|".join(_ordered(counts.index, task))
                tied = len(counts) > 1 and counts.iloc[0] == counts.iloc[1]
                record["majority"] = "" if tied else str(counts.index[0])
            record["tied"] = tied
            records.append(record)
    table = pd.DataFrame.from_records(records, columns=DISAGREEMENT_COLUMNS)
    return table.sort_values(["post_id", "task"], kind="stable").reset_index(drop=True)


def _normalize(frame: pd.DataFrame, taxonomy: Taxonomy, first_line: int | None, source: str) -> pd.DataFrame:
    """One row per (post, task, label); multi-label `a|b` cells split; every name checked against the taxonomy.

    Row i came from file line `first_line + i`; a frame that already has a `line` column keeps it; a hand-built
    frame (first_line None) is named by row number in errors.
    """
    missing = {"post_id", "task", "label"} - set(frame.columns)
    if missing:
        raise DatasetError(f"{source}: missing column(s) {sorted(missing)}; expected post_id, task, label, adjudicator")
    known = taxonomy.task_names
    rows: list[dict[str, Any]] = []
    for position, (_, row) in enumerate(frame.iterrows()):
        if "line" in frame.columns and not _blank(row["line"]):
            line: int | None = int(row["line"])
        else:
            line = None if first_line is None else first_line + position
        at = f"{source}, {'row ' + str(position) if line is None else 'line ' + str(line)}"
        post_id = "" if _blank(row["post_id"]) else str(row["post_id"]).strip()
        task_name = "" if _blank(row["task"]) else str(row["task"]).strip()
        raw = row["label"]
        label = "|".join(str(v) for v in raw) if isinstance(raw, (list, tuple)) else ("" if _blank(raw) else str(raw))
        adjudicator = "" if "adjudicator" not in frame.columns or _blank(row["adjudicator"]) else str(row["adjudicator"]).strip()
        if not post_id:
            raise DatasetError(f"{at}: empty post_id; every decision names the post it is about")
        if task_name not in known:
            raise DatasetError(f"{at}: unknown task {task_name!r}; taxonomy {taxonomy.version} has tasks {known}")
        task = taxonomy.task(task_name)
        parts = [p.strip() for p in label.split("|") if p.strip()]
        unknown = [p for p in parts if p not in task.label_names]
        if unknown:
            raise DatasetError(f"{at}: task {task_name!r} has no label(s) {unknown}; valid labels are {task.label_names}"
                               f"{' (joined by |, or empty for none)' if task.is_multi else ''}")
        if not task.is_multi and len(parts) != 1:
            found = "an empty label" if not parts else f"{len(parts)} labels ({label!r})"
            raise DatasetError(f"{at}: {task.kind} task {task_name!r} takes exactly one label, found {found}; give one of "
                               f"{task.label_names}, or delete the row to leave the post to the vote")
        for part in parts or [NONE_LABEL]:
            rows.append({"post_id": post_id, "task": task_name, "label": part, "adjudicator": adjudicator, "line": line})
    return pd.DataFrame.from_records(rows, columns=ADJUDICATION_COLUMNS)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def _decide(table: pd.DataFrame, taxonomy: Taxonomy, source: str) -> dict[str, dict[str, str | list[str]]]:
    decisions: dict[str, dict[str, str | list[str]]] = {name: {} for name in taxonomy.task_names}
    for (task_name, post_id), group in table.groupby(["task", "post_id"], sort=True):
        task = taxonomy.task(task_name)
        labels = list(dict.fromkeys(group["label"]))
        lines = ", ".join(f"line {v}" for v in dict.fromkeys(group["line"]) if not _blank(v)) or "hand-built rows"
        if not task.is_multi:
            if len(labels) > 1:
                raise DatasetError(f"{source}: post {post_id!r}, task {task_name!r} is decided twice with different labels "
                                   f"{labels} ({lines}); keep one decision per post and task")
            decisions[task_name][post_id] = labels[0]
            continue
        chosen = [l for l in labels if l != NONE_LABEL]
        if chosen and NONE_LABEL in labels:
            raise DatasetError(f"{source}: post {post_id!r}, task {task_name!r} says both 'none apply' (empty label) and "
                               f"{chosen} ({lines}); delete the empty-label row or the label rows")
        decisions[task_name][post_id] = _ordered(chosen, task)
    return decisions


def read_adjudications(path: Path, taxonomy: Taxonomy) -> pd.DataFrame:
    """Read and check an adjudications file (format in the module docstring).

    Returns one row per decided label: post_id, task, label ("" = none apply, multi-label only), adjudicator,
    line (the file line it came from, for the audit trail and for error messages). Unknown tasks or labels,
    empty single-label decisions and contradictory decisions are DatasetErrors naming the line and the valid
    labels.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"adjudications {path}: no such file")
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json")
    try:
        if jsonl:
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DatasetError(f"adjudications {path}: cannot read it as {'JSON lines' if jsonl else 'CSV'} ({exc})") from exc
    source = f"adjudications {path}"
    # a CSV's line 1 is its header (a quoted cell spanning lines would shift the numbers after it)
    table = _normalize(frame, taxonomy, 1 if jsonl else 2, source)
    _decide(table, taxonomy, source)
    return table


def adjudication_decisions(adjudications: pd.DataFrame, taxonomy: Taxonomy) -> dict[str, dict[str, str | list[str]]]:
    """task -> post_id -> the decided label (single/binary) or labels in taxonomy order (multi; [] = none apply).

    Takes what `read_adjudications` returns, or a hand-built frame with post_id, task, label (same rules).
    """
    table = _normalize(adjudications, taxonomy, None, "adjudications")
    return _decide(table, taxonomy, "adjudications")
