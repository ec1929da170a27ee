"""Reviewers confirm or split account links ("one clinician across platforms") and the next run applies it.

Why a reviewer at all: the author pass (`labeling.authors`) links accounts on different platforms from shared
handles, bio links and name keys; a link near the threshold is a guess, and a wrong one merges two clinicians
into one voice (or splits one into three). The Accounts page lists the links of the latest loaded run,
uncertain ones first: undecided before decided, then confidence nearest `authors.link_threshold`.

Where a decision goes: into this database (keyed by the pair of author ids, so next month's run keeps it;
versioned, so two reviewers never overwrite each other silently; audited in the hash chain), and, when the
workspace has a decisions file (`authors.link_decisions`, or `occ serve --link-decisions FILE`), into that CSV
too, inside the same transaction: the file is written after every database check passed and before the
commit, so a file that cannot be written leaves nothing saved. `export_link_decisions` writes the database's
decisions into such a file later (`occ review export-links`). `labeling.authors.linking.write_link_decision`
does every write (lock, atomic replace), so the file stays the format `read_link_decisions` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from common.errors import OccError
from labeling.authors.linking import LinkDecision, LinkDecisionError, read_link_decisions, write_link_decision
from review.audit import record, utcnow
from review.db import Database
from review.gaps import Conflict, Invalid, NotFound
from review.schema import LINK_DECISIONS, AccountLinkDecision, AuthorLink, Run

PAGE_SIZE = 50
"""Links per page of the Accounts page."""


class DecisionsFileError(OccError, RuntimeError):
    """The link decisions file cannot be written; nothing was saved. The message names the file and the fix."""


@dataclass
class LinkRow:
    """One link as the page shows it: the run's link and the workspace's decision on its pair, if any."""

    link: AuthorLink
    decision: AccountLinkDecision | None

    @property
    def status(self) -> str | None:
        """The decision that holds now: the workspace's, else the one the run already carried, else None."""
        return self.decision.decision if self.decision else self.link.prior_decision

    @property
    def version(self) -> int:
        return self.decision.version if self.decision else 0


@dataclass
class LinksPage:
    run: Run | None
    rows: list[LinkRow]
    total: int
    undecided: int
    page: int
    pages: int


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def csv_time(moment: datetime) -> str:
    """The `decided_at` text of the decisions file: UTC, whole seconds, `Z` (what `write_link_decision`'s
    docstring shows); export compares these strings, so every writer here formats times with this."""
    return _aware(moment).astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def latest_run(session: Session) -> Run | None:
    """The run loaded last: its links are the ones reviewers see."""
    return session.execute(select(Run).order_by(Run.id.desc()).limit(1)).scalar_one_or_none()


def links_page(session: Session, threshold: float, page: int = 1, size: int = PAGE_SIZE) -> LinksPage:
    """The latest run's links, uncertain first: undecided before decided (by the workspace or earlier), then
    confidence nearest `threshold` (a reviewer-only pair has no confidence: last), then by author ids."""
    run = latest_run(session)
    if run is None:
        return LinksPage(None, [], 0, 0, 1, 1)
    decided = or_(AccountLinkDecision.id.is_not(None), AuthorLink.prior_decision.is_not(None))
    query = (select(AuthorLink, AccountLinkDecision).where(AuthorLink.run_id == run.id)
             .outerjoin(AccountLinkDecision, (AccountLinkDecision.author_a == AuthorLink.author_a)
                        & (AccountLinkDecision.author_b == AuthorLink.author_b)))
    total = session.execute(select(func.count()).select_from(AuthorLink)
                            .where(AuthorLink.run_id == run.id)).scalar_one()
    undecided = session.execute(select(func.count()).select_from(query.where(~decided).subquery())).scalar_one()
    pages = max(1, -(-int(total) // size))
    page = min(max(1, page), pages)
    ordered = query.order_by(case((decided, 1), else_=0), case((AuthorLink.confidence.is_(None), 1), else_=0),
                             func.abs(AuthorLink.confidence - threshold), AuthorLink.author_a, AuthorLink.author_b)
    rows = [LinkRow(link, decision) for link, decision in
            session.execute(ordered.offset((page - 1) * size).limit(size)).all()]
    return LinksPage(run, rows, int(total), int(undecided), page, pages)


def _decision_for(session: Session, author_a: str, author_b: str, lock: bool = False) -> AccountLinkDecision | None:
    query = select(AccountLinkDecision).where(AccountLinkDecision.author_a == author_a,
                                              AccountLinkDecision.author_b == author_b)
    if lock:  # PostgreSQL: a second reviewer waits here and then sees the first one's version (SQLite: BEGIN IMMEDIATE)
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def link_row(session: Session, link_id: int) -> LinkRow:
    link = session.get(AuthorLink, link_id)
    if link is None:
        raise NotFound(f"no account link {link_id}")
    return LinkRow(link, _decision_for(session, link.author_a, link.author_b))


def decide(session: Session, actor: str, link_id: int, decision: str, expected_version: int,
           decisions_file: Path | None = None) -> LinkRow:
    """Record `actor`'s confirm / split of a link: checked against the version the page showed, audited, and
    written to `decisions_file` (if any) last, so a failed write rolls the whole decision back."""
    if decision not in LINK_DECISIONS:
        raise Invalid(f"decision must be one of {', '.join(LINK_DECISIONS)}, got {decision!r}")
    link = session.get(AuthorLink, link_id)
    if link is None:
        raise NotFound(f"no account link {link_id}")
    existing = _decision_for(session, link.author_a, link.author_b, lock=True)
    current = existing.version if existing else 0
    if current != expected_version:
        who = existing.decided_by if existing else "another reviewer"
        what = existing.decision if existing else "a decision"
        raise Conflict(f"{who} decided this link ({what}) after you opened it; nothing was overwritten: their "
                       "decision is shown now, decide again if you disagree")
    before = {"decision": existing.decision if existing else link.prior_decision,
              "by": existing.decided_by if existing else None}
    if existing is None:
        existing = AccountLinkDecision(author_a=link.author_a, author_b=link.author_b, version=0)
        session.add(existing)
    existing.decision, existing.version = decision, current + 1
    existing.decided_by, existing.decided_at = actor, utcnow()
    session.flush()  # a concurrent first decision on the same pair fails here (unique pair), before the file
    record(session, actor, "link.decide", "author_link", f"{link.author_a}|{link.author_b}", before,
           {"decision": decision, "version": existing.version, "run_id": link.run_id,
            "confidence": link.confidence, "decisions_file": str(decisions_file) if decisions_file else None})
    if decisions_file is not None:
        try:
            write_link_decision(decisions_file, _as_file_row(existing))
        except (OSError, LinkDecisionError) as exc:
            raise DecisionsFileError(f"the link decisions file {decisions_file} cannot be written ({exc}); nothing "
                                     "was saved: fix the file or its folder (authors.link_decisions, "
                                     "--link-decisions) and decide again") from exc
    return LinkRow(link, existing)


def _as_file_row(decision: AccountLinkDecision) -> LinkDecision:
    return LinkDecision(decision.author_a, decision.author_b, decision.decision, decision.decided_by,
                        csv_time(decision.decided_at))


def decisions(session: Session) -> list[AccountLinkDecision]:
    """Every pair's current decision, oldest first (the order the next run applies them in)."""
    return list(session.execute(select(AccountLinkDecision)
                                .order_by(AccountLinkDecision.decided_at, AccountLinkDecision.id)).scalars())


@dataclass
class LinkExport:
    written: int
    already_there: int
    out: Path


def export_link_decisions(db: Database, out: Path) -> LinkExport:
    """Append the workspace's link decisions that `out` does not hold yet (same pair, decision, reviewer and
    time), oldest first, so exporting twice or into the file the workspace already writes adds nothing; a
    decision made elsewhere (`occ authors decide`) stays in the file. A malformed `out` is an error, not
    overwritten."""
    out = Path(out)
    present = {(d.author_a, d.author_b, d.decision, d.reviewer, d.decided_at) for d in read_link_decisions(out)}
    with db.reading() as session:
        rows = [_as_file_row(d) for d in decisions(session)]
    written = 0
    for row in rows:
        if (row.author_a, row.author_b, row.decision, row.reviewer, row.decided_at) in present:
            continue
        write_link_decision(out, row)
        written += 1
    return LinkExport(written, len(rows) - written, out)
