"""The safety team's queue: every post the model flagged as a possible adverse event, oldest first, until
someone records a decision on it with the four minimum criteria of a valid individual case
(identifiable patient, identifiable reporter, suspect product, adverse event; EMA GVP Module VI).

A post flagged in several loaded runs is one queue item. Undecided posts never leave the queue.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.spreadsheet import spreadsheet_safe
from review.audit import record, utcnow
from review.gaps import Conflict, Invalid, NotFound
from review.schema import AE_CRITERIA, AE_DECISIONS, AeDecision, Post, Run


@dataclass
class QueueItem:
    post: Post
    flagged_at: datetime
    waited_days: float
    decision: AeDecision | None


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.fromtimestamp(0, timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def queue(session: Session, decided: bool = False, limit: int = 200, offset: int = 0) -> tuple[list[QueueItem], int]:
    """Flagged posts (first appearance of each post id), oldest flag first; undecided ones unless `decided`."""
    first = (select(Post.post_id, func.min(Post.id).label("row")).where(Post.ae_flagged.is_(True))
             .group_by(Post.post_id).subquery())
    query = (select(Post, Run.scored_at, Run.loaded_at, AeDecision).join(first, first.c.row == Post.id)
             .join(Run, Run.id == Post.run_id).outerjoin(AeDecision, AeDecision.post_id == Post.post_id))
    query = query.where(AeDecision.id.is_not(None) if decided else AeDecision.id.is_(None))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(Run.id, Post.created_at, Post.post_id).offset(offset).limit(limit)).all()
    now = utcnow()
    items = []
    for post, scored_at, loaded_at, decision in rows:
        flagged = _aware(scored_at or loaded_at)
        items.append(QueueItem(post, flagged, (now - flagged).total_seconds() / 86400.0, decision))
    return items, int(total)


def decide(session: Session, actor: str, post_id: str, criteria: dict[str, bool], decision: str, note: str | None,
           expected_version: int) -> AeDecision:
    if decision not in AE_DECISIONS:
        raise Invalid(f"decision must be one of {', '.join(AE_DECISIONS)}")
    unknown = set(criteria) - set(AE_CRITERIA)
    if unknown:
        raise Invalid(f"unknown criteria {sorted(unknown)}")
    if decision == "valid case" and not all(criteria.get(c, False) for c in AE_CRITERIA):
        raise Invalid("a valid case needs all four criteria: identifiable patient, identifiable reporter, suspect "
                      "product and adverse event; record 'needs follow-up' if one is missing")
    flagged = session.execute(select(Post).where(Post.post_id == post_id, Post.ae_flagged.is_(True)).limit(1)).scalar_one_or_none()
    if flagged is None:
        raise NotFound(f"post {post_id!r} is not in the adverse-event queue")
    existing = session.execute(select(AeDecision).where(AeDecision.post_id == post_id)).scalar_one_or_none()
    current = existing.version if existing else 0
    if current != expected_version:
        raise Conflict(f"{existing.decided_by if existing else 'someone'} recorded a decision on this post after you "
                       "opened it; reload to see it")
    before = _view(existing) if existing else None
    if existing is None:
        existing = AeDecision(post_id=post_id, version=0)
        session.add(existing)
    for name in AE_CRITERIA:
        setattr(existing, name, bool(criteria.get(name, False)))
    existing.decision, existing.note = decision, (note or "").strip() or None
    existing.version = current + 1
    existing.decided_by, existing.decided_at = actor, utcnow()
    session.flush()
    record(session, actor, "ae.decide", "post", post_id, before, _view(existing))
    return existing


def _view(decision: AeDecision) -> dict[str, Any]:
    return {**{c: getattr(decision, c) for c in AE_CRITERIA}, "decision": decision.decision, "note": decision.note}


EXPORT_COLUMNS = ["post_id", "platform", "author_id", "created_at", "products", "text", "ae_probability",
                  *AE_CRITERIA, "decision", "note", "decided_by", "decided_at"]


def export_valid_cases(session: Session) -> str:
    """Valid cases as CSV for the safety database (spreadsheet-safe; names and contacts stay redacted)."""
    first = (select(Post.post_id, func.min(Post.id).label("row")).group_by(Post.post_id).subquery())
    rows = session.execute(select(Post, AeDecision).join(first, first.c.row == Post.id)
                           .join(AeDecision, AeDecision.post_id == Post.post_id)
                           .where(AeDecision.decision == "valid case").order_by(AeDecision.decided_at)).all()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for post, decision in rows:
        values = {"post_id": post.post_id, "platform": post.platform, "author_id": post.author_id,
                  "created_at": post.created_at.isoformat() if post.created_at else "", "products": "|".join(post.products),
                  "text": post.text, "ae_probability": f"{post.ae_probability:.4f}" if post.ae_probability is not None else "",
                  **{c: "yes" if getattr(decision, c) else "no" for c in AE_CRITERIA}, "decision": decision.decision,
                  "note": decision.note or "", "decided_by": decision.decided_by,
                  "decided_at": _aware(decision.decided_at).isoformat()}
        writer.writerow([spreadsheet_safe(values[c]) for c in EXPORT_COLUMNS])
    return buffer.getvalue()
