"""Who is speaking, in the report: author types and persons joined onto the posts, and the clinician filter.

A scored run holds `authors.parquet` (labeling/authors/resolve.py): one row per account with its type,
specialty and `person_id`. This module joins it onto `PostFrames` so that every figure downstream sees:

- `author_id` replaced by the person's main account (most posts, then the smallest id), with the account
  itself kept in `account_id`: distinct authors, reach, opinion leaders and rising voices then count a
  clinician with accounts on two platforms once, and tables still show a readable account id;
- `author_type`, and `specialty` as the author pass decided it (the platform's field where it decided nothing);
- with `report.voices: clinicians` (the default), only physicians' and other clinicians' posts: medical
  affairs listens to clinicians, and patients', brands' and news accounts' posts would otherwise move the gaps.

A run scored before author typing has no `authors.parquet`: every post counts, and the report says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .gaps import PostFrames
from labeling.authors.classify import CLINICIAN_TYPES
from labeling.authors.resolve import AUTHORS_FILE

logger = logging.getLogger(__name__)

VOICE_CHOICES = ("clinicians", "all")


@dataclass
class SpeakerSummary:
    """What the report says about who is speaking."""

    typed: bool
    voices: str
    posts_by_type: dict[str, int] = field(default_factory=dict)
    non_clinician_share: float | None = None
    accounts: int = 0
    persons: int = 0
    posts_left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"typed": self.typed, "voices": self.voices, "posts_by_type": self.posts_by_type,
                "non_clinician_share": self.non_clinician_share, "accounts": self.accounts,
                "persons": self.persons, "posts_left_out": self.posts_left_out}


def read_authors(run_dir: Path) -> pd.DataFrame | None:
    path = Path(run_dir) / AUTHORS_FILE
    if not path.is_file():
        return None
    return pd.read_parquet(path, columns=["author_id", "person_id", "author_type", "specialty", "posts"])


def main_accounts(authors: pd.DataFrame) -> pd.Series:
    """author_id -> the main account of its person (most posts, then the smallest id)."""
    ordered = authors.sort_values(["person_id", "posts", "author_id"], ascending=[True, False, True])
    main = ordered.drop_duplicates("person_id").set_index("person_id")["author_id"]
    return authors.set_index("author_id")["person_id"].map(main)


def attach_authors(frames: PostFrames, authors: pd.DataFrame | None, voices: str) -> SpeakerSummary:
    """Join the author pass onto `frames` in place and apply the clinician filter; returns the summary."""
    posts = frames.posts
    posts["account_id"] = posts["author_id"]
    if authors is not None:
        # only accounts whose posts were read: an account left out (suppressed) must not come back as the main
        # account its linked accounts are shown under
        authors = authors[authors["author_id"].isin(set(posts["author_id"].dropna()))]
    if authors is None or authors.empty:
        posts["author_type"] = pd.Series([None] * len(posts), dtype="object")
        frames.notes.append("this run has no authors.parquet (scored before author typing): every author counts "
                            "as a clinician voice")
        return SpeakerSummary(typed=False, voices="all")
    by_account = authors.set_index("author_id")
    known = posts["author_id"].isin(by_account.index)
    posts["author_type"] = posts["author_id"].map(by_account["author_type"])
    decided = posts["author_id"].map(by_account["specialty"])
    clinician = posts["author_type"].isin(CLINICIAN_TYPES)
    posts["specialty"] = decided.where(decided.notna(), posts["specialty"]).where(clinician | ~known, None)
    main = main_accounts(authors)
    posts["author_id"] = posts["author_id"].map(main).where(known, posts["author_id"])
    if not frames.mentions.empty:
        mentioned = frames.mentions["mention"]
        frames.mentions["mention"] = mentioned.map(main).where(mentioned.isin(main.index), mentioned)

    counts = posts["author_type"].fillna("untyped").value_counts()
    total = int(len(posts))
    clinician_posts = int(clinician.sum())
    summary = SpeakerSummary(
        typed=True, voices=voices, posts_by_type={str(k): int(v) for k, v in counts.sort_index().items()},
        non_clinician_share=round(1.0 - clinician_posts / total, 4) if total else None,
        accounts=int(authors["author_id"].nunique()), persons=int(authors["person_id"].nunique()),
    )
    if voices == "clinicians":
        if clinician_posts == 0 and total:
            frames.notes.append("no author could be typed as a clinician (no profiles in this dump?): counting "
                                "every voice")
            summary.voices = "all"
        else:
            keep_rows = posts.loc[clinician, "row"]
            summary.posts_left_out = total - clinician_posts
            _keep(frames, keep_rows)
            # attention paid to a non-clinician (mentioning a brand or a news account) does not make them a leader
            others = set(main[authors.set_index("author_id")["author_type"].reindex(main.index)
                              .isin(CLINICIAN_TYPES).eq(False).to_numpy()].tolist())
            frames.mentions = frames.mentions[~frames.mentions["mention"].isin(others)].reset_index(drop=True)
            frames.notes.append(f"clinician voices only (report.voices): {summary.posts_left_out} of {total} posts "
                                f"({1 - clinician_posts / total:.0%}) by patients, industry, media or unknown authors "
                                "left out; `occ report --all-voices` counts them")
    logger.info("authors: %d accounts as %d persons; %s of posts from non-clinicians; voices: %s",
                summary.accounts, summary.persons,
                f"{summary.non_clinician_share:.0%}" if summary.non_clinician_share is not None else "n/a",
                summary.voices)
    return summary


def _keep(frames: PostFrames, rows: pd.Series) -> None:
    keep = set(rows.tolist())
    frames.posts = frames.posts[frames.posts["row"].isin(keep)].reset_index(drop=True)
    for name in ("products", "evidence", "perception", "hashtags", "mentions"):
        frame = getattr(frames, name)
        if frame is not None:
            setattr(frames, name, frame[frame["row"].isin(keep)].reset_index(drop=True))
