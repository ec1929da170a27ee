"""`occ score --engine spark` (real Spark, local mode) gives exactly the local engine's output.

Inputs mix every read path of the Spark engine (`tests/spark_inputs.py`): JSONL split into several Spark splits,
Parquet row groups, CSV and gzipped JSONL read by the shared Python readers, with duplicates across files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import write_dump
from spark_inputs import SMALL_SPLITS, make_inputs


def occ(registry: dict, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "MLFLOW_TRACKING_URI": registry["uri"], **(env or {})}
    return subprocess.run([sys.executable, "-m", "occ", *args, "--params", str(registry["params"])], env=environment,
                          cwd=registry["home"], capture_output=True, text=True, timeout=600)


def scored(out: Path) -> pa.Table:
    return pq.read_table(out / "scores").drop_columns(["scored_at"])


@pytest.mark.slow
def test_spark_engine_matches_local_engine(registry: dict, tmp_path: Path) -> None:
    inputs = [str(p) for p in make_inputs(tmp_path)]
    model = ["--model", f"models:/occ-score/{registry['v1']}", "--json"]
    local_out, spark_out = tmp_path / "local", tmp_path / "spark"
    done = occ(registry, "score", *inputs, "--out", str(local_out), *model)
    assert done.returncode == 0, done.stderr[-3000:]
    done = occ(registry, "score", *inputs, "--out", str(spark_out), *model, "--engine", "spark",
               "--spark-master", "local[2]", env=SMALL_SPLITS)
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
