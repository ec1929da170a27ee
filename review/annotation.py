"""The annotators' queue: one post at a time, most informative first, blind.

Order: the newest loaded run first, then the labeling loop's order (`review.loader` ranks posts by
uncertainty with diversity at load time). A post is served while it has fewer annotators than it needs
(one, or two for the `review.double_annotation_share` that measures agreement), counting those holding an
unexpired lease on it; an annotator never gets a post twice (done or skipped), and never sees another
annotator's answer. Frozen test posts are not served unless `review.allow_test_labels`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from common.settings import ReviewSettings
from review.audit import record, utcnow
from review.gaps import Conflict, Invalid, NotFound
from review.schema import Annotation, Assignment, Post, Run


def _open_assignment(session: Session, annotator: str) -> Assignment | None:
    now = utcnow()
    for assignment in session.execute(select(Assignment).where(Assignment.annotator == annotator,
                                                               Assignment.state == "open")).scalars():
        leased = assignment.leased_until if assignment.leased_until.tzinfo else assignment.leased_until.replace(tzinfo=now.tzinfo)
        if leased > now:
            return assignment
    return None


def next_post(session: Session, annotator: str, settings: ReviewSettings) -> Post | None:
    """The post this annotator should label now (holding it for them), or None when the queue is empty."""
    held = _open_assignment(session, annotator)
    if held is not None:
        return _latest_post(session, held.post_id)
    now = utcnow()
    done = (select(func.count(func.distinct(Annotation.annotator))).where(Annotation.post_id == Post.post_id)
            .scalar_subquery())
    leased_by_others = (select(func.count()).select_from(Assignment)
                        .where(Assignment.post_id == Post.post_id, Assignment.state == "open",
                               Assignment.annotator != annotator, Assignment.leased_until > now).scalar_subquery())
    seen_by_me = exists().where(Assignment.post_id == Post.post_id, Assignment.annotator == annotator)
    labeled_by_me = exists().where(Annotation.post_id == Post.post_id, Annotation.annotator == annotator)
    # one run at a time, newest first: within a run the (run_id, queue_rank) index yields posts in queue order,
    # so the scan stops at the first servable post instead of sorting every post of every run
    for run_id in session.execute(select(Run.id).order_by(Run.id.desc())).scalars():
        query = (select(Post)
                 .where(Post.run_id == run_id, Post.queue_rank.is_not(None), ~seen_by_me, ~labeled_by_me,
                        done + leased_by_others < Post.needs_annotators)
                 .order_by(Post.queue_rank).limit(1))
        if not settings.allow_test_labels:
            query = query.where(Post.in_test_split.is_(False))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Post)
        post = session.execute(query).scalar_one_or_none()
        if post is not None:
            break
    else:
        post = None
    if post is None:
        return None
    session.add(Assignment(post_id=post.post_id, annotator=annotator, state="open",
                           leased_until=now + timedelta(minutes=settings.lease_minutes)))
    session.flush()
    return post


def _latest_post(session: Session, post_id: str) -> Post | None:
    return session.execute(select(Post).where(Post.post_id == post_id).order_by(Post.id.desc()).limit(1)).scalar_one_or_none()


def _assignment(session: Session, annotator: str, post_id: str) -> Assignment:
    assignment = session.execute(select(Assignment).where(Assignment.annotator == annotator,
                                                          Assignment.post_id == post_id)).scalar_one_or_none()
    if assignment is None:
        raise NotFound("this post was not served to you; open the annotation queue to get your next post")
    if assignment.state != "open":
        raise Conflict(f"you already {'labeled' if assignment.state == 'done' else 'skipped'} this post")
    return assignment


def submit(session: Session, annotator: str, post_id: str, chosen: dict[str, list[str]], taxonomy: dict[str, Any]) -> list[Annotation]:
    """Record this annotator's labels for every task of the post they were served."""
    assignment = _assignment(session, annotator, post_id)
    tasks = taxonomy.get("tasks", [])
    made = []
    for task in tasks:
        names = [l["name"] if isinstance(l, dict) else str(l) for l in task["labels"]]
        labels = chosen.get(task["name"], [])
        unknown = [l for l in labels if l not in names]
        if unknown:
            raise Invalid(f"task {task['name']}: unknown label(s) {unknown}")
        if task["kind"] != "multi" and len(labels) != 1:
            raise Invalid(f"choose one label for {task['name']} (keys 1-{len(names)})")
        made.append(Annotation(post_id=post_id, task=task["name"], labels=[n for n in names if n in labels],
                               annotator=annotator, created_at=utcnow()))
    extra = set(chosen) - {t["name"] for t in tasks}
    if extra:
        raise Invalid(f"unknown task(s) {sorted(extra)}")
    session.add_all(made)
    assignment.state = "done"
    session.flush()
    record(session, annotator, "annotation.submit", "post", post_id, None, {a.task: a.labels for a in made})
    return made


def skip(session: Session, annotator: str, post_id: str) -> None:
    assignment = _assignment(session, annotator, post_id)
    assignment.state = "skipped"
    record(session, annotator, "annotation.skip", "post", post_id)


def progress(session: Session, annotator: str) -> dict[str, int]:
    done = session.execute(select(func.count()).select_from(Assignment).where(
        and_(Assignment.annotator == annotator, Assignment.state == "done"))).scalar_one()
    skipped = session.execute(select(func.count()).select_from(Assignment).where(
        and_(Assignment.annotator == annotator, Assignment.state == "skipped"))).scalar_one()
    return {"done": int(done), "skipped": int(skipped)}
