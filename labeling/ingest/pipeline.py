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
from functools import lru_cache
from typing import Any

from common.settings import AuthorSettings, IngestSettings
from labeling.authors.signals import (
    CACHE_SIZE,
    cacheable,
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

    def state(self) -> dict[str, Any]:
        """Every count, with counters in their insertion order, so that `from_state` continues exactly (a resumed
        scoring run saves this with each finished chunk)."""
        return {"rows_read": self.rows_read, "rows_written": self.rows_written,
                "rows_quarantined": self.rows_quarantined, "duplicates_dropped": self.duplicates_dropped,
                "suppressed": self.suppressed, "inputs": self.inputs,
                **{name: list(getattr(self, name).items()) for name in _COUNTERS}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "IngestStats":
        counters = {name: Counter(dict(state[name])) for name in _COUNTERS}
        return cls(rows_read=state["rows_read"], rows_written=state["rows_written"],
                   rows_quarantined=state["rows_quarantined"], duplicates_dropped=state["duplicates_dropped"],
                   suppressed=state["suppressed"], inputs=list(state["inputs"]), **counters)

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


_COUNTERS = ("quarantine_reasons", "duplicate_kinds", "redactions", "product_mentions")


def text_fingerprint(author_id: str | None, text: str) -> int:
    """Stable 64-bit key for "same normalized text by the same author" (stable across processes)."""
    normalized = " ".join(text.lower().split())
    digest = hashlib.blake2b(f"{author_id}\x1f{normalized}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass
class Verdict:
    """What `PostPipeline.judge` decided about one row: a clean row (with the fingerprint de-duplication needs
    and the redactions made in it), a quarantine row, or a row of a suppressed author."""

    row: dict[str, Any] | None = None
    bad: dict[str, Any] | None = None
    suppressed: bool = False
    fingerprint: int | None = None
    redactions: Counter | None = None


class PostPipeline:
    """Row-level ingest logic: contract, redaction, profile signals, products. Stateless per row."""

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
        # An author's profile repeats on every one of their posts (about 24 a dump): what is stored of it is
        # worked out once per distinct profile, for at most `CACHE_SIZE` short profiles (`cacheable`), so memory
        # stays flat whatever the authors; the cached value is never mutated (`_profile_signals` copies).
        self._profile = lru_cache(maxsize=CACHE_SIZE)(self._profile_uncached)

    def _quarantine(self, raw: RawRecord, reason: str, detail: str | None, post_id: str | None,
                    raw_text: str | None) -> dict[str, Any]:
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

    def judge(self, raw: RawRecord) -> Verdict:
        """Everything about one row that does not depend on the rows before it: the suppression list, the
        contract, redaction, profile signals and products. Stateless, so it can run in worker processes or on
        Spark executors; de-duplication (first occurrence wins) is decided afterwards in input order
        (`labeling.ingest.dedup`), and `stats` is left alone (only admitted rows count)."""
        if raw.record is None:
            raw_text = raw.raw
            if self.suppression is not None and self.suppression.names_in(raw_text):
                raw_text = None  # unparseable, so whose it is is unknown: it may be a suppressed author's own row
            return Verdict(bad=self._quarantine(raw, raw.reason or "unreadable", raw.detail, None, raw_text))
        mapped = self.mapping.apply(raw.record)
        if self.suppression is not None and self.suppression.matches_record(mapped, raw.record):
            # Before the contract check and de-duplication: nothing of this row is quarantined, recorded or kept.
            return Verdict(suppressed=True)
        try:
            row = coerce_post(mapped, self.limits)
        except ContractError as exc:
            raw_text = raw.raw if raw.raw is not None else _dump(raw.record)
            display = mapped.get("author_display_name")
            if isinstance(display, str) and display.strip() and raw_text:  # personal data: not kept, even here
                raw_text = raw_text.replace(display, "[NAME]")
            post_id = mapped.get("post_id")
            return Verdict(bad=self._quarantine(raw, exc.reason, exc.detail,
                                                post_id if isinstance(post_id, str) else None, raw_text))
        fingerprint = text_fingerprint(row["author_id"], row["text"])  # of the text as posted, before redaction
        row["text"], counts = self.redactor.redact(row["text"])
        counts = Counter(counts)
        self._profile_signals(row, counts)
        row["products"] = self.matcher.find(row["text"]) if self.matcher is not None else []
        row["source_file"] = raw.source
        if self.suppression is not None:
            self.suppression.scrub_mentions(row)
        return Verdict(row=row, fingerprint=fingerprint, redactions=counts)

    def _profile_signals(self, row: dict[str, Any], redactions: Counter) -> None:
        """Replace the raw author profile by what may be stored: the display name (personal data) gives way to
        its credential tokens and a keyed hash (labeling/authors/signals.py); the bio is redacted like the text."""
        display = row.pop("author_display_name", None)
        bio = row.get("author_bio")
        url = row.get("author_url")
        profile = self._profile if cacheable(display, bio, url) else self._profile_uncached
        credentials, key, links, redacted_bio, counts = profile(display, bio, url)
        row["author_credentials"] = list(credentials)
        row["author_name_key"] = key
        row["author_links"] = list(links)
        if bio:
            row["author_bio"] = redacted_bio
            redactions.update(counts)

    def _profile_uncached(self, display: str | None, bio: str | None, url: str | None) -> _StoredProfile:
        credentials = credentials_in(display, bio) if (display or bio) else []
        key = name_key(display, self.name_secret) if display else None
        links = linked_profiles(bio, url) if (bio or url) else []
        redacted, counts = self.redactor.redact(bio[:BIO_CHARS]) if bio else (bio, {})
        return tuple(credentials), key, tuple(links), redacted, counts


_StoredProfile = tuple[tuple[str, ...], str | None, tuple[str, ...], str | None, dict[str, int]]
"""What is stored of one author profile: credential tokens, name key, linked profiles, redacted bio and the
bio's redaction counts."""

BIO_CHARS = 1000
"""A profile bio is kept up to this many characters (bios are short; a longer one is not a reason to quarantine)."""


def _dump(record: dict[str, Any]) -> str:
    try:
        return json.dumps(record, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(record)
