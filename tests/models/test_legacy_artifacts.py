"""Baseline versions registered before the package layout changed still load and score identically.

The pickles inside name `models.baseline.TfidfMultiTaskClassifier`, `models.baseline._Head`, ... and the
pyfunc `models.artifact.OccPyfuncModel`: those names must keep resolving (tests/fixtures/legacy_baseline_v0)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_baseline_v0"


def test_a_version_registered_by_the_old_layout_loads_and_predicts_the_same(tracking: str, tmp_path: Path) -> None:
    import mlflow

    mlflow.set_experiment("legacy")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(FIXTURE / "model"), artifact_path="model")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "legacy")
    texts = pd.read_json(FIXTURE / "texts.jsonl", lines=True)
    expected = pd.read_json(FIXTURE / "expected.jsonl", lines=True)
    got = mlflow.pyfunc.load_model(f"models:/legacy/{version.version}").predict(texts)
    for task in ("urgency", "topics", "flag"):
        assert got[task].tolist() == expected[task].tolist()
        for row_got, row_expected in zip(got[f"{task}_scores"], expected[f"{task}_scores"]):
            assert list(row_got) == pytest.approx(list(row_expected), abs=1e-6)


def test_occ_score_runs_the_old_version_end_to_end(tracking: str, tmp_path: Path) -> None:
    import mlflow
    from typer.testing import CliRunner

    from occ import app

    mlflow.set_experiment("legacy")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(FIXTURE / "model"), artifact_path="model")
    mlflow.register_model(f"runs:/{run.info.run_id}/model", "legacy-score")
    dump = tmp_path / "dump.jsonl"
    texts = pd.read_json(FIXTURE / "texts.jsonl", lines=True)["text"].tolist()
    dump.write_text("".join(json.dumps({"post_id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    done = CliRunner().invoke(app, ["score", str(dump), "--out", str(tmp_path / "scored"), "--model",
                                    "models:/legacy-score/1", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output.strip().splitlines()[-1])
    assert summary["rows_scored"] == len(texts) and summary["reconciled"]
