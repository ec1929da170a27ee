"""Train tiny models on real MLflow (SQLite store), register, alias, reload in a new process, promote."""

from __future__ import annotations

import json
import os
import re
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
def test_bad_labels_fail_clearly_before_training_starts(tmp_path: Path, own_labels: Path, own_taxonomy: Path,
                                                      mutate, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from occ import app

    bad = tmp_path / "bad.csv"
    mutate(pd.read_csv(own_labels, keep_default_na=False)).to_csv(bad, index=False)
    uri = f"sqlite:///{tmp_path / 'bad.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app, ["train", "--model", "baseline", "--labels", str(bad), "--taxonomy", str(own_taxonomy),
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


# ---- the safety task: recall target, gate, and failures that must leave no version behind ----------------------------

SAFETY = {"task": "flag"}


@pytest.fixture()
def noisy_dataset(tmp_path: Path, own_labels: Path, own_taxonomy: Path) -> Path:
    """The labeled table with a fifth of the `flag` gold flipped: a 0.95 recall target then needs a threshold
    low enough to flag far more posts than are positive."""
    import numpy as np

    table = pd.read_csv(own_labels, keep_default_na=False)
    flip = np.random.default_rng(5).random(len(table)) < 0.2
    table.loc[flip, "flag"] = table.loc[flip, "flag"].map({"yes": "no", "no": "yes"})
    noisy = tmp_path / "noisy.csv"
    table.to_csv(noisy, index=False)
    out = tmp_path / "noisy_dataset"
    build_dataset_from(noisy, None, own_taxonomy, out, tmp_path / "noisy_frozen.txt", params())
    return out


def test_a_missed_recall_target_travels_with_the_version(tracking: str, noisy_dataset: Path, tmp_path: Path) -> None:
    import mlflow
    from typer.testing import CliRunner

    from occ import app

    chosen = settings(baseline={"min_df": 1}, safety={**SAFETY, "max_flag_ratio": 1.0})
    result = train_and_register("baseline", noisy_dataset, chosen, registered_model="missed")
    assert result.safety is not None and not result.safety.target_met
    assert result.safety.validation_recall < 0.95
    client = mlflow.MlflowClient()
    tags = client.get_model_version("missed", result.version).tags
    assert tags["safety.target_met"] == "false" and "NOT met" in tags["safety.recall_target_missed"]
    assert float(tags["safety.validation_recall"]) == pytest.approx(result.safety.validation_recall, abs=1e-4)
    card = Path(mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="evaluation/model_card.md",
                                                    dst_path=str(tmp_path))).read_text()
    assert "recall target is not met" in card and "flag recall target 0.95 NOT met" in card

    evaluated = CliRunner().invoke(app, ["evaluate", "--model", "models:/missed/1", "--dataset", str(noisy_dataset)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "safety: v1: flag recall target 0.95 NOT met" in evaluated.output

    # ... and the report built on a run scored with that model says so in its adverse-event section
    from helpers import write_dump
    from inference.insights.report import build_report
    from inference.scoring.run import score

    manifest = score([write_dump(tmp_path / "dump.jsonl", 60, bad=False)], tmp_path / "scored", "models:/missed/1",
                     chosen, progress=False)
    assert manifest["safety"]["operating_point"]["target_met"] is False
    summary = build_report(tmp_path / "scored", tmp_path / "report", chosen.report, safety_task="flag")
    assert summary["safety"]["target_met"] is False
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "Recall target not met." in html


def test_the_gate_refuses_a_challenger_that_finds_fewer_adverse_events(tracking: str, noisy_dataset: Path) -> None:
    from training.registry import comparison_table

    target = settings(baseline={"min_df": 1}, safety=SAFETY)
    champion = train_and_register("baseline", noisy_dataset, target, registered_model="safe")
    # the same model family with a much lower recall target: fewer flagged posts, whatever its macro-F1
    lax = train_and_register("baseline", noisy_dataset, settings(baseline={"min_df": 1}, safety={**SAFETY, "min_recall": 0.5}),
                             registered_model="safe")
    decision = promote("safe", noisy_dataset, GATE, target.safety)
    assert not decision.promoted and "flag recall drops" in decision.reason
    assert alias_version("safe", CHAMPION) == champion.version and lax.version != champion.version
    table = comparison_table(decision)
    assert "flag recall" in table and "flag flag share" in table
    forced = promote("safe", noisy_dataset, GATE, target.safety, force=True, reason="accepting fewer flags for a pilot")
    assert forced.promoted and "forced: accepting fewer flags" in forced.reason


def test_mlflow_logs_exactly_the_settings_that_shaped_the_model(tracking: str, dataset_dir: Path) -> None:
    import mlflow

    from common.settings import BaselineSettings, ThresholdSettings

    result = train_and_register("baseline", dataset_dir, params(), registered_model="params")
    logged = mlflow.MlflowClient().get_run(result.run_id).data.params
    baseline = {k.split(".", 1)[1] for k in logged if k.startswith("baseline.")}
    assert baseline == set(BaselineSettings.__dataclass_fields__)  # nothing bypassed, nothing missing
    thresholds = {k.split(".", 1)[1] for k in logged if k.startswith("thresholds.")}
    assert thresholds == set(ThresholdSettings.__dataclass_fields__)
    assert logged["baseline.min_df"] == "1" and logged["safety.min_recall"] == "0.95"
    assert not any("threshold_" in k or k == "baseline.min_recall" for k in logged)


def test_a_failure_inside_the_run_registers_nothing(tracking: str, dataset_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    import training.train as train_module

    def broken_log_bundle(*args: object, **kwargs: object) -> None:
        raise RuntimeError("artifact store went away")

    monkeypatch.setattr(train_module, "log_bundle", broken_log_bundle)
    with pytest.raises(RuntimeError, match="artifact store went away"):
        train_and_register("baseline", dataset_dir, params(), registered_model="inside")
    assert _registered_versions(tracking, "inside") == 0
    runs = mlflow.search_runs(experiment_names=["occ-insights"], output_format="list")
    assert runs and runs[0].info.status == "FAILED"


def test_a_failure_after_registration_removes_the_version_again(tracking: str, dataset_dir: Path, tmp_path: Path) -> None:
    from training.train import TrainingError

    first = train_and_register("baseline", dataset_dir, params(), registered_model="after")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where --metrics-out wants a folder")
    with pytest.raises(TrainingError, match="cannot write --metrics-out"):
        train_and_register("baseline", dataset_dir, params(), registered_model="after",
                           metrics_out=blocker / "metrics.json")
    assert _registered_versions(tracking, "after") == 1  # only the first, complete version
    assert alias_version("after", CHALLENGER) == first.version  # the alias is back where it was
    assert alias_version("after", CHAMPION) == first.version
    # the very first version of a model becomes champion at registration: a later failure takes that back too
    with pytest.raises(TrainingError):
        train_and_register("baseline", dataset_dir, params(), registered_model="first-fails",
                           metrics_out=blocker / "metrics.json")
    assert _registered_versions(tracking, "first-fails") == 0 and alias_version("first-fails", CHAMPION) is None


@pytest.mark.slow
def test_an_ensemble_registers_and_reloads_through_mlflow(tracking: str, dataset_dir: Path, tmp_path: Path) -> None:
    import mlflow

    from models.transformer.encoder import tiny_encoder

    config = settings(baseline={"min_df": 1}, safety={"task": "flag"},
                      transformer={"encoder": str(tiny_encoder(tmp_path / "enc")), "epochs": 2, "batch_size": 32})
    result = train_and_register("ensemble", dataset_dir, config, registered_model="mix")
    run = mlflow.MlflowClient().get_run(result.run_id)
    assert run.data.tags["occ.model_kind"] == "ensemble" and "members: baseline train+validation" in run.data.tags["occ.refit"]
    weights = {k: float(v) for k, v in run.data.params.items() if k.startswith("ensemble.weight.")}
    assert set(weights) == {"ensemble.weight.urgency", "ensemble.weight.topics", "ensemble.weight.flag"}
    card = Path(mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="evaluation/model_card.md",
                                                    dst_path=str(tmp_path))).read_text()
    assert re.search(r"weights of epoch [12] of at most 2, chosen on validation average precision "
                     r"\(macro-F1 for single-label tasks\)", card), card
    assert "weight of the baseline in the mix (ensemble.baseline_weight)" in card
    assert "by their number of decisions (a multi-label task one per label): urgency 1, topics 3, flag 1" in card, card
    model = mlflow.pyfunc.load_model(f"models:/mix/{result.version}")
    out = model.predict(pd.DataFrame({"text": ["severe nausea reported, urgent help needed today"]}))
    assert {"urgency", "topics", "flag", "flag_scores"} <= set(out.columns)


@pytest.mark.slow
def test_train_without_model_fits_the_family_params_names_with_its_training_curve(tracking: str, dataset_dir: Path,
                                                                                    tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from models.transformer.encoder import tiny_encoder
    from occ import app

    config = settings(baseline={"min_df": 1}, safety={"task": "flag"},
                      transformer={"encoder": str(tiny_encoder(tmp_path / "enc")), "epochs": 2, "batch_size": 32})
    kinds = {}
    for family in ("ensemble", "baseline"):
        params_file = tmp_path / f"{family}.yaml"
        params_file.write_text(yaml.safe_dump({**config.to_dict(), "train": {"model": family}}))
        metrics = tmp_path / "metrics" / f"{family}.json"
        done = CliRunner().invoke(app, ["train", "--dataset", str(dataset_dir), "--registered-model", "default-family",
                                        "--metrics-out", str(metrics), "--params", str(params_file), "--json"])
        assert done.exit_code == 0, done.output
        kinds[family] = json.loads(next(line for line in done.output.splitlines() if line.startswith('{"')))["kind"]
        history = metrics.with_name(f"{family}_history.csv").read_text().strip().splitlines()
        # The ensemble's curve is its transformer member's: one row per epoch; the baseline has the header alone.
        assert len(history) == (3 if family == "ensemble" else 1), history
    assert kinds == {"ensemble": "ensemble", "baseline": "baseline"}
