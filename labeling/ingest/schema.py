"""The post data contract (docs/DESIGN.md, "Data contract"): the one pyarrow schema every stage reads and writes.

Coercion is strict on purpose: a value that cannot become its declared type makes the row a quarantine
candidate with a named reason, instead of being silently turned into null or binary by a reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

REQUIRED_FIELDS: tuple[str, ...] = ("post_id", "text")

POST_SCHEMA = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("platform", pa.string()),
        pa.field("author_id", pa.string()),
        pa.field("author_specialty", pa.string()),
        pa.field("author_followers", pa.int64()),
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
        pa.field("hashtags", pa.list_(pa.string())),
        pa.field("in_reply_to", pa.string()),
        pa.field("mentions", pa.list_(pa.string())),
        pa.field("likes", pa.int64()),
        pa.field("shares", pa.int64()),
        pa.field("replies", pa.int64()),
        pa.field("author_handle", pa.string()),
        pa.field("author_display_name", pa.string()),
        pa.field("author_bio", pa.string()),
        pa.field("author_url", pa.string()),
    ]
)
"""Input post columns. Only `post_id` and `text` are required; the rest degrade gracefully when missing.

The author profile (`author_handle`, `author_display_name`, `author_bio`, `author_url`) is optional: where an
export carries it, it tells who is speaking (labeling/authors). The display name is personal data and is never
stored: the row pipeline keeps only what is derived from it (credential tokens, a keyed hash for linking).
"""

PROFILE_SIGNAL_FIELDS = [
    pa.field("author_credentials", pa.list_(pa.string())),
    pa.field("author_name_key", pa.string()),
    pa.field("author_links", pa.list_(pa.string())),
]
"""Derived at ingest from the raw profile (labeling/authors/signals.py): credential tokens found in the display
name or bio, a keyed hash of the normalized display name, and the other profiles ("platform:handle") the bio
or URL points to."""

STORED_POST_FIELDS = [f for f in POST_SCHEMA if f.name != "author_display_name"]

INGESTED_SCHEMA = pa.schema(
    STORED_POST_FIELDS + PROFILE_SIGNAL_FIELDS
    + [pa.field("products", pa.list_(pa.string())), pa.field("source_file", pa.string())]
)
"""What `occ ingest` writes: the contract without the display name (its signals instead; the bio redacted),
plus product mentions and the file each row came from."""

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("post_id", pa.string()),
        pa.field("raw", pa.string()),
    ]
)
"""Every rejected row: why, where it came from, and the raw row (redacted, truncated)."""

DUPLICATES_SCHEMA = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("duplicate_of", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
    ]
)
"""Every dropped duplicate and the kept post it repeats, so labels on a dropped copy are not lost."""

STRING_FIELDS = ("post_id", "text", "platform", "author_id", "author_specialty", "in_reply_to", "author_handle",
                 "author_display_name", "author_bio", "author_url")
INT_FIELDS = ("author_followers", "likes", "shares", "replies")
LIST_FIELDS = ("hashtags", "mentions")


class ContractError(ValueError):
    """A row breaks the data contract; `reason` is a stable machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ContractLimits:
    """Limits from params.yaml (`ingest` section) that decide when a row is rejected."""

    max_text_chars: int = 20_000


def _as_string(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ContractError("wrong_type", f"{name} must be a string, got a boolean")
    if isinstance(value, int):
        return str(value)  # numeric ids are common in exports (X/Twitter ids, CSV) and are safe to stringify
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        raise ContractError("wrong_type", f"{name} must be a string, got a float")
    raise ContractError("wrong_type", f"{name} must be a string, got {type(value).__name__}")


def _as_int(name: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ContractError("wrong_type", f"{name} must be an integer, got a boolean")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        result = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        result = int(value.strip())
    else:
        raise ContractError("wrong_type", f"{name} must be an integer, got {type(value).__name__}")
    if not -(2**63) <= result < 2**63:
        raise ContractError("wrong_type", f"{name} is out of the 64-bit integer range")
    if result < 0:
        raise ContractError("wrong_type", f"{name} must not be negative")
    return result


def _as_list(name: str, value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        # Flat exports join lists in one cell: "#a #b", "a|b", "a,b" or "a;b".
        parts = value.replace("|", " ").replace(",", " ").replace(";", " ").split()
        return [p.lstrip("#@") for p in parts if p.lstrip("#@")]
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for item in value:
            if isinstance(item, dict):  # X API entities: {"tag": ...} or {"username": ...}
                item = item.get("tag") or item.get("username") or item.get("id")
            text = _as_string(name, item)
            if text:
                out.append(text.lstrip("#@"))
        return out
    raise ContractError("wrong_type", f"{name} must be a list of strings, got {type(value).__name__}")


def _as_timestamp(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ContractError("bad_timestamp", "created_at is not an ISO-8601 timestamp") from exc
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds are common in exports
        try:
            stamp = datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise ContractError("bad_timestamp", "created_at epoch is out of range") from exc
    else:
        raise ContractError("bad_timestamp", f"created_at has type {type(value).__name__}")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    try:
        return stamp.astimezone(timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise ContractError("bad_timestamp", "created_at is out of range") from exc


def coerce_post(record: dict[str, Any], limits: ContractLimits = ContractLimits()) -> dict[str, Any]:
    """Turn one mapped record into a row of `POST_SCHEMA`, or raise `ContractError` with a reason.

    Unknown keys are ignored (extra export columns are normal); missing optional keys become null.
    """
    row: dict[str, Any] = {}
    for name in STRING_FIELDS:
        row[name] = _as_string(name, record.get(name))
    for name in INT_FIELDS:
        row[name] = _as_int(name, record.get(name))
    for name in LIST_FIELDS:
        row[name] = _as_list(name, record.get(name))
    row["created_at"] = _as_timestamp(record.get("created_at"))

    post_id = (row["post_id"] or "").strip()
    if not post_id:
        raise ContractError("missing_post_id", "post_id is missing or empty")
    row["post_id"] = post_id
    text = row["text"]
    if text is None:
        raise ContractError("missing_text", "text is missing")
    if not text.strip():
        raise ContractError("empty_text", "text is empty or whitespace only")
    if len(text) > limits.max_text_chars:
        raise ContractError(
            "text_too_long", f"text has {len(text)} characters; the limit is {limits.max_text_chars} (ingest.max_text_chars)"
        )
    for name in STRING_FIELDS:
        value = row[name]
        if value is None:
            continue
        try:
            value.encode("utf-8")  # lone surrogates (from JSON escapes) would crash the Parquet writer
        except UnicodeEncodeError as exc:
            raise ContractError("invalid_unicode", f"{name} holds a lone surrogate") from exc
        if "\x00" in value:
            raise ContractError("invalid_unicode", f"{name} holds a NUL character")
    return row


def empty_table(schema: pa.Schema) -> pa.Table:
    """A zero-row table, so that downstream readers always find the file and its columns."""
    return schema.empty_table()
