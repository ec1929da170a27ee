"""`occ ingest --engine spark` (real Spark, local mode) writes exactly the local engine's files.

Same rows in the same order (input order: file, line) in posts, quarantine and duplicates, and the same
summary counts and counters, on inputs that go through every read path of the Spark engine
(`tests/spark_inputs.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from spark_inputs import SMALL_SPLITS, make_inputs, run_occ, same_files


@pytest.mark.slow
def test_spark_ingest_matches_local_ingest(tmp_path: Path) -> None:
    inputs = [str(p) for p in make_inputs(tmp_path)]
    local_out, spark_out = tmp_path / "local", tmp_path / "spark"
    done = run_occ("ingest", *inputs, "--out", str(local_out), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    done = run_occ("ingest", *inputs, "--out", str(spark_out), "--json", "--engine", "spark",
                   "--spark-master", "local[2]", cwd=tmp_path, env=SMALL_SPLITS)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["reconciled"] and summary["rows_read"] == (summary["rows_written"] + summary["rows_quarantined"]
                                                              + summary["duplicates_dropped"] + summary["suppressed"])
    saved = json.loads((spark_out / "ingest_summary.json").read_text())
    assert saved["engine"] == "spark" and saved["spark_master"] == "local[2]"
    same_files(spark_out, local_out)

    # The messy parts really were there (a parity test over clean input would prove little).
    duplicates = {(d["post_id"], d["kind"]): d for d in pq.read_table(spark_out / "duplicates.parquet").to_pylist()}
    assert duplicates[("z-copy", "same_author_same_text")]["duplicate_of"] == "crlf"
    assert duplicates[("q-copy", "same_author_same_text")]["source_file"].endswith("more.parquet")
    assert duplicates[("g2", "same_author_same_text")]["duplicate_of"] == "q3"
    assert duplicates[("q5", "same_post_id")]["duplicate_of"] == "q5"
    assert saved["duplicate_kinds"]["same_post_id"] >= 5 and saved["product_mentions"]
    quarantine = pq.read_table(spark_out / "quarantine.parquet").to_pylist()
    tail = next(q for q in quarantine if q["raw"] and q["raw"].startswith('{"post_id": "tail"'))
    assert tail["reason"] == "invalid_json" and not tail["raw"].endswith("\n")
    assert {q["reason"] for q in quarantine} >= {"invalid_json", "empty_text", "csv_field_count"}
    posts = pq.read_table(spark_out / "posts.parquet").column("post_id").to_pylist()
    assert {"q-anon", "c1", "c3", "crlf", "g1"} <= set(posts) and not {"q-copy", "z-copy", "tail"} & set(posts)
    assert not any(p.name.startswith(".spark-parts-") for p in spark_out.iterdir())  # the executors' parts are gone


def test_missing_pyspark_is_a_clear_error_before_any_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from labeling.ingest.spark import SparkEngineError
    from labeling.ingest.spark_run import ingest_spark

    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"post_id": "1", "text": "hi"}\n', encoding="utf-8")
    monkeypatch.setitem(sys.modules, "pyspark", None)  # what `import pyspark` sees when it is not installed
    with pytest.raises(SparkEngineError, match=r"occ-insights\[spark\]"):
        ingest_spark([dump], tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_spark_ingest_of_an_input_without_rows_writes_empty_valid_outputs(tmp_path: Path) -> None:
    import pyarrow as pa

    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"post_id": pa.array([], pa.string()), "text": pa.array([], pa.string())}), empty)
    local_out, spark_out = tmp_path / "local", tmp_path / "spark"
    for out, engine in ((local_out, "local"), (spark_out, "spark")):
        done = run_occ("ingest", str(empty), "--out", str(out), "--engine", engine, "--spark-master", "local[1]",
                       cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    same_files(spark_out, local_out)
    assert json.loads((spark_out / "ingest_summary.json").read_text())["rows_read"] == 0
