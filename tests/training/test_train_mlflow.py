"""Train tiny models on real MLflow (SQLite store), register, alias, reload in a new process, promote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from common.settings import PromoteSettings
from helpers import settings
from training.data import build_dataset_from
from training.registry import CHALLENGER, CHAMPION, alias_version, promote
from training.train import train_and_register

ROOT = Path(__file__).resolve().parents[2]
GATE = PromoteSettings(0.01, 0.03)


def params(**baseline: object):
    """Shipped settings, with min_df 1 (the test corpus is small) and any other baseline changes."""
    return settings(baseline={"min_df": 1, **baseline})


def occ(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "occ", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.fixture()
def dataset_dir(tmp_path: Path, own_labels: Path, own_taxonomy: Path) -> Path:
    out = tmp_path / "dataset"
    build_dataset_from(own_labels, None, own_taxonomy, out, tmp_path / "frozen.txt", params())
    return out


def test_train_register_reload_in_new_process(tracking: str, dataset_dir: Path, tmp_path: Path) -> None:
    result = train_and_register("baseline", dataset_dir, params(), registered_model="occ-test")
    assert result.version == "1" and set(result.aliases) == {CHALLENGER, CHAMPION}
    assert result.test_metrics["urgency"]["macro_f1"] > 0.8  # the task is learnable: a broken model fails this
    import mlflow

    texts = ["urgent help needed today, severe nausea reported", "copay is too high, just curious"]
    local = mlflow.pyfunc.load_model("models:/occ-test@challenger").predict(pd.DataFrame({"text": texts}))
    script = (
        "import json, sys, pandas as pd, mlflow\n"
        "m = mlflow.pyfunc.load_model('models:/occ-test@challenger')\n"
        "print(m.predict(pd.DataFrame({'text': json.loads(sys.argv[1])})).to_json(orient='records'))\n"
    )
    other = subprocess.run([sys.executable, "-c", script, json.dumps(texts)], capture_output=True, text=True,
                           timeout=300, env={**os.environ, "MLFLOW_TRACKING_URI": tracking}, cwd=tmp_path)
    assert other.returncode == 0, other.stderr[-2000:]
    assert json.loads(other.stdout.strip().splitlines()[-1]) == json.loads(local.to_json(orient="records"))
    assert local.loc[0, "urgency"] == "high" and "cost" in local.loc[1, "topics"]
    client = mlflow.MlflowClient()
    run = client.get_run(result.run_id)
    assert "test.urgency.macro_f1" in run.data.metrics and "test.topics.ece" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "evaluation")}
    assert {"evaluation/model_card.md", "evaluation/per_label_report.md", "evaluation/plots"} <= artifacts
    assert run.inputs.dataset_inputs, "dataset lineage (mlflow.data) must be logged"


def test_promotion_gate_with_real_registry(tracking: str, dataset_dir: Path) -> None:
    first = train_and_register("baseline", dataset_dir, params(), registered_model="occ-gate")
    weak = train_and_register("baseline", dataset_dir, params(C=1e-4, word_ngram_range=[1, 1], char_ngram_range=None),
                              registered_model="occ-gate")
    assert weak.aliases == [CHALLENGER] and alias_version("occ-gate", CHAMPION) == first.version
    decision = promote("occ-gate", dataset_dir, GATE)
    assert not decision.promoted and alias_version("occ-gate", CHAMPION) == first.version
    with pytest.raises(Exception, match="--reason"):
        promote("occ-gate", dataset_dir, GATE, force=True)
    forced = promote("occ-gate", dataset_dir, GATE, force=True, reason="testing override")
    assert forced.promoted and alias_version("occ-gate", CHAMPION) == weak.version
    import mlflow

    tags = mlflow.MlflowClient().get_model_version("occ-gate", weak.version).tags
    assert "testing override" in tags["promotion_reason"]
    again = train_and_register("baseline", dataset_dir, params(), registered_model="occ-gate")
    better = promote("occ-gate", dataset_dir, GATE)
    assert better.promoted and alias_version("occ-gate", CHAMPION) == again.version


def test_cli_train_own_labels_and_taxonomy(tmp_path: Path, own_labels: Path, own_taxonomy: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'cli.db'}"}
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    done = occ("train", "--model", "baseline", "--labels", str(own_labels), "--taxonomy", str(own_taxonomy),
               "--registered-model", "mine", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["version"] == "1" and set(summary["test_macro_f1"]) == {"urgency", "topics", "flag"}
    evaluated = occ("evaluate", "--model", "models:/mine@champion", "--dataset", str(tmp_path / "nope"), env=env, cwd=tmp_path)
    assert evaluated.returncode == 2 and "occ dataset" in evaluated.stderr


def _registered_versions(uri: str, name: str) -> int:
    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        return len(mlflow.MlflowClient().search_model_versions(f"name='{name}'"))
    except Exception:  # noqa: BLE001 - no such model
        return 0


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda df: df.assign(urgency="low"), "single class"),
        (lambda df: df.assign(topics=df["topics"].where(df.index > 5, "price")), "unknown label"),
        (lambda df: df.drop(columns=["urgency", "topics", "flag"]), "no column named after a task"),
    ],
)
def test_bad_labels_fail_clearly_and_register_nothing(tmp_path: Path, own_labels: Path, own_taxonomy: Path,
                                                      mutate, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from occ import app

    bad = tmp_path / "bad.csv"
    mutate(pd.read_csv(own_labels, keep_default_na=False)).to_csv(bad, index=False)
    uri = f"sqlite:///{tmp_path / 'bad.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app, ["train", "--labels", str(bad), "--taxonomy", str(own_taxonomy),
                                    "--registered-model", "bad", "--params", str(ROOT / "params.yaml")])
    assert done.exit_code == 2 and message in done.output and "Traceback" not in done.output
    assert _registered_versions(uri, "bad") == 0


def test_unknown_post_ids_and_taxonomy_conflict(tmp_path: Path, own_labels: Path, own_taxonomy: Path, tracking: str,
                                                 dataset_dir: Path) -> None:
    from labeling.dataset import DatasetError

    annotations = tmp_path / "ann.csv"
    pd.DataFrame([{"post_id": "ghost", "task": "urgency", "label": "low", "annotator": "x"}]).to_csv(annotations, index=False)
    posts = tmp_path / "posts"
    posts.mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"post_id": ["p1"], "text": ["t"], "author_id": ["a"]}), posts / "posts.parquet")
    with pytest.raises(DatasetError, match="not among the ingested posts"):
        build_dataset_from(annotations, posts, own_taxonomy, tmp_path / "d2", None, params())
    train_and_register("baseline", dataset_dir, params(), registered_model="conflict")
    from training.registry import RegistryError, evaluate_uri

    default_taxonomy_dataset = tmp_path / "d3"
    meta = json.loads((dataset_dir / "taxonomy.json").read_text())
    meta["version"] = "test-2"
    import shutil

    shutil.copytree(dataset_dir, default_taxonomy_dataset)
    (default_taxonomy_dataset / "taxonomy.json").write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match="taxonomy"):
        evaluate_uri("models:/conflict@champion", default_taxonomy_dataset)
