"""`occ score` with real MLflow: pinned versions, quarantine accounting, lock, resume after SIGKILL."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from helpers import write_dump


def occ(registry: dict, *args: str, **kwargs) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry["uri"]}
    cmd = [sys.executable, "-m", "occ", *args, "--params", str(registry["params"])]
    if kwargs.pop("background", False):
        return subprocess.Popen(cmd, env=env, cwd=registry["home"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=env, cwd=registry["home"], capture_output=True, text=True, timeout=600)


def scored_rows(out: Path) -> list[dict]:
    rows = pq.read_table(out / "scores").to_pylist()
    for row in rows:
        row.pop("scored_at")
    return sorted(rows, key=lambda r: r["post_id"])


def test_score_outputs_schema_provenance_and_accounting(registry: dict, tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "dump.jsonl", 600)
    out = tmp_path / "out"
    done = occ(registry, "score", str(dump), "--out", str(out), "--model", "models:/occ-score@champion", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["rows_read"] == summary["rows_scored"] + summary["rows_quarantined"] + summary["duplicates_dropped"]
    assert summary["rows_scored"] == 600 and summary["rows_quarantined"] == 7 and summary["duplicates_dropped"] == 7
    assert summary["model_version"] == registry["v1"]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["model"]["uri"] == f"models:/occ-score/{registry['v1']}" and manifest["inputs"][0]["sha256"]
    rows = pq.read_table(out / "scores").to_pylist()
    first = rows[0]
    assert first["model_name"] == "occ-score" and first["model_version"] == registry["v1"] and first["model_run_id"]
    assert set(first["urgency_scores"]) == {"low", "high"} and isinstance(first["topics"], list)
    assert abs(sum(first["urgency_scores"].values()) - 1) < 1e-3
    assert pq.read_table(out / "quarantine.parquet").num_rows == 7
    with open(out / "adverse_events.csv", newline="") as handle:
        flagged = list(csv.DictReader(handle))
    assert flagged and all(float(r["probability"]) > 0 for r in flagged)
    authors = pq.read_table(out / "authors.parquet").to_pylist()  # the run's author pass: every author, typed
    assert {a["author_id"] for a in authors} == {r["author_id"] for r in rows if r["author_id"]}
    assert all(r["reporter_is_hcp"] in ("yes", "no", "unknown") for r in flagged)
    assert not any(r["text"].startswith(("=", "+", "-", "@")) for r in flagged)
    again = occ(registry, "score", str(dump), "--out", str(out), "--model", "models:/occ-score@champion")
    assert again.returncode == 2 and "new --out" in again.stderr


def test_lock_refuses_a_concurrent_run(registry: dict, tmp_path: Path) -> None:
    from inference.scoring.run import OutputLock

    dump = write_dump(tmp_path / "dump.jsonl", 50, bad=False)
    out = tmp_path / "out"
    out.mkdir()
    with OutputLock(out):
        done = occ(registry, "score", str(dump), "--out", str(out), "--resume")
    assert done.returncode == 2 and "another `occ score`" in done.stderr


def wait_for_chunks(out: Path, proc: subprocess.Popen, at_least: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = out / "_progress.json"
        if progress.exists() and json.loads(progress.read_text())["chunks_done"] >= at_least:
            return
        if proc.poll() is not None:
            raise AssertionError("the run ended before it could be interrupted: " + proc.stderr.read()[-2000:])
        time.sleep(0.02)
    raise AssertionError("no progress")


@pytest.mark.slow
def test_resume_after_sigkill_equals_uninterrupted_run(registry: dict, tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "dump.jsonl", 20000, seed=5)
    reference = tmp_path / "reference"
    done = occ(registry, "score", str(dump), "--out", str(reference), "--model", "models:/occ-score/1")
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "killed"
    proc = occ(registry, "score", str(dump), "--out", str(out), "--model", "models:/occ-score/1", background=True)
    wait_for_chunks(out, proc, 3)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert workers, "the row pipeline should run in worker processes"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"worker processes outlived the killed run: {alive}"
    assert not (out / "_manifest.json").exists(), "a killed run must not look complete"
    refused = occ(registry, "score", str(dump), "--out", str(out), "--model", "models:/occ-score/1")
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = occ(registry, "score", str(dump), "--out", str(out), "--model", "models:/occ-score/1", "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert scored_rows(out) == scored_rows(reference)
    ours, theirs = (json.loads((d / "_manifest.json").read_text())["counts"] for d in (out, reference))
    assert ours == theirs
    assert pq.read_table(out / "quarantine.parquet").to_pylist() == pq.read_table(reference / "quarantine.parquet").to_pylist()


@pytest.mark.slow
def test_alias_moved_mid_run_changes_nothing(registry: dict, tmp_path: Path) -> None:
    import mlflow

    dump = write_dump(tmp_path / "dump.jsonl", 20000, seed=6)
    out = tmp_path / "pinned"
    client = mlflow.MlflowClient(registry["uri"])
    client.set_registered_model_alias("occ-score", "pinned-test", registry["v1"])
    proc = occ(registry, "score", str(dump), "--out", str(out), "--model", "models:/occ-score@pinned-test", background=True)
    wait_for_chunks(out, proc, 1)
    client.set_registered_model_alias("occ-score", "pinned-test", registry["v2"])
    assert proc.wait(timeout=600) == 0, proc.stderr.read()[-3000:]
    versions = set(pq.read_table(out / "scores", columns=["model_version"]).column("model_version").to_pylist())
    assert versions == {registry["v1"]}


def test_bad_model_uris_fail_before_any_output(registry: dict, tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "dump.jsonl", 20, bad=False)
    for uri, message in [("models:/occ-score@nope", "not found"), ("models:/nothing/1", "not found")]:
        out = tmp_path / uri.replace("/", "_").replace(":", "_").replace("@", "_")
        done = occ(registry, "score", str(dump), "--out", str(out), "--model", uri)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
        assert not out.exists()


def test_taxonomy_mismatch_and_corrupted_artifact(registry: dict, tmp_path: Path) -> None:
    import mlflow
    import yaml

    dump = write_dump(tmp_path / "dump.jsonl", 20, bad=False)
    params = yaml.safe_load(Path(registry["params"]).read_text())
    params["score"]["expect_taxonomy_version"] = "2026-11-1"
    other = tmp_path / "params.yaml"
    other.write_text(yaml.safe_dump(params))
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry["uri"]}
    done = subprocess.run([sys.executable, "-m", "occ", "score", str(dump), "--out", str(tmp_path / "o"),
                           "--model", "models:/occ-score/1", "--params", str(other)], env=env, cwd=registry["home"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "taxonomy" in done.stderr and not (tmp_path / "o").exists()
    # Corrupt a copy of version 2's artifact and register it as version 3.
    client = mlflow.MlflowClient(registry["uri"])
    source = client.get_model_version("occ-score", registry["v2"]).source
    local = Path(mlflow.artifacts.download_artifacts(source, dst_path=str(tmp_path / "copy")))
    meta = next(local.rglob("occ_model.json"))
    meta.write_text(meta.read_text().replace('"version"', '"versi0n"', 1))
    mlflow.set_tracking_uri(registry["uri"])
    with mlflow.start_run():
        mlflow.log_artifacts(str(local), artifact_path="corrupt")
        run_id = mlflow.active_run().info.run_id
    bad = mlflow.register_model(f"runs:/{run_id}/corrupt", "occ-score")
    done = occ(registry, "score", str(dump), "--out", str(tmp_path / "c"), "--model", f"models:/occ-score/{bad.version}")
    assert done.returncode == 2 and "checksum" in done.stderr and not (tmp_path / "c").exists()
