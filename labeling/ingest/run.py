"""`occ ingest`: stream dumps through the row pipeline into `posts.parquet`, `quarantine.parquet`,
`duplicates.parquet` and `ingest_summary.json`, each written atomically.

Counts always reconcile: `rows_read == rows_written + rows_quarantined + duplicates_dropped + suppressed`
(rows of authors on the suppression list, `ingest.suppress_file`), and the summary says so.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from common.atomic import (
    AtomicParquetWriter,
    remove_stale_temporaries,
    write_json_atomic,
)
from common.progress import Progress
from common.settings import AuthorSettings, IngestSettings
from labeling.authors.signals import name_key_secret
from labeling.ingest.batches import (
    PipelineRecipe,
    RowJudges,
    admit,
    iter_units,
    worker_count,
)
from labeling.ingest.dedup import DedupIndex
from labeling.ingest.mapping import IDENTITY, ColumnMapping
from labeling.ingest.pipeline import IngestStats
from labeling.ingest.products import ProductDictionary
from labeling.ingest.readers import check_input
from labeling.ingest.schema import DUPLICATES_SCHEMA, INGESTED_SCHEMA, QUARANTINE_SCHEMA
from labeling.ingest.suppression import SuppressionList, load_suppression

logger = logging.getLogger(__name__)

POSTS_FILE = "posts.parquet"
QUARANTINE_FILE = "quarantine.parquet"
DUPLICATES_FILE = "duplicates.parquet"
ROW_GROUP_ROWS = 50_000
"""Rows per row group of the three output files: about 20 MB of posts gathered in memory, and 200 row groups'
metadata (4 MB) held until a 10^7-post file closes (one group per batch held 40 MB; common/atomic.py)."""
SUMMARY_FILE = "ingest_summary.json"
DEDUP_INDEX = ".dedup-index.sqlite"


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest(inputs: Sequence[Path], out_dir: Path, config: IngestSettings = IngestSettings(),
           mapping: ColumnMapping = IDENTITY, products: ProductDictionary | None = None,
           progress: bool = True, suppression: SuppressionList | None = None,
           authors: AuthorSettings = AuthorSettings()) -> IngestStats:
    """Ingest dumps into `out_dir`; raises `InputError` (`SuppressionError`) before writing anything if an input
    (the suppression list) is unusable. `suppression` defaults to the list `config.suppress_file` names."""
    inputs = [Path(p) for p in inputs]
    for path in inputs:
        check_input(path)
    if suppression is None:
        suppression = load_suppression(config.suppress_file)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    recipe = PipelineRecipe(config, mapping, products, suppression if suppression else None, authors,
                            name_key_secret(authors))
    stats = IngestStats(inputs=[str(p) for p in inputs])
    workers = worker_count(config)
    start = time.monotonic()
    index_path = out_dir / DEDUP_INDEX
    index_path.unlink(missing_ok=True)
    try:
        with AtomicParquetWriter(out_dir / POSTS_FILE, INGESTED_SCHEMA, ROW_GROUP_ROWS) as posts, \
                AtomicParquetWriter(out_dir / QUARANTINE_FILE, QUARANTINE_SCHEMA, ROW_GROUP_ROWS) as quarantine, \
                AtomicParquetWriter(out_dir / DUPLICATES_FILE, DUPLICATES_SCHEMA, ROW_GROUP_ROWS) as duplicates, \
                DedupIndex(index_path, config.dedup_cache_mb) as index, \
                RowJudges(recipe, workers) as judges, \
                Progress("ingest", enabled=progress) as bar:
            for number, judged in enumerate(judges.judge(batched(iter_units(inputs, config), config.batch_rows))):
                kept = admit(judged, index, stats, number)
                posts.write_table(kept.table)
                quarantine.write_rows(kept.quarantined)
                duplicates.write_rows(kept.duplicates)
                bar.update(judged.rows_read)
    finally:
        index_path.unlink(missing_ok=True)
    stats.seconds = time.monotonic() - start
    write_json_atomic(out_dir / SUMMARY_FILE, stats.to_dict())
    logger.info(
        "ingest: %d rows read = %d written + %d quarantined + %d duplicates dropped + %d suppressed (%s) in %.1fs",
        stats.rows_read, stats.rows_written, stats.rows_quarantined, stats.duplicates_dropped, stats.suppressed,
        "reconciled" if stats.reconciled else "NOT RECONCILED", stats.seconds,
    )
    return stats
