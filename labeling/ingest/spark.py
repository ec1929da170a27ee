"""The row pipeline on Spark: what `occ ingest --engine spark` and `occ score --engine spark` share.

Both engines must give the local engines' rows, in the local engines' order, with the same counts; this module
holds the part of that which does not depend on a model, so that scoring (`inference.scoring.spark`) imports
it from here (labeling sits upstream of inference and never imports it).

How the local semantics survive distribution:
- Row logic: executors run `labeling.ingest.PostPipeline.judge` (suppression list, contract, quarantine,
  redaction, products) on every row, with one pipeline per partition; a suppressed author's row leaves the
  executor as a bare `suppressed` status (its position only), so nothing of it reaches the driver or the outputs.
  `judge` is stateless: de-duplication needs the global input order, which no single partition sees.
- Input order: every row carries (file index, line). Plain JSONL goes through Spark's text reader (splittable);
  line numbers come from each split's block start: executors number lines within a split and report the
  split's line count, and the driver turns the counts into per-split offsets. gzipped JSONL and CSV (not
  splittable, and with quirks only the shared Python readers reproduce: truncated gzip, multi-line cells,
  field counts) are read by the shared readers, one task per file; Parquet one task per row group.
- De-duplication (`mark_duplicates`): the first occurrence by (file index, line) of a `post_id` is a candidate;
  among candidates, one with an author is dropped when an earlier candidate has the same `text_fingerprint`,
  as a duplicate of that first candidate. That is exactly what `labeling.ingest.dedup.DedupIndex` computes
  sequentially.
- Output: kept rows are range-partitioned by input order and each partition is written by pyarrow
  (`WriteParts`) with the local engine's schema object, so the Parquet schema is the local engine's (Spark's own
  writer would change list item names and nullability, and add _SUCCESS and .crc files).

Paths (inputs and --out) must be readable/writable at the same path by every executor: any folder in local
mode; on a cluster a shared mount (NFS, /dbfs/...).
"""

from __future__ import annotations

import functools
import os
import sys
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
from common.errors import OccError
from common.settings import IngestSettings
from labeling.ingest.mapping import ColumnMapping
from labeling.ingest.pipeline import PostPipeline
from labeling.ingest.products import ProductDictionary
from labeling.ingest.readers import (
    RawRecord,
    detect_format,
    parse_json_line,
    read_parquet,
    read_records,
)
from labeling.ingest.redaction import Redactor
from labeling.ingest.schema import INGESTED_SCHEMA, QUARANTINE_SCHEMA
from labeling.ingest.suppression import SuppressionList

# Executors unpickle the row functions below by importing this module: it must stay light. pyspark is an
# optional extra, imported lazily, so that the local engines never need it.
if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

INSTALL_HINT = "pip install 'occ-insights[spark]'"
ORDER = ("file_index", "line")
"""Input order: every row's file index and line; both engines write rows sorted by it."""
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
PART_RESULT_SCHEMA = pa.schema([
    pa.field("part", pa.string()), pa.field("rows", pa.int64()),
    pa.field("redactions", pa.map_(pa.string(), pa.int64())),
    # a list, not a map: the order of first mention is what breaks ties in the summary's product ranking
    pa.field("products", pa.list_(pa.struct([pa.field("product", pa.string()), pa.field("n", pa.int64())]))),
])


class SparkEngineError(OccError, RuntimeError):
    """The Spark engine cannot run (pyspark missing, no JVM, master unreachable, executors not sharing --out)."""


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
        return self.config.quarantine_raw_chars * 2  # as labeling.ingest.batches.iter_units


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
    """mapInArrow that writes one partition of output rows as `part-<partition>.parquet` with `schema`.

    pyarrow writes it (atomically) with the local engine's schema object. Returns one row per part: its row
    count, the redaction counts of its rows and its product mentions in order of first mention (the summaries
    count written rows only).
    """

    def __init__(self, directory: str, schema: pa.Schema) -> None:
        self.directory = directory
        self.schema = schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        tables, redactions, products = [], Counter(), Counter()
        for batch in batches:
            if batch.num_rows == 0:
                continue
            for pairs in batch.column("redactions").to_pylist():
                redactions.update(dict(pairs or []))
            for mentioned in batch.column("products").to_pylist():
                products.update(mentioned or [])
            tables.append(pa.Table.from_batches([batch]).select(self.schema.names).cast(self.schema))
        if not tables:
            return
        table = pa.concat_tables(tables)
        name = f"part-{TaskContext.get().partitionId():06d}.parquet"
        write_table_atomic(Path(self.directory) / name, table)
        yield pa.RecordBatch.from_pylist(
            [{"part": name, "rows": table.num_rows, "redactions": dict(redactions),
              "products": [{"product": k, "n": v} for k, v in products.items()]}], schema=PART_RESULT_SCHEMA)


# --------------------------------------------------------------------------------------------- driver side


def spark_schema(schema: pa.Schema) -> Any:
    """The Spark schema for an Arrow one (declared outputs of mapInArrow), by pyspark's own Arrow mapping."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def require_pyspark(error: type[OccError] = SparkEngineError) -> None:
    """Fail with an install hint before anything is written when the optional extra is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise error(f"--engine spark needs pyspark, which is not installed: {INSTALL_HINT}") from exc


def start_spark(master: str, app_name: str = "occ", error: type[OccError] = SparkEngineError) -> tuple[SparkSession, bool]:
    """A session in UTC; returns (session, owned). Failures raise `error` (the calling command's user error).

    An already running session (a Databricks notebook's) is not ours to configure or stop: this run then works
    in a new session of the same SparkContext, with its own SQL settings, and leaves the context running.
    """
    require_pyspark(error)
    from pyspark.sql import SparkSession

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
        builder = SparkSession.builder.appName(app_name).master(master).config("spark.sql.session.timeZone", "UTC")
        if local:
            builder = builder.config("spark.ui.enabled", "false")
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # noqa: BLE001 - a JVM that does not start surfaces as several types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise error(f"cannot start Spark with master {master!r} (is Java 17+ on PATH or JAVA_HOME set? "
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
class Plan:
    """How each input is read: by Spark's text reader, or in work units by the shared Python readers."""

    text_files: list[int]  # plain JSONL read by Spark's text reader
    units: list[tuple[int, str, int]]  # (file index, "file" | "parquet", row group) read by the Python readers


def plan_inputs(inputs: Sequence[Path]) -> Plan:
    text_files, units = [], []
    for index, path in enumerate(inputs):
        fmt, gzipped = detect_format(path)
        if fmt == "jsonl" and not gzipped and _spark_readable(path):
            text_files.append(index)
        elif fmt == "parquet":
            units.extend((index, "parquet", group) for group in range(pq.ParquetFile(path).num_row_groups))
        else:
            units.append((index, "file", 0))
    return Plan(text_files, units)


def ingest_frame(spark: SparkSession, inputs: Sequence[Path], plan: Plan, logic: RowLogic) -> DataFrame:
    """Every input row judged on executors, as STAGE_SCHEMA rows (lazy: nothing runs yet)."""
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
    if not frames:  # only Parquet files without row groups: no rows, but still a run with valid outputs
        return spark.createDataFrame([], stage)
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


@dataclass
class Summary:
    """What one aggregation over the processed rows tells the driver."""

    fixes: list[tuple[int, int, int, int | None]]  # (file index, block, line offset, the file's last line if unterminated)
    clean: int
    quarantined: int
    reasons: Counter
    suppressed: int = 0

    @property
    def rows_read(self) -> int:
        return self.clean + self.quarantined + self.suppressed


def summarize(processed: DataFrame, inputs: Sequence[Path], plan: Plan) -> Summary:
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
    result = Summary([(f, b, offset, last_lines.get(f)) for (f, b), offset in offsets.items()], 0, 0, Counter())
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


@dataclass
class JudgedRows:
    """The row pipeline's result on Spark: `rows` (every input row once, with its final `line`; lazy, over the
    persisted `processed`) and the counts. Call `release()` when done with `rows`."""

    processed: DataFrame
    summary: Summary
    rows: DataFrame

    def release(self) -> None:
        self.processed.unpersist()


def judge_rows(spark: SparkSession, inputs: Sequence[Path], logic: RowLogic) -> JudgedRows:
    """Run the row pipeline once over every input (the first Spark action) and fix the line numbers."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    plan = plan_inputs(inputs)
    processed = ingest_frame(spark, inputs, plan, logic).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        summary = summarize(processed, inputs, plan)
    except BaseException:
        processed.unpersist()
        raise
    fixes = spark.createDataFrame(summary.fixes, "file_index int, block long, offset long, last_line long")
    line = F.col("rel_line") + F.col("offset")
    at_last_line = (F.col("status") == "quarantine") & (line == F.col("last_line"))
    rows = (processed.filter(F.col("status") != "block").join(F.broadcast(fixes), ["file_index", "block"])
            .withColumn("line", line)
            .withColumn("detail", F.when(at_last_line, F.col("alt_detail")).otherwise(F.col("detail")))
            .withColumn("raw", F.when(at_last_line, F.col("alt_raw")).otherwise(F.col("raw"))))
    return JudgedRows(processed, summary, rows)


def mark_duplicates(rows: DataFrame) -> DataFrame:
    """The clean rows with `dup_kind` (null for a kept row, else `same_post_id` | `same_author_same_text`) and
    `dup_of` (the kept post's id), decided in input order exactly as `labeling.ingest.dedup.DedupIndex` does.

    A row whose post id occurred earlier is a `same_post_id` duplicate of that id. The others are candidates;
    a candidate with an author whose fingerprint (author + normalized text) an earlier candidate has is a
    `same_author_same_text` duplicate of the first such candidate. Two window shuffles, no driver state.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    clean = rows.filter(F.col("status") == "clean")
    by_id = clean.withColumn("_first_id", F.row_number().over(Window.partitionBy("post_id").orderBy(*ORDER)) == 1)
    by_text = Window.partitionBy("_first_id", "fingerprint").orderBy(*ORDER)
    marked = (by_id.withColumn("_n_text", F.row_number().over(by_text))
              .withColumn("_first_text", F.first("post_id").over(by_text)))
    text_dup = F.col("_first_id") & F.col("author_id").isNotNull() & (F.col("_n_text") > 1)
    return (marked
            .withColumn("dup_kind", F.when(~F.col("_first_id"), F.lit("same_post_id"))
                        .when(text_dup, F.lit("same_author_same_text")))
            .withColumn("dup_of", F.when(~F.col("_first_id"), F.col("post_id")).when(text_dup, F.col("_first_text")))
            .drop("_first_id", "_n_text", "_first_text"))


def part_count(rows: int, parallelism: int, rows_per_part: int) -> int:
    """Enough parts for every core, each at most `rows_per_part` rows (bounded executor memory)."""
    return max(1, min(rows, max(parallelism, -(-rows // rows_per_part))))


def sorted_table(frame: DataFrame, columns: Sequence[str], schema: pa.Schema) -> pa.Table:
    """A small frame (quarantined rows, duplicates) collected to the driver in input order, cast to `schema`."""
    table = frame.select(*ORDER, *[c for c in columns if c not in ORDER]).toArrow()
    table = table.sort_by([(key, "ascending") for key in ORDER])  # few rows: sorted here, no shuffle
    return table.select(schema.names).cast(schema)


def quarantine_table(rows: DataFrame) -> pa.Table:
    """The quarantined rows in input order, with the local engines' QUARANTINE_SCHEMA."""
    from pyspark.sql import functions as F

    return sorted_table(rows.filter(F.col("status") == "quarantine"), QUARANTINE_SCHEMA.names, QUARANTINE_SCHEMA)


@dataclass
class Parts:
    """What the executors wrote, checked on the driver."""

    names: list[str]  # in input order
    rows: int
    redactions: Counter
    products: Counter  # in order of first mention, as the local engine counts them


def check_parts(directory: Path, results: list[Any], schema: pa.Schema,
                error: type[OccError] = SparkEngineError) -> Parts:
    """Check with pyarrow what the executors wrote: every part is on disk here, with the expected rows and
    exactly `schema`; nothing else is in `directory`. No result at all leaves one valid, empty part."""
    remove_stale_temporaries(directory)  # temp files of failed task attempts
    parts = Parts([], 0, Counter(), Counter())
    for result in sorted(results, key=lambda r: r["part"]):
        path = directory / result["part"]
        if not path.is_file():
            raise error(f"an executor wrote {result['part']} but it is not in {directory}: --out must be a "
                        "folder every executor writes at the same path (a shared mount on a cluster)")
        found = pq.read_schema(path)
        if not found.equals(schema, check_metadata=False):
            raise error(f"{path} was written with schema {found}, not the expected schema {schema}")
        rows = pq.read_metadata(path).num_rows
        if rows != result["rows"]:
            raise error(f"{path} holds {rows} rows, but its task reported {result['rows']}")
        parts.names.append(result["part"])
        parts.rows += rows
        parts.redactions.update(dict(result["redactions"] or {}))
        for entry in result["products"] or []:
            parts.products[entry["product"]] += entry["n"]
    if not results:
        with AtomicParquetWriter(directory / "part-000000.parquet", schema):
            pass
        parts.names.append("part-000000.parquet")
    extra = sorted(p.name for p in directory.iterdir() if p.name not in set(parts.names))
    if extra:
        raise error(f"{directory} holds files no task of this run wrote: {extra[:5]}")
    return parts
