"""`occ score --engine spark` (real Spark, local mode) gives exactly the local engine's output.

Inputs mix every read path of the Spark engine: a JSONL file split into several Spark splits (line numbers
across splits, a CRLF line, a blank line, a broken last line without a newline), a Parquet file with several
row groups (duplicates of the JSONL's ids and texts), and a CSV file read by the shared Python reader.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import write_dump


def occ(registry: dict, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "MLFLOW_TRACKING_URI": registry["uri"], **(env or {})}
    return subprocess.run([sys.executable, "-m", "occ", *args, "--params", str(registry["params"])], env=environment,
                          cwd=registry["home"], capture_output=True, text=True, timeout=600)


def make_inputs(folder: Path) -> list[Path]:
    dump = write_dump(folder / "dump.jsonl", 300, seed=3)
    with open(dump, "ab") as handle:
        handle.write(b'{"post_id": "crlf", "text": "weekly dosing schedule, ok", "author_id": "z1"}\r\n')
        handle.write(b"\n")
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
    return [dump, more, extra]


def scored(out: Path) -> pa.Table:
    return pq.read_table(out / "scores").drop_columns(["scored_at"])


@pytest.mark.slow
def test_spark_engine_matches_local_engine(registry: dict, tmp_path: Path) -> None:
    inputs = [str(p) for p in make_inputs(tmp_path)]
    model = ["--model", f"models:/occ-score/{registry['v1']}", "--json"]
    local_out, spark_out = tmp_path / "local", tmp_path / "spark"
    done = occ(registry, "score", *inputs, "--out", str(local_out), *model)
    assert done.returncode == 0, done.stderr[-3000:]
    # Small splits, so that the JSONL file is read as several Spark partitions (line numbers across splits).
    small_splits = {"PYSPARK_SUBMIT_ARGS": "--conf spark.sql.files.maxPartitionBytes=12000 pyspark-shell"}
    done = occ(registry, "score", *inputs, "--out", str(spark_out), *model, "--engine", "spark",
               "--spark-master", "local[2]", env=small_splits)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["engine"] == "spark"

    local, spark = (json.loads((out / "_manifest.json").read_text()) for out in (local_out, spark_out))
    assert spark["engine"] == "spark" and set(spark) == set(local) | {"engine"}
    assert spark["counts"] == local["counts"] and spark["counts"]["reconciled"]
    assert spark["counts"]["duplicates_dropped"] >= 6 and spark["counts"]["rows_quarantined"] >= 6
    assert spark["model"] == local["model"]

    ours, theirs = scored(spark_out), scored(local_out)
    assert ours.column("post_id").to_pylist() == theirs.column("post_id").to_pylist()  # same rows, same order
    assert {"q-anon", "c1", "c3", "crlf"} <= set(ours.column("post_id").to_pylist())
    assert not {"q-copy", "tail"} & set(ours.column("post_id").to_pylist())
    for name in ours.column_names:
        if name.endswith("_scores"):
            for a, b in zip(ours.column(name).to_pylist(), theirs.column(name).to_pylist()):
                assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-6 for k in a)
        else:
            assert ours.column(name).to_pylist() == theirs.column(name).to_pylist(), name
    for part in spark_out.glob("scores/part-*.parquet"):
        assert pq.read_schema(part).equals(pq.read_schema(next(local_out.glob("scores/part-*.parquet"))))
    assert pq.read_table(spark_out / "quarantine.parquet").equals(pq.read_table(local_out / "quarantine.parquet"))
    assert (spark_out / "adverse_events.csv").read_text() == (local_out / "adverse_events.csv").read_text()
    for name in ("authors.parquet", "author_links.parquet"):  # the author pass reads what either engine wrote
        assert pq.read_table(spark_out / name).equals(pq.read_table(local_out / name)), name
    profile = {r["post_id"]: r for r in ours.select(["post_id", "author_credentials", "author_name_key", "author_bio",
                                                     "author_links"]).to_pylist()}
    assert profile["c1"]["author_credentials"] == ["Dr", "FACC", "MD"] and profile["c1"]["author_name_key"]
    assert profile["c1"]["author_links"] == ["x:janeroe_md"] and "jane.roe@" not in profile["c1"]["author_bio"]
    assert "author_display_name" not in ours.column_names  # personal data: never stored


def test_missing_pyspark_is_a_clear_error_before_any_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inference.scoring.run import ScoreError
    from inference.scoring.spark import score_spark

    dump = write_dump(tmp_path / "dump.jsonl", 5, bad=False)
    monkeypatch.setitem(sys.modules, "pyspark", None)  # what `import pyspark` sees when it is not installed
    with pytest.raises(ScoreError, match=r"occ-insights\[spark\]"):
        score_spark([dump], tmp_path / "out", "models:/any@champion")
    assert not (tmp_path / "out").exists()
