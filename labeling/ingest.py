"""`occ ingest`: validate, quarantine, de-duplicate, redact and tag product mentions, streaming.

`PostPipeline` is the per-row logic shared with batch scoring (which must treat rows exactly as ingest does);
`ingest()` drives it over files and writes `posts.parquet`, `quarantine.parquet` and `ingest_summary.json`.
Every row read ends up written, quarantined with a reason, or counted as a duplicate:
`rows_read == rows_written + rows_quarantined + duplicates_dropped`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from labeling.atomic import AtomicParquetWriter, remove_stale_temporaries, write_json_atomic
from labeling.mapping import IDENTITY, ColumnMapping
from labeling.products import ProductDictionary, ProductMatcher
from labeling.progress import Progress
from labeling.readers import RawRecord, check_input, read_records
from labeling.redact import Redactor
from labeling.schema import (DUPLICATES_SCHEMA, INGESTED_SCHEMA, QUARANTINE_SCHEMA, ContractError, ContractLimits,
                             coerce_post)

logger = logging.getLogger(__name__)

POSTS_FILE = "posts.parquet"
QUARANTINE_FILE = "quarantine.parquet"
DUPLICATES_FILE = "duplicates.parquet"
SUMMARY_FILE = "ingest_summary.json"


@dataclass(frozen=True)
class IngestConfig:
    """The `ingest` section of params.yaml."""

    batch_rows: int = 5000
    max_text_chars: int = 20_000
    redaction: str = "fast"
    quarantine_raw_chars: int = 2000

    def __post_init__(self) -> None:
        if self.batch_rows < 1:
            raise ValueError("ingest.batch_rows must be at least 1")
        if self.max_text_chars < 1:
            raise ValueError("ingest.max_text_chars must be at least 1")
        if self.redaction not in ("fast", "ner"):
            raise ValueError(f"ingest.redaction must be 'fast' or 'ner', not {self.redaction!r}")
        if self.quarantine_raw_chars < 0:
            raise ValueError("ingest.quarantine_raw_chars must not be negative")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "IngestConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def max_line_bytes(self) -> int:
        # A line holds the text (up to 4 UTF-8 bytes a character, more with JSON escapes) plus metadata;
        # beyond this it cannot be a valid row, so it is skipped without being held in memory.
        return self.max_text_chars * 6 + 65_536


@dataclass
class IngestStats:
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    duplicates_dropped: int = 0
    quarantine_reasons: Counter = field(default_factory=Counter)
    duplicate_kinds: Counter = field(default_factory=Counter)
    redactions: Counter = field(default_factory=Counter)
    product_mentions: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    inputs: list[str] = field(default_factory=list)

    @property
    def reconciled(self) -> bool:
        return self.rows_read == self.rows_written + self.rows_quarantined + self.duplicates_dropped

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_quarantined": self.rows_quarantined,
            "duplicates_dropped": self.duplicates_dropped,
            "quarantine_reasons": dict(sorted(self.quarantine_reasons.items())),
            "duplicate_kinds": dict(sorted(self.duplicate_kinds.items())),
            "redactions": dict(sorted(self.redactions.items())),
            "product_mentions": dict(self.product_mentions.most_common()),
            "reconciled": self.reconciled,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_read / self.seconds, 1) if self.seconds > 0 else None,
            "inputs": self.inputs,
        }


def text_fingerprint(author_id: str | None, text: str) -> int:
    """Stable 64-bit key for "same normalized text by the same author" (stable across processes)."""
    normalized = " ".join(text.lower().split())
    digest = hashlib.blake2b(f"{author_id}\x1f{normalized}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class PostPipeline:
    """Row-level ingest logic: contract, de-duplication, redaction, products. Stateful (seen ids and texts)."""

    def __init__(self, config: IngestConfig, mapping: ColumnMapping = IDENTITY,
                 products: ProductDictionary | None = None, redactor: Redactor | None = None) -> None:
        self.config = config
        self.mapping = mapping
        self.limits = ContractLimits(max_text_chars=config.max_text_chars)
        self.matcher = ProductMatcher(products) if products is not None else None
        self.redactor = redactor or Redactor(config.redaction)
        self.stats = IngestStats()
        self._seen_ids: set[str] = set()
        self._seen_texts: dict[int, str] = {}  # fingerprint -> post_id kept
        self.last_duplicate: dict[str, Any] | None = None
        """Set when `process` drops a duplicate: which post it duplicates, so ingest can record it."""

    def _quarantine(self, raw: RawRecord, reason: str, detail: str | None, post_id: str | None,
                    raw_text: str | None) -> dict[str, Any]:
        self.stats.rows_quarantined += 1
        self.stats.quarantine_reasons[reason] += 1
        limit = self.config.quarantine_raw_chars
        kept = None
        if raw_text is not None and limit > 0:
            kept, _ = self.redactor.redact(raw_text[: limit * 2])  # redact before truncating: no cut-off PII
            kept = kept[:limit]
        if post_id is not None:
            post_id, _ = self.redactor.redact(post_id)
        return {"reason": reason, "detail": detail, "source_file": raw.source, "line": raw.line,
                "post_id": post_id, "raw": kept}

    def process(self, raw: RawRecord) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Return (clean row, None), (None, quarantine row) or (None, None) for a dropped duplicate."""
        self.stats.rows_read += 1
        if raw.record is None:
            return None, self._quarantine(raw, raw.reason or "unreadable", raw.detail, None, raw.raw)
        mapped = self.mapping.apply(raw.record)
        try:
            row = coerce_post(mapped, self.limits)
        except ContractError as exc:
            raw_text = raw.raw if raw.raw is not None else _dump(raw.record)
            post_id = mapped.get("post_id")
            return None, self._quarantine(raw, exc.reason, exc.detail, post_id if isinstance(post_id, str) else None, raw_text)
        self.last_duplicate = None
        if row["post_id"] in self._seen_ids:
            self.stats.duplicates_dropped += 1
            self.stats.duplicate_kinds["same_post_id"] += 1
            self.last_duplicate = {"post_id": row["post_id"], "duplicate_of": row["post_id"], "kind": "same_post_id",
                                   "source_file": raw.source, "line": raw.line}
            return None, None
        fingerprint = text_fingerprint(row["author_id"], row["text"])
        if row["author_id"] is not None and fingerprint in self._seen_texts:
            self.stats.duplicates_dropped += 1
            self.stats.duplicate_kinds["same_author_same_text"] += 1
            self._seen_ids.add(row["post_id"])
            self.last_duplicate = {"post_id": row["post_id"], "duplicate_of": self._seen_texts[fingerprint],
                                   "kind": "same_author_same_text", "source_file": raw.source, "line": raw.line}
            return None, None
        self._seen_ids.add(row["post_id"])
        self._seen_texts[fingerprint] = row["post_id"]
        row["text"], counts = self.redactor.redact(row["text"])
        self.stats.redactions.update(counts)
        products = self.matcher.find(row["text"]) if self.matcher is not None else []
        self.stats.product_mentions.update(products)
        row["products"] = products
        row["source_file"] = raw.source
        self.stats.rows_written += 1
        return row, None


def _dump(record: dict[str, Any]) -> str:
    try:
        return json.dumps(record, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(record)


def iter_raw_records(inputs: Sequence[Path], config: IngestConfig) -> Iterator[RawRecord]:
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


def ingest(inputs: Sequence[Path], out_dir: Path, config: IngestConfig = IngestConfig(),
           mapping: ColumnMapping = IDENTITY, products: ProductDictionary | None = None,
           progress: bool = True) -> IngestStats:
    """Ingest dumps into `out_dir`; raises `InputError` before writing anything if an input is unusable."""
    inputs = [Path(p) for p in inputs]
    for path in inputs:
        check_input(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    pipeline = PostPipeline(config, mapping, products)
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
        "ingest: %d rows read = %d written + %d quarantined + %d duplicates dropped (%s) in %.1fs",
        stats.rows_read, stats.rows_written, stats.rows_quarantined, stats.duplicates_dropped,
        "reconciled" if stats.reconciled else "NOT RECONCILED", stats.seconds,
    )
    return stats
