"""The author pass over a run of any size: memory bounded by a bucket of authors, typing on every core.

Why not hold every author at once (`resolve.resolve_authors`): a 10^7-post run has hundreds of thousands of
authors, and their profiles and decisions as Python objects took more memory than the rest of the run together
(1.9 GB at 10^7 posts against 0.7 GB at 10^6); at 10^8 they would not fit. So the pass works in stages, each
holding one bucket of authors or compact Arrow columns:

1. **Boundaries.** One read of the `author_id` column estimates the number of authors (an adaptive hash sample:
   exact up to `SAMPLE_CAP` authors) and cuts author ids into ranges of about `AUTHORS_PER_BUCKET` authors.
2. **Partition.** The profile columns of the run's rows go to one zstd Arrow stream per range, in the run's
   order (parts in order, rows in order), so a bucket sees each author's posts as the whole run would. A run
   with one range skips this and reads its parts directly.
3. **Type.** Each bucket is folded into profiles (`resolve.AuthorAccumulator`) and typed (`resolve.decide_types`)
   in worker processes, one bucket each; the decisions and the few profile fields linking needs are written per
   bucket, in author-id order.
4. **Link.** Accounts that could be compared at all (a handle or name key shared by 2 to `MAX_BUCKET` accounts,
   a profile link and the accounts it may point to, a reviewer's decision) are joined into blocking components
   from integer codes (scipy's `connected_components`); every candidate link and every person lies inside one
   component, so components are linked a batch at a time with `linking.candidate_links` and
   `linking.assign_persons`, and an account in no component is a person of its own (`linking.person_id_for`).
5. **Write.** `authors.parquet` is streamed bucket by bucket (the ranges are in order, so it is in author-id
   order as before); `author_links.parquet` is sorted and written whole (about 60 bytes per candidate link).

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
from common.memory import release_memory
from common.processes import spawn_pool
from common.progress import Progress
from common.settings import AuthorSettings
from labeling.authors.classify import CLINICIAN_TYPES, AuthorDecision, AuthorProfile
from labeling.authors.linking import (
    MAX_BUCKET,
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
    LINKS_SCHEMA,
    PROFILE_COLUMNS,
    AuthorAccumulator,
    TypeModel,
    decide_types,
)

logger = logging.getLogger(__name__)

AUTHORS_PER_BUCKET = 20_000
"""Authors typed at once, in one process: their profiles, sampled posts (`texts_per_author` each) and decisions,
about 150 MB."""
POOL_MIN_AUTHORS = 5_000
"""Fewer authors than this are typed in this process: starting worker processes would cost more than it saves."""
LINK_PROCESS_MIN_AUTHORS = 100_000
"""From this many authors (and more than one worker) linking runs in a process of its own (`_link_and_write`)."""
LINK_BATCH = 20_000
"""Accounts linked at once, as Python objects: whole blocking components, this many at a time."""
SAMPLE_CAP = 65_536
"""Author ids kept to place the bucket boundaries; beyond it the sample keeps a hash-chosen half, then a quarter..."""
SCRATCH_DIR = ".author-pass"
READ_ROWS = 32_768

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
    # A malformed decisions file is the user's to fix: say so before minutes of typing, not after.
    reviewed = read_link_decisions(Path(settings.link_decisions)) if settings.link_decisions else []
    try:
        boundaries, estimated = bucket_boundaries(paths, AUTHORS_PER_BUCKET, workers)
        sources = _partition(paths, boundaries, scratch) if boundaries else [paths]
        release_memory()  # the partition's batches, before the workers start and linking reads every author
        pooled = workers > 1 and estimated >= POOL_MIN_AUTHORS
        typed = _type_buckets(sources, scratch, settings, type_model, workers if pooled else 1, progress)
        if pooled and estimated >= LINK_PROCESS_MIN_AUTHORS:  # see _link_and_write
            with spawn_pool(1) as pool:
                summary = pool.submit(_link_and_write, typed, settings, reviewed, scratch, out_dir).result()
        else:
            summary = _link_and_write(typed, settings, reviewed, scratch, out_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
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


def _bucket_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """A bucket's rows: a scratch stream `_partition` wrote, or a Parquet file of the run (one bucket)."""
    if path.suffix != ".arrows":
        yield from profile_batches(path)
        return
    with pa.ipc.open_stream(str(path)) as reader:
        yield from reader


def _partition(paths: Sequence[Path], boundaries: list[str], scratch: Path) -> list[list[Path]]:
    """Each row to the file of its author-id range, in the run's order; returns each range's files."""
    cuts = np.array(boundaries, dtype=object)
    files = [scratch / f"rows-{i:05d}.arrows" for i in range(len(boundaries) + 1)]
    writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    try:
        batches = (batch for path in paths for batch in profile_batches(path))
        for batch_no, batch in enumerate(batches):
            release_memory()  # the allocator keeps what earlier batches freed (and pyarrow reads on other threads)
            ids = batch.column("author_id").to_numpy(zero_copy_only=False)
            which = np.searchsorted(cuts, ids, side="right")
            order = np.argsort(which, kind="stable")
            grouped = batch.take(pa.array(order))
            ends = np.cumsum(np.bincount(which, minlength=len(files)))
            start = 0
            for bucket, end in enumerate(ends):
                if end > start:
                    if bucket not in writers:  # a stream keeps nothing per batch (a Parquet writer's metadata grew)
                        writers[bucket] = pa.ipc.new_stream(str(files[bucket]), PROFILE_SCHEMA, options=options)
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
        for batch in _bucket_batches(path):
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
    count = len(rows)
    del acc, profiles, decisions, rows
    release_memory()  # a worker types bucket after bucket: each starts from what is live, not the last one's peak
    return count


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


def _link_and_write(typed: Sequence[Path], settings: AuthorSettings, reviewed: Sequence[Any], scratch: Path,
                    out_dir: Path) -> dict[str, Any]:
    """Link the typed buckets' accounts, then write `authors.parquet` and `author_links.parquet`; the summary.

    A large run does this in a spawned process: linking holds a few hundred bytes per author (blocking arrays
    over every account, the persons of joined accounts), 213 MB at 10^7 posts' 420,000 authors, and the
    allocators keep such memory after it is freed. In a process of its own it is handed back when the process
    ends, and the scoring run's main process stays at the size of its chunk loop whatever the number of
    authors."""
    linked = _link(typed, settings, reviewed, scratch)
    release_memory()
    summary = _write_authors(typed, linked.persons, out_dir / AUTHORS_FILE)
    links_table = linked.links
    write_table_atomic(out_dir / LINKS_FILE, links_table)
    summary["links_made"] = int(pc.sum(links_table.column("linked")).as_py() or 0) if links_table.num_rows else 0
    return summary


LINK_COLUMNS = ["author_id", "platforms", "handle", "name_key", "credentials", "linked", "author_type", "specialty"]


@dataclass
class _Blocks:
    """Which accounts can be compared, as blocking components: two accounts in one candidate group (a handle or
    name key shared by 2 to `MAX_BUCKET` accounts, a profile link and the accounts it may point to, a reviewer's
    decision) are in one component, so every candidate link and every person lies inside one component."""

    component: np.ndarray
    """Component label per author (row of the run's authors in id order); -1: can link with nobody."""
    crowded_handles: frozenset[str]
    crowded_names: frozenset[str]


def _blocks(table: pa.Table, named: Sequence[tuple[str, str]]) -> _Blocks:
    """Blocking components from integer codes (keys grouped by a sort, numpy), without a Python object per
    account: at 10^7 posts a join-based version held 370 MB of temporaries for 420,000 authors.

    Each step's temporaries are handed back before the next (pyarrow's pool keeps what it freed) and the edges
    are int32 row numbers: 10^7 posts' 420,000 authors and 880,000 edges peak at +124 MB this way, against
    +249 MB with dictionary encoding, int64 edges and every step's leftovers still held."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = table.num_rows
    heads: list[np.ndarray] = []
    tails: list[np.ndarray] = []
    crowded: dict[str, frozenset[str]] = {}
    handle_groups: _Groups | None = None
    for key in ("handle", "name_key"):
        groups = _Groups(table.column(key))
        if key == "handle":
            handle_groups = groups
        crowded[key] = frozenset(groups.values.filter(pa.array(groups.sizes > MAX_BUCKET)).to_pylist())
        if len(groups.values):  # nobody has one in a run without name keys
            size = groups.sizes[np.maximum(groups.codes, 0)]
            rows = np.flatnonzero((groups.codes >= 0) & (size >= 2) & (size <= MAX_BUCKET))
            heads.append(rows.astype(_ROW))
            tails.append(groups.first[groups.codes[rows]].astype(_ROW))
        del groups
        release_memory()
    assert handle_groups is not None
    for head, tail in (_profile_edges(table.column("linked"), handle_groups), _named_edges(table, named)):
        heads.append(head)
        tails.append(tail)
    del handle_groups
    release_memory()
    head = np.concatenate(heads)
    tail = np.concatenate(tails)
    del heads, tails
    other = head != tail  # a profile may link its own account; that links nobody
    head, tail = head[other], tail[other]
    component = np.full(n, -1, dtype=np.int64)
    if head.size:
        graph = coo_matrix((np.ones(head.size, dtype=np.int8), (head, tail)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        touched = np.zeros(n, dtype=bool)
        touched[head] = touched[tail] = True
        component[touched] = labels[touched]
    return _Blocks(component, crowded["handle"], crowded["name_key"])


_ROW = np.int32
"""Row numbers of accounts in the blocking edges (a run would need 2^31 authors to overflow it)."""


def _profile_edges(linked: pa.ChunkedArray, handle_groups: "_Groups") -> tuple[np.ndarray, np.ndarray]:
    """An edge from each account to every account with the handle one of its profile links points to.

    A slice of `EDGE_ROWS` accounts at a time: the flattened links of every account at once (685,000 at 10^7
    posts) took 115 MB of temporaries."""
    heads: list[np.ndarray] = [np.zeros(0, _ROW)]
    tails: list[np.ndarray] = [np.zeros(0, _ROW)]
    for offset in range(0, len(linked), EDGE_ROWS):
        piece = linked.slice(offset, EDGE_ROWS).combine_chunks()
        refs = pc.list_flatten(piece)
        if not len(refs):
            continue
        owners = pc.list_parent_indices(piece).to_numpy().astype(np.int64) + offset
        refs = pc.dictionary_encode(refs)
        accounts = [_account(ref) for ref in refs.dictionary.to_pylist()]  # each distinct reference once
        pointed = pa.array([account[1] if account else None for account in accounts], pa.string())
        codes = pc.index_in(pointed, value_set=handle_groups.values).to_numpy(zero_copy_only=False)
        codes = np.where(np.isnan(codes.astype(float)), -1, codes).astype(np.int64)[refs.indices.to_numpy()]
        known = codes >= 0
        owners, codes = owners[known], codes[known]
        counts = handle_groups.sizes[codes]
        heads.append(np.repeat(owners, counts).astype(_ROW))  # the owner to every account with the handle
        tails.append(handle_groups.members_of(codes, counts).astype(_ROW))
    return np.concatenate(heads), np.concatenate(tails)


EDGE_ROWS = 50_000


def _named_edges(table: pa.Table, named: Sequence[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """An edge for each pair a reviewer decided on whose accounts are both in the run."""
    if not named:
        return np.zeros(0, _ROW), np.zeros(0, _ROW)
    ids = table.column("author_id")
    a = pc.index_in(pa.array([x for x, _ in named], pa.string()), value_set=ids).to_numpy(zero_copy_only=False)
    b = pc.index_in(pa.array([y for _, y in named], pa.string()), value_set=ids).to_numpy(zero_copy_only=False)
    found = ~(np.isnan(a.astype(float)) | np.isnan(b.astype(float)))
    return a[found].astype(_ROW), b[found].astype(_ROW)


class _Groups:
    """The accounts sharing each non-empty value of one column, as integer codes (-1: no value).

    Grouped by a stable sort, not by dictionary encoding: encoding 10^7 posts' 420,000 mostly distinct handles
    held a 67 MB hash table, the sort about half that."""

    def __init__(self, column: pa.ChunkedArray | pa.Array) -> None:
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        column = pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)
        valid = len(column) - column.null_count
        self.order = pc.array_sort_indices(column, null_placement="at_end").to_numpy()[:valid].astype(np.int64)
        ordered = column.take(pa.array(self.order))  # rows grouped by value; within a value, in row order
        starts = np.ones(valid, dtype=bool)
        if valid > 1:
            starts[1:] = pc.not_equal(ordered.slice(1), ordered.slice(0, valid - 1)).to_numpy(zero_copy_only=False)
        self.values: pa.Array = ordered.filter(pa.array(starts))
        self.codes = np.full(len(column), -1, dtype=np.int64)
        self.codes[self.order] = np.cumsum(starts) - 1
        self.offsets = np.append(np.flatnonzero(starts), valid)
        self.sizes = np.diff(self.offsets)
        self.first = self.order[self.offsets[:-1]]  # each value's first row

    def members_of(self, codes: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Every row of each code in `codes`, concatenated (`counts` = their sizes)."""
        if not codes.size:
            return np.zeros(0, np.int64)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return self.order[np.repeat(self.offsets[codes], counts) + within]


def _batches(component: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Row numbers of whole components, about `size` accounts at a time (a bigger component comes alone)."""
    rows = np.flatnonzero(component >= 0)
    if rows.size == 0:
        return
    rows = rows[np.argsort(component[rows], kind="stable")]
    starts = np.flatnonzero(np.diff(component[rows], prepend=-2))
    begin = 0
    for end in [*starts[1:], rows.size]:
        if end - begin >= size or end == rows.size:
            yield np.sort(rows[begin:end])
            begin = end


@dataclass
class _Linked:
    links: pa.Table
    """`LINKS_SCHEMA`, in the order `resolve.resolve_authors` writes it."""
    persons: dict[str, str]
    """The person of every account joined with another (anyone else is a person of their own)."""


def _link(typed: Sequence[Path], settings: AuthorSettings, reviewed: Sequence[Any], scratch: Path) -> _Linked:
    """Candidate links and persons, one batch of blocking components at a time: the same links and persons as
    `linking.candidate_links` and `linking.assign_persons` over every account, with Python objects for one batch
    only."""
    table = pa.concat_tables(pq.read_table(p, columns=LINK_COLUMNS) for p in typed)
    decided: dict[tuple[str, str], str] = {}
    for d in reviewed:
        decided[(min(d.author_a, d.author_b), max(d.author_a, d.author_b))] = d.decision
    blocks = _blocks(table.select(["author_id", "handle", "name_key", "linked"]), sorted(decided))
    release_memory()  # the group-bys' and joins' temporaries
    persons: dict[str, str] = {}
    candidates: set[tuple[str, str]] = set()
    pieces = scratch / "links"
    pieces.mkdir()
    written: list[Path] = []
    for batch_no, rows in enumerate(_batches(blocks.component, LINK_BATCH)):
        profiles: list[AuthorProfile] = []
        decisions: dict[str, AuthorDecision] = {}
        for row in table.take(pa.array(rows)).to_pylist():
            profiles.append(AuthorProfile(author_id=row["author_id"], platforms=row["platforms"] or [],
                                          handle=row["handle"], name_key=row["name_key"],
                                          credentials=row["credentials"] or [], linked=row["linked"] or []))
            decisions[row["author_id"]] = AuthorDecision(row["author_type"], 0.0, "", row["specialty"])
        links = candidate_links(profiles, decisions, blocks.crowded_handles, blocks.crowded_names)
        here = [d for d in reviewed if d.author_a in decisions and d.author_b in decisions]
        members = {link.author_a for link in links} | {link.author_b for link in links}
        members |= {d.author_a for d in here} | {d.author_b for d in here}
        batch_persons = assign_persons(members, links, settings.link_threshold, here)
        sizes = Counter(batch_persons.values())
        persons.update((a, p) for a, p in batch_persons.items() if sizes[p] > 1)
        candidates.update(pair for pair in ((link.author_a, link.author_b) for link in links) if pair in decided)
        if links:
            written.append(pieces / f"links-{batch_no:05d}.parquet")
            pq.write_table(pa.Table.from_pylist(
                [{"author_a": link.author_a, "author_b": link.author_b, "confidence": link.confidence,
                  "reason": link.reason, "linked": batch_persons[link.author_a] == batch_persons[link.author_b],
                  "decision": decided.get((link.author_a, link.author_b))} for link in links], schema=LINKS_SCHEMA),
                written[-1])
    release_memory()
    found = pq.read_table(pieces).cast(LINKS_SCHEMA) if written else LINKS_SCHEMA.empty_table()
    found = found.sort_by([("author_a", "ascending"), ("author_b", "ascending")])
    existing = set(table.column("author_id").filter(pc.is_in(
        table.column("author_id"), value_set=pa.array(sorted({x for pair in decided for x in pair}), pa.string())))
        .to_pylist()) if decided else set()

    def person(author: str) -> str:
        return persons.get(author) or person_id_for(author)

    reviewer_rows = [{"author_a": a, "author_b": b, "confidence": None, "reason": "reviewer",
                      "linked": person(a) == person(b), "decision": decision}
                     for (a, b), decision in sorted(decided.items())
                     if (a, b) not in candidates and a in existing and b in existing]
    links_table = pa.concat_tables([found, pa.Table.from_pylist(reviewer_rows, schema=LINKS_SCHEMA)])
    return _Linked(links_table, persons)


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
            person = pa.array([persons.get(a) or person_id_for(a) for a in ids], pa.string())  # joined, or alone
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
        "persons": authors - len(persons) + len(set(persons.values())),  # `persons`: accounts joined with another
        "links_made": 0,
        "authors_by_type": dict(sorted(by_type.items())),
        "posts_by_type": dict(sorted(posts_by_type.items())),
        "non_clinician_post_share": round(1.0 - clinician_posts / total_posts, 4) if total_posts else None,
    }
