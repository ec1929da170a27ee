"""The audit trail: every state change is one append-only row, and each row's hash covers the previous row.

Why a hash chain (as certificate-transparency logs do): a trigger stops the workspace itself from updating or
deleting audit rows, but someone with direct database access could still edit one. Chaining makes that
visible: `verify` recomputes every hash and names the first row that was edited, the first gap where a row
was deleted, and rows deleted from the end (the one-row head still points past them).

Appenders lock the head row (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite transactions here already take
the write lock at `BEGIN IMMEDIATE`), so concurrent requests extend the chain one after another, never fork it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from review.schema import AuditEntry, AuditHead

GENESIS = "0" * 64


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    """One text form whatever the backend hands back (SQLite drops the zone; the value is UTC either way)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def row_hash(entry_id: int, at: datetime, actor: str, action: str, object_type: str, object_id: str,
             before: Any, after: Any, prev_hash: str) -> str:
    payload = json.dumps({"id": entry_id, "at": _iso(at), "actor": actor, "action": action,
                          "object_type": object_type, "object_id": object_id, "before": before, "after": after,
                          "prev": prev_hash}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    """JSON-safe copy (datetimes as ISO text), so the stored value and the hashed value are the same."""
    return json.loads(json.dumps(value, default=lambda v: _iso(v) if isinstance(v, datetime) else str(v))) \
        if value is not None else None


def record(session: Session, actor: str, action: str, object_type: str, object_id: Any,
           before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None) -> AuditEntry:
    """Append one row to the chain inside the caller's transaction (it commits or rolls back with the change)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    at = utcnow()
    entry_id = head.last_id + 1
    before_plain, after_plain = _plain(before), _plain(after)
    digest = row_hash(entry_id, at, actor, action, object_type, str(object_id), before_plain, after_plain,
                      head.last_hash)
    entry = AuditEntry(id=entry_id, at=at, actor=actor, action=action, object_type=object_type,
                       object_id=str(object_id), before=before_plain, after=after_plain, prev_hash=head.last_hash,
                       hash=digest)
    session.add(entry)
    head.last_id, head.last_hash = entry_id, digest
    session.flush()
    return entry


@dataclass
class Verification:
    ok: bool
    rows: int
    first_broken: int | None = None
    problem: str | None = None

    def sentence(self) -> str:
        if self.ok:
            return f"audit log intact: {self.rows} row(s), every hash and link checks out"
        return f"audit log BROKEN at row {self.first_broken}: {self.problem}"


def verify(engine: Engine, batch: int = 5000) -> Verification:
    """Recompute the chain from the first row; report the first broken link."""
    expected_prev, expected_id, rows = GENESIS, 1, 0
    with Session(engine) as session:
        head = session.get(AuditHead, 1)
        last_id = 0
        while True:
            chunk = session.execute(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id)
                                    .limit(batch)).scalars().all()
            if not chunk:
                break
            for entry in chunk:
                if entry.id != expected_id:
                    return Verification(False, rows, expected_id,
                                        f"row {expected_id} is missing (deleted); the next row is {entry.id}")
                if entry.prev_hash != expected_prev:
                    return Verification(False, rows, entry.id, "its link to the previous row does not match "
                                        "(the previous row was replaced)")
                recomputed = row_hash(entry.id, entry.at, entry.actor, entry.action, entry.object_type,
                                      entry.object_id, entry.before, entry.after, entry.prev_hash)
                if recomputed != entry.hash:
                    return Verification(False, rows, entry.id, "its content does not match its hash (the row was edited)")
                expected_prev, expected_id, rows = entry.hash, entry.id + 1, rows + 1
                last_id = entry.id
        if head is None:
            return Verification(False, rows, None, "the chain's head row is missing")
        if head.last_id != expected_id - 1 or head.last_hash != expected_prev:
            return Verification(False, rows, expected_id, f"rows after {expected_id - 1} are missing (deleted from "
                                f"the end): the head points at row {head.last_id}")
    return Verification(True, rows)
