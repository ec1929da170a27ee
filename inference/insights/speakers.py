"""Who is speaking, in the report: author types and persons joined onto the posts, and the clinician filter.

A scored run holds `authors.parquet` (labeling/authors/resolve.py): one row per account with its type,
specialty and `person_id`. This module joins it onto `PostFrames` so that every figure downstream sees:

- `author_id` replaced by the person's main account (most posts, then the smallest id): distinct authors,
  reach, opinion leaders and rising voices then count a clinician with accounts on two platforms once, and
  tables still show a readable account id (the posting account itself is not kept: nothing downstream reads
  it, and at 10^7 posts the column cost 40 MB);
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

import numpy as np
import pandas as pd

from common.memory import release_memory
from inference.insights.gaps import PostFrames
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
    if authors is not None:
        # only accounts whose posts were read: an account left out (suppressed) must not come back as the main
        # account its linked accounts are shown under
        present = authors["author_id"].isin(_present(posts["author_id"])).to_numpy()
        if not present.all():  # no copy of a million accounts when every one posted
            authors = authors[present]
        del present
    if authors is None or authors.empty:
        posts["author_type"] = pd.Series([None] * len(posts), dtype="object")
        frames.notes.append("this run has no authors.parquet (scored before author typing): every author counts "
                            "as a clinician voice")
        return SpeakerSummary(typed=False, voices="all")
    by_account = authors.set_index("author_id")
    known = posts["author_id"].isin(by_account.index).to_numpy()
    posts["author_type"] = map_values(posts["author_id"], by_account["author_type"])
    decided = map_values(posts["author_id"], by_account["specialty"])
    clinician = posts["author_type"].isin(CLINICIAN_TYPES).to_numpy()
    posts["specialty"] = _first_known(decided, posts["specialty"], keep=clinician | ~known)
    del decided
    main = main_accounts(authors)
    posts["author_id"] = rename_values(posts["author_id"], main)
    if not frames.mentions.empty:
        frames.mentions["mention"] = rename_values(frames.mentions["mention"], main)

    counts = posts["author_type"].value_counts(dropna=False)
    counts = pd.Series({("untyped" if pd.isna(k) else str(k)): int(v) for k, v in counts.items() if v > 0},
                       dtype="int64")
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
            keep_rows = posts["row"].to_numpy()[clinician]
            summary.posts_left_out = total - clinician_posts
            del posts, known, clinician
            release_memory()  # the per-author temporaries above, before the frames are filtered (a peak at 10^7)
            _keep(frames, keep_rows)
            del keep_rows
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


def _keep(frames: PostFrames, rows: np.ndarray) -> None:
    size = int(frames.posts["row"].max()) + 1 if len(frames.posts) else 0
    keep = np.zeros(size, dtype=bool)   # row -> kept, a vectorized lookup (no Python set of ten million rows)
    keep[np.asarray(rows)] = True
    for name in ("posts", "products", "evidence", "perception", "hashtags", "mentions"):
        frame = getattr(frames, name)
        if frame is not None:
            setattr(frames, name, _filtered(frame, keep[frame["row"].to_numpy()]))


def _filtered(frame: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """`frame[mask]`, built one column at a time while the source's columns are dropped: the peak is the frame
    plus one column, not two frames (at 10^7 posts the posts frame alone is about 600 MB)."""
    out = pd.DataFrame(index=pd.RangeIndex(int(mask.sum())))
    for name in list(frame.columns):
        out[name] = frame[name].to_numpy(copy=False)[mask] if not isinstance(frame[name].dtype, pd.api.extensions.ExtensionDtype) \
            else frame[name].array[mask]
        del frame[name]
    return out


# ---- categorical helpers: per distinct value, not per post --------------------------------------------------------

def _present(values: pd.Series) -> pd.Index | set[str]:
    """The distinct non-null values of a column (of a categorical: an Index, not a million Python strings)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = np.unique(values.cat.codes.to_numpy())
        return values.cat.categories[codes[codes >= 0]]
    return set(values.dropna())


def map_values(values: pd.Series, mapping: pd.Series) -> pd.Series:
    """`values.map(mapping)` (NaN where unmapped); for a categorical, mapped once per category and returned as
    a categorical with sorted categories, so ten million posts cost their codes and not a string each."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return values.map(mapping)
    mapped = pd.Series(values.cat.categories, dtype="str").map(mapping)
    categories = pd.Index(sorted(set(mapped.dropna())), dtype="str")
    per_category = np.append(categories.get_indexer(mapped), -1).astype("int32")  # -1 (unmapped, null) -> NaN
    codes = per_category[values.cat.codes.to_numpy()]  # int32: a code per post, ten million of them at 10^7
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=values.index)


def rename_values(values: pd.Series, mapping: pd.Series) -> pd.Series:
    """Values found in `mapping`'s index replaced by their mapping, others kept; a categorical keeps its
    categories (the mapped names must be among them: main accounts are authors that posted)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return values.map(mapping).where(values.isin(mapping.index), values)
    categories = values.cat.categories
    renamed = pd.Series(categories, dtype="str").map(mapping)
    renamed = renamed.where(renamed.notna(), pd.Series(categories, dtype="str"))
    per_category = np.append(categories.get_indexer(renamed), -1).astype("int32")
    if (per_category[:-1] < 0).any():  # pragma: no cover - guards the invariant above
        raise ValueError("a main account is not among the names read")
    codes = per_category[values.cat.codes.to_numpy()]
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=values.index)


def _first_known(first: pd.Series, second: pd.Series, keep: np.ndarray) -> pd.Series:
    """`first` where known, else `second`; NaN where not `keep`: on codes for categoricals."""
    if not isinstance(first.dtype, pd.CategoricalDtype) or not isinstance(second.dtype, pd.CategoricalDtype):
        return first.where(first.notna(), second).where(keep, None)
    categories = pd.Index(sorted({*first.cat.categories, *second.cat.categories}), dtype="str")
    a = np.append(categories.get_indexer(first.cat.categories), -1).astype("int32")[first.cat.codes.to_numpy()]
    b = np.append(categories.get_indexer(second.cat.categories), -1).astype("int32")[second.cat.codes.to_numpy()]
    codes = np.where(a >= 0, a, b)
    del a, b
    codes[~keep] = -1
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=first.index)
