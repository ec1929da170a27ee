"""`occ score --engine spark`: the same scoring run as the local engine, spread over a Spark cluster (or local mode).

Output contract: identical to the local engine (`inference.scoring.run`): `scores/part-*.parquet` with
`scored_schema(specs)`, `quarantine.parquet`, `adverse_events.csv` and `_manifest.json` last (plus
`"engine": "spark"`), with the same rows, predictions and counts for the same inputs and model version.

How the local semantics survive distribution:
- Row logic: executors run `labeling.ingest.PostPipeline` (suppression list, contract, quarantine, redaction,
  products) on every row, built once per partition; a suppressed author's row leaves the executor as a bare
  `suppressed` status (its position only), so nothing of it reaches the driver or the outputs. The pipeline's
  de-duplication state is reset after every row, because "first occurrence wins" needs the global input order,
  which no single partition sees.
- Input order: every row carries (file index, line). Plain JSONL goes through Spark's text reader (splittable);
  line numbers come from each split's block start: executors number lines within a split and report the
  split's line count, and the driver turns the counts into per-split offsets. gzipped JSONL and CSV (not
  splittable, and with quirks only the shared Python readers reproduce: truncated gzip, multi-line cells,
  field counts) are read by the shared readers, one task per file; Parquet one task per row group.
- De-duplication: the first occurrence by (file index, line) of a `post_id` is a candidate; among candidates,
  one with an author is dropped when an earlier candidate has the same `text_fingerprint`. That is exactly what
  the local engine's sequential sets compute.
- Output: the scored rows are range-partitioned by input order and each partition is written by pyarrow with
  the local engine's schema object, so the Parquet schema is the local engine's (Spark's own writer would
  change list item names, nullability and part names, and add _SUCCESS and .crc files).

Paths (inputs and --out) must be readable/writable at the same path by every executor: any folder in local
mode; on a cluster a shared mount (NFS, /dbfs/...).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from common.atomic import (
    AtomicParquetWriter,
    remove_stale_temporaries,
    write_table_atomic,
)
from common.settings import IngestSettings
from inference.scoring.outputs import scored_schema
from labeling.authors.signals import name_key_secret
from labeling.ingest.mapping import IDENTITY, ColumnMapping
from labeling.ingest.pipeline import IngestStats, PostPipeline
from labeling.ingest.products import ProductDictionary, products_from_dict
from labeling.ingest.readers import (
    RawRecord,
    check_input,
    detect_format,
    parse_json_line,
    read_parquet,
    read_records,
)
from labeling.ingest.redaction import Redactor
from labeling.ingest.schema import INGESTED_SCHEMA, QUARANTINE_SCHEMA
from labeling.ingest.suppression import SuppressionList, load_suppression
from models.tasks import TaskSpec

# Executors unpickle the row functions below by importing this module: it must stay light, so what pulls in
# MLflow (inference.scoring.run -> models.artifact, models.registry) is imported inside the driver-side functions.
# pyspark is an optional extra, imported lazily too, so that the local engine never needs it.
if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from common.settings import Settings
    from models.artifact import ModelBundle
    from models.registry import PinnedModel

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'occ-insights[spark]'"
_ORDER = ("file_index", "line")
_BATCH_ROWS = 2000
# Hadoop treats these in a path as a glob, a URI or a hidden file; such inputs go through the Python readers.
_SPARK_UNSAFE = set("*?[]{}\\:,")

# What executors return for every input row (and one "block" row per input split, carrying its line count).
STAGE_SCHEMA = pa.schema(
    [pa.field("status", pa.string()), pa.field("file_index", pa.int32()), pa.field("block", pa.int64()),
     pa.field("rel_line", pa.int64())]
    + [f.with_nullable(True) for f in INGESTED_SCHEMA]
    + [pa.field("fingerprint", pa.int64()), pa.field("redactions", pa.map_(pa.string(), pa.int64())),
       pa.field("reason", pa.string()), pa.field("detail", pa.string()), pa.field("raw", pa.string()),
       pa.field("alt_detail", pa.string()), pa.field("alt_raw", pa.string())]
)
_PART_RESULT_SCHEMA = pa.schema([pa.field("part", pa.string()), pa.field("rows", pa.int64()),
                                 pa.field("redactions", pa.map_(pa.string(), pa.int64()))])


# --------------------------------------------------------------------------------------------- executor side


@dataclass(frozen=True)
class RowLogic:
    """Everything an executor needs to treat rows exactly as `occ ingest` does (pickled into each task)."""

    config: IngestSettings
    mapping: ColumnMapping
    products: ProductDictionary | None
    sources: tuple[str, ...]  # file index -> the path string the local engine records as source_file
    paths: tuple[str, ...]  # file index -> absolute path, what executors open (their working folder may differ)
    suppression: SuppressionList | None = None  # the opt-out list, pickled to executors (its repr shows counts only)
    name_secret: str | None = None  # the display-name hash key, read on the driver (executors' environments differ)

    @property
    def raw_chars(self) -> int:
        return self.config.quarantine_raw_chars * 2  # as labeling.ingest.run.iter_raw_records


@functools.lru_cache(maxsize=2)
def shared_redactor(mode: str) -> Redactor:
    """One redactor per executor process and mode, reused by its tasks: "ner" loads a spaCy model."""
    return Redactor(mode)


class _Emitter:
    """Runs one partition's rows through a PostPipeline and buffers them as Arrow batches of STAGE_SCHEMA."""

    def __init__(self, logic: RowLogic) -> None:
        self.pipeline = PostPipeline(logic.config, logic.mapping, logic.products,
                                     redactor=shared_redactor(logic.config.redaction), suppression=logic.suppression,
                                     name_secret=logic.name_secret)
        self.rows: list[dict[str, Any]] = []

    def add(self, raw: RawRecord, file_index: int, block: int) -> dict[str, Any]:
        # De-duplication is decided later over the global input order; every row is judged on its own here.
        verdict = self.pipeline.judge(raw)
        base = {"file_index": file_index, "block": block, "rel_line": raw.line}
        if verdict.row is not None:
            fingerprint = verdict.fingerprint or 0
            out = {**verdict.row, **base, "status": "clean", "redactions": dict(verdict.redactions or {}),
                   "fingerprint": fingerprint - (1 << 64) if fingerprint >= 1 << 63 else fingerprint}
        elif verdict.bad is not None:
            bad = verdict.bad
            out = {**base, "status": "quarantine", "reason": bad["reason"], "detail": bad["detail"],
                   "raw": bad["raw"], "post_id": bad["post_id"], "source_file": bad["source_file"]}
        else:
            out = {**base, "status": "suppressed"}  # counted, nothing else kept
        self.rows.append(out)
        return out

    def add_block(self, file_index: int, block: int, lines: int) -> None:
        self.rows.append({"status": "block", "file_index": file_index, "block": block, "rel_line": lines})

    def drain(self, at_least: int = _BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        if self.rows and len(self.rows) >= at_least:
            yield from pa.Table.from_pylist(self.rows, schema=STAGE_SCHEMA).to_batches()
            self.rows = []


class IngestLines:
    """mapInArrow over Spark's text reader: (file_index, block, raw line bytes) -> STAGE_SCHEMA rows.

    Rows of one split arrive contiguously and in file order, so a per-split counter gives the line number
    within the split. Spark strips the newline; it is put back so that quarantine details and raw text match
    the local reader, except on a file's last line, which may have had none: the last row of every split is
    also judged without it (alt_*) and the driver picks the right variant once it knows the file's last line.
    """

    def __init__(self, logic: RowLogic) -> None:
        self.logic = logic

    def _line(self, emitter: _Emitter, file_index: int, block: int, line_no: int, raw: bytes, last: bool) -> None:
        logic = self.logic
        source = logic.sources[file_index]
        record = parse_json_line(raw + b"\n", source, line_no, logic.config.max_line_bytes, logic.raw_chars)
        if record is None:
            return
        out = emitter.add(record, file_index, block)
        if last and out["status"] == "quarantine":
            alt = parse_json_line(raw, source, line_no, logic.config.max_line_bytes, logic.raw_chars)
            assert alt is not None
            bad = emitter.pipeline.judge(alt).bad
            if bad is not None:
                out["alt_detail"], out["alt_raw"] = bad["detail"], bad["raw"]

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        emitter = _Emitter(self.logic)
        counts: dict[tuple[int, int], int] = {}
        pending: tuple[int, int, int, bytes] | None = None
        for batch in batches:
            columns = batch.to_pydict()
            for file_index, block, raw in zip(columns["file_index"], columns["block"], columns["raw"]):
                key = (file_index, block)
                counts[key] = counts.get(key, 0) + 1
                if pending is not None:
                    self._line(emitter, *pending, last=pending[:2] != key)
                pending = (file_index, block, counts[key], raw or b"")
            yield from emitter.drain()
        if pending is not None:
            self._line(emitter, *pending, last=True)
        for (file_index, block), lines in counts.items():
            emitter.add_block(file_index, block, lines)
        yield from emitter.drain(at_least=1)


class IngestFiles:
    """mapInArrow over work units (file_index, kind, block): a whole file through the shared Python reader
    (gzipped JSONL, CSV, paths Spark cannot take) or one Parquet row group -> STAGE_SCHEMA rows."""

    def __init__(self, logic: RowLogic) -> None:
        self.logic = logic

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        emitter = _Emitter(self.logic)
        config = self.logic.config
        for batch in batches:
            for unit in batch.to_pylist():
                path = Path(self.logic.paths[unit["file_index"]])
                if unit["kind"] == "parquet":
                    records = read_parquet(path, config.batch_rows, row_groups=[unit["block"]])
                else:
                    records = read_records(path, config.max_line_bytes, self.logic.raw_chars, config.batch_rows)
                last_line = 0
                for record in records:
                    emitter.add(record, unit["file_index"], unit["block"])
                    last_line = max(last_line, record.line)
                    yield from emitter.drain()
                emitter.add_block(unit["file_index"], unit["block"], last_line)
        yield from emitter.drain(at_least=1)


class WriteParts:
    """mapInArrow that writes one partition of scored rows as `part-<partition>.parquet` with `schema`.

    pyarrow writes it (atomically) with the local engine's schema object; returns one row per part with its row
    count and the redaction counts of its rows (the manifest counts redactions of written rows only).
    """

    def __init__(self, directory: str, schema: pa.Schema) -> None:
        self.directory = directory
        self.schema = schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        tables, redactions = [], Counter()
        for batch in batches:
            if batch.num_rows == 0:
                continue
            for pairs in batch.column("redactions").to_pylist():
                redactions.update(dict(pairs or []))
            tables.append(pa.Table.from_batches([batch]).select(self.schema.names).cast(self.schema))
        if not tables:
            return
        table = pa.concat_tables(tables)
        name = f"part-{TaskContext.get().partitionId():06d}.parquet"
        write_table_atomic(Path(self.directory) / name, table)
        yield pa.RecordBatch.from_pylist([{"part": name, "rows": table.num_rows, "redactions": dict(redactions)}],
                                         schema=_PART_RESULT_SCHEMA)


# --------------------------------------------------------------------------------------------- driver side


def spark_schema(schema: pa.Schema) -> Any:
    """The Spark schema for an Arrow one (declared outputs of mapInArrow), by pyspark's own Arrow mapping."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def udf_result_type(specs: Sequence[TaskSpec]) -> Any:
    """The pyfunc's output as a Spark struct: `<task>` (string, or array of strings for multi-label tasks) and
    `<task>_scores` (array of doubles in label order), as models.artifact documents it."""
    from pyspark.sql import types as T

    fields = []
    for spec in specs:
        label_type = T.ArrayType(T.StringType()) if spec.kind == "multi" else T.StringType()
        fields.append(T.StructField(spec.name, label_type))
        fields.append(T.StructField(f"{spec.name}_scores", T.ArrayType(T.DoubleType())))
    return T.StructType(fields)


def start_spark(master: str) -> tuple[SparkSession, bool]:
    """A session in UTC; returns (session, owned).

    An already running session (a Databricks notebook's) is not ours to configure or stop: this run then works
    in a new session of the same SparkContext, with its own SQL settings, and leaves the context running.
    """
    from inference.scoring.run import ScoreError

    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ScoreError(f"--engine spark needs pyspark, which is not installed: {INSTALL_HINT}") from exc
    # Executors run this interpreter unless told otherwise (it has this project and its pinned libraries).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    local = master.startswith("local")
    if local:  # a cluster's executors must reach the driver, so loopback only for local mode
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    active = SparkSession.getActiveSession()
    if active is not None:
        spark = active.newSession()
    else:
        builder = SparkSession.builder.appName("occ-score").master(master).config("spark.sql.session.timeZone", "UTC")
        if local:
            builder = builder.config("spark.ui.enabled", "false")
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # noqa: BLE001 - a JVM that does not start surfaces as several types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise ScoreError(f"cannot start Spark with master {master!r} (is Java 17+ on PATH or JAVA_HOME set? "
                             f"is the master reachable?): {first}") from exc
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark, active is None


def _spark_readable(path: Path) -> bool:
    return not (_SPARK_UNSAFE & set(str(path.resolve()))) and not path.name.startswith(("_", "."))


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


@dataclass(frozen=True)
class _Plan:
    text_files: list[int]  # plain JSONL read by Spark's text reader
    units: list[tuple[int, str, int]]  # (file index, "file" | "parquet", row group) read by the Python readers


def _plan(inputs: Sequence[Path]) -> _Plan:
    text_files, units = [], []
    for index, path in enumerate(inputs):
        fmt, gzipped = detect_format(path)
        if fmt == "jsonl" and not gzipped and _spark_readable(path):
            text_files.append(index)
        elif fmt == "parquet":
            units.extend((index, "parquet", group) for group in range(pq.ParquetFile(path).num_row_groups))
        else:
            units.append((index, "file", 0))
    return _Plan(text_files, units)


def _ingest_frame(spark: SparkSession, inputs: Sequence[Path], plan: _Plan, logic: RowLogic) -> DataFrame:
    from pyspark.sql import functions as F

    stage = spark_schema(STAGE_SCHEMA)
    frames = []
    if plan.text_files:
        lines = None
        for index in plan.text_files:
            read = (spark.read.option("lineSep", "\n").text(f"file://{inputs[index].resolve()}")
                    .select(F.lit(index).cast("int").alias("file_index"),
                            F.col("_metadata.file_block_start").cast("long").alias("block"),
                            F.col("value").cast("binary").alias("raw")))  # the bytes as read: UTF-8 is checked later
            lines = read if lines is None else lines.unionByName(read)
        frames.append(lines.mapInArrow(IngestLines(logic), stage))
    if plan.units:
        units = spark.sparkContext.parallelize(plan.units, len(plan.units))
        frames.append(spark.createDataFrame(units, "file_index int, kind string, block long")
                      .mapInArrow(IngestFiles(logic), stage))
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


@dataclass
class _Summary:
    """What one aggregation over the processed rows tells the driver."""

    fixes: list[tuple[int, int, int, int | None]]  # (file index, block, line offset, the file's last line if unterminated)
    clean: int
    quarantined: int
    reasons: Counter
    suppressed: int = 0


def _summarize(processed: DataFrame, inputs: Sequence[Path], plan: _Plan) -> _Summary:
    """Count rows per split and turn the counts into line numbers, in one Spark job.

    Each split's line offset is the number of lines of the same file's earlier splits (lines counted by the
    executors, blank ones included, as the local reader counts them). A truncated file stops at its
    `file_truncated` row, as in the local reader: the splits after it are left out of `fixes` (rows join on
    it), since that row is always the last of its split.
    """
    from pyspark.sql import functions as F

    summary = (processed.groupBy("file_index", "block", "status", "reason")
               .agg(F.count(F.lit(1)).alias("n"), F.max("rel_line").alias("lines")).collect())
    lines = {(r["file_index"], r["block"]): r["lines"] for r in summary if r["status"] == "block"}
    stops: dict[int, int] = {}
    for r in summary:
        if r["reason"] == "file_truncated":
            stops[r["file_index"]] = min(r["block"], stops.get(r["file_index"], r["block"]))
    kept = {key for key in lines if key[0] not in stops or key[1] <= stops[key[0]]}
    offsets: dict[tuple[int, int], int] = {}
    totals: Counter = Counter()
    for file_index, block in sorted(kept):
        offsets[(file_index, block)] = totals[file_index]
        totals[file_index] += lines[(file_index, block)]
    last_lines = {i: totals[i] for i in plan.text_files if not _ends_with_newline(inputs[i])}
    result = _Summary([(f, b, offset, last_lines.get(f)) for (f, b), offset in offsets.items()], 0, 0, Counter())
    for r in summary:
        if (r["file_index"], r["block"]) not in kept:
            continue
        if r["status"] == "clean":
            result.clean += r["n"]
        elif r["status"] == "quarantine":
            result.quarantined += r["n"]
            result.reasons[r["reason"]] += r["n"]
        elif r["status"] == "suppressed":
            result.suppressed += r["n"]
    return result


def _scored_columns(specs: Sequence[TaskSpec], pinned: PinnedModel) -> list[Any]:
    from pyspark.sql import functions as F

    columns = [F.col(name) for name in INGESTED_SCHEMA.names]
    prediction = F.col("_prediction")
    for spec in specs:
        columns.append(prediction.getField(spec.name).alias(spec.name))
        scores = prediction.getField(f"{spec.name}_scores")
        columns.append(F.struct(*[scores.getItem(i).cast("float").alias(label) for i, label in enumerate(spec.labels)])
                       .alias(f"{spec.name}_scores"))
    for name, value in (("model_name", pinned.name), ("model_version", pinned.version), ("model_run_id", pinned.run_id)):
        columns.append(F.lit(value).cast("string").alias(name))
    columns.append(F.current_timestamp().alias("scored_at"))
    columns.append(F.col("redactions"))
    return columns


def score_spark(inputs: Sequence[Path], out_dir: Path, model_uri: str, settings: Settings | None = None, *,
                mapping: ColumnMapping = IDENTITY, products: ProductDictionary | None = None,
                master: str = "local[*]", suppression: SuppressionList | None = None) -> dict[str, Any]:
    """Score `inputs` into `out_dir` on Spark with the version `model_uri` resolves to now; returns the manifest.

    Same checks, refusals and outputs as `inference.scoring.run.score`; not resumable (a stopped run's folder is
    refused: rerun into a new --out). `suppression` defaults to the list `settings.ingest.suppress_file` names.
    """
    from common.settings import Settings
    from inference.scoring.run import (
        LOCK_FILE,
        OutputLock,
        ScoreError,
        check_bundle,
        check_out_dir,
    )
    from models.registry import load_pinned, pin

    settings = settings or Settings()
    inputs = [Path(p) for p in inputs]
    for path in inputs:
        check_input(path)
    if suppression is None:
        suppression = load_suppression(settings.ingest.suppress_file)
    out_dir = Path(out_dir)
    check_out_dir(out_dir, resume=False)
    try:
        import pyspark  # noqa: F401 - fail before anything is written
    except ImportError as exc:
        raise ScoreError(f"--engine spark needs pyspark, which is not installed: {INSTALL_HINT}") from exc
    pinned = pin(model_uri)
    bundle = load_pinned(pinned)
    check_bundle(bundle, settings.score, pinned)
    out_dir.mkdir(parents=True, exist_ok=True)
    with OutputLock(out_dir):
        leftovers = sorted(p.name for p in out_dir.iterdir() if p.name != LOCK_FILE)
        if leftovers:
            raise ScoreError(f"{out_dir} holds files of a stopped run ({', '.join(leftovers[:5])}); the Spark engine "
                             "does not resume: choose a new --out (a local run can be resumed with --engine local "
                             "--resume)")
        dictionary = products or (products_from_dict(bundle.products) if bundle.products else None)
        logic = RowLogic(settings.ingest, mapping, dictionary, tuple(str(p) for p in inputs),
                         tuple(str(p.resolve()) for p in inputs), suppression if suppression else None,
                         name_key_secret(settings.authors))
        return _run(inputs, out_dir, pinned, bundle, settings, logic, master)


def _run(inputs: list[Path], out_dir: Path, pinned: PinnedModel, bundle: ModelBundle, settings: Settings,
         logic: RowLogic, master: str) -> dict[str, Any]:
    import mlflow.pyfunc
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from inference.scoring.run import (
        QUARANTINE_FILE,
        SCORES_DIR,
        file_sha256,
        finish_run,
    )

    config = settings.score
    started = time.monotonic()
    checksums = {str(p): file_sha256(p) for p in inputs}
    scores_dir = out_dir / SCORES_DIR
    scores_dir.mkdir()
    plan = _plan(inputs)
    spark, owned = start_spark(master)
    timings = {"spark_start_s": time.monotonic() - started}
    processed = None
    try:
        t0 = time.monotonic()
        processed = _ingest_frame(spark, inputs, plan, logic).persist(StorageLevel.MEMORY_AND_DISK)
        summary = _summarize(processed, inputs, plan)  # the first action: runs the row pipeline, once
        fixes = spark.createDataFrame(summary.fixes, "file_index int, block long, offset long, last_line long")
        line = F.col("rel_line") + F.col("offset")
        at_last_line = (F.col("status") == "quarantine") & (line == F.col("last_line"))
        rows = (processed.filter(F.col("status") != "block").join(F.broadcast(fixes), ["file_index", "block"])
                .withColumn("line", line)
                .withColumn("detail", F.when(at_last_line, F.col("alt_detail")).otherwise(F.col("detail")))
                .withColumn("raw", F.when(at_last_line, F.col("alt_raw")).otherwise(F.col("raw"))))
        logger.info("read and validated %d rows (%d clean, %d quarantined, %d suppressed) in %.1fs",
                    summary.clean + summary.quarantined + summary.suppressed, summary.clean, summary.quarantined,
                    summary.suppressed, time.monotonic() - t0)
        timings["read_validate_s"] = time.monotonic() - t0

        t1 = time.monotonic()
        clean = rows.filter(F.col("status") == "clean")
        first_id = clean.withColumn("_n", F.row_number().over(Window.partitionBy("post_id").orderBy(*_ORDER)))
        candidates = first_id.filter(F.col("_n") == 1)
        first_text = candidates.withColumn("_n", F.row_number().over(Window.partitionBy("fingerprint").orderBy(*_ORDER)))
        kept = first_text.filter(F.col("author_id").isNull() | (F.col("_n") == 1))
        parallelism = spark.sparkContext.defaultParallelism
        n_parts = max(1, min(summary.clean, max(parallelism, math.ceil(summary.clean / config.chunk_rows))))
        predict = mlflow.pyfunc.spark_udf(spark, pinned.uri, result_type=udf_result_type(bundle.specs),
                                          env_manager="local",
                                          params={"batch_size": config.batch_size, "precision": config.precision})
        logger.info("model %s ready on Spark in %.1fs", pinned.uri, time.monotonic() - t1)
        schema = scored_schema(bundle.specs)
        ordered = kept.repartitionByRange(n_parts, *_ORDER).sortWithinPartitions(*_ORDER)
        scored = ordered.withColumn("_prediction", predict(F.col("text"))).select(*_scored_columns(bundle.specs, pinned))
        results = scored.mapInArrow(WriteParts(str(scores_dir), schema), spark_schema(_PART_RESULT_SCHEMA)).collect()
        timings["score_s"] = time.monotonic() - t1
        logger.info("de-duplicated, scored and wrote %d part(s) in %.1fs", len(results), timings["score_s"])

        t2 = time.monotonic()
        written, redactions = _check_parts(scores_dir, results, schema)
        quarantine = (rows.filter(F.col("status") == "quarantine").select("file_index", *QUARANTINE_SCHEMA.names)
                      .toArrow().sort_by([(key, "ascending") for key in _ORDER]))  # few rows: sorted here, no shuffle
        write_table_atomic(out_dir / QUARANTINE_FILE, quarantine.select(QUARANTINE_SCHEMA.names).cast(QUARANTINE_SCHEMA))
        timings["write_s"] = time.monotonic() - t2
    finally:
        if processed is not None:
            processed.unpersist()
        if owned:
            spark.stop()
    stats = IngestStats(rows_read=summary.clean + summary.quarantined + summary.suppressed, rows_written=written,
                        rows_quarantined=summary.quarantined, duplicates_dropped=summary.clean - written,
                        suppressed=summary.suppressed,
                        quarantine_reasons=summary.reasons, redactions=redactions, inputs=[str(p) for p in inputs])
    logger.info("spark (%s): %d rows in %d input(s), %d scored into %d part(s)", master, stats.rows_read,
                len(inputs), written, len(results))
    return finish_run(out_dir, inputs, checksums, pinned, bundle, settings, stats, timings, started, written,
                      extra={"engine": "spark"})


def _check_parts(scores_dir: Path, results: list[Any], schema: pa.Schema) -> tuple[int, Counter]:
    """Check with pyarrow what the executors wrote: every part is on disk here, with the expected rows and
    exactly the local engine's schema. Returns (rows written, redaction counts of the written rows)."""
    from inference.scoring.run import ScoreError

    remove_stale_temporaries(scores_dir)  # temp files of failed task attempts
    written, redactions = 0, Counter()
    for result in results:
        path = scores_dir / result["part"]
        if not path.is_file():
            raise ScoreError(f"an executor wrote {result['part']} but it is not in {scores_dir}: --out must be a "
                             "folder every executor writes at the same path (a shared mount on a cluster)")
        found = pq.read_schema(path)
        if not found.equals(schema, check_metadata=False):
            raise ScoreError(f"{path} was written with schema {found}, not the scored schema {schema}")
        rows = pq.read_metadata(path).num_rows
        if rows != result["rows"]:
            raise ScoreError(f"{path} holds {rows} rows, but its task reported {result['rows']}")
        written += rows
        redactions.update(dict(result["redactions"] or {}))
    if not results:  # nothing to score: still leave one valid (empty) part for readers of scores/
        with AtomicParquetWriter(scores_dir / "part-000000.parquet", schema):
            pass
    expected = {r["part"] for r in results} or {"part-000000.parquet"}
    extra = sorted(p.name for p in scores_dir.iterdir() if p.name not in expected)
    if extra:
        raise ScoreError(f"{scores_dir} holds files no task of this run wrote: {extra[:5]}")
    return written, redactions
