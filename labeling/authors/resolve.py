"""The author pass: one decision per author (type, specialty) and one `person_id` per linked set of accounts.

Why a pass over the written rows rather than a column filled while streaming: an author is typed from *all* of
their posts (credentials in one profile snapshot, what they write about across the dump) and accounts are
linked across the whole dump, so no row can be decided when it is written. The pass reads back only the profile
columns of the rows a run has written (`occ ingest`'s `posts.parquet`, `occ score`'s parts, whichever engine
wrote them, including after `--resume`), keeps a bounded sample per author, and writes two small tables beside
the run:

- `authors.parquet`: one row per author (`AUTHORS_SCHEMA`): type, specialty, each with a confidence and the
  evidence used, and the `person_id`. Readers of a run (`inference.insights`, the review workspace) join it
  onto the posts, so every scored row carries `author_type`, `specialty` and `person_id`;
- `author_links.parquet`: every candidate link with its confidence, reason and whether it joined two accounts
  (`LINKS_SCHEMA`), which is what a reviewer confirms or splits (`authors.link_decisions`).

This module holds the pieces and the in-memory pass over a set of profiles (`resolve_authors`, for tests,
benches and small runs); a run of any size goes through `labeling.authors.author_pass`, which holds one bucket
of authors at a time and types the buckets on every core, with the same tables.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from common.settings import AuthorSettings
from labeling.authors.classify import (
    CLINICIAN_TYPES,
    AuthorDecision,
    AuthorProfile,
    classify_author,
    specialty_of,
)
from labeling.authors.linking import (
    Link,
    assign_persons,
    candidate_links,
    read_link_decisions,
)

logger = logging.getLogger(__name__)

AUTHORS_FILE = "authors.parquet"
LINKS_FILE = "author_links.parquet"
TEXT_CHARS = 400
"""Characters kept of each sampled post: enough for the cues an author's writing gives away."""

PROFILE_COLUMNS = ("author_id", "platform", "author_handle", "author_url", "author_bio", "author_specialty",
                   "author_credentials", "author_name_key", "author_links", "text", "hashtags")
"""What the pass reads back; a run written before profiles existed lacks some of them (treated as empty)."""

AUTHORS_SCHEMA = pa.schema([
    pa.field("author_id", pa.string(), nullable=False),
    pa.field("person_id", pa.string(), nullable=False),
    pa.field("author_type", pa.string(), nullable=False),
    pa.field("type_confidence", pa.float32()),
    pa.field("type_evidence", pa.string()),
    pa.field("specialty", pa.string()),
    pa.field("specialty_confidence", pa.float32()),
    pa.field("specialty_evidence", pa.string()),
    pa.field("is_clinician", pa.bool_()),
    pa.field("platforms", pa.list_(pa.string())),
    pa.field("posts", pa.int64()),
])

LINKS_SCHEMA = pa.schema([
    pa.field("author_a", pa.string(), nullable=False),
    pa.field("author_b", pa.string(), nullable=False),
    pa.field("confidence", pa.float32()),
    pa.field("reason", pa.string()),
    pa.field("linked", pa.bool_()),
    pa.field("decision", pa.string()),
])
"""`linked`: the two accounts ended in one person; `decision`: a reviewer's confirm / split, if any."""


class _Acc:
    """One author's running profile. Slotted, with containers made on first use: a 10^7-post run can have
    hundreds of thousands of authors, most with one platform and no credentials or links."""

    __slots__ = ("platforms", "specialty", "credentials", "links", "handle", "url", "name_key", "bio", "texts",
                 "posts")

    def __init__(self) -> None:
        self.platforms: Counter | None = None
        self.specialty: Counter | None = None
        self.credentials: set[str] | None = None
        self.links: set[str] | None = None
        self.handle: str | None = None
        self.url: str | None = None
        self.name_key: str | None = None
        self.bio: str | None = None
        self.texts: list[str] | None = None
        self.posts = 0


class AuthorAccumulator:
    """Folds rows into per-author profiles (first non-empty handle, URL, name key and bio; union of credentials
    and profile links; platform and specialty-field counts; the first `texts_per_author` posts)."""

    def __init__(self, texts_per_author: int) -> None:
        self.texts_per_author = texts_per_author
        self._by_author: dict[str, _Acc] = {}

    def __len__(self) -> int:
        return len(self._by_author)

    def add_batch(self, batch: pa.RecordBatch | pa.Table) -> None:
        columns = {name: batch.column(name).to_pylist() if name in batch.schema.names else [None] * batch.num_rows
                   for name in PROFILE_COLUMNS}
        for i, author_id in enumerate(columns["author_id"]):
            if not author_id:
                continue
            acc = self._by_author.get(author_id)
            if acc is None:
                acc = self._by_author[author_id] = _Acc()
            acc.posts += 1
            if columns["platform"][i]:
                if acc.platforms is None:
                    acc.platforms = Counter()
                acc.platforms[columns["platform"][i]] += 1
            if columns["author_specialty"][i]:
                if acc.specialty is None:
                    acc.specialty = Counter()
                acc.specialty[columns["author_specialty"][i]] += 1
            if columns["author_credentials"][i]:
                acc.credentials = (acc.credentials or set()) | set(columns["author_credentials"][i])
            if columns["author_links"][i]:
                acc.links = (acc.links or set()) | set(columns["author_links"][i])
            acc.handle = acc.handle or columns["author_handle"][i]
            acc.url = acc.url or columns["author_url"][i]
            acc.name_key = acc.name_key or columns["author_name_key"][i]
            acc.bio = acc.bio or columns["author_bio"][i]
            if self.texts_per_author and columns["text"][i]:
                if acc.texts is None:
                    acc.texts = []
                if len(acc.texts) < self.texts_per_author:
                    acc.texts.append(_sampled_text(columns["text"][i], columns["hashtags"][i]))

    def profiles(self) -> list[AuthorProfile]:
        """Profiles in author-id order (deterministic whatever order the parts were read in). Empties the
        accumulator as it goes, so that the two never take memory at once."""
        from labeling.authors.signals import handle_of

        out = []
        for author_id in sorted(self._by_author):
            acc = self._by_author.pop(author_id)
            platform = acc.platforms.most_common(1)[0][0] if acc.platforms else None
            out.append(AuthorProfile(
                author_id=author_id, platforms=sorted(acc.platforms or ()),
                handle=handle_of(acc.handle, acc.url, None, platform),
                url=acc.url, name_key=acc.name_key, credentials=sorted(acc.credentials or ()), bio=acc.bio,
                specialty_field=acc.specialty.most_common(1)[0][0] if acc.specialty else None, texts=acc.texts or [],
                n_posts=acc.posts, linked=sorted(acc.links or ()),
            ))
        return out


def _sampled_text(text: str, hashtags: Sequence[str] | None) -> str:
    tags = " ".join(f"#{tag}" for tag in (hashtags or ()))
    return (text[:TEXT_CHARS] + (" " + tags if tags else "")).strip()


@dataclass
class AuthorTables:
    authors: pa.Table
    links: pa.Table

    def summary(self) -> dict[str, Any]:
        """Counts a run summary shows: authors and posts by type, persons, links made."""
        types = self.authors.column("author_type").to_pylist()
        posts = self.authors.column("posts").to_pylist()
        by_type: Counter = Counter()
        posts_by_type: Counter = Counter()
        for kind, n in zip(types, posts):
            by_type[kind] += 1
            posts_by_type[kind] += n
        total_posts = sum(posts)
        clinician_posts = sum(posts_by_type[t] for t in CLINICIAN_TYPES)
        return {
            "authors": self.authors.num_rows,
            "persons": len(set(self.authors.column("person_id").to_pylist())),
            "links_made": int(sum(self.links.column("linked").to_pylist())) if self.links.num_rows else 0,
            "authors_by_type": dict(sorted(by_type.items())),
            "posts_by_type": dict(sorted(posts_by_type.items())),
            "non_clinician_post_share": round(1.0 - clinician_posts / total_posts, 4) if total_posts else None,
        }


TypeModel = Callable[[Sequence[AuthorProfile]], list[tuple[str, float]]]
"""Asked about the authors the rules are unsure of: per profile, the most probable author type and its
probability (inference/scoring/authors.py wraps a registered author-type model as one)."""


def decide_types(profiles: Sequence[AuthorProfile], settings: AuthorSettings,
                 type_model: TypeModel | None = None) -> dict[str, AuthorDecision]:
    """Each author's type and specialty: the rules, then the model where they are unsure."""
    decisions: dict[str, AuthorDecision] = {p.author_id: classify_author(p, settings) for p in profiles}
    if type_model is not None:
        _ask_model(profiles, decisions, settings, type_model)
    return decisions


def resolve_authors(profiles: Sequence[AuthorProfile], settings: AuthorSettings,
                    decisions_file: Path | None = None, type_model: TypeModel | None = None,
                    decisions: dict[str, AuthorDecision] | None = None) -> AuthorTables:
    """Type every author (unless `decisions` were made already), link accounts, assign persons (reviewers'
    confirm / split decisions applied)."""
    if decisions is None:
        decisions = decide_types(profiles, settings, type_model)
    links = candidate_links(profiles, decisions)
    reviewed = read_link_decisions(Path(decisions_file)) if decisions_file else []
    persons = assign_persons([p.author_id for p in profiles], links, settings.link_threshold, reviewed)
    return AuthorTables(_authors_table(profiles, decisions, persons), _links_table(links, persons, reviewed))


def _ask_model(profiles: Sequence[AuthorProfile], decisions: dict[str, AuthorDecision], settings: AuthorSettings,
               type_model: TypeModel) -> None:
    """Rules first; where their confidence is below `authors.model_below` (and the author is not a bot), the
    model's answer wins when it is more confident than the rules and above `min_type_confidence`."""
    def is_unsure(decision: AuthorDecision) -> bool:
        if decision.type_evidence.startswith("repetitive automated posting"):
            return False  # a bot is not a voice, whatever a model of voices says
        return decision.author_type == "unknown" or decision.type_confidence < settings.model_below

    unsure = [p for p in profiles if is_unsure(decisions[p.author_id])]
    if not unsure:
        return
    answers = type_model(unsure)
    changed = 0
    for profile, (label, probability) in zip(unsure, answers):
        rules = decisions[profile.author_id]
        # "unknown" carries the confidence that nothing convincing was found, not a rival answer
        rival = 0.0 if rules.author_type == "unknown" else rules.type_confidence
        if probability < settings.min_type_confidence or probability <= rival:
            continue
        decision = AuthorDecision(label, round(float(probability), 3),
                                  f"model: {label} p={probability:.2f}; rules: {rules.author_type} "
                                  f"{rules.type_confidence:.2f} ({rules.type_evidence})")
        if label in CLINICIAN_TYPES:
            decision.specialty, decision.specialty_confidence, decision.specialty_evidence = \
                specialty_of(profile, label, settings)
        changed += label != rules.author_type
        decisions[profile.author_id] = decision
    logger.info("author-type model asked about %d authors the rules were unsure of; it changed %d types",
                len(unsure), changed)


def _authors_table(profiles: Sequence[AuthorProfile], decisions: Mapping[str, AuthorDecision],
                   persons: Mapping[str, str]) -> pa.Table:
    rows = []
    for p in profiles:
        d = decisions[p.author_id]
        rows.append({
            "author_id": p.author_id, "person_id": persons[p.author_id], "author_type": d.author_type,
            "type_confidence": d.type_confidence, "type_evidence": d.type_evidence, "specialty": d.specialty,
            "specialty_confidence": d.specialty_confidence, "specialty_evidence": d.specialty_evidence,
            "is_clinician": d.author_type in CLINICIAN_TYPES, "platforms": p.platforms, "posts": p.n_posts,
        })
    return pa.Table.from_pylist(rows, schema=AUTHORS_SCHEMA)


def _links_table(links: Sequence[Link], persons: Mapping[str, str], reviewed: Sequence[Any]) -> pa.Table:
    decided = {tuple(sorted((d.author_a, d.author_b))): d.decision for d in reviewed}
    pairs = {(link.author_a, link.author_b) for link in links}
    rows = [{"author_a": link.author_a, "author_b": link.author_b, "confidence": link.confidence,
             "reason": link.reason, "linked": persons.get(link.author_a) == persons.get(link.author_b),
             "decision": decided.get((link.author_a, link.author_b))} for link in links]
    for (a, b), decision in sorted(decided.items()):  # a reviewer's confirm of a pair no rule proposed
        if (a, b) not in pairs and a in persons and b in persons:
            rows.append({"author_a": a, "author_b": b, "confidence": None, "reason": "reviewer",
                         "linked": persons[a] == persons[b], "decision": decision})
    return pa.Table.from_pylist(rows, schema=LINKS_SCHEMA)


def read_profiles(paths: Iterable[Path], texts_per_author: int, batch_rows: int = 65_536) -> list[AuthorProfile]:
    """Stream the profile columns of Parquet files written by a run into per-author profiles."""
    acc = AuthorAccumulator(texts_per_author)
    for path in paths:
        handle = pq.ParquetFile(path)
        columns = [c for c in PROFILE_COLUMNS if c in handle.schema_arrow.names]
        for batch in handle.iter_batches(batch_size=batch_rows, columns=columns):
            acc.add_batch(batch)
    return acc.profiles()
