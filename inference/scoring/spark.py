"""`occ score --engine spark`: the same scoring run as the local engine, spread over a Spark cluster (or local mode).

Output contract: identical to the local engine (`inference.scoring.run`): `scores/part-*.parquet` with
`scored_schema(specs)`, `quarantine.parquet`, `adverse_events.csv` and `_manifest.json` last (plus
`"engine": "spark"`), with the same rows, predictions and counts for the same inputs and model version.

The row pipeline, line numbers, de-duplication and the part writer are the ones `occ ingest --engine spark`
runs (`labeling.ingest.spark`, which says how the local semantics survive distribution); this module adds the
model: `mlflow.pyfunc.spark_udf` over the kept rows, range-partitioned by input order, each partition written by
pyarrow with the local engine's scored schema.

Paths (inputs and --out) must be readable/writable at the same path by every executor: any folder in local
mode; on a cluster a shared mount (NFS, /dbfs/...).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence


from common.atomic import write_table_atomic
from labeling.authors.signals import name_key_secret
from labeling.ingest.mapping import IDENTITY, ColumnMapping
from labeling.ingest.pipeline import IngestStats
from labeling.ingest.products import ProductDictionary, products_from_dict
from labeling.ingest.readers import check_input
from labeling.ingest.schema import INGESTED_SCHEMA
from labeling.ingest.spark import (  # RowLogic and IngestFiles: also what tests call as executors would
    INSTALL_HINT,
    ORDER,
    PART_RESULT_SCHEMA,
    IngestFiles,
    RowLogic,
    WriteParts,
    check_parts,
    judge_rows,
    mark_duplicates,
    part_count,
    quarantine_table,
    require_pyspark,
    spark_schema,
    start_spark,
)
from labeling.ingest.suppression import SuppressionList, load_suppression
from models.tasks import TaskSpec

# Executors unpickle what runs there from labeling.ingest.spark; what pulls in MLflow (inference.scoring.run ->
# models.artifact, models.registry) is imported inside the driver-side functions, pyspark lazily too.
if TYPE_CHECKING:
    from common.settings import Settings
    from models.artifact import ModelBundle
    from models.registry import PinnedModel

__all__ = ["INSTALL_HINT", "IngestFiles", "RowLogic", "score_spark", "udf_result_type"]

logger = logging.getLogger(__name__)


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
    require_pyspark(ScoreError)  # fail before anything is written
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
    from pyspark.sql import functions as F

    from inference.scoring.outputs import scored_schema
    from inference.scoring.run import (
        QUARANTINE_FILE,
        SCORES_DIR,
        ScoreError,
        file_sha256,
        finish_run,
    )

    config = settings.score
    started = time.monotonic()
    checksums = {str(p): file_sha256(p) for p in inputs}
    scores_dir = out_dir / SCORES_DIR
    scores_dir.mkdir()
    spark, owned = start_spark(master, "occ-score", ScoreError)
    timings = {"spark_start_s": time.monotonic() - started}
    judged = None
    try:
        t0 = time.monotonic()
        judged = judge_rows(spark, inputs, logic)  # the first action: runs the row pipeline, once
        summary = judged.summary
        logger.info("read and validated %d rows (%d clean, %d quarantined, %d suppressed) in %.1fs",
                    summary.rows_read, summary.clean, summary.quarantined, summary.suppressed, time.monotonic() - t0)
        timings["read_validate_s"] = time.monotonic() - t0

        t1 = time.monotonic()
        kept = mark_duplicates(judged.rows).filter(F.col("dup_kind").isNull())
        n_parts = part_count(summary.clean, spark.sparkContext.defaultParallelism, config.chunk_rows)
        predict = mlflow.pyfunc.spark_udf(spark, pinned.uri, result_type=udf_result_type(bundle.specs),
                                          env_manager="local",
                                          params={"batch_size": config.batch_size, "precision": config.precision})
        logger.info("model %s ready on Spark in %.1fs", pinned.uri, time.monotonic() - t1)
        schema = scored_schema(bundle.specs)
        ordered = kept.repartitionByRange(n_parts, *ORDER).sortWithinPartitions(*ORDER)
        scored = ordered.withColumn("_prediction", predict(F.col("text"))).select(*_scored_columns(bundle.specs, pinned))
        results = scored.mapInArrow(WriteParts(str(scores_dir), schema), spark_schema(PART_RESULT_SCHEMA)).collect()
        timings["score_s"] = time.monotonic() - t1
        logger.info("de-duplicated, scored and wrote %d part(s) in %.1fs", len(results), timings["score_s"])

        t2 = time.monotonic()
        parts = check_parts(scores_dir, results, schema, ScoreError)
        write_table_atomic(out_dir / QUARANTINE_FILE, quarantine_table(judged.rows))
        timings["write_s"] = time.monotonic() - t2
    finally:
        if judged is not None:
            judged.release()
        if owned:
            spark.stop()
    written = parts.rows
    stats = IngestStats(rows_read=summary.rows_read, rows_written=written, rows_quarantined=summary.quarantined,
                        duplicates_dropped=summary.clean - written, suppressed=summary.suppressed,
                        quarantine_reasons=summary.reasons, redactions=parts.redactions,
                        inputs=[str(p) for p in inputs])
    logger.info("spark (%s): %d rows in %d input(s), %d scored into %d part(s)", master, stats.rows_read,
                len(inputs), written, len(results))
    return finish_run(out_dir, inputs, checksums, pinned, bundle, settings, stats, timings, started, written,
                      extra={"engine": "spark"})
