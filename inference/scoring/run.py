"""`occ score`: stream post dumps through one pinned model version, chunk by chunk, resumably.

One pass: the same row pipeline as `occ ingest` (validation, quarantine, de-duplication, redaction, product
matching; judged in worker processes, de-duplicated in input order here: labeling/ingest/batches.py), then
scoring: the TF-IDF baseline in the same worker processes; a transformer or ensemble in a process of its own,
replaced every `score.model_process_posts` posts (inference/scoring/model_process.py), while this process
judges the next chunk. Each chunk of input rows becomes `scores/part-NNNNNN.parquet` and `quarantine/part-NNNNNN.parquet`,
written atomically, then `_progress.json` records the chunk as done with the run's counts so far. The
de-duplication index lives on disk beside the run (`_dedup_index.sqlite`, each entry tagged with its chunk).
`--resume` skips the finished chunks' rows unread by the pipeline, restores the counts from the progress file,
drops the index entries of the unfinished chunk and continues with it, so a resumed run's output equals an
uninterrupted one. `_manifest.json` is written last and marks a complete run.

The suppression list (`ingest.suppress_file`, `--suppress`) applies in the row pipeline, before anything is
scored; the manifest counts its rows as `suppressed` (`rows_read == rows_scored + rows_quarantined +
duplicates_dropped + suppressed`), and a run is resumed only with the list it started with.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from common.atomic import (
    AtomicParquetWriter,
    remove_stale_temporaries,
    write_json_atomic,
    write_table_atomic,
)
from common.checksums import sha256_file
from common.errors import OccError
from common.progress import Progress
from common.settings import ScoreSettings, Settings
from inference.scoring.authors import AuthorTypes, author_pass
from inference.scoring.model_process import ModelProcess
from inference.scoring.outputs import scored_schema, scored_table, write_adverse_events
from labeling.authors.signals import name_key_secret
from labeling.ingest.batches import (
    Admitted,
    PipelineRecipe,
    RowJudges,
    admit,
    iter_units,
    worker_count,
)
from labeling.ingest.dedup import DedupIndex
from labeling.ingest.mapping import IDENTITY, ColumnMapping
from labeling.ingest.pipeline import IngestStats
from labeling.ingest.products import ProductDictionary, products_from_dict
from labeling.ingest.readers import check_input, detect_format
from labeling.ingest.run import batched
from labeling.ingest.schema import QUARANTINE_SCHEMA
from labeling.ingest.suppression import SuppressionList, load_suppression
from models.artifact import ModelBundle
from models.registry import PinnedModel, load_pinned, pin

logger = logging.getLogger(__name__)

SCORES_DIR = "scores"
QUARANTINE_PARTS_DIR = "quarantine"
QUARANTINE_FILE = "quarantine.parquet"
PROGRESS_FILE = "_progress.json"
MANIFEST_FILE = "_manifest.json"
LOCK_FILE = ".lock"
AE_FILE = "adverse_events.csv"
DEDUP_INDEX = "_dedup_index.sqlite"


class BundleScorer:
    """The model as a function of a table of clean rows, picklable so that worker processes can score too.

    Only the TF-IDF baseline is sent to the workers: it scores one row at a time on one core, so N processes
    score N times as fast, and a row's probabilities do not depend on the batch it is in. A transformer keeps
    scoring here, on every core through torch's own threads.
    """

    def __init__(self, bundle: ModelBundle, batch_size: int, precision: str) -> None:
        self.bundle, self.batch_size, self.precision = bundle, batch_size, precision

    def __call__(self, table: pa.Table) -> dict[str, np.ndarray]:
        return self.score_texts(table.column("text").to_pylist())

    def score_texts(self, texts: list[str]) -> dict[str, np.ndarray]:
        return self.bundle.predict_proba(texts, batch_size=self.batch_size, precision=self.precision)


@dataclass
class _Chunk:
    """One admitted chunk on its way to its part files."""

    number: int
    kept: Admitted
    proba: Callable[[], dict[str, np.ndarray]]
    rows_read: int
    stats: dict[str, Any]


class ScoreError(OccError, RuntimeError):
    """Scoring cannot start; raised before any output is written."""


def file_sha256(path: Path) -> str:
    """Input checksums for the manifest and for refusing to resume over changed inputs."""
    return sha256_file(path)


def estimate_rows(paths: Sequence[Path]) -> int | None:
    """A quick row estimate for the ETA (newlines for text files, metadata for Parquet)."""
    total = 0
    for path in paths:
        fmt, gzipped = detect_format(path)
        if fmt == "parquet":
            total += pq.ParquetFile(path).metadata.num_rows
        elif gzipped:
            return None
        else:
            with open(path, "rb") as handle:
                total += sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 22), b""))
    return total


class OutputLock:
    """An exclusive lock on the output folder: a second run refuses at once instead of racing."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> "OutputLock":
        self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._fd)
            self._fd = None
            raise ScoreError(f"another `occ score` is writing into {self.path.parent} right now; wait for it or use another --out") from exc
        os.ftruncate(self._fd, 0)
        os.write(self._fd, str(os.getpid()).encode())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)


def _part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


def _load_progress(out_dir: Path) -> dict[str, Any] | None:
    import json

    path = out_dir / PROGRESS_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def check_out_dir(out_dir: Path, resume: bool) -> None:
    """Refuse, before anything is written, a folder holding a complete run or files that are not a stopped run.

    Shared by both engines so that `--out` means the same thing whichever one runs.
    """
    if (out_dir / MANIFEST_FILE).exists():
        raise ScoreError(f"{out_dir} already holds a complete scoring run ({MANIFEST_FILE}); choose a new --out")
    if out_dir.exists() and any(out_dir.iterdir()) and not resume and not (out_dir / LOCK_FILE).exists():
        raise ScoreError(f"{out_dir} is not empty; choose a new --out (or --resume a run that was stopped)")


def check_bundle(bundle: ModelBundle, config: ScoreSettings, pinned: PinnedModel) -> None:
    if config.expect_taxonomy_version and bundle.taxonomy_version != str(config.expect_taxonomy_version):
        raise ScoreError(f"model {pinned.uri} was trained on taxonomy {bundle.taxonomy_version!r}, but this run expects "
                         f"{config.expect_taxonomy_version!r}; score with a model of that taxonomy or change "
                         "score.expect_taxonomy_version")


def score(inputs: Sequence[Path], out_dir: Path, model_uri: str, settings: Settings = Settings(), *,
          mapping: ColumnMapping = IDENTITY, products: ProductDictionary | None = None, resume: bool = False,
          progress: bool = True, suppression: SuppressionList | None = None) -> dict[str, Any]:
    """Score `inputs` into `out_dir` with the version `model_uri` resolves to now; returns the manifest.

    Uses the `score`, `ingest` and `safety` sections of `settings`; `suppression` defaults to the list
    `settings.ingest.suppress_file` names.
    """
    inputs = [Path(p) for p in inputs]
    for path in inputs:
        check_input(path)
    if suppression is None:
        suppression = load_suppression(settings.ingest.suppress_file)
    out_dir = Path(out_dir)
    check_out_dir(out_dir, resume)
    pinned = pin(model_uri)
    bundle = load_pinned(pinned, defer_model=True)
    check_bundle(bundle, settings.score, pinned)
    out_dir.mkdir(parents=True, exist_ok=True)
    with OutputLock(out_dir):
        return _score_locked(inputs, out_dir, pinned, bundle, settings, mapping, products, resume, progress,
                             suppression)


def _score_locked(inputs: list[Path], out_dir: Path, pinned: PinnedModel, bundle: ModelBundle, settings: Settings,
                  mapping: ColumnMapping, products: ProductDictionary | None, resume: bool,
                  progress: bool, suppression: SuppressionList) -> dict[str, Any]:
    config = settings.score
    state = _load_progress(out_dir)
    if (out_dir / MANIFEST_FILE).exists():
        raise ScoreError(f"{out_dir} already holds a complete scoring run ({MANIFEST_FILE}); choose a new --out")
    if state is not None and not resume:
        raise ScoreError(f"{out_dir} holds an unfinished run; pass --resume to continue it, or choose a new --out")
    checksums = {str(p): file_sha256(p) for p in inputs}
    if state is not None:
        if state["inputs"] != checksums:
            raise ScoreError(f"the inputs differ from those of the unfinished run in {out_dir} (names or checksums); "
                             "resume with the same files, or choose a new --out")
        if state.get("suppression") != suppression.digest():
            raise ScoreError(f"the suppression list differs from the one the unfinished run in {out_dir} started with; "
                             "resume with the same list (--suppress / ingest.suppress_file), or score into a new --out "
                             "so that every chunk honors the new list")
        if state["model"]["uri"] != pinned.uri:
            logger.info("resuming with the run's own pinned model %s (not %s)", state["model"]["uri"], pinned.uri)
            pinned = PinnedModel(**state["model"])
            bundle = load_pinned(pinned, defer_model=True)
    remove_stale_temporaries(out_dir)
    (out_dir / SCORES_DIR).mkdir(exist_ok=True)
    (out_dir / QUARANTINE_PARTS_DIR).mkdir(exist_ok=True)
    remove_stale_temporaries(out_dir / SCORES_DIR)
    remove_stale_temporaries(out_dir / QUARANTINE_PARTS_DIR)

    dictionary = products or (products_from_dict(bundle.products) if bundle.products else None)
    recipe = PipelineRecipe(settings.ingest, mapping, dictionary, suppression if suppression else None,
                            settings.authors, name_key_secret(settings.authors))
    if state is not None and "stats" not in state:
        raise ScoreError(f"the unfinished run in {out_dir} was started by an older version of occ, which did not "
                         "record its counts; score into a new --out")
    stats = IngestStats.from_state(state["stats"]) if state else IngestStats(inputs=[str(p) for p in inputs])
    specs = bundle.specs
    schema = scored_schema(specs)
    done_chunks = int(state["chunks_done"]) if state else 0
    started = time.monotonic()
    timings = {"read_validate_s": 0.0, "score_s": 0.0, "write_s": 0.0}
    precision = config.precision  # "auto" resolves on this machine (models.transformer.precision)
    provenance_base = {"model_name": pinned.name, "model_version": pinned.version, "model_run_id": pinned.run_id}
    scored_rows = 0
    total = estimate_rows(inputs)
    chunks = batched(iter_units(inputs, settings.ingest), config.chunk_rows)
    workers = worker_count(settings.ingest)
    scorer = BundleScorer(bundle, config.batch_size, precision)
    in_workers = workers > 1 and bundle.kind == "baseline"
    model_process = (ModelProcess(scorer.score_texts, config.model_process_posts)
                     if bundle.kind != "baseline" and config.model_process_posts > 0 else None)
    if model_process is not None:
        # the model's process keeps every core busy; judging the next chunk here meanwhile costs a few percent
        # of the model's time, and worker processes would only add their memory
        workers = 1
    logger.info("row pipeline in %d process(es)%s", workers,
                "; the model scores in them too" if in_workers
                else "; the model scores in a process of its own, meanwhile" if model_process else "")
    with DedupIndex(out_dir / DEDUP_INDEX, settings.ingest.dedup_cache_mb, durable=True) as index, \
            RowJudges(recipe, workers, post=scorer if in_workers else None) as judges, \
            (model_process or contextlib.nullcontext()), \
            Progress("score", total=total, unit="posts", enabled=progress) as bar:
        if model_process is not None:
            model_process.start()
        index.rewind(done_chunks)  # what an interrupted chunk added is forgotten; finished chunks' entries stay
        for _ in range(done_chunks):  # finished by the interrupted run: their counts are in the progress file
            skipped = next(chunks, None)
            if skipped is None:
                break
            bar.update(len(skipped))

        def write_chunk(chunk: _Chunk) -> None:
            """Chunk `chunk.number`'s parts, then the progress file that marks it done (its counts as of its own
            admission: the next chunk may have been admitted meanwhile)."""
            nonlocal scored_rows
            t1 = time.monotonic()
            table = None
            if chunk.kept.table.num_rows:
                proba = chunk.proba()
                table = scored_table(chunk.kept.table, specs, proba, bundle.thresholds,
                                     {**provenance_base, "scored_at": datetime.now(timezone.utc)})
            timings["score_s"] += time.monotonic() - t1
            t2 = time.monotonic()
            with AtomicParquetWriter(out_dir / SCORES_DIR / _part_name(chunk.number), schema) as part:
                if table is not None:
                    part.write_table(table)
            with AtomicParquetWriter(out_dir / QUARANTINE_PARTS_DIR / _part_name(chunk.number),
                                     QUARANTINE_SCHEMA) as part:
                part.write_rows(chunk.kept.quarantined)
            scored_rows += chunk.kept.table.num_rows
            write_json_atomic(out_dir / PROGRESS_FILE, {"chunks_done": chunk.number + 1, "inputs": checksums,
                                                        "model": pinned.to_dict(), "chunk_rows": config.chunk_rows,
                                                        "suppression": suppression.digest(), "stats": chunk.stats})
            timings["write_s"] += time.monotonic() - t2
            bar.update(chunk.rows_read)

        waiting: _Chunk | None = None  # admitted and being scored while the next chunk is judged
        t0 = time.monotonic()
        for index_no, judged in enumerate(judges.judge(chunks), start=done_chunks):
            kept = admit(judged, index, stats, index_no)
            timings["read_validate_s"] += time.monotonic() - t0
            t1 = time.monotonic()
            proba: Callable[[], dict[str, np.ndarray]] = dict
            if kept.table.num_rows:
                if judged.extra is not None:  # scored in the worker, duplicates included: keep the kept rows'
                    keep = np.asarray(kept.keep, dtype=bool)
                    done = {task: values[keep] for task, values in judged.extra.items()}
                    proba = done.copy
                elif model_process is not None:
                    proba = model_process.submit(kept.table)
                else:
                    done = scorer(kept.table)
                    proba = done.copy
            timings["score_s"] += time.monotonic() - t1
            if waiting is not None:
                write_chunk(waiting)
            waiting = _Chunk(index_no, kept, proba, judged.rows_read, stats.state())
            t0 = time.monotonic()
        if waiting is not None:
            write_chunk(waiting)
    if model_process is not None:
        timings["model_processes"] = len(model_process.pids)
    summary = _finish(out_dir, inputs, checksums, pinned, bundle, settings, stats, timings, started, scored_rows)
    (out_dir / DEDUP_INDEX).unlink(missing_ok=True)
    for extra in ("-wal", "-shm"):
        (out_dir / (DEDUP_INDEX + extra)).unlink(missing_ok=True)
    return summary


def _finish(out_dir: Path, inputs: list[Path], checksums: dict[str, str], pinned: PinnedModel, bundle: ModelBundle,
            settings: Settings, stats: IngestStats, timings: dict[str, float], started: float,
            scored_this_session: int) -> dict[str, Any]:

    quarantine_parts = sorted((out_dir / QUARANTINE_PARTS_DIR).glob("part-*.parquet"))
    tables = [pq.read_table(p) for p in quarantine_parts]
    merged = pa.concat_tables(tables) if tables else QUARANTINE_SCHEMA.empty_table()
    write_table_atomic(out_dir / QUARANTINE_FILE, merged)
    return finish_run(out_dir, inputs, checksums, pinned, bundle, settings, stats, timings, started,
                      scored_this_session)


def finish_run(out_dir: Path, inputs: Sequence[Path], checksums: dict[str, str], pinned: PinnedModel,
               bundle: ModelBundle, settings: Settings, stats: IngestStats, timings: dict[str, float],
               started: float, scored_this_session: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Export adverse events from the written parts and write `_manifest.json` last; returns the manifest.

    Shared by the local and the Spark engine (the caller has written `scores/part-*.parquet` and
    `quarantine.parquet`), so both produce the same manifest and the counts are checked the same way:
    the scored count is read back from the parts on disk, not trusted from the caller.
    """
    parts = sorted((out_dir / SCORES_DIR).glob("part-*.parquet"))
    written = sum(pq.read_metadata(p).num_rows for p in parts)
    # who is speaking: decided per author, over the whole run, in buckets typed on every core
    timings = dict(timings)  # the chunk loop's, and the stages below
    t0 = time.monotonic()
    authors = author_pass(parts, out_dir, settings.authors, workers=worker_count(settings.ingest))
    timings["authors_s"] = time.monotonic() - t0
    ae_count = None
    safety = next((s for s in bundle.specs if s.name == settings.safety.task and s.kind == "binary"), None)
    if safety is not None:
        t0 = time.monotonic()
        with AuthorTypes(out_dir) as types:
            ae_count = write_adverse_events(parts, out_dir / AE_FILE, safety, types)
        timings["adverse_events_s"] = time.monotonic() - t0
    seconds = time.monotonic() - started
    manifest = {
        "complete": True,
        "inputs": [{"path": str(p), "sha256": checksums[str(p)], "bytes": p.stat().st_size} for p in inputs],
        "model": {**pinned.to_dict(), "kind": bundle.kind, "taxonomy_version": bundle.taxonomy_version},
        "taxonomy": bundle.taxonomy,
        "thresholds": bundle.thresholds,
        "safety": {"task": safety.name if safety is not None else None,
                   "operating_point": bundle.info.get("safety")},
        "counts": {"rows_read": stats.rows_read, "rows_scored": written, "rows_quarantined": stats.rows_quarantined,
                   "duplicates_dropped": stats.duplicates_dropped, "suppressed": stats.suppressed,
                   "reconciled": stats.rows_read == (written + stats.rows_quarantined + stats.duplicates_dropped
                                                     + stats.suppressed),
                   "quarantine_reasons": dict(stats.quarantine_reasons), "redactions": dict(stats.redactions),
                   "adverse_events_flagged": ae_count},
        "authors": authors,
        "parts": [p.name for p in parts],
        "timings": {**{k: round(v, 3) for k, v in timings.items()}, "seconds": round(seconds, 3),
                    "rows_scored_this_session": scored_this_session,
                    "posts_per_second": round(scored_this_session / seconds, 1) if seconds > 0 else None},
        "finished_at": datetime.now(timezone.utc).isoformat(),
        **(extra or {}),
    }
    write_json_atomic(out_dir / MANIFEST_FILE, manifest)
    (out_dir / PROGRESS_FILE).unlink(missing_ok=True)
    logger.info("scored %d posts with %s: %d read = %d scored + %d quarantined + %d duplicates + %d suppressed (%s)",
                written, pinned.uri, stats.rows_read, written, stats.rows_quarantined, stats.duplicates_dropped,
                stats.suppressed,
                "reconciled" if manifest["counts"]["reconciled"] else "NOT RECONCILED")
    return manifest
