"""The workspace's own database: what was loaded (runs, posts, gaps) and what people decided.

Decisions are keyed by what they are about, not by the run that showed it, so loading next month's scored
run keeps every earlier decision: a gap's status by (product, topic), a label correction and a safety
decision by post id, an account-link decision by the pair of author ids. Rows people can change carry a
`version` (optimistic locking: a stale form is a conflict, never a silent overwrite). The audit log is
append-only and hash-chained (`review.audit`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("reviewer", "safety", "annotator", "admin")
GAP_STATUSES = ("new", "confirmed", "dismissed", "on_backlog")
DISMISS_REASONS = ("not an evidence gap", "evidence already exists", "off-label or out of scope",
                   "too few posts to act on", "duplicate of another gap", "other")
STUDY_TYPES = ("Phase IV", "RWE study", "investigator-initiated study", "publication / medical education")
BACKLOG_STATUSES = ("proposed", "approved", "in progress", "done", "declined")
PRIORITIES = ("high", "medium", "low")
AE_DECISIONS = ("valid case", "not an adverse event", "needs follow-up")
AE_CRITERIA = ("identifiable_patient", "identifiable_reporter", "suspect_product", "adverse_event")
LINK_DECISIONS = ("confirm", "split")
"""A reviewer's word on two accounts: one person (confirm) or two people (split); `labeling.authors.linking`."""


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Session(Base):
    """A login. The cookie holds a random token; only its SHA-256 is stored, so a leaked table logs nobody in."""

    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Run(Base):
    """One loaded scored run (and its report)."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scored_dir: Mapped[str] = mapped_column(Text)
    report_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(Text, nullable=True)
    taxonomy: Mapped[dict] = mapped_column(JSON)
    thresholds: Mapped[dict] = mapped_column(JSON)
    safety_task: Mapped[str | None] = mapped_column(String(80), nullable=True)
    rank_period: Mapped[str | None] = mapped_column(String(20), nullable=True)
    posts: Mapped[int] = mapped_column(Integer)
    scored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    loaded_by: Mapped[str] = mapped_column(String(80))
    __table_args__ = (UniqueConstraint("manifest_sha256", name="uq_runs_manifest"),)


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    post_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    specialty: Mapped[str | None] = mapped_column(String(200), nullable=True)
    platform: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    period: Mapped[str | None] = mapped_column(String(20), nullable=True)
    products: Mapped[list] = mapped_column(JSON)
    predictions: Mapped[dict] = mapped_column(JSON)  # task -> {"labels": [...], "scores": {label: p}}
    is_dol: Mapped[bool] = mapped_column(Boolean, default=False)
    ae_flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    ae_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    in_test_split: Mapped[bool] = mapped_column(Boolean, default=False)
    queue_rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    queue_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    needs_annotators: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (UniqueConstraint("run_id", "post_id", name="uq_posts_run_post"),
                      Index("ix_posts_post_id", "post_id"), Index("ix_posts_queue", "run_id", "queue_rank"),
                      Index("ix_posts_ae", "ae_flagged", "created_at"))


class GapPost(Base):
    """Which posts are behind a gap (run, product, evidence topic, period): the gap detail pages over these."""

    __tablename__ = "gap_posts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    product: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    period: Mapped[str | None] = mapped_column(String(20), nullable=True)
    post_row: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    __table_args__ = (Index("ix_gap_posts_gap", "run_id", "product", "topic", "period", "confidence"),)


class Gap(Base):
    """One row of the report's gap table (a product x topic x period), with its score parts."""

    __tablename__ = "gaps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    product: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(20))
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[float] = mapped_column(Float)
    posts: Mapped[int] = mapped_column(Integer)
    authors: Mapped[int] = mapped_column(Integer)
    growth: Mapped[float] = mapped_column(Float)
    parts: Mapped[dict] = mapped_column(JSON)
    __table_args__ = (Index("ix_gaps_board", "run_id", "period", "rank"),
                      Index("ix_gaps_key", "product", "topic", "period"))


class GapDecision(Base):
    """The status of a gap (product, topic), whichever run shows it."""

    __tablename__ = "gap_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="new")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    __table_args__ = (UniqueConstraint("product", "topic", name="uq_gap_decisions_key"),)


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    author: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BacklogItem(Base):
    """An accepted gap as a work item on the Phase IV / real-world-evidence backlog."""

    __tablename__ = "backlog"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    study_type: Mapped[str] = mapped_column(String(60))
    priority: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    rationale: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    evidence: Mapped[dict] = mapped_column(JSON)  # post counts, score parts, example post ids at creation
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LabelCorrection(Base):
    """A reviewer's labels for one task of one post; outrank annotators' votes in `occ review export`."""

    __tablename__ = "label_corrections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(80))
    labels: Mapped[list] = mapped_column(JSON)
    reviewer: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_corrections_post", "post_id", "task", "id"),)


class Annotation(Base):
    """One annotator's labels for one task of one post (blind: never shown to other annotators)."""

    __tablename__ = "annotations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(80))
    labels: Mapped[list] = mapped_column(JSON)
    annotator: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("post_id", "task", "annotator", name="uq_annotations_one_per_annotator"),
                      Index("ix_annotations_post", "post_id"))


class Assignment(Base):
    """A post served to an annotator: held for them until the lease runs out; done or skipped when they answer."""

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[str] = mapped_column(String(200))
    annotator: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(10))  # open | done | skipped
    leased_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("post_id", "annotator", name="uq_assignments_post_annotator"),
                      Index("ix_assignments_open", "state", "post_id"))


class AeDecision(Base):
    """The safety team's decision on one flagged post: the four minimum criteria of a valid case and the outcome."""

    __tablename__ = "ae_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[str] = mapped_column(String(200), unique=True)
    identifiable_patient: Mapped[bool] = mapped_column(Boolean)
    identifiable_reporter: Mapped[bool] = mapped_column(Boolean)
    suspect_product: Mapped[bool] = mapped_column(Boolean)
    adverse_event: Mapped[bool] = mapped_column(Boolean)
    decision: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    decided_by: Mapped[str] = mapped_column(String(80))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuthorLink(Base):
    """A candidate link between two accounts on different platforms, as a loaded run's author pass found it
    (`author_links.parquet`), with both accounts' type, specialty and platforms copied from `authors.parquet`
    so the Accounts page needs no file at request time. `prior_decision` is the run's own `decision` column
    (an earlier reviewer's, from the decisions file that run read)."""

    __tablename__ = "author_links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    author_a: Mapped[str] = mapped_column(String(200))
    author_b: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    linked: Mapped[bool] = mapped_column(Boolean, default=False)
    prior_decision: Mapped[str | None] = mapped_column(String(10), nullable=True)
    a_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    a_specialty: Mapped[str | None] = mapped_column(String(200), nullable=True)
    a_platforms: Mapped[list] = mapped_column(JSON)
    a_posts: Mapped[int | None] = mapped_column(Integer, nullable=True)
    b_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    b_specialty: Mapped[str | None] = mapped_column(String(200), nullable=True)
    b_platforms: Mapped[list] = mapped_column(JSON)
    b_posts: Mapped[int | None] = mapped_column(Integer, nullable=True)
    __table_args__ = (UniqueConstraint("run_id", "author_a", "author_b", name="uq_author_links_run_pair"),
                      Index("ix_author_links_pair", "author_a", "author_b"))


class AccountLinkDecision(Base):
    """A reviewer's confirm / split of two accounts, keyed by the pair (author_a < author_b) whichever run
    showed it, so next month's run keeps it; `version` makes a stale page a conflict."""

    __tablename__ = "link_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_a: Mapped[str] = mapped_column(String(200))
    author_b: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer, default=0)
    decided_by: Mapped[str] = mapped_column(String(80))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("author_a", "author_b", name="uq_link_decisions_pair"),)


class AuditEntry(Base):
    """One state change: who, when, what, on which object, the value before and after; hash-chained."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str] = mapped_column(Text)
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last link, one row: appenders lock it so that concurrent writers never fork the chain."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
