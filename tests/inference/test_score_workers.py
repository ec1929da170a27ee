"""`occ score` with the row pipeline in 1 or 2 worker processes writes the very same parts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from helpers import write_dump


def test_score_parts_are_identical_with_one_or_two_workers(registry: dict, tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "dump.jsonl", 900, seed=8)
    runs = {}
    for workers in (1, 2):
        params = yaml.safe_load(Path(registry["params"]).read_text())
        params["ingest"]["workers"] = workers
        params_file = tmp_path / f"params{workers}.yaml"
        params_file.write_text(yaml.safe_dump(params))
        out = tmp_path / f"w{workers}"
        done = subprocess.run([sys.executable, "-m", "occ", "score", str(dump), "--out", str(out), "--model",
                               "models:/occ-score/1", "--params", str(params_file)], cwd=registry["home"],
                              env={**os.environ, "MLFLOW_TRACKING_URI": registry["uri"]}, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        parts = sorted((out / "scores").glob("part-*.parquet"))
        assert len(parts) >= 4  # chunk_rows 200: several chunks went through the workers
        runs[workers] = {
            "parts": [pq.read_table(p).drop_columns(["scored_at"]).to_pylist() for p in parts],
            "names": [p.name for p in parts],
            "quarantine": pq.read_table(out / "quarantine.parquet").to_pylist(),
            "counts": json.loads((out / "_manifest.json").read_text())["counts"],
        }
        assert not (out / "_dedup_index.sqlite").exists()
    assert runs[1] == runs[2]
    assert runs[2]["counts"]["duplicates_dropped"] > 0 and runs[2]["counts"]["reconciled"]
