"""Which accounts on different platforms belong to one person, and reviewers' confirm / split decisions.

Why: a clinician who posts on X, LinkedIn and Doximity is one voice; counted three times they look like three
opinion leaders, and an opt-out must reach all their accounts. Only accounts on *different* platforms are
linked (two accounts on one platform are two accounts, whatever they share). The evidence, strongest first
(`LINK_CONFIDENCE`):

- a bio or profile URL that points to the other account ("x:janesmith"): 0.99 (0.5 if their types conflict:
  a physician's bio may point to a journal's account);
- the same handle on both platforms: 0.97 when something else agrees (type, credentials, specialty, name key)
  and nothing conflicts, 0.75 when nothing else agrees, 0.4 when credentials or specialties differ, no link
  when the types conflict (a physician and a company);
- the same name key (a keyed hash of the display name, `signals.name_key`) with the same credentials and the
  same specialty: 0.96; with one of them: 0.8; alone: 0.6; no link when types, credentials or specialties
  conflict (two Dr. Jane Smiths, a cardiologist and an oncologist, are two people).

Candidates come from indexes (by handle, by name key, by the linked "platform:handle"), never from comparing
all pairs of authors; an index entry shared by more than `MAX_BUCKET` accounts (a common name or handle) says
nothing and is skipped. Reasons name handles (public) but never names (only their keys exist here).

`assign_persons` joins accounts into persons by union-find over links at or above the threshold, strongest
first, under reviewers' decisions: "confirm" joins two accounts whatever the links say, "split" keeps them
apart (a link that would put them in one person is skipped, so a split between A and C stops the chain
A-B-C). The decisions file (CSV):

    author_a,author_b,decision,reviewer,decided_at
    x:123,doximity:jsmith,confirm,dr_lee,2026-05-01T09:30:00Z
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from common.atomic import write_bytes_atomic
from common.errors import OccError
from common.spreadsheet import FORMULA_START, spreadsheet_safe
from labeling.authors.classify import (
    CLINICIAN_TYPES,
    OTHER_CLINICIAN_CREDENTIALS,
    PHYSICIAN_CREDENTIALS,
    AuthorDecision,
    AuthorProfile,
)
from labeling.authors.signals import canonical_platform

LINK_CONFIDENCE = {
    "bio_link": 0.99, "bio_link_types_differ": 0.5,
    "handle_agrees": 0.97, "handle_only": 0.75, "handle_differs": 0.4,
    "name_all": 0.96, "name_partial": 0.8, "name_only": 0.6,
}
MAX_BUCKET = 50
"""Accounts sharing one handle, name key or linked profile beyond this are not compared (common names)."""

LINK_DECISION_COLUMNS = ("author_a", "author_b", "decision", "reviewer", "decided_at")
LINK_DECISIONS = ("confirm", "split")
PERSON_PREFIX = "p_"
LICENSED_CREDENTIALS = PHYSICIAN_CREDENTIALS | OTHER_CLINICIAN_CREDENTIALS


class LinkDecisionError(OccError, ValueError):
    """The link decisions file is malformed or contradicts itself; the message names the file and line."""


@dataclass(frozen=True)
class Link:
    """A candidate link between two accounts (author_a < author_b)."""

    author_a: str
    author_b: str
    confidence: float
    reason: str


@dataclass
class LinkDecision:
    """A reviewer's decision on two accounts: "confirm" (one person) or "split" (two people)."""

    author_a: str
    author_b: str
    decision: str
    reviewer: str
    decided_at: str
    """ISO 8601 time, e.g. 2026-05-01T09:30:00Z."""


# ---------------------------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class _Comparison:
    type_conflict: bool
    credentials_conflict: bool
    specialty_conflict: bool
    agreeing: tuple[str, ...]
    """What agrees: "type", "credentials", "specialty", "name key"."""

    @property
    def credentials_agree(self) -> bool:
        return "credentials" in self.agreeing

    @property
    def specialty_agrees(self) -> bool:
        return "specialty" in self.agreeing


def candidate_links(profiles: Sequence[AuthorProfile], decisions: Mapping[str, AuthorDecision],
                    crowded_handles: frozenset[str] = frozenset(),
                    crowded_names: frozenset[str] = frozenset()) -> list[Link]:
    """Links between accounts on different platforms, one per pair (its strongest evidence first in the
    reason), sorted by (author_a, author_b). See the module docstring for the evidence and its confidence.

    `profiles` may be the part of a run that can link at all (`labeling.authors.author_pass`): every account
    sharing a handle or name key with another, every account with profile links and every account they could
    point to. `crowded_handles` / `crowded_names` are then those that more than `MAX_BUCKET` accounts of the
    whole run share, which say nothing even if fewer of them are in `profiles`."""
    by_id = {p.author_id: p for p in profiles}
    platforms = {p.author_id: _platforms(p) for p in profiles}
    found: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)

    def consider(a: str, b: str, evaluate: Callable[[_Comparison], tuple[float, str] | None]) -> None:
        if a == b or not platforms[a] or not platforms[b] or platforms[a] & platforms[b]:
            return
        scored = evaluate(_compare(by_id[a], by_id[b], decisions))
        if scored is not None:
            found[(min(a, b), max(a, b))].append(scored)

    by_account: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_handle: dict[str, list[str]] = defaultdict(list)
    by_name: dict[str, list[str]] = defaultdict(list)
    for p in profiles:
        if p.handle:
            by_handle[p.handle].append(p.author_id)
            for platform in platforms[p.author_id]:
                by_account[(platform, p.handle)].append(p.author_id)
        if p.name_key:
            by_name[p.name_key].append(p.author_id)

    for p in profiles:
        for ref in sorted(set(p.linked)):
            account = _account(ref)
            targets = by_account.get(account, []) if account else []
            if len(targets) <= MAX_BUCKET:
                for other in targets:
                    consider(p.author_id, other, lambda c, ref=f"{account[0]}:{account[1]}": _bio_link(c, ref))
    for handle, ids in by_handle.items():
        if handle in crowded_handles:
            continue
        for a, b in _pairs(ids):
            consider(a, b, lambda c, handle=handle: _same_handle(c, handle))
    for name, ids in by_name.items():
        if name in crowded_names:
            continue
        for a, b in _pairs(ids):
            consider(a, b, _same_name)
    return [_link(pair, evidence) for pair, evidence in sorted(found.items())]


def _platforms(profile: AuthorProfile) -> frozenset[str]:
    return frozenset(p for p in (canonical_platform(x) for x in profile.platforms) if p)


def _account(ref: str) -> tuple[str, str] | None:
    platform, _, handle = ref.partition(":")
    platform_name = canonical_platform(platform)
    handle = handle.strip().lower()
    return (platform_name, handle) if platform_name and handle else None


def _pairs(ids: list[str]) -> Iterator[tuple[str, str]]:
    unique = sorted(set(ids))
    if len(unique) > MAX_BUCKET:
        return
    for i, a in enumerate(unique):
        for b in unique[i + 1:]:
            yield a, b


def _link(pair: tuple[str, str], evidence: list[tuple[float, str]]) -> Link:
    ordered = sorted(set(evidence), key=lambda e: (-e[0], e[1]))
    return Link(pair[0], pair[1], ordered[0][0], "; ".join(dict.fromkeys(reason for _, reason in ordered)))


def _type_group(decision: AuthorDecision | None) -> str | None:
    if decision is None or decision.author_type == "unknown":
        return None
    return "clinician" if decision.author_type in CLINICIAN_TYPES else decision.author_type


def _credential_class(credentials: Iterable[str]) -> str | None:
    held = set(credentials)
    if held & PHYSICIAN_CREDENTIALS:
        return "physician"
    return "other_clinician" if held & OTHER_CLINICIAN_CREDENTIALS else None


def _specialty(decision: AuthorDecision | None) -> str | None:
    if decision is None or decision.specialty in (None, "other"):
        return None
    return decision.specialty


def _compare(a: AuthorProfile, b: AuthorProfile, decisions: Mapping[str, AuthorDecision]) -> _Comparison:
    da, db = decisions.get(a.author_id), decisions.get(b.author_id)
    type_a, type_b = _type_group(da), _type_group(db)
    class_a, class_b = _credential_class(a.credentials), _credential_class(b.credentials)
    spec_a, spec_b = _specialty(da), _specialty(db)
    agreeing = []
    if type_a and type_a == type_b:
        agreeing.append("type")
    if set(a.credentials) & set(b.credentials) & LICENSED_CREDENTIALS:
        agreeing.append("credentials")
    if spec_a and spec_a == spec_b:
        agreeing.append("specialty")
    if a.name_key and a.name_key == b.name_key:
        agreeing.append("name key")
    return _Comparison(
        type_conflict=bool(type_a and type_b and type_a != type_b),
        credentials_conflict=bool(class_a and class_b and class_a != class_b),
        specialty_conflict=bool(spec_a and spec_b and spec_a != spec_b),
        agreeing=tuple(agreeing),
    )


def _bio_link(c: _Comparison, ref: str) -> tuple[float, str]:
    if c.type_conflict:
        return LINK_CONFIDENCE["bio_link_types_differ"], f"bio links {ref} but the types differ"
    return LINK_CONFIDENCE["bio_link"], f"bio links {ref}"


def _same_handle(c: _Comparison, handle: str) -> tuple[float, str] | None:
    if c.type_conflict:
        return None
    if c.credentials_conflict or c.specialty_conflict:
        what = "credentials" if c.credentials_conflict else "specialties"
        return LINK_CONFIDENCE["handle_differs"], f"same handle {handle} but {what} differ"
    if c.agreeing:
        return LINK_CONFIDENCE["handle_agrees"], f"same handle {handle}; same {', '.join(c.agreeing)}"
    return LINK_CONFIDENCE["handle_only"], f"same handle {handle} only"


def _same_name(c: _Comparison) -> tuple[float, str] | None:
    if c.type_conflict or c.credentials_conflict or c.specialty_conflict:
        return None
    if c.credentials_agree and c.specialty_agrees:
        return LINK_CONFIDENCE["name_all"], "same name key, credentials and specialty"
    if c.credentials_agree or c.specialty_agrees:
        what = "credentials" if c.credentials_agree else "specialty"
        return LINK_CONFIDENCE["name_partial"], f"same name key and {what}"
    return LINK_CONFIDENCE["name_only"], "same name key only"


# ---------------------------------------------------------------------------------------------- persons


def person_id_for(author_id: str) -> str:
    """The person id of a component whose smallest author id is `author_id`: stable across runs as long as the
    component keeps that member."""
    return PERSON_PREFIX + hashlib.blake2b(author_id.encode("utf-8"), digest_size=6).hexdigest()


def assign_persons(author_ids: Iterable[str], links: Sequence[Link], threshold: float,
                   decisions: Sequence[LinkDecision]) -> dict[str, str]:
    """A person id for every author: components of the links at or above `threshold`, under reviewers'
    decisions (the last decision on a pair wins; decisions and links about authors not in `author_ids` are
    ignored). Raises `LinkDecisionError` when confirmed pairs join two accounts a reviewer split."""
    ids = sorted(set(author_ids))
    groups = _Components(ids)
    latest: dict[tuple[str, str], str] = {}
    for d in decisions:
        if d.author_a in groups.members and d.author_b in groups.members and d.author_a != d.author_b:
            latest[(min(d.author_a, d.author_b), max(d.author_a, d.author_b))] = d.decision
    for (a, b), decision in latest.items():
        if decision == "split":
            groups.forbid(a, b)
    for (a, b), decision in sorted(latest.items()):
        if decision == "confirm" and not groups.merge(a, b):
            x, y = groups.blocking(a, b)
            raise LinkDecisionError(
                f"link decisions contradict each other: confirming {a} and {b} as one person joins {x} and {y}, "
                "which a reviewer split; change one of these decisions in the link decisions file")
    for link in sorted(links, key=lambda k: (-k.confidence, k.author_a, k.author_b)):
        pair = (min(link.author_a, link.author_b), max(link.author_a, link.author_b))
        if link.confidence >= threshold and latest.get(pair) != "split" and set(pair) <= groups.members.keys():
            groups.merge(*pair)
    return {a: person_id_for(groups.smallest(a)) for a in ids}


class _Components:
    """Union-find whose components remember which accounts they may not be joined with."""

    def __init__(self, ids: list[str]) -> None:
        self.members: dict[str, str] = {a: a for a in ids}  # author -> parent
        self._all: dict[str, set[str]] = {a: {a} for a in ids}  # root -> its authors
        self._forbidden: dict[str, set[str]] = {a: set() for a in ids}  # root -> authors split from it
        self._splits: set[tuple[str, str]] = set()

    def find(self, a: str) -> str:
        root = a
        while self.members[root] != root:
            root = self.members[root]
        while self.members[a] != root:
            self.members[a], a = root, self.members[a]
        return root

    def forbid(self, a: str, b: str) -> None:
        self._splits.add((min(a, b), max(a, b)))
        self._forbidden[self.find(a)].add(b)
        self._forbidden[self.find(b)].add(a)

    def merge(self, a: str, b: str) -> bool:
        """Join the components of a and b unless that would put a split pair in one person."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if self._forbidden[ra] & self._all[rb]:
            return False
        if len(self._all[ra]) < len(self._all[rb]):
            ra, rb = rb, ra
        self.members[rb] = ra
        self._all[ra] |= self._all.pop(rb)
        self._forbidden[ra] |= self._forbidden.pop(rb)
        return True

    def blocking(self, a: str, b: str) -> tuple[str, str]:
        """The split pair that stops a and b from being joined (the first in author order)."""
        side_a, side_b = self._all[self.find(a)], self._all[self.find(b)]
        return min((min(x, y), max(x, y)) for x in side_a for y in side_b if (min(x, y), max(x, y)) in self._splits)

    def smallest(self, a: str) -> str:
        return min(self._all[self.find(a)])


# ---------------------------------------------------------------------------------------------- decisions file


def read_link_decisions(path: Path) -> list[LinkDecision]:
    """Reviewers' decisions in file order (a missing or empty file: none). A malformed row raises
    `LinkDecisionError` with the file, the line and what was expected."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LinkDecisionError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8 CSV") from None
    except OSError as exc:
        raise LinkDecisionError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return []
    _check_header(path, header)
    decisions = []
    for row in reader:
        if any(cell.strip() for cell in row):
            decisions.append(_parse_row(row, f"{path}: line {reader.line_num}"))
    return decisions


def write_link_decision(path: Path, decision: LinkDecision) -> None:
    """Append one decision (creating the file with its header); the file is replaced atomically, so a crash
    never leaves half a row, and writers take turns on a lock file beside it."""
    path = Path(path)
    values = [decision.author_a, decision.author_b, decision.decision, decision.reviewer, decision.decided_at]
    _parse_row(values, f"link decision {decision.author_a},{decision.author_b}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        existing = path.read_text(encoding="utf-8-sig") if path.exists() else ""
        if existing.strip():
            _check_header(path, next(csv.reader(io.StringIO(existing, newline=""))))
            if not existing.endswith("\n"):
                existing += "\n"
        else:
            existing = ",".join(LINK_DECISION_COLUMNS) + "\n"
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([spreadsheet_safe(v) for v in values])
        write_bytes_atomic(path, (existing + buffer.getvalue()).encode("utf-8"))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not on POSIX: one writer at a time is the caller's business
        yield
        return
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _check_header(path: Path, header: list[str]) -> None:
    if tuple(cell.strip() for cell in header) != LINK_DECISION_COLUMNS:
        raise LinkDecisionError(f"{path}: line 1: expected the header {','.join(LINK_DECISION_COLUMNS)}, "
                                f"found {','.join(header)!r}")


def _parse_row(row: Sequence[str], where: str) -> LinkDecision:
    if len(row) != len(LINK_DECISION_COLUMNS):
        raise LinkDecisionError(f"{where}: expected {len(LINK_DECISION_COLUMNS)} fields "
                                f"({','.join(LINK_DECISION_COLUMNS)}), found {len(row)}")
    a, b, decision, reviewer, decided_at = (_unescaped(str(cell).strip()) for cell in row)
    decision = decision.lower()
    if not a or not b:
        raise LinkDecisionError(f"{where}: expected two author ids in author_a and author_b, found an empty one")
    if a == b:
        raise LinkDecisionError(f"{where}: expected two different authors, found {a!r} twice")
    if decision not in LINK_DECISIONS:
        raise LinkDecisionError(f"{where}: expected decision confirm or split, found {decision!r}")
    if not reviewer:
        raise LinkDecisionError(f"{where}: expected the reviewer's name, found an empty reviewer")
    try:
        datetime.fromisoformat(decided_at)
    except ValueError:
        raise LinkDecisionError(f"{where}: expected decided_at as an ISO 8601 time such as 2026-05-01T09:30:00Z, "
                                f"found {decided_at!r}") from None
    return LinkDecision(a, b, decision, reviewer, decided_at)


def _unescaped(value: str) -> str:
    """Undo `spreadsheet_safe`'s quote before a formula character (ids like "@jane" or "-x" round-trip)."""
    if value.startswith("'") and value[1:2] and value[1] in FORMULA_START:
        return value[1:]
    return value
