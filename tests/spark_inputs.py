"""Messy inputs that go through every read path of the Spark engines, and a way to run `occ` on them.

A JSONL file split into several Spark splits (line numbers across splits, a CRLF line, a blank line, bad lines,
duplicates of both kinds, a broken last line without a newline), a Parquet file with several row groups
(duplicates of the JSONL's ids and texts), a CSV file read by the shared Python reader (multi-line cell,
profile fields, a bad field count) and a gzipped JSONL file. Shared by the ingest and scoring parity tests and
the standalone-cluster test.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from helpers import write_dump

OUTPUTS = ("posts.parquet", "quarantine.parquet", "duplicates.parquet")
RUN_FIELDS = {"seconds", "rows_per_second", "engine", "spark_master"}
"""Summary fields that describe the run rather than its result."""


def same_files(ours: Path, theirs: Path) -> None:
    """Both engines' outputs: equal tables (schema, rows, order) and equal summaries but for timing."""
    for name in OUTPUTS:
        mine, local = pq.read_table(ours / name), pq.read_table(theirs / name)
        assert mine.schema.equals(local.schema), name
        assert mine.to_pylist() == local.to_pylist(), name
    mine, local = (json.loads((out / "ingest_summary.json").read_text()) for out in (ours, theirs))
    assert {k: v for k, v in mine.items() if k not in RUN_FIELDS} == {k: v for k, v in local.items() if k not in RUN_FIELDS}
    assert list(mine["product_mentions"]) == list(local["product_mentions"])  # the same ranking, ties included


SMALL_SPLITS = {"PYSPARK_SUBMIT_ARGS": "--conf spark.sql.files.maxPartitionBytes=12000 pyspark-shell"}
"""Small Spark splits, so that the JSONL file is read as several partitions (line numbers across splits)."""


def run_occ(*args: str, cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`occ ARGS` in a fresh interpreter (its own JVM), as a user runs it."""
    return subprocess.run([sys.executable, "-m", "occ", *args], env={**os.environ, **(env or {})}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def make_inputs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    dump = write_dump(folder / "dump.jsonl", 300, seed=3)
    with open(dump, "ab") as handle:
        handle.write(b'{"post_id": "crlf", "text": "weekly dosing schedule, ok", "author_id": "z1"}\r\n')
        handle.write(b"\n")
        handle.write(b'{"post_id": "z-copy", "text": "Weekly  dosing SCHEDULE, ok", "author_id": "z1"}\n')
        handle.write(b'{"post_id": "tail", "text": "no newline and broken')  # the file's last line
    posts = [json.loads(line) for line in dump.read_text().splitlines()[:40] if line.startswith('{"post_id": "s')]
    rows = []
    for i in range(120):
        rows.append({"post_id": f"q{i}", "text": f"copay is too high, q{i}", "author_id": f"b{i % 7}", "likes": i})
    rows += [{**posts[1], "text": "same id as in the JSONL"},  # duplicate post_id across files
             {**posts[2], "post_id": "q-copy"},  # same author, same text, new id: a duplicate
             {**posts[3], "post_id": "q-anon", "author_id": None},  # same text without author: kept
             {"post_id": "q-empty", "text": "   ", "author_id": "b1", "likes": 1}]  # quarantined
    table = pa.Table.from_pylist([{"post_id": r["post_id"], "text": r["text"], "author_id": r.get("author_id"),
                                   "likes": r.get("likes")} for r in rows])
    more = folder / "more.parquet"
    pq.write_table(table, more, row_group_size=40)
    extra = folder / "extra.csv"
    with open(extra, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["post_id", "text", "author_id", "author_display_name", "author_bio"])
        writer.writerow(["c1", "severe nausea reported\nurgent help needed today", "d1", "Dr. Jane Roe, MD, FACC",
                         "Cardiologist. Also on X: @janeroe_md. jane.roe@clinic.example"])
        writer.writerow(["c2", "prior auth again", "d2", "", "", "one field too many"])
        writer.writerow(["q5", "already seen in the Parquet file", "d3", "", ""])
        writer.writerow(["c3", "rash after two weeks, call me at 555-123-4567", "d4", "Sam Lee RN", ""])
    packed = folder / "packed.jsonl.gz"
    with gzip.open(packed, "wb") as handle:
        handle.write(b'{"post_id": "g1", "text": "Glucavex and Renaflo together?", "author_id": "g"}\n')
        handle.write(b'{"post_id": "g2", "text": "copay is too high, q3", "author_id": "b3"}\n')  # a text duplicate
        handle.write(b"not json at all\n")
    return [dump, more, extra, packed]
