"""The row pipeline: contract, de-duplication, redaction and product mentions for one input row at a time.

`PostPipeline` is shared by `occ ingest` (`labeling.ingest.run`) and batch scoring (which must treat rows
exactly as ingest does). Every row read ends up written, quarantined with a reason, or counted as a
duplicate, or counted as suppressed (an opt-out list, `labeling.ingest.suppression`):
`rows_read == rows_written + rows_quarantined + duplicates_dropped + suppressed`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from common.settings import AuthorSettings, IngestSettings
from labeling.authors.signals import (
    credentials_in,
    linked_profiles,
    name_key,
    name_key_secret,
)
from labeling.ingest.mapping import IDENTITY, ColumnMapping
from labeling.ingest.products import ProductDictionary, ProductMatcher
from labeling.ingest.readers import RawRecord
from labeling.ingest.redaction import Redactor
from labeling.ingest.schema import ContractError, ContractLimits, coerce_post
from labeling.ingest.suppression import SuppressionList

logger = logging.getLogger(__name__)



@dataclass
class IngestStats:
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    duplicates_dropped: int = 0
    suppressed: int = 0
    """Rows of authors on the suppression (opt-out) list: dropped before anything about them is kept."""
    quarantine_reasons: Counter = field(default_factory=Counter)
    duplicate_kinds: Counter = field(default_factory=Counter)
    redactions: Counter = field(default_factory=Counter)
    product_mentions: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    inputs: list[str] = field(default_factory=list)

    @property
    def reconciled(self) -> bool:
        return self.rows_read == (self.rows_written + self.rows_quarantined + self.duplicates_dropped
                                  + self.suppressed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_quarantined": self.rows_quarantined,
            "duplicates_dropped": self.duplicates_dropped,
            "suppressed": self.suppressed,
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

    def __init__(self, config: IngestSettings, mapping: ColumnMapping = IDENTITY,
                 products: ProductDictionary | None = None, redactor: Redactor | None = None,
                 suppression: SuppressionList | None = None, authors: AuthorSettings = AuthorSettings(),
                 name_secret: str | None = None) -> None:
        self.config = config
        self.name_secret = name_secret or name_key_secret(authors)
        self.suppression = suppression if suppression else None  # an empty list costs one `is None` per row
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
        if self.suppression is not None:  # another author's row: keep no suppressed name in it
            raw_text = self.suppression.scrub_raw(raw_text) if raw_text is not None else None
            detail = self.suppression.scrub_raw(detail) if detail else detail
        if raw_text is not None and limit > 0:
            kept, _ = self.redactor.redact(raw_text[: limit * 2])  # redact before truncating: no cut-off PII
            kept = kept[:limit]
        if post_id is not None:
            post_id, _ = self.redactor.redact(post_id)
        return {"reason": reason, "detail": detail, "source_file": raw.source, "line": raw.line,
                "post_id": post_id, "raw": kept}

    def process(self, raw: RawRecord) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Return (clean row, None), (None, quarantine row) or (None, None) for a dropped duplicate or a row of a
        suppressed author (`last_duplicate` tells them apart)."""
        self.stats.rows_read += 1
        if raw.record is None:
            raw_text = raw.raw
            if self.suppression is not None and self.suppression.names_in(raw_text):
                raw_text = None  # unparseable, so whose it is is unknown: it may be a suppressed author's own row
            return None, self._quarantine(raw, raw.reason or "unreadable", raw.detail, None, raw_text)
        mapped = self.mapping.apply(raw.record)
        if self.suppression is not None and self.suppression.matches_record(mapped, raw.record):
            # Before the contract check and de-duplication: nothing of this row is quarantined, recorded or kept.
            self.stats.suppressed += 1
            self.last_duplicate = None
            return None, None
        try:
            row = coerce_post(mapped, self.limits)
        except ContractError as exc:
            raw_text = raw.raw if raw.raw is not None else _dump(raw.record)
            display = mapped.get("author_display_name")
            if isinstance(display, str) and display.strip() and raw_text:  # personal data: not kept, even here
                raw_text = raw_text.replace(display, "[NAME]")
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
        self._profile_signals(row)
        products = self.matcher.find(row["text"]) if self.matcher is not None else []
        self.stats.product_mentions.update(products)
        row["products"] = products
        row["source_file"] = raw.source
        if self.suppression is not None:
            self.suppression.scrub_mentions(row)
        self.stats.rows_written += 1
        return row, None


    def _profile_signals(self, row: dict[str, Any]) -> None:
        """Replace the raw author profile by what may be stored: the display name (personal data) gives way to
        its credential tokens and a keyed hash (labeling/authors/signals.py); the bio is redacted like the text."""
        display = row.pop("author_display_name", None)
        bio = row.get("author_bio")
        row["author_credentials"] = credentials_in(display, bio) if (display or bio) else []
        row["author_name_key"] = name_key(display, self.name_secret) if display else None
        row["author_links"] = linked_profiles(bio, row.get("author_url")) if (bio or row.get("author_url")) else []
        if bio:
            row["author_bio"], counts = self.redactor.redact(bio[:BIO_CHARS])
            self.stats.redactions.update(counts)


BIO_CHARS = 1000
"""A profile bio is kept up to this many characters (bios are short; a longer one is not a reason to quarantine)."""


def _dump(record: dict[str, Any]) -> str:
    try:
        return json.dumps(record, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(record)
