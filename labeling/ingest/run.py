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

from common.atomic import AtomicParquetWriter, remove_stale_temporaries, write_json_atomic
from common.progress import Progress
from common.settings import AuthorSettings, IngestSettings
from labeling.ingest.mapping import IDENTITY, ColumnMapping
from labeling.ingest.pipeline import IngestStats, PostPipeline
from labeling.ingest.products import ProductDictionary
from labeling.ingest.readers import RawRecord, check_input, read_records
from labeling.ingest.schema import DUPLICATES_SCHEMA, INGESTED_SCHEMA, QUARANTINE_SCHEMA
from labeling.ingest.suppression import SuppressionList, load_suppression

logger = logging.getLogger(__name__)

POSTS_FILE = "posts.parquet"
QUARANTINE_FILE = "quarantine.parquet"
DUPLICATES_FILE = "duplicates.parquet"
SUMMARY_FILE = "ingest_summary.json"


def iter_raw_records(inputs: Sequence[Path], config: IngestSettings) -> Iterator[RawRecord]:
    for path in inputs:
        logger.info("reading %s", path)
        yield from read_records(Path(path), config.max_line_bytes, config.quarantine_raw_chars * 2, config.batch_rows)


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
    pipeline = PostPipeline(config, mapping, products, suppression=suppression, authors=authors)
    pipeline.stats.inputs = [str(p) for p in inputs]
    start = time.monotonic()
    with AtomicParquetWriter(out_dir / POSTS_FILE, INGESTED_SCHEMA) as posts, \
            AtomicParquetWriter(out_dir / QUARANTINE_FILE, QUARANTINE_SCHEMA) as quarantine, \
            AtomicParquetWriter(out_dir / DUPLICATES_FILE, DUPLICATES_SCHEMA) as duplicates, \
            Progress("ingest", enabled=progress) as bar:
        for batch in batched(iter_raw_records(inputs, config), config.batch_rows):
            clean, rejected, dropped = [], [], []
            for raw in batch:
                row, bad = pipeline.process(raw)
                if row is not None:
                    clean.append(row)
                elif bad is not None:
                    rejected.append(bad)
                elif pipeline.last_duplicate is not None:
                    dropped.append(pipeline.last_duplicate)
            posts.write_rows(clean)
            quarantine.write_rows(rejected)
            duplicates.write_rows(dropped)
            bar.update(len(batch))
    stats = pipeline.stats
    stats.seconds = time.monotonic() - start
    write_json_atomic(out_dir / SUMMARY_FILE, stats.to_dict())
    logger.info(
        "ingest: %d rows read = %d written + %d quarantined + %d duplicates dropped + %d suppressed (%s) in %.1fs",
        stats.rows_read, stats.rows_written, stats.rows_quarantined, stats.duplicates_dropped, stats.suppressed,
        "reconciled" if stats.reconciled else "NOT RECONCILED", stats.seconds,
    )
    return stats
