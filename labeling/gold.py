"""Gold labels from annotators' votes: a majority vote per (post, task); a tie is reported and left out.

An adjudicator's decision (`labeling.loop.adjudication`) outranks the vote for its (post, task), ties
included, so a person settles what the annotators split on; the report says where every gold label came from.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from labeling.annotations import NONE_LABEL, check_annotations
from labeling.taxonomy import Taxonomy

logger = logging.getLogger(__name__)


@dataclass
class GoldReport:
    posts: int = 0
    ties: Counter = field(default_factory=Counter)  # task -> (post, task) pairs left out for a tie
    annotations: int = 0
    annotators: int = 0
    agreement: dict[str, float] = field(default_factory=dict)  # task -> share of multiply-annotated posts in full agreement
    # task -> {"adjudicated": n, "majority": n, "single_annotator": n}: where each gold cell came from
    # ("majority": the vote of two or more annotators, unanimous or not; "single_annotator": one annotator's label)
    sources: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"posts": self.posts, "annotations": self.annotations, "annotators": self.annotators,
                "ties_left_out": dict(self.ties), "full_agreement": self.agreement, "sources": self.sources}


def adjudicate(frame: pd.DataFrame, taxonomy: Taxonomy,
               adjudications: pd.DataFrame | None = None) -> tuple[pd.DataFrame, GoldReport]:
    """Majority vote per (post, task), overruled by adjudications. Returns one row per post with a column per task.

    Single/binary cells hold the winning label; multi cells hold the labels (taxonomy order) chosen by a strict
    majority of that post's annotators for the task. A tie (no strict winner for a single-label task, or any
    label chosen by exactly half of the annotators of a multi-label task) leaves the cell empty (None).
    An annotator who labeled the same single-label post twice counts once, with their last label.

    `adjudications` (what `labeling.loop.adjudication.read_adjudications` returns, or a frame with post_id,
    task, label) replaces the vote for every (post, task) it decides, a tie included; a decision on a post
    nobody annotated for that task still becomes its gold label.
    """
    check_annotations(frame, taxonomy)
    decided: dict[str, dict[str, Any]] = {}
    if adjudications is not None:
        from labeling.loop.adjudication import (
            adjudication_decisions,  # here, so loop modules may import gold freely
        )

        decided = adjudication_decisions(adjudications, taxonomy)
    report = GoldReport(annotations=len(frame), annotators=frame["annotator"].nunique())
    gold: dict[str, dict[str, Any]] = defaultdict(dict)
    for task in taxonomy.tasks:
        decisions = decided.get(task.name, {})
        rows = frame[frame["task"] == task.name]
        voted: dict[str, Any] = {}
        tied: set[str] = set()
        raters = rows.groupby("post_id")["annotator"].nunique()
        if rows.empty:
            pass  # no votes: only adjudications (below) can decide this task
        elif task.is_multi:
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
                voted[post_id] = list(won.get(post_id, []))
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
                    voted[post_id] = label
            multi = raters[raters > 1].index
            if len(multi):
                agreeing = last.groupby("post_id")["label"].nunique().reindex(multi)
                report.agreement[task.name] = round(float((agreeing == 1).mean()), 4)
        for post_id, value in voted.items():
            if post_id not in decisions:
                gold[post_id][task.name] = value
        for post_id, value in decisions.items():
            gold[post_id][task.name] = value
        from_votes = raters.reindex([p for p in voted if p not in decisions])
        report.sources[task.name] = {"adjudicated": len(decisions), "majority": int((from_votes >= 2).sum()),
                                     "single_annotator": int((from_votes == 1).sum())}
        unvoted = len(set(decisions) - set(raters.index))
        if unvoted:
            logger.info("task %s: %d adjudicated post(s) had no annotator's vote for the task", task.name, unvoted)
        tied -= set(decisions)
        if tied:
            report.ties[task.name] = len(tied)
            logger.info("task %s: %d post(s) left out for a tied vote", task.name, len(tied))
    records = [{"post_id": pid, **{t: labels.get(t) for t in taxonomy.task_names}} for pid, labels in sorted(gold.items())]
    table = pd.DataFrame.from_records(records, columns=["post_id", *taxonomy.task_names])
    report.posts = len(table)
    return table, report
