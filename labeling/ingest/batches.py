"""The row pipeline over batches: judged in worker processes, admitted in input order in this one.

Why split: parsing, validation, redaction and product matching are per-row work that scales with cores, while
de-duplication (first occurrence wins), the order of rows and what gets written are decisions over the whole
input. Workers judge whole batches (`PostPipeline.judge`) and hand back the clean rows as one Arrow table; the
parent takes results in submission order, asks the on-disk `DedupIndex` about the batch and keeps the counts.
The output is therefore the same, row for row and file for file, whatever the number of workers (a test
compares 1 and 2).

Workers are spawned (a fork of a process that already runs pyarrow or torch threads is not safe, and a fork
server outlived a killed run in our tests) and get the pipeline's ingredients once, at start; each one exits
within a second of the main process dying, even of SIGKILL, so a killed run leaves no process behind. At most
two batches per worker are in flight, so memory stays bounded however fast the parent reads.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import pyarrow as pa

from common.processes import cpu_workers, spawn_pool
from common.settings import AuthorSettings, IngestSettings
from labeling.ingest.dedup import DedupIndex
from labeling.ingest.mapping import IDENTITY, ColumnMapping
from labeling.ingest.pipeline import IngestStats, PostPipeline
from labeling.ingest.products import ProductDictionary
from labeling.ingest.readers import JsonLine, RawRecord, parse_json_line, read_units
from labeling.ingest.schema import INGESTED_SCHEMA
from labeling.ingest.suppression import SuppressionList

Unit = JsonLine | RawRecord
"""One input row as read: a parsed record, or a JSONL line the worker parses."""


def iter_units(inputs: Sequence[Path], config: IngestSettings) -> Iterator[Unit]:
    import logging

    log = logging.getLogger(__name__)
    for path in inputs:
        log.info("reading %s", path)
        yield from read_units(Path(path), config.max_line_bytes, config.quarantine_raw_chars * 2, config.batch_rows)


def worker_count(config: IngestSettings) -> int:
    """`ingest.workers`, or one per CPU core this process may run on."""
    return cpu_workers(config.workers)


@dataclass(frozen=True)
class PipelineRecipe:
    """What a worker needs to build the very pipeline the parent would (pickled once per worker)."""

    config: IngestSettings
    mapping: ColumnMapping = IDENTITY
    products: ProductDictionary | None = None
    suppression: SuppressionList | None = None
    authors: AuthorSettings = AuthorSettings()
    name_secret: str | None = None

    def build(self) -> PostPipeline:
        return PostPipeline(self.config, self.mapping, self.products, suppression=self.suppression,
                            authors=self.authors, name_secret=self.name_secret)


@dataclass
class JudgedBatch:
    """One batch through `PostPipeline.judge`, in input order within each kind of outcome."""

    rows_read: int
    clean: pa.Table
    """The clean rows (INGESTED_SCHEMA); whether each one is kept is decided by the parent."""
    fingerprints: list[int]
    lines: list[int]
    redactions: list[Counter | None]
    quarantined: list[dict[str, Any]]
    suppressed: int
    extra: Any = None
    """What a `post` hook computed from the clean table in the worker (e.g. model probabilities)."""


def judge_batch(pipeline: PostPipeline, units: Sequence[Unit], post: Callable[[pa.Table], Any] | None = None) -> JudgedBatch:
    config = pipeline.config
    raw_chars = config.quarantine_raw_chars * 2
    rows: list[dict[str, Any]] = []
    fingerprints: list[int] = []
    lines: list[int] = []
    redactions: list[Counter | None] = []
    quarantined: list[dict[str, Any]] = []
    suppressed = 0
    read = 0
    for unit in units:
        if isinstance(unit, tuple):
            parsed = parse_json_line(unit[2], unit[0], unit[1], config.max_line_bytes, raw_chars)
            if parsed is None:  # pragma: no cover - blank lines are skipped by the reader
                continue
            unit = parsed
        read += 1
        verdict = pipeline.judge(unit)
        if verdict.row is not None:
            rows.append(verdict.row)
            fingerprints.append(verdict.fingerprint)  # type: ignore[arg-type]
            lines.append(unit.line)
            redactions.append(verdict.redactions or None)
        elif verdict.bad is not None:
            quarantined.append(verdict.bad)
        else:
            suppressed += 1
    # column by column: half the cost of Table.from_pylist, same table (a missing key is a null either way)
    clean = pa.Table.from_arrays([pa.array([row.get(f.name) for row in rows], type=f.type) for f in INGESTED_SCHEMA],
                                 schema=INGESTED_SCHEMA)
    return JudgedBatch(read, clean, fingerprints, lines, redactions, quarantined, suppressed,
                       post(clean) if post is not None and clean.num_rows else None)


_WORKER: dict[str, Any] = {}


def _start_worker(recipe: PipelineRecipe, post: Callable[[pa.Table], Any] | None) -> None:
    _WORKER["pipeline"] = recipe.build()
    _WORKER["post"] = post


def _judge_in_worker(units: list[Unit]) -> JudgedBatch:
    return judge_batch(_WORKER["pipeline"], units, _WORKER["post"])


class RowJudges:
    """Judge batches in order, in `workers` processes (1: in this process, no pool)."""

    def __init__(self, recipe: PipelineRecipe, workers: int, post: Callable[[pa.Table], Any] | None = None) -> None:
        self.workers = max(1, workers)
        self._recipe = recipe
        self._post = post
        self._pipeline: PostPipeline | None = None
        self._pool: ProcessPoolExecutor | None = None

    def _local(self, units: list[Unit]) -> JudgedBatch:
        if self._pipeline is None:
            self._pipeline = self._recipe.build()
        return judge_batch(self._pipeline, units, self._post)

    def judge(self, batches: Iterable[list[Unit]]) -> Iterator[JudgedBatch]:
        """Judged batches in the order given. An input of one batch is judged here: starting processes would
        cost more than it saves."""
        batches = iter(batches)
        first = next(batches, None)
        if first is None:
            return
        second = next(batches, None)
        if self.workers == 1 or second is None:
            yield self._local(first)
            if second is not None:
                yield self._local(second)
                for units in batches:
                    yield self._local(units)
            return
        self._pool = spawn_pool(self.workers, _start_worker, (self._recipe, self._post))
        pending: deque[Future] = deque()
        for units in itertools.chain([first, second], batches):
            pending.append(self._pool.submit(_judge_in_worker, units))
            if len(pending) >= 2 * self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "RowJudges":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Admitted:
    """A judged batch after de-duplication: what to write, and the duplicates found (for ingest's record)."""

    table: pa.Table
    quarantined: list[dict[str, Any]]
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    keep: list[bool] = field(default_factory=list)


def admit(batch: JudgedBatch, index: DedupIndex, stats: IngestStats, chunk: int) -> Admitted:
    """De-duplicate a judged batch against everything admitted before it, and count it into `stats`.

    Only kept rows count their redactions and product mentions, as if duplicates had never been processed.
    """
    stats.rows_read += batch.rows_read
    stats.suppressed += batch.suppressed
    stats.rows_quarantined += len(batch.quarantined)
    for bad in batch.quarantined:
        stats.quarantine_reasons[bad["reason"]] += 1
    table = batch.clean
    if table.num_rows == 0:
        return Admitted(table, batch.quarantined)
    post_ids = table.column("post_id").to_pylist()
    authored = table.column("author_id").is_valid().to_pylist()
    decisions = index.admit(post_ids, batch.fingerprints, authored, chunk)
    keep = [d is None for d in decisions]
    duplicates = []
    sources = table.column("source_file").to_pylist()
    for i, decision in enumerate(decisions):
        if decision is None:
            if batch.redactions[i]:
                stats.redactions.update(batch.redactions[i])
            continue
        kind, original = decision
        stats.duplicates_dropped += 1
        stats.duplicate_kinds[kind] += 1
        duplicates.append({"post_id": post_ids[i], "duplicate_of": original, "kind": kind,
                           "source_file": sources[i], "line": batch.lines[i]})
    if duplicates:
        table = table.filter(pa.array(keep))
    for products in table.column("products").to_pylist():
        if products:
            stats.product_mentions.update(products)
    stats.rows_written += table.num_rows
    return Admitted(table, batch.quarantined, duplicates, keep)
