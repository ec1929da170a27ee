"""Medical affairs' side of the workspace: the gap board, a gap's posts, decisions on gaps, the evidence
backlog, comments, and reviewers' label corrections.

Every write checks the version the person saw (optimistic locking) and is audited in the same transaction.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from common.errors import OccError
from common.spreadsheet import spreadsheet_safe
from review.audit import record, utcnow
from review.schema import (BACKLOG_STATUSES, DISMISS_REASONS, GAP_STATUSES, PRIORITIES, STUDY_TYPES, BacklogItem,
                           Comment, Gap, GapDecision, GapPost, LabelCorrection, Post, Run)


class Conflict(OccError, RuntimeError):
    """Someone else changed this item since the page was loaded; nothing was overwritten."""


class Invalid(OccError, ValueError):
    """A form value is not acceptable; the message says which and why."""


class NotFound(OccError, LookupError):
    """No such item (or not one this person may see)."""


def latest_run(session: Session) -> Run | None:
    return session.execute(select(Run).where(Run.report_dir.is_not(None)).order_by(Run.id.desc()).limit(1)).scalar_one_or_none() \
        or session.execute(select(Run).order_by(Run.id.desc()).limit(1)).scalar_one_or_none()


def decision_for(session: Session, product: str, topic: str) -> GapDecision | None:
    return session.execute(select(GapDecision).where(GapDecision.product == product, GapDecision.topic == topic)).scalar_one_or_none()


@dataclass
class BoardRow:
    gap: Gap
    status: str
    status_by: str | None
    status_at: Any
    version: int
    trend: list[tuple[str, float]]


def board(session: Session, product: str | None = None, topic: str | None = None,
          status: str | None = None) -> tuple[Run | None, list[BoardRow]]:
    """The ranked gaps of the latest report's ranked period, with status and score over periods."""
    run = latest_run(session)
    if run is None or run.rank_period is None:
        return run, []
    query = select(Gap).where(Gap.run_id == run.id, Gap.period == run.rank_period, Gap.rank.is_not(None), Gap.posts > 0)
    if product:
        query = query.where(Gap.product == product)
    if topic:
        query = query.where(Gap.topic == topic)
    gaps = list(session.execute(query.order_by(Gap.rank)).scalars())
    decisions = {(d.product, d.topic): d for d in session.execute(select(GapDecision)).scalars()}
    history: dict[tuple[str, str], list[tuple[str, float]]] = {}
    keys = {(g.product, g.topic) for g in gaps}
    for gap in session.execute(select(Gap).where(Gap.run_id == run.id).order_by(Gap.period)).scalars():
        if (gap.product, gap.topic) in keys:
            history.setdefault((gap.product, gap.topic), []).append((gap.period, gap.score))
    rows = []
    for gap in gaps:
        d = decisions.get((gap.product, gap.topic))
        row = BoardRow(gap, d.status if d else "new", d.updated_by if d else None, d.updated_at if d else None,
                       d.version if d else 0, history.get((gap.product, gap.topic), []))
        if status and row.status != status:
            continue
        rows.append(row)
    return run, rows


def board_filters(session: Session, run: Run | None) -> tuple[list[str], list[str]]:
    if run is None:
        return [], []
    products = [p for (p,) in session.execute(select(Gap.product).where(Gap.run_id == run.id).distinct().order_by(Gap.product))]
    topics = [t for (t,) in session.execute(select(Gap.topic).where(Gap.run_id == run.id).distinct().order_by(Gap.topic))]
    return products, topics


def gap(session: Session, gap_id: int) -> Gap:
    found = session.get(Gap, gap_id)
    if found is None:
        raise NotFound(f"no gap {gap_id}")
    return found


def gap_posts(session: Session, found: Gap, page: int, page_size: int) -> tuple[list[Post], int]:
    """The posts behind a gap (its run, product, topic and period), most confident first; one page."""
    condition = and_(GapPost.run_id == found.run_id, GapPost.product == found.product, GapPost.topic == found.topic,
                     GapPost.period == found.period)
    total = session.execute(select(func.count()).select_from(GapPost).where(condition)).scalar_one()
    rows = session.execute(select(Post).join(GapPost, GapPost.post_row == Post.id).where(condition)
                           .order_by(GapPost.confidence.desc(), Post.post_id)
                           .offset(max(0, page - 1) * page_size).limit(page_size)).scalars().all()
    return list(rows), int(total)


def example_post_ids(session: Session, found: Gap, n: int = 5) -> list[str]:
    posts, _ = gap_posts(session, found, 1, n)
    return [p.post_id for p in posts]


def set_status(session: Session, actor: str, product: str, topic: str, status: str, expected_version: int,
               reason: str | None = None, detail: str | None = None) -> GapDecision:
    if status not in GAP_STATUSES:
        raise Invalid(f"status must be one of {', '.join(GAP_STATUSES)}")
    if status == "dismissed":
        if reason not in DISMISS_REASONS:
            raise Invalid(f"a dismissal needs a reason: one of {', '.join(DISMISS_REASONS)}")
        if reason == "other" and not (detail or "").strip():
            raise Invalid("reason 'other' needs a few words saying why")
    decision = decision_for(session, product, topic)
    current = decision.version if decision else 0
    if current != expected_version:
        raise Conflict(f"{decision.updated_by if decision else 'someone'} changed this gap "
                       f"({decision.status if decision else 'new'}) after you opened it; reload to see their decision")
    before = {"status": decision.status, "reason": decision.reason} if decision else {"status": "new", "reason": None}
    if decision is None:
        decision = GapDecision(product=product, topic=topic, version=0)
        session.add(decision)
    full_reason = None
    if status == "dismissed":
        full_reason = reason if not (detail or "").strip() else f"{reason}: {detail.strip()}"
    decision.status, decision.reason = status, full_reason
    decision.version = current + 1
    decision.updated_by, decision.updated_at = actor, utcnow()
    session.flush()
    record(session, actor, "gap.status", "gap", f"{product}|{topic}", before, {"status": status, "reason": full_reason})
    return decision


def add_comment(session: Session, actor: str, product: str, topic: str, text: str) -> Comment:
    text = (text or "").strip()
    if not text:
        raise Invalid("a comment cannot be empty")
    if len(text) > 5000:
        raise Invalid("comments are at most 5,000 characters")
    comment = Comment(product=product, topic=topic, author=actor, text=text, created_at=utcnow())
    session.add(comment)
    session.flush()
    record(session, actor, "gap.comment", "gap", f"{product}|{topic}", None, {"comment_id": comment.id, "text": text})
    return comment


def comments(session: Session, product: str, topic: str) -> list[Comment]:
    return list(session.execute(select(Comment).where(Comment.product == product, Comment.topic == topic)
                                .order_by(Comment.id)).scalars())


def add_to_backlog(session: Session, actor: str, found: Gap, study_type: str, priority: str, owner: str,
                   due_date: str | None, rationale: str, expected_version: int) -> BacklogItem:
    if study_type not in STUDY_TYPES:
        raise Invalid(f"study type must be one of {', '.join(STUDY_TYPES)}")
    if priority not in PRIORITIES:
        raise Invalid(f"priority must be one of {', '.join(PRIORITIES)}")
    if not owner.strip() or not rationale.strip():
        raise Invalid("a backlog item needs an owner and a rationale")
    if due_date:
        _check_date(due_date)
    set_status(session, actor, found.product, found.topic, "on_backlog", expected_version)
    evidence = {"run_id": found.run_id, "period": found.period, "rank": found.rank, "score": round(found.score, 4),
                "posts": found.posts, "authors": found.authors, "growth": round(found.growth, 4), "parts": found.parts,
                "example_post_ids": example_post_ids(session, found)}
    item = BacklogItem(product=found.product, topic=found.topic, study_type=study_type, priority=priority,
                       owner=owner.strip(), due_date=due_date or None, rationale=rationale.strip(), status="proposed",
                       evidence=evidence, version=0, created_by=actor, created_at=utcnow())
    session.add(item)
    session.flush()
    record(session, actor, "backlog.add", "backlog", item.id, None, _backlog_view(item))
    return item


def _check_date(value: str) -> None:
    from datetime import date

    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"due date {value!r} is not a date (YYYY-MM-DD)") from exc


def _backlog_view(item: BacklogItem) -> dict[str, Any]:
    return {"product": item.product, "topic": item.topic, "study_type": item.study_type, "priority": item.priority,
            "owner": item.owner, "due_date": item.due_date, "status": item.status, "rationale": item.rationale}


def backlog(session: Session, status: str | None = None, product: str | None = None) -> list[BacklogItem]:
    query = select(BacklogItem)
    if status:
        query = query.where(BacklogItem.status == status)
    if product:
        query = query.where(BacklogItem.product == product)
    return list(session.execute(query.order_by(BacklogItem.id)).scalars())


def update_backlog(session: Session, actor: str, item_id: int, expected_version: int, **changes: Any) -> BacklogItem:
    item = session.get(BacklogItem, item_id)
    if item is None:
        raise NotFound(f"no backlog item {item_id}")
    if item.version != expected_version:
        raise Conflict(f"{item.updated_by or item.created_by} changed this backlog item after you opened it; reload")
    before = _backlog_view(item)
    changes = {k: v for k, v in changes.items() if v is not None}
    if "status" in changes and changes["status"] not in BACKLOG_STATUSES:
        raise Invalid(f"status must be one of {', '.join(BACKLOG_STATUSES)}")
    if "priority" in changes and changes["priority"] not in PRIORITIES:
        raise Invalid(f"priority must be one of {', '.join(PRIORITIES)}")
    if changes.get("due_date"):
        _check_date(changes["due_date"])
    for key, value in changes.items():
        if key in ("status", "priority", "owner", "due_date", "rationale") and value is not None:
            setattr(item, key, value.strip() if isinstance(value, str) else value)
    item.version += 1
    item.updated_by, item.updated_at = actor, utcnow()
    session.flush()
    record(session, actor, "backlog.update", "backlog", item.id, before, _backlog_view(item))
    return item


def backlog_export(items: Sequence[BacklogItem], fmt: str) -> tuple[str, str]:
    """(body, media type): CSV (spreadsheet-safe) or JSON, with the gap's evidence."""
    rows = [{"id": i.id, **_backlog_view(i), "created_by": i.created_by, "created_at": i.created_at.isoformat(),
             "posts": i.evidence.get("posts"), "authors": i.evidence.get("authors"), "score": i.evidence.get("score"),
             "period": i.evidence.get("period"), "parts": i.evidence.get("parts"),
             "example_post_ids": i.evidence.get("example_post_ids")} for i in items]
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str), "application/json"
    buffer = io.StringIO()
    columns = ["id", "product", "topic", "study_type", "priority", "owner", "due_date", "status", "rationale",
               "created_by", "created_at", "period", "posts", "authors", "score", "parts", "example_post_ids"]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([spreadsheet_safe(json.dumps(row[c]) if isinstance(row[c], (dict, list)) else row[c])
                         for c in columns])
    return buffer.getvalue(), "text/csv"


# ---- label corrections --------------------------------------------------------------------------------------------


def corrections_for(session: Session, post_id: str) -> dict[str, LabelCorrection]:
    """The latest correction of each task of a post."""
    latest: dict[str, LabelCorrection] = {}
    for row in session.execute(select(LabelCorrection).where(LabelCorrection.post_id == post_id)
                               .order_by(LabelCorrection.id)).scalars():
        latest[row.task] = row
    return latest


def corrections_for_posts(session: Session, post_ids: Sequence[str]) -> tuple[dict[str, dict[str, LabelCorrection]],
                                                                                dict[str, int]]:
    """For a page of posts in one query: each post's latest correction per task, and its correction version."""
    latest: dict[str, dict[str, LabelCorrection]] = {p: {} for p in post_ids}
    versions = {p: 0 for p in post_ids}
    rows = session.execute(select(LabelCorrection).where(LabelCorrection.post_id.in_(list(post_ids)))
                           .order_by(LabelCorrection.id)).scalars()
    for row in rows:
        latest[row.post_id][row.task] = row
        versions[row.post_id] = row.id
    return latest, versions


def correction_version(session: Session, post_id: str) -> int:
    """The id of a post's latest correction (0 if none): the version a correction form must have seen."""
    value = session.execute(select(func.max(LabelCorrection.id)).where(LabelCorrection.post_id == post_id)).scalar_one()
    return int(value or 0)


def correct_labels(session: Session, actor: str, post_id: str, taxonomy: dict[str, Any], chosen: dict[str, list[str]],
                   expected_version: int) -> list[LabelCorrection]:
    """Record a reviewer's labels for the tasks they changed (they outrank annotators' votes on export)."""
    post = session.execute(select(Post).where(Post.post_id == post_id).order_by(Post.id.desc()).limit(1)).scalar_one_or_none()
    if post is None:
        raise NotFound(f"no post {post_id!r}")
    current = correction_version(session, post_id)
    if current != expected_version:
        raise Conflict("another reviewer corrected this post's labels after you opened it; reload to see theirs")
    tasks = {t["name"]: t for t in taxonomy.get("tasks", [])}
    made = []
    previous = corrections_for(session, post_id)
    for task_name, labels in chosen.items():
        task = tasks.get(task_name)
        if task is None:
            raise Invalid(f"unknown task {task_name!r}")
        names = [l["name"] if isinstance(l, dict) else str(l) for l in task["labels"]]
        unknown = [l for l in labels if l not in names]
        if unknown:
            raise Invalid(f"task {task_name}: unknown label(s) {unknown}")
        if task["kind"] != "multi" and len(labels) != 1:
            raise Invalid(f"task {task_name} takes exactly one label")
        labels = [n for n in names if n in labels]
        before = previous[task_name].labels if task_name in previous else post.predictions.get(task_name, {}).get("labels")
        if before == labels:
            continue
        correction = LabelCorrection(post_id=post_id, task=task_name, labels=labels, reviewer=actor, created_at=utcnow())
        session.add(correction)
        session.flush()
        record(session, actor, "post.correct_labels", "post", post_id, {"task": task_name, "labels": before},
               {"task": task_name, "labels": labels})
        made.append(correction)
    return made
