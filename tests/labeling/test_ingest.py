"""Ingest on messy input: every row is written, quarantined with a reason, or counted as a duplicate."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.settings import IngestSettings
from labeling.ingest.run import ingest
from labeling.ingest.mapping import load_mapping
from labeling.ingest.products import load_products
from labeling.ingest.readers import InputError


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def post(post_id: str, text: str, **extra: object) -> bytes:
    return json.dumps({"post_id": post_id, "text": text, **extra}).encode()


@pytest.fixture()
def messy_jsonl(tmp_path: Path) -> Path:
    lines = [
        post("1", "Glucavex works well for my T2D pts", author_id="a1"),
        b'{"post_id": "2", "text": "unterminated',                      # invalid JSON
        b'{"post_id": "3", "text": "bad \xff\xfe bytes"}',               # invalid UTF-8
        post("4", "   "),                                                # empty text
        post("5", "first copy", author_id="a2"),
        post("5", "same id again", author_id="a3"),                      # duplicate post_id
        post("6", "First  COPY", author_id="a2"),                        # same normalized text, same author
        post("7", "x" * (5 * 1024 * 1024)),                              # a 5 MB post
        b"[1, 2, 3]",                                                    # not an object
        post("8", "ok", likes="lots"),                                   # wrong type
        b'{"text": "no id"}',                                            # missing post_id
        b'{"post_id": "9", "text": NaN}',                                # non-standard constant
        b'{"post_id": "10", "post_id": "11", "text": "dupe keys"}',     # duplicate keys
        b"",                                                             # blank line: not a row
        post("12", "Renaflo PA denied again, call 555-867-5309", author_id="a4"),
    ]
    return write_lines(tmp_path / "messy.jsonl", lines)


def read(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_messy_jsonl_reconciles_with_reasons(messy_jsonl: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stats = ingest([messy_jsonl], out, IngestSettings(batch_rows=3), products=load_products(), progress=False)
    assert stats.rows_read == 14
    assert stats.reconciled
    posts, quarantine = read(out / "posts.parquet"), read(out / "quarantine.parquet")
    assert len(posts) == stats.rows_written == 3
    assert len(quarantine) == stats.rows_quarantined == 9
    assert stats.duplicates_dropped == 2
    assert dict(stats.duplicate_kinds) == {"same_post_id": 1, "same_author_same_text": 1}
    dropped = {(d["post_id"], d["duplicate_of"], d["kind"], d["line"]) for d in read(out / "duplicates.parquet")}
    assert dropped == {("5", "5", "same_post_id", 6), ("6", "5", "same_author_same_text", 7)}
    assert dict(stats.quarantine_reasons) == {
        "invalid_json": 3, "invalid_utf8": 1, "empty_text": 1, "line_too_long": 1,
        "not_an_object": 1, "wrong_type": 1, "missing_post_id": 1,
    }
    by_line = {row["line"]: row for row in quarantine}
    assert by_line[2]["reason"] == "invalid_json" and by_line[3]["reason"] == "invalid_utf8"
    assert by_line[8]["reason"] == "line_too_long" and len(by_line[8]["raw"]) <= 2000
    assert by_line[10]["reason"] == "wrong_type" and by_line[10]["post_id"] == "8"
    assert all(row["source_file"] == str(messy_jsonl) for row in quarantine)
    assert [p["post_id"] for p in posts] == ["1", "5", "12"]
    glucavex = next(p for p in posts if p["post_id"] == "1")
    assert glucavex["products"] == ["Glucavex"]
    renaflo = next(p for p in posts if p["post_id"] == "12")
    assert "555-867-5309" not in renaflo["text"] and renaflo["products"] == ["Renaflo"]
    summary = json.loads((out / "ingest_summary.json").read_text())
    assert summary["rows_read"] == 14 and summary["reconciled"] is True


def test_csv_with_extra_missing_columns_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "vendor.csv"
    path.write_bytes(
        b"Mention ID,Content,Source,Country,Sentiment (vendor)\n"
        b"m1,Jakvira helped my RA patient,sermo,US,positive\n"
        b"m2,\"multi-line\nJakvira, post\",reddit,US,neutral\n"
        b"m3,too,many,fields,here,really\n"
        b"m4,short row\n"
        b"m5,\xff bad bytes,x,US,neutral\n"
        b",missing id,x,US,neutral\n"
        b"m6,,x,US,neutral\n"
    )
    out = tmp_path / "out"
    stats = ingest([path], out, mapping=load_mapping("listening_csv"), products=load_products(), progress=False)
    assert stats.reconciled and stats.rows_read == 7
    posts = read(out / "posts.parquet")
    assert [p["post_id"] for p in posts] == ["m1", "m2"]
    assert posts[1]["text"] == "multi-line\nJakvira, post" and posts[1]["products"] == ["Jakvira"]
    reasons = {row["line"]: row["reason"] for row in read(out / "quarantine.parquet")}
    assert reasons == {5: "csv_field_count", 6: "csv_field_count", 7: "invalid_utf8", 8: "missing_post_id", 9: "missing_text"}


def test_parquet_and_gzip_inputs(tmp_path: Path) -> None:
    table = pa.table({"post_id": ["p1", "p2"], "text": ["Oncotrexa response", ""], "likes": [1, 2]})
    pq.write_table(table, tmp_path / "in.parquet")
    with gzip.open(tmp_path / "in.jsonl.gz", "wb") as handle:
        handle.write(post("g1", "Renaflo question") + b"\n")
    stats = ingest([tmp_path / "in.parquet", tmp_path / "in.jsonl.gz"], tmp_path / "out", progress=False)
    assert (stats.rows_read, stats.rows_written, stats.rows_quarantined) == (3, 2, 1)


def test_truncated_gzip_is_quarantined_not_fatal(tmp_path: Path) -> None:
    blob = gzip.compress(b"\n".join(post(str(i), f"post {i} " * 20) for i in range(2000)))
    (tmp_path / "cut.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    stats = ingest([tmp_path / "cut.jsonl.gz"], tmp_path / "out", progress=False)
    assert stats.reconciled and stats.quarantine_reasons["file_truncated"] == 1 and stats.rows_written > 0


def test_unusable_input_fails_before_writing(tmp_path: Path) -> None:
    good = write_lines(tmp_path / "good.jsonl", [post("1", "x")])
    (tmp_path / "dump.xlsx").write_bytes(b"PK")
    with pytest.raises(InputError, match="unknown input format"):
        ingest([good, tmp_path / "dump.xlsx"], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_cli_json_summary_is_last_line(messy_jsonl: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "occ", "ingest", str(messy_jsonl), "--out", str(tmp_path / "o"), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("rows_read", "rows_written", "rows_quarantined", "quarantine_reasons", "duplicates_dropped", "redactions", "seconds"):
        assert key in summary
    assert summary["rows_read"] == summary["rows_written"] + summary["rows_quarantined"] + summary["duplicates_dropped"]
    assert summary["redactions"].get("phone") == 1
    assert "555-867-5309" not in result.stdout + result.stderr


def test_cli_unknown_format_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "dump.xlsx"
    bad.write_bytes(b"x")
    result = subprocess.run([sys.executable, "-m", "occ", "ingest", str(bad), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and str(bad) in result.stderr and "Traceback" not in result.stderr


def test_missing_file_is_one_line_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "occ", "ingest", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "none.jsonl" in result.stderr and "Traceback" not in result.stderr


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.fixed_dictionaries({"post_id": st.one_of(st.text(max_size=8), st.integers(), st.none()),
                           "text": st.one_of(st.text(max_size=50), st.none(), st.integers()),
                           "likes": st.one_of(st.integers(), st.text(max_size=5), st.none(), st.floats())},
                          ).map(lambda d: json.dumps(d).encode()),
), max_size=30))
def test_arbitrary_bytes_never_crash_and_always_reconcile(tmp_path_factory: pytest.TempPathFactory, chunks: list[bytes]) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    data = b"\n".join(chunks)
    (folder / "in.jsonl").write_bytes(data)
    (folder / "in.csv").write_bytes(b"post_id,text,likes\n" + data)
    stats = ingest([folder / "in.jsonl", folder / "in.csv"], folder / "out", IngestSettings(batch_rows=7, max_text_chars=100), progress=False)
    assert stats.reconciled
    assert pq.read_metadata(folder / "out" / "posts.parquet").num_rows == stats.rows_written
    assert pq.read_metadata(folder / "out" / "quarantine.parquet").num_rows == stats.rows_quarantined
