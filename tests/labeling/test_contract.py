from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from labeling.ingest.mapping import MappingError, builtin_mappings, load_mapping
from labeling.ingest.readers import InputError, check_input, detect_format
from labeling.ingest.schema import INGESTED_SCHEMA, POST_SCHEMA, ContractError, ContractLimits, coerce_post


def test_schema_has_the_contract_fields() -> None:
    assert POST_SCHEMA.names == [
        "post_id", "text", "platform", "author_id", "author_specialty", "author_followers", "created_at",
        "hashtags", "in_reply_to", "mentions", "likes", "shares", "replies",
        "author_handle", "author_display_name", "author_bio", "author_url",
    ]
    assert "author_display_name" not in INGESTED_SCHEMA.names  # personal data: only its signals are stored
    assert INGESTED_SCHEMA.field("author_credentials").type == pa.list_(pa.string())
    assert INGESTED_SCHEMA.field("products").type == pa.list_(pa.string())


def test_minimal_row_is_valid_and_table_builds() -> None:
    row = coerce_post({"post_id": 17, "text": "hello"})
    assert row["post_id"] == "17" and row["platform"] is None
    pa.Table.from_pylist([row], schema=POST_SCHEMA)


def test_full_row_coerces_types() -> None:
    row = coerce_post({
        "post_id": "p1", "text": "t", "author_followers": "1200", "likes": 3.0,
        "created_at": "2026-03-01T10:00:00Z", "hashtags": "#a #b", "mentions": ["@x", "y"],
    })
    assert row["author_followers"] == 1200 and row["likes"] == 3
    assert row["created_at"] == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    assert row["hashtags"] == ["a", "b"] and row["mentions"] == ["x", "y"]


@pytest.mark.parametrize(
    "record, reason",
    [
        ({"text": "x"}, "missing_post_id"),
        ({"post_id": "  ", "text": "x"}, "missing_post_id"),
        ({"post_id": "1"}, "missing_text"),
        ({"post_id": "1", "text": " \n\t"}, "empty_text"),
        ({"post_id": "1", "text": "x" * 101}, "text_too_long"),
        ({"post_id": "1", "text": ["a"]}, "wrong_type"),
        ({"post_id": "1", "text": "x", "likes": "many"}, "wrong_type"),
        ({"post_id": "1", "text": "x", "likes": -3}, "wrong_type"),
        ({"post_id": "1", "text": "x", "author_followers": True}, "wrong_type"),
        ({"post_id": "1", "text": "x", "hashtags": {"a": 1}}, "wrong_type"),
        ({"post_id": "1", "text": "x", "created_at": "last tuesday"}, "bad_timestamp"),
        ({"post_id": "1", "text": "bad \ud800 surrogate"}, "invalid_unicode"),
        ({"post_id": "1", "text": "nul \x00 char"}, "invalid_unicode"),
        ({"post_id": "1", "text": "x", "likes": 2**70}, "wrong_type"),
    ],
)
def test_bad_rows_raise_with_a_reason(record: dict, reason: str) -> None:
    with pytest.raises(ContractError) as info:
        coerce_post(record, ContractLimits(max_text_chars=100))
    assert info.value.reason == reason


def test_x_api_v2_mapping() -> None:
    mapping = load_mapping("x_api_v2")
    tweet = {
        "id": "1790000000000000001", "text": "Seeing more GI effects with #Glucavex",
        "created_at": "2026-05-04T12:00:00.000Z",
        "author": {"username": "DrEndo", "public_metrics": {"followers_count": 5400}},
        "public_metrics": {"like_count": 12, "retweet_count": 3, "reply_count": 1},
        "entities": {"hashtags": [{"start": 28, "end": 37, "tag": "Glucavex"}], "mentions": [{"username": "cardio_k"}]},
        "referenced_tweets": [{"type": "quoted", "id": "111"}, {"type": "replied_to", "id": "222"}],
    }
    row = coerce_post(mapping.apply(tweet))
    assert row["post_id"] == "1790000000000000001" and row["platform"] == "x"
    assert row["author_id"] == "DrEndo" and row["author_followers"] == 5400
    assert row["hashtags"] == ["Glucavex"] and row["mentions"] == ["cardio_k"]
    assert row["in_reply_to"] == "222" and (row["likes"], row["shares"], row["replies"]) == (12, 3, 1)


def test_listening_csv_mapping_with_extra_and_missing_columns() -> None:
    mapping = load_mapping("listening_csv")
    record = {"Mention ID": "m-1", "Content": "PA denied again for Renaflo", "Source": "doximity",
              "Author Handle": "np_kim", "Followers": "88", "Date": "2026-01-02 08:30:00",
              "Hashtags": "#access|#sglt2", "Sentiment (vendor)": "negative", "Country": "US"}
    row = coerce_post(mapping.apply(record))
    assert row["post_id"] == "m-1" and row["platform"] == "doximity" and row["author_followers"] == 88
    assert row["hashtags"] == ["access", "sglt2"] and row["likes"] is None


def test_builtin_mappings_are_listed_and_valid() -> None:
    assert {"x_api_v2", "listening_csv"} <= set(builtin_mappings())
    for name in builtin_mappings():
        load_mapping(name)


def test_mapping_with_unknown_field_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("columns:\n  body: text\n", encoding="utf-8")
    with pytest.raises(MappingError, match="unknown contract field"):
        load_mapping(path)


@pytest.mark.parametrize("name, fmt", [("a.jsonl", "jsonl"), ("a.JSONL.gz", "jsonl"), ("a.csv.gz", "csv"),
                                        ("a.parquet", "parquet"), ("a.ndjson", "jsonl")])
def test_format_detection(name: str, fmt: str) -> None:
    assert detect_format(Path(name))[0] == fmt


@pytest.mark.parametrize("name", ["a.xlsx", "a", "a.parquet.gz"])
def test_unknown_formats_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="unknown input format"):
        detect_format(Path(name))


def test_unreadable_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        check_input(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="Parquet"):
        check_input(bad)
    gz = tmp_path / "x.jsonl.gz"
    with gzip.open(gz, "wt") as handle:
        handle.write(json.dumps({"post_id": "1", "text": "x"}) + "\n")
    check_input(gz)
