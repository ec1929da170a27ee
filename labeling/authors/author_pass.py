"""The author pass over a run of any size: memory bounded by a bucket of authors, typing on every core.

Why not hold every author at once (`resolve.resolve_authors`): a 10^7-post run has hundreds of thousands of
authors, and their profiles and decisions as Python objects took more memory than the rest of the run together
(1.9 GB at 10^7 posts against 0.7 GB at 10^6); at 10^8 they would not fit. So the pass works in stages, each
holding one bucket of authors or compact Arrow columns:

1. **Boundaries.** One read of the `author_id` column estimates the number of authors (an adaptive hash sample:
   exact up to `SAMPLE_CAP` authors) and cuts author ids into ranges of about `AUTHORS_PER_BUCKET` authors.
2. **Partition.** The profile columns of the run's rows go to one Parquet file per range, in the run's order
   (parts in order, rows in order), so a bucket sees each author's posts as the whole run would. A run with one
   range skips this and reads its parts directly.
3. **Type.** Each bucket is folded into profiles (`resolve.AuthorAccumulator`) and typed (`resolve.decide_types`)
   in worker processes, one bucket each; the decisions and the few profile fields linking needs are written per
   bucket, in author-id order.
4. **Link.** Arrow group-bys find the accounts that can link at all (a handle or name key shared by 2 to
   `MAX_BUCKET` accounts, profile links and the accounts they point to); only those become Python objects for
   `linking.candidate_links`, and only accounts in a link or a reviewer's decision enter the union-find.
   Everyone else is a person of their own (`linking.person_id_for`).
5. **Write.** `authors.parquet` is streamed bucket by bucket (the ranges are in order, so it is in author-id
   order as before) and `author_links.parquet` written whole (links are few).

The tables are those `resolve.resolve_authors` gives on every profile at once, row for row (a test compares
them with several buckets, with and without worker processes, crowded handles and reviewers' decisions).
Scratch files live in `.author-pass/` beside the run and are deleted at the end; they take about as much disk
as the run's profile and text columns.
"""

from __future__ import annotations

import logging
import math
import shutil
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.atomic import AtomicParquetWriter, write_table_atomic
from common.processes import spawn_pool
from common.progress import Progress
from common.settings import AuthorSettings
from labeling.authors.classify import CLINICIAN_TYPES, AuthorDecision, AuthorProfile
from labeling.authors.linking import (
    MAX_BUCKET,
    Link,
    _account,
    assign_persons,
    candidate_links,
    person_id_for,
    read_link_decisions,
)
from labeling.authors.resolve import (
    AUTHORS_FILE,
    AUTHORS_SCHEMA,
    LINKS_FILE,
    PROFILE_COLUMNS,
    AuthorAccumulator,
    TypeModel,
    _links_table,
    decide_types,
)

logger = logging.getLogger(__name__)

AUTHORS_PER_BUCKET = 20_000
"""Authors typed at once, in one process: their profiles, sampled posts (`texts_per_author` each) and decisions,
about 150 MB."""
POOL_MIN_AUTHORS = 5_000
"""Fewer authors than this are typed in this process: starting worker processes would cost more than it saves."""
SAMPLE_CAP = 65_536
"""Author ids kept to place the bucket boundaries; beyond it the sample keeps a hash-chosen half, then a quarter..."""
SCRATCH_DIR = ".author-pass"
READ_ROWS = 16_384

PROFILE_SCHEMA = pa.schema([
    pa.field("author_id", pa.string()), pa.field("platform", pa.string()), pa.field("author_handle", pa.string()),
    pa.field("author_url", pa.string()), pa.field("author_bio", pa.string()),
    pa.field("author_specialty", pa.string()), pa.field("author_credentials", pa.list_(pa.string())),
    pa.field("author_name_key", pa.string()), pa.field("author_links", pa.list_(pa.string())),
    pa.field("text", pa.string()), pa.field("hashtags", pa.list_(pa.string())),
])
"""`resolve.PROFILE_COLUMNS` with one type each, so that parts of any vintage partition into one schema."""
assert tuple(PROFILE_SCHEMA.names) == PROFILE_COLUMNS

TYPED_SCHEMA = pa.schema([
    pa.field("author_id", pa.string()), pa.field("platforms", pa.list_(pa.string())),
    pa.field("handle", pa.string()), pa.field("name_key", pa.string()),
    pa.field("credentials", pa.list_(pa.string())), pa.field("linked", pa.list_(pa.string())),
    pa.field("posts", pa.int64()), pa.field("author_type", pa.string()), pa.field("type_confidence", pa.float32()),
    pa.field("type_evidence", pa.string()), pa.field("specialty", pa.string()),
    pa.field("specialty_confidence", pa.float32()), pa.field("specialty_evidence", pa.string()),
])
"""One bucket's typed authors: their decisions and what linking compares."""


def write_author_tables(paths: Sequence[Path], out_dir: Path, settings: AuthorSettings,
                        type_model: TypeModel | None = None, workers: int = 1, progress: bool = False) -> dict[str, Any]:
    """The author pass of a run: read `paths` (Parquet files of the run's rows), write `authors.parquet` and
    `author_links.parquet` into `out_dir`, return the summary counts. `workers` processes type the buckets
    (a `type_model` is asked in this process, so with one the buckets are typed here)."""
    paths, out_dir = [Path(p) for p in paths], Path(out_dir)
    scratch = out_dir / SCRATCH_DIR
    shutil.rmtree(scratch, ignore_errors=True)  # a crashed pass's leftovers
    scratch.mkdir(parents=True)
    try:
        boundaries, estimated = bucket_boundaries(paths, AUTHORS_PER_BUCKET, workers)
        sources = _partition(paths, boundaries, scratch) if boundaries else [paths]
        typed = _type_buckets(sources, scratch, settings, type_model,
                              workers if estimated >= POOL_MIN_AUTHORS else 1, progress)
        reviewed = read_link_decisions(Path(settings.link_decisions)) if settings.link_decisions else []
        links, persons = _link(typed, settings, reviewed)
        summary = _write_authors(typed, persons, out_dir / AUTHORS_FILE)
        links_table = _links_table(links, persons, reviewed)
        write_table_atomic(out_dir / LINKS_FILE, links_table)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary["links_made"] = int(pc.sum(links_table.column("linked")).as_py() or 0) if links_table.num_rows else 0
    logger.info("authors: %d accounts in %d bucket(s), %d persons (%d links), non-clinician share of posts %s",
                summary["authors"], len(sources), summary["persons"], summary["links_made"],
                summary["non_clinician_post_share"])
    return summary


# ---------------------------------------------------------------------------------------------- boundaries


def bucket_boundaries(paths: Sequence[Path], per_bucket: int, workers: int = 1) -> tuple[list[str], int]:
    """Author-id boundaries that cut the run's authors into ranges of about `per_bucket` (at least one per
    worker once there is more than one range), and the estimated number of authors. No boundaries: one range.

    The sample keeps an author id when the low bits of its CRC-32 are zero, with one more bit each time it
    outgrows `SAMPLE_CAP`, so every author is equally likely to be in it whatever the order of the rows."""
    sample: dict[str, int] = {}
    mask = 0
    for batch in _column_batches(paths, "author_id"):
        for author_id in pc.unique(batch).drop_null().to_pylist():
            if not author_id or author_id in sample:
                continue
            crc = zlib.crc32(author_id.encode("utf-8"))
            if crc & mask == 0:
                sample[author_id] = crc
                if len(sample) > SAMPLE_CAP:
                    mask = mask * 2 + 1
                    sample = {a: c for a, c in sample.items() if c & mask == 0}
    estimated = len(sample) * (mask + 1)
    if estimated <= per_bucket:
        return [], estimated
    ranges = max(math.ceil(estimated / per_bucket), 2 * workers)
    ordered = sorted(sample)
    cuts = sorted({ordered[len(ordered) * i // ranges] for i in range(1, ranges)} - {ordered[0]})
    return cuts, estimated


def _column_batches(paths: Sequence[Path], column: str) -> Iterator[pa.Array]:
    for path in paths:
        handle = pq.ParquetFile(path)
        if column in handle.schema_arrow.names:
            for batch in handle.iter_batches(batch_size=4 * READ_ROWS, columns=[column]):
                yield batch.column(0)


# ---------------------------------------------------------------------------------------------- partition


def profile_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The rows of one Parquet file with an author, as `PROFILE_SCHEMA` (a missing column is empty)."""
    handle = pq.ParquetFile(path)
    present = [c for c in PROFILE_COLUMNS if c in handle.schema_arrow.names]
    if "author_id" not in present:
        return
    for batch in handle.iter_batches(batch_size=READ_ROWS, columns=present):
        ids = batch.column("author_id")
        batch = batch.filter(pc.fill_null(pc.not_equal(ids, ""), False))
        if batch.num_rows == 0:
            continue
        columns = [batch.column(f.name).cast(f.type) if f.name in present else pa.nulls(batch.num_rows, f.type)
                   for f in PROFILE_SCHEMA]
        yield pa.RecordBatch.from_arrays(columns, schema=PROFILE_SCHEMA)


def _partition(paths: Sequence[Path], boundaries: list[str], scratch: Path) -> list[list[Path]]:
    """Each row to the file of its author-id range, in the run's order; returns each range's files."""
    cuts = np.array(boundaries, dtype=object)
    files = [scratch / f"rows-{i:05d}.parquet" for i in range(len(boundaries) + 1)]
    writers: dict[int, pq.ParquetWriter] = {}
    try:
        for path in paths:
            for batch in profile_batches(path):
                ids = batch.column("author_id").to_numpy(zero_copy_only=False)
                which = np.searchsorted(cuts, ids, side="right")
                order = np.argsort(which, kind="stable")
                grouped = batch.take(pa.array(order))
                ends = np.cumsum(np.bincount(which, minlength=len(files)))
                start = 0
                for bucket, end in enumerate(ends):
                    if end > start:
                        if bucket not in writers:
                            writers[bucket] = pq.ParquetWriter(files[bucket], PROFILE_SCHEMA)
                        writers[bucket].write_batch(grouped.slice(start, end - start))
                    start = end
    finally:
        for writer in writers.values():
            writer.close()
    return [[files[i]] if i in writers else [] for i in range(len(files))]


# ---------------------------------------------------------------------------------------------- typing


def type_bucket(sources: Sequence[Path], out: Path, settings: AuthorSettings,
                type_model: TypeModel | None = None) -> int:
    """Fold one bucket's rows into profiles, type them, write `TYPED_SCHEMA` to `out`; returns the authors."""
    acc = AuthorAccumulator(settings.texts_per_author)
    for path in sources:
        for batch in profile_batches(path):
            acc.add_batch(batch)
    profiles = acc.profiles()
    decisions = decide_types(profiles, settings, type_model)
    rows = []
    for p in profiles:
        d = decisions[p.author_id]
        rows.append({"author_id": p.author_id, "platforms": p.platforms, "handle": p.handle, "name_key": p.name_key,
                     "credentials": p.credentials, "linked": p.linked, "posts": p.n_posts,
                     "author_type": d.author_type, "type_confidence": d.type_confidence,
                     "type_evidence": d.type_evidence, "specialty": d.specialty,
                     "specialty_confidence": d.specialty_confidence, "specialty_evidence": d.specialty_evidence})
    pq.write_table(pa.Table.from_pylist(rows, schema=TYPED_SCHEMA), out)
    return len(rows)


def _type_buckets(sources: list[list[Path]], scratch: Path, settings: AuthorSettings, type_model: TypeModel | None,
                  workers: int, progress: bool) -> list[Path]:
    outs = [scratch / f"typed-{i:05d}.parquet" for i in range(len(sources))]
    workers = min(workers, len(sources)) if type_model is None else 1
    with Progress("authors", total=len(sources), unit="buckets", enabled=progress) as bar:
        if workers <= 1:
            for source, out in zip(sources, outs):
                type_bucket(source, out, settings, type_model)
                bar.update(1)
        else:
            with spawn_pool(workers) as pool:
                for done in [pool.submit(type_bucket, source, out, settings) for source, out in zip(sources, outs)]:
                    done.result()
                    bar.update(1)
    return outs


# ---------------------------------------------------------------------------------------------- linking


@dataclass
class _Linkable:
    ids: pa.Array
    crowded_handles: frozenset[str]
    crowded_names: frozenset[str]


def _linkable(typed: Sequence[Path]) -> _Linkable:
    """The accounts that can be in a link at all, found with group-bys over compact columns."""
    table = pa.concat_tables(pq.read_table(p, columns=["author_id", "handle", "name_key", "linked"]) for p in typed)
    chosen = pa.array([False] * table.num_rows) if table.num_rows else pa.array([], pa.bool_())
    crowded: dict[str, frozenset[str]] = {}
    for key in ("handle", "name_key"):
        keyed = table.filter(pc.fill_null(pc.not_equal(table.column(key), ""), False))
        counts = keyed.group_by(key).aggregate([("author_id", "count")])
        sizes = counts.column("author_id_count")
        shared = counts.filter(pc.and_(pc.greater_equal(sizes, 2), pc.less_equal(sizes, MAX_BUCKET))).column(key)
        crowded[key] = frozenset(counts.filter(pc.greater(sizes, MAX_BUCKET)).column(key).to_pylist())
        chosen = pc.or_(chosen, pc.fill_null(pc.is_in(table.column(key), value_set=shared.combine_chunks()), False))
    has_links = pc.fill_null(pc.greater(pc.list_value_length(table.column("linked")), 0), False)
    refs = pc.list_flatten(table.filter(has_links).column("linked")).to_pylist()
    pointed = sorted({account[1] for account in map(_account, refs) if account})
    chosen = pc.or_(chosen, has_links)
    chosen = pc.or_(chosen, pc.fill_null(pc.is_in(table.column("handle"), value_set=pa.array(pointed, pa.string())),
                                         False))
    return _Linkable(table.filter(chosen).column("author_id").combine_chunks(), crowded["handle"],
                     crowded["name_key"])


def _link(typed: Sequence[Path], settings: AuthorSettings, reviewed: Sequence[Any]) -> tuple[list[Link], dict[str, str]]:
    """Candidate links among the linkable accounts, and the person of every account in a link or a reviewer's
    decision (any other account is a person of its own)."""
    linkable = _linkable(typed)
    profiles: list[AuthorProfile] = []
    decisions: dict[str, AuthorDecision] = {}
    named = sorted({d.author_a for d in reviewed} | {d.author_b for d in reviewed})
    existing: set[str] = set()
    for path in typed:
        table = pq.read_table(path, columns=["author_id", "platforms", "handle", "name_key", "credentials", "linked",
                                             "author_type", "specialty"])
        if named:
            existing.update(table.filter(pc.is_in(table.column("author_id"), value_set=pa.array(named, pa.string())))
                            .column("author_id").to_pylist())
        for row in table.filter(pc.is_in(table.column("author_id"), value_set=linkable.ids)).to_pylist():
            profiles.append(AuthorProfile(author_id=row["author_id"], platforms=row["platforms"] or [],
                                          handle=row["handle"], name_key=row["name_key"],
                                          credentials=row["credentials"] or [], linked=row["linked"] or []))
            decisions[row["author_id"]] = AuthorDecision(row["author_type"], 0.0, "", row["specialty"])
    links = candidate_links(profiles, decisions, linkable.crowded_handles, linkable.crowded_names)
    members = {link.author_a for link in links} | {link.author_b for link in links} | existing
    return links, assign_persons(members, links, settings.link_threshold, reviewed)


# ---------------------------------------------------------------------------------------------- output


def _write_authors(typed: Sequence[Path], persons: dict[str, str], path: Path) -> dict[str, Any]:
    """Stream `authors.parquet` bucket by bucket; returns the summary counts (`resolve.AuthorTables.summary`)."""
    by_type: Counter = Counter()
    posts_by_type: Counter = Counter()
    authors = 0
    clinicians = pa.array(sorted(CLINICIAN_TYPES), pa.string())
    with AtomicParquetWriter(path, AUTHORS_SCHEMA) as writer:
        for part in typed:
            table = pq.read_table(part)
            ids = table.column("author_id").to_pylist()
            person = pa.array([persons.get(a) or person_id_for(a) for a in ids], pa.string())
            kinds = table.column("author_type")
            out = pa.table({
                "author_id": table.column("author_id"), "person_id": person, "author_type": kinds,
                "type_confidence": table.column("type_confidence"), "type_evidence": table.column("type_evidence"),
                "specialty": table.column("specialty"), "specialty_confidence": table.column("specialty_confidence"),
                "specialty_evidence": table.column("specialty_evidence"),
                "is_clinician": pc.is_in(kinds, value_set=clinicians), "platforms": table.column("platforms"),
                "posts": table.column("posts"),
            })
            writer.write_table(out.cast(AUTHORS_SCHEMA))
            authors += table.num_rows
            for kind, n in zip(kinds.to_pylist(), table.column("posts").to_pylist()):
                by_type[kind] += 1
                posts_by_type[kind] += n
    total_posts = sum(posts_by_type.values())
    clinician_posts = sum(posts_by_type[t] for t in CLINICIAN_TYPES)
    return {
        "authors": authors,
        "persons": authors - len(persons) + len(set(persons.values())),
        "links_made": 0,
        "authors_by_type": dict(sorted(by_type.items())),
        "posts_by_type": dict(sorted(posts_by_type.items())),
        "non_clinician_post_share": round(1.0 - clinician_posts / total_posts, 4) if total_posts else None,
    }
