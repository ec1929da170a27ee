"""Author documents: one text per author, what a model of author types reads.

Why a document and not the rules' features: the own-labels path (`occ train --labels FILE --taxonomy FILE`)
trains on texts, so an author becomes one text holding everything the rules look at: credential tokens,
platforms, the platform's specialty field, the redacted bio and a sample of posts. Tokens like `cred_md` and
`platform_doximity` are spelled so that a word n-gram model sees them as features of their own.

`training_rows` joins a labeled author file (author_id, author_type, ...) with the profiles of a run into the
own-labels table; `AUTHOR_TAXONOMY` is the packaged taxonomy of that task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from common.errors import OccError
from labeling.authors.classify import AUTHOR_TYPES, AuthorProfile

AUTHOR_TAXONOMY = Path(__file__).with_name("taxonomy.yaml")
AUTHOR_TASK = "author_type"
POST_SEPARATOR = " || "


class AuthorLabelsError(OccError, ValueError):
    """A labeled author file that cannot be used as it is."""


def author_document(profile: AuthorProfile) -> str:
    """Everything known about one author as one text (deterministic for a given profile)."""
    parts = [" ".join(f"cred_{c.lower().replace('-', '')}" for c in profile.credentials),
             " ".join(f"platform_{p}" for p in profile.platforms)]
    if profile.specialty_field:
        parts.append(f"specialty field: {profile.specialty_field}")
    if profile.bio:
        parts.append(f"bio: {profile.bio}")
    if profile.texts:
        parts.append("posts: " + POST_SEPARATOR.join(profile.texts))
    return " | ".join(p for p in parts if p)


def training_rows(profiles: Iterable[AuthorProfile], labels: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Own-labels rows (post_id = author_id, author_id, text, author_type) for every labeled author of the run.

    A label outside the taxonomy is an error with its line; a labeled author with no post in the run is
    skipped (and counted by the caller), since there is nothing to learn from.
    """
    wanted: dict[str, str] = {}
    for line, row in enumerate(labels, start=2):
        author_id = str(row.get("author_id") or "").strip()
        label = str(row.get(AUTHOR_TASK) or "").strip()
        if not author_id or not label:
            continue
        if label not in AUTHOR_TYPES:
            raise AuthorLabelsError(f"line {line}: author_type {label!r} is not one of {', '.join(AUTHOR_TYPES)}")
        wanted[author_id] = label
    return [{"post_id": p.author_id, "author_id": p.author_id, "text": author_document(p),
             AUTHOR_TASK: wanted[p.author_id]} for p in profiles if p.author_id in wanted]
