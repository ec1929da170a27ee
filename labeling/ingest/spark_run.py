"""`occ ingest --engine spark`: the local `occ ingest` (`labeling.ingest.run`) spread over a Spark cluster.

Output contract: the local engine's, file for file: `posts.parquet`, `quarantine.parquet`, `duplicates.parquet`
with the same schemas, rows and row order (input order), and `ingest_summary.json` with the same counts and
counters (plus `"engine": "spark"` and the master), so that every later stage reads either engine's output.
How the row pipeline and de-duplication run on executors: `labeling.ingest.spark`.

Executors write the kept rows as ordered part files into a hidden folder of --out; the driver then streams
them into the one `posts.parquet` (bounded memory: one part at a time) and removes the folder. Quarantined
rows and duplicates are collected to the driver (they are few next to the posts).
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path
from typing import Sequence

import pyarrow.parquet as pq

from common.atomic import (
    AtomicParquetWriter,
    remove_stale_temporaries,
    write_json_atomic,
    write_table_atomic,
)
from common.settings import AuthorSettings, IngestSettings
from labeling.authors.signals import name_key_secret
from labeling.ingest.mapping import IDENTITY, ColumnMapping
from labeling.ingest.pipeline import IngestStats
from labeling.ingest.products import ProductDictionary
from labeling.ingest.readers import check_input
from labeling.ingest.run import (
    DUPLICATES_FILE,
    POSTS_FILE,
    QUARANTINE_FILE,
    SUMMARY_FILE,
)
from labeling.ingest.schema import DUPLICATES_SCHEMA, INGESTED_SCHEMA
from labeling.ingest.spark import (
    ORDER,
    PART_RESULT_SCHEMA,
    RowLogic,
    WriteParts,
    check_parts,
    judge_rows,
    mark_duplicates,
    part_count,
    quarantine_table,
    require_pyspark,
    sorted_table,
    spark_schema,
    start_spark,
)
from labeling.ingest.suppression import SuppressionList, load_suppression

logger = logging.getLogger(__name__)

PARTS_PREFIX = ".spark-parts-"
ROWS_PER_PART = 100_000
"""Kept rows per executor-written part: bounds one write task's memory; parts are merged into one file anyway."""


def ingest_spark(inputs: Sequence[Path], out_dir: Path, config: IngestSettings = IngestSettings(),
                 mapping: ColumnMapping = IDENTITY, products: ProductDictionary | None = None,
                 suppression: SuppressionList | None = None, authors: AuthorSettings = AuthorSettings(),
                 master: str = "local[*]") -> IngestStats:
    """Ingest dumps into `out_dir` on Spark (`master`), with the outputs and counts of `labeling.ingest.run.ingest`.

    Raises `InputError` / `SuppressionError` / `SparkEngineError` before writing anything if an input, the
    suppression list or pyspark is missing or unusable.
    """
    inputs = [Path(p) for p in inputs]
    for path in inputs:
        check_input(path)
    if suppression is None:
        suppression = load_suppression(config.suppress_file)
    require_pyspark()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    for stale in out_dir.glob(f"{PARTS_PREFIX}*"):  # a crashed earlier Spark run's parts
        shutil.rmtree(stale, ignore_errors=True)
    logic = RowLogic(config, mapping, products, tuple(str(p) for p in inputs), tuple(str(p.resolve()) for p in inputs),
                     suppression if suppression else None, name_key_secret(authors))
    parts_dir = out_dir / f"{PARTS_PREFIX}{uuid.uuid4().hex}"
    parts_dir.mkdir()
    start = time.monotonic()
    try:
        stats = _run(inputs, out_dir, parts_dir, logic, master)
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    stats.seconds = time.monotonic() - start
    write_json_atomic(out_dir / SUMMARY_FILE, {**stats.to_dict(), "engine": "spark", "spark_master": master})
    logger.info(
        "ingest (spark, %s): %d rows read = %d written + %d quarantined + %d duplicates dropped + %d suppressed "
        "(%s) in %.1fs", master, stats.rows_read, stats.rows_written, stats.rows_quarantined,
        stats.duplicates_dropped, stats.suppressed, "reconciled" if stats.reconciled else "NOT RECONCILED",
        stats.seconds,
    )
    return stats


def _run(inputs: list[Path], out_dir: Path, parts_dir: Path, logic: RowLogic, master: str) -> IngestStats:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    spark, owned = start_spark(master, "occ-ingest")
    judged = decided = None
    try:
        t0 = time.monotonic()
        judged = judge_rows(spark, inputs, logic)
        summary = judged.summary
        logger.info("read and validated %d rows (%d clean, %d quarantined, %d suppressed) in %.1fs",
                    summary.rows_read, summary.clean, summary.quarantined, summary.suppressed, time.monotonic() - t0)
        decided = mark_duplicates(judged.rows).persist(StorageLevel.MEMORY_AND_DISK)
        kept = decided.filter(F.col("dup_kind").isNull())
        n_parts = part_count(summary.clean, spark.sparkContext.defaultParallelism, ROWS_PER_PART)
        ordered = kept.repartitionByRange(n_parts, *ORDER).sortWithinPartitions(*ORDER)
        results = (ordered.select(*INGESTED_SCHEMA.names, "redactions")
                   .mapInArrow(WriteParts(str(parts_dir), INGESTED_SCHEMA), spark_schema(PART_RESULT_SCHEMA)).collect())
        parts = check_parts(parts_dir, results, INGESTED_SCHEMA)
        duplicates = sorted_table(decided.filter(F.col("dup_kind").isNotNull())
                                  .select(*ORDER, "post_id", F.col("dup_of").alias("duplicate_of"),
                                          F.col("dup_kind").alias("kind"), "source_file"),
                                  DUPLICATES_SCHEMA.names, DUPLICATES_SCHEMA)
        quarantine = quarantine_table(judged.rows)
    finally:
        if decided is not None:
            decided.unpersist()
        if judged is not None:
            judged.release()
        if owned:
            spark.stop()
    with AtomicParquetWriter(out_dir / POSTS_FILE, INGESTED_SCHEMA) as posts:
        for name in parts.names:  # in input order; one part in memory at a time
            posts.write_table(pq.read_table(parts_dir / name))
    write_table_atomic(out_dir / QUARANTINE_FILE, quarantine)
    write_table_atomic(out_dir / DUPLICATES_FILE, duplicates)
    kinds = duplicates.column("kind").to_pylist()
    stats = IngestStats(rows_read=summary.rows_read, rows_written=parts.rows, rows_quarantined=summary.quarantined,
                        duplicates_dropped=len(kinds), suppressed=summary.suppressed,
                        quarantine_reasons=summary.reasons, redactions=parts.redactions,
                        product_mentions=parts.products, inputs=[str(p) for p in inputs])
    stats.duplicate_kinds.update(kinds)
    return stats
