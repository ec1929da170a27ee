"""Decisions back to training: `occ review export` writes the own-labels table `occ train --labels` reads.

Annotators' labels are combined by the same majority vote as `occ dataset` (`labeling.gold`), and reviewers'
corrections enter as adjudicated decisions, so they outrank the votes. A sidecar `<file>.meta.json` names the
export (id, checksum, counts: `labeling.lineage`), and `occ train --labels` records that name on the MLflow run and the registered
version, so a model's lineage says which reviewed labels it learned from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from common.atomic import write_bytes_atomic
from common.errors import OccError
from labeling.gold import adjudicate
from labeling.lineage import write_meta
from labeling.taxonomy import taxonomy_from_dict
from review.db import Database
from review.schema import Annotation, LabelCorrection, Post, Run

class ExportError(OccError, ValueError):
    """Nothing to export, or the export cannot be written."""


@dataclass
class ExportResult:
    export_id: str
    path: Path
    posts: int
    sources: dict[str, dict[str, int]]
    annotations: int
    corrections: int


def export_labels(db: Database, out: Path) -> ExportResult:
    with db.transaction() as session:
        run = session.execute(select(Run).order_by(Run.id.desc()).limit(1)).scalar_one_or_none()
        if run is None:
            raise ExportError("the workspace holds no loaded run: nothing to export")
        taxonomy = taxonomy_from_dict(run.taxonomy, f"run {run.id} taxonomy")
        votes = []
        for a in session.execute(select(Annotation).order_by(Annotation.id)).scalars():
            if a.labels:
                votes += [{"post_id": a.post_id, "task": a.task, "label": label, "annotator": a.annotator}
                          for label in a.labels]
            else:  # a multi-label task answered "none of them"
                votes.append({"post_id": a.post_id, "task": a.task, "label": "", "annotator": a.annotator})
        latest: dict[tuple[str, str], LabelCorrection] = {}
        for c in session.execute(select(LabelCorrection).order_by(LabelCorrection.id)).scalars():
            latest[(c.post_id, c.task)] = c
        decisions = []
        for (post_id, task), c in latest.items():
            rows = [{"post_id": post_id, "task": task, "label": label, "adjudicator": c.reviewer} for label in c.labels]
            decisions += rows or [{"post_id": post_id, "task": task, "label": "", "adjudicator": c.reviewer}]
        if not votes and not decisions:
            raise ExportError("no annotation or correction has been made yet: nothing to export")
        frame = pd.DataFrame(votes, columns=["post_id", "task", "label", "annotator"]).astype(str)
        adjudications = pd.DataFrame(decisions, columns=["post_id", "task", "label", "adjudicator"])
        gold, report = adjudicate(frame, taxonomy, adjudications if len(adjudications) else None)
        ids = set(gold["post_id"])
        newest = (select(Post.post_id, func.max(Post.id).label("row")).where(Post.post_id.in_(ids))
                  .group_by(Post.post_id).subquery())
        posts = {p.post_id: p for p in session.execute(select(Post).join(newest, newest.c.row == Post.id)).scalars()}
    rows = []
    for record_ in gold.to_dict("records"):
        post = posts.get(record_["post_id"])
        if post is None:
            continue
        row: dict[str, Any] = {"post_id": post.post_id, "author_id": post.author_id or "", "text": post.text}
        for task in taxonomy.tasks:
            value = record_.get(task.name)
            if value is None or (isinstance(value, float) and value != value):
                row[task.name] = ""  # not labeled for this task
            elif task.is_multi:
                row[task.name] = "|".join(value)
            else:
                row[task.name] = str(value)
        rows.append(row)
    table = pd.DataFrame(rows, columns=["post_id", "author_id", "text", *taxonomy.task_names])
    body = table.to_csv(index=False).encode("utf-8")
    digest = hashlib.sha256(body).hexdigest()
    export_id = f"review-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, body)
    sources = report.to_dict().get("sources", {})
    write_meta(out, {"export_id": export_id, "posts": len(table), "taxonomy_version": taxonomy.version,
                     "gold_sources": sources, "annotations": len(votes), "corrections": len(latest),
                     "database": db.engine.url.render_as_string(hide_password=True)})
    return ExportResult(export_id, out, len(table), sources, len(votes), len(latest))
