"""`occ report --engine spark`: Spark reads the scored parts and resolves replies; the driver builds the report.

What runs where:

- Spark (executors): the scan of every part file (only the columns the report needs, never `text` or the
  score structs), the suppression filter (`Suppression.table_mask`, the same function, applied to Arrow
  batches on the executors), numbering the posts in the order the local engine reads them (part file order,
  then position in the file, after suppression), and resolving each reply to the row of the post it replies
  to: a distributed join of `in_reply_to` with `post_id` (first post with an id wins, as in `gaps._Replies`).
  The result is written as compact Parquet files under the report folder, sorted by row.
- The driver (this process): reads those files one at a time through the same `gaps.load_posts` code the
  local engine uses (dictionary codes, exploded lists, preallocated number columns), then runs every
  aggregation, PageRank, the figures and the writers exactly as the local engine does. The numbers are the
  same by construction (`tests/inference/test_report_spark.py` checks it on a real scored run).

So Spark takes over the part that must look at every row of a large run (and the reply join, the one step
whose memory grows with the number of distinct post ids); the per-post frames (about 60 bytes a post, 0.6 GB
at 10^7 posts) still live on the driver. Pre-aggregating the gap table, PageRank graphs and voices in Spark
would lift that limit too; it is not done here. The intermediate folder must be reachable by the executors and
by the driver (on a cluster: put `--out` on shared storage); it is deleted when the report is written.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from common.settings import ReportSettings
from inference.insights.gaps import (
    PostIds,
    ScoredRun,
    Suppression,
    needed_columns,
    part_rows,
)

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

ROW, PART, POSITION, REPLY_ROW = "_row", "_part", "_position", "reply_row"


class SparkSource:
    """The compact files Spark wrote, read back in row order (`gaps.PostSource`)."""

    def __init__(self, files: Sequence[Path], rows: int, dropped: int, schema: pa.Schema) -> None:
        self.files = list(files)
        self.capacity = rows
        self.dropped = dropped
        self.schema = schema
        self.lengths = [pq.ParquetFile(f).metadata.num_rows for f in self.files]
        self._replies: list[np.ndarray] = []

    def tables(self) -> Iterable[tuple[pa.Table, np.ndarray | None, int]]:
        if self.dropped:  # the suppressed rows, counted once (as rows read that were not kept)
            yield self.schema.empty_table(), None, self.dropped
        for path in self.files:
            table = pq.read_table(path)
            yield table, None, table.num_rows

    def see(self, table: pa.Table, offset: int) -> None:
        replies = table.column(REPLY_ROW) if REPLY_ROW in table.column_names else None
        if replies is not None and table.num_rows:
            self._replies.append(replies.to_numpy().astype("int32"))

    def reply_rows(self) -> np.ndarray:
        out = np.concatenate(self._replies) if self._replies else np.zeros(0, "int32")
        self._replies = []
        return out

    def post_ids(self, kept: Sequence[np.ndarray | None], lengths: Sequence[int]) -> PostIds | None:
        """Post ids read back from Spark's files (they hold `post_id`, in row order)."""
        return PostIds(self.files, [None] * len(self.files), self.lengths)


def _suppress(batches: Iterator[pa.RecordBatch], suppression: Suppression, drop: list[str]) -> Iterator[pa.RecordBatch]:
    """Runs on the executors: the rows of suppressed authors left out, as `gaps._read_parts` leaves them out."""
    import pyarrow.compute as pc

    for batch in batches:
        table = pa.Table.from_batches([batch])
        mask = pc.fill_null(suppression.table_mask(table), False)
        kept = table.filter(pc.invert(mask)).drop_columns(drop)
        yield from kept.to_batches()


def reduce_with_spark(spark: "SparkSession", run: ScoredRun, config: ReportSettings,
                      suppression: Suppression | None, work: Path) -> SparkSource:
    """Scan, filter, number and resolve replies in Spark; write the compact posts under `work`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    columns = needed_columns(run, config)
    extra = [c for c in ("author_handle", "person_id") if suppression and c in run.columns and c not in columns]
    names = {p.name: i for i, p in enumerate(run.parts)}
    frame: DataFrame = spark.read.parquet(*[str(p) for p in run.parts]).select(
        *columns, *extra, F.col("_metadata.file_name").alias("_file"), F.col("_metadata.row_index").alias(POSITION))
    part_of = spark.createDataFrame(list(names.items()), ["_file", PART])
    frame = frame.join(F.broadcast(part_of), "_file").drop("_file")
    if suppression:
        schema = frame.drop(*extra).schema
        frame = frame.mapInArrow(lambda batches: _suppress(batches, suppression, extra), schema)
    frame = frame.persist()
    counts = dict(frame.groupBy(PART).count().collect())
    kept = [int(counts.get(i, 0)) for i in range(len(run.parts))]
    dropped = part_rows(run.parts) - sum(kept) if suppression else 0
    starts = np.concatenate([[0], np.cumsum(kept)])[:-1].tolist()
    start_of = spark.createDataFrame([(i, int(s)) for i, s in enumerate(starts)], [PART, "_start"])
    within = F.row_number().over(Window.partitionBy(PART).orderBy(POSITION)) - 1 if suppression else F.col(POSITION)
    frame = frame.join(F.broadcast(start_of), PART).withColumn(ROW, (F.col("_start") + within).cast("int"))

    if "in_reply_to" in columns:
        first = frame.groupBy("post_id").agg(F.min(ROW).alias("_target"))
        frame = frame.join(first.withColumnRenamed("post_id", "in_reply_to"), "in_reply_to", "left")
        reply = F.when(F.col("in_reply_to").isNull(), F.lit(-2)).otherwise(F.coalesce("_target", F.lit(-1)))
    else:
        reply = F.lit(-2)
    frame = frame.withColumn(REPLY_ROW, reply.cast("int"))
    out = frame.select(ROW, *columns, REPLY_ROW)
    partitions = max(1, min(len(run.parts), spark.sparkContext.defaultParallelism * 4))
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    out.repartitionByRange(partitions, ROW).sortWithinPartitions(ROW).drop(ROW) \
        .write.mode("overwrite").parquet(str(work))
    frame.unpersist()
    files = sorted(work.glob("part-*.parquet"))
    schema = pq.read_schema(files[0]) if files else pa.schema([])
    return SparkSource(files, sum(kept), dropped, schema)


@contextlib.contextmanager
def spark_source(spark: "SparkSession", run: ScoredRun, config: ReportSettings, suppression: Suppression | None,
                 out_dir: Path) -> Iterator[SparkSource]:
    """`reduce_with_spark` into a folder under `out_dir` that is removed when the report is done."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".spark-posts-", dir=out_dir))
    try:
        yield reduce_with_spark(spark, run, config, suppression, work / "posts")
    finally:
        shutil.rmtree(work, ignore_errors=True)
