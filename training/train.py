"""Train a model family on a saved dataset, evaluate it on the frozen test split, track it in MLflow and
register it as a new version with alias `challenger` (the first version ever also becomes `champion`).

Everything that can fail on bad input (dataset, taxonomy, settings) is checked before the MLflow run starts.
A failure inside the run marks the run failed and registers nothing; a failure after the version is
registered (writing `--metrics-out`, say) deletes the version again, aliases included. So a `TrainResult`
is returned only for a version that is complete, and an exception always means no new version.
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.atomic import write_bytes_atomic
from common.settings import Settings, to_dict
from labeling.dataset import load_dataset_dir
from labeling.ingest.products import ProductDictionary
from labeling.taxonomy import Taxonomy, taxonomy_from_dict
from models.artifact import ModelBundle, log_bundle
from models.calibration import apply_temperatures
from models.tasks import TaskSpec
from models.tracking import ensure_experiment
from training import artifacts as run_artifacts
from training.data import split_inputs, task_specs
from training.metrics import evaluate_all, flat_metrics, mean_macro_f1, metrics_table
from training.recipe import MODEL_KINDS, TrainingError, fit_recipe
from training.registry import CHALLENGER, CHAMPION, delete_version, register_version
from training.safety import SafetyOutcome, safety_tags

__all__ = ["MODEL_KINDS", "TrainResult", "TrainingError", "train_and_register", "write_metrics_files"]

logger = logging.getLogger(__name__)

@dataclass
class TrainResult:
    kind: str
    run_id: str
    model_name: str
    version: str
    test_metrics: dict[str, Any]
    validation_metrics: dict[str, Any]
    thresholds: dict[str, list[float]]
    seconds: float
    aliases: list[str] = field(default_factory=list)
    safety: SafetyOutcome | None = None

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "run_id": self.run_id, "model_name": self.model_name, "version": self.version,
                "aliases": self.aliases, "seconds": round(self.seconds, 1),
                "test_mean_macro_f1": round(mean_macro_f1(self.test_metrics), 4),
                "test_macro_f1": {t: round(m.get("macro_f1", float("nan")), 4) for t, m in self.test_metrics.items()},
                "safety": self.safety.to_dict() if self.safety else None}


def training_notes(kind: str, recipe: Any, settings: Settings) -> list[str]:
    """The model card's "Training" lines: what the shipped model learned from and how it reads long posts."""
    notes = [f"shipped model fitted on: {recipe.refit}",
             "probabilities temperature-scaled per task on the same probabilities the thresholds were chosen on"
             if settings.thresholds.calibrate else "probabilities not calibrated (thresholds.calibrate: false)"]
    if kind in ("transformer", "ensemble"):
        config = settings.transformer
        notes.append(f"posts longer than {config.max_length} tokens keep "
                     + ("their first quarter and last three quarters of the window (head + tail)"
                        if config.truncation == "head_tail" else "their first tokens (head)"))
        transformer = recipe.model.members["transformer"] if kind == "ensemble" else recipe.model
        best = getattr(transformer, "best_epoch_", None)
        if best is not None:
            notes.append(f"fine-tuned weights of epoch {best} of at most {config.epochs}, chosen on validation "
                         + ("average precision (macro-F1 for single-label tasks)" if config.early_stopping == "ranking"
                            else "macro-F1 with every label decided at 0.5"))
        tasks = list(getattr(transformer, "tasks", []))
        if len(tasks) > 1:
            from models.transformer.network import task_loss_weight  # torch only where a transformer was trained
            notes.append("tasks weighted in the shared encoder's loss "
                         + ("by their number of decisions (a multi-label task one per label): "
                            + ", ".join(f"{t.name} {task_loss_weight(t, 'labels'):.0f}" for t in tasks)
                            if config.task_weighting == "labels" else "equally (transformer.task_weighting: equal)"))
    if kind == "ensemble":
        weights = getattr(recipe.model, "weights", {})
        rule = ("ensemble.baseline_weight" if settings.ensemble.baseline_weight is not None
                else "chosen on validation log loss")
        notes.append(f"per-task weight of the baseline in the mix ({rule}): "
                     + ", ".join(f"{task} {w:.1f}" for task, w in weights.items()))
    return notes


def _calibration_report(specs: Sequence[TaskSpec], temperatures: Mapping[str, Sequence[float]] | None,
                        raw_test: Mapping[str, np.ndarray], y_test: Mapping[str, np.ndarray],
                        test_metrics: Mapping[str, Any]) -> dict[str, float]:
    """MLflow metrics: each task's temperature(s) and its test ECE before calibration (after is test.<task>.ece)."""
    from training.metrics import task_metrics

    out: dict[str, float] = {}
    for spec in specs:
        raw = task_metrics(spec, raw_test[spec.name], y_test[spec.name], None).get("ece")
        if raw is not None and np.isfinite(raw):
            out[f"test.{spec.name}.ece_uncalibrated"] = float(raw)
        for j, value in enumerate((temperatures or {}).get(spec.name, [])):
            suffix = f".{spec.labels[j]}" if spec.kind == "multi" else ""
            out[f"calibration.{spec.name}{suffix}.temperature"] = float(value)
        if raw is not None and "ece" in test_metrics.get(spec.name, {}):
            logger.info("task %s: test ECE %.3f before calibration, %.3f after", spec.name, raw,
                        test_metrics[spec.name]["ece"])
    return out


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _split_frame(split: Any, specs: Sequence[TaskSpec]) -> pd.DataFrame:
    frame = split.to_pandas()
    for spec in specs:
        if spec.kind == "multi":
            frame[spec.name] = frame[spec.name].map(lambda v: "|".join(v) if v is not None else None)
    return frame


def logged_settings(kind: str, used_config: Mapping[str, Any], settings: Settings) -> dict[str, str]:
    """The MLflow params of a run: exactly the settings that shaped the model, and nothing else."""
    safety = {k: v for k, v in to_dict(settings.safety).items() if k != "max_recall_drop"}  # a gate setting
    params = {f"{kind}.{k}": v for k, v in used_config.items()}
    params.update({f"thresholds.{k}": v for k, v in to_dict(settings.thresholds).items()})
    params.update({f"safety.{k}": v for k, v in safety.items()})
    return {k: str(v)[:500] for k, v in params.items()}


def train_and_register(kind: str, dataset_dir: Path, settings: Settings, *, products: ProductDictionary | None = None,
                       registered_model: str | None = None, metrics_out: Path | None = None,
                       lineage: Mapping[str, str] | None = None) -> TrainResult:
    """The ML engineer's loop in one call: fit, tune thresholds, evaluate, log, register as challenger.

    Args:
        kind: baseline | transformer.
        dataset_dir: a folder written by `occ dataset`.
        settings: all settings (the family's section, thresholds and safety are used).
        products: the product dictionary shipped inside the model.
        registered_model: registered model name (default: registry.model_name).
        metrics_out: also write the test metrics as JSON there (DVC metrics) and the epoch history beside it.
        lineage: extra run tags naming where the labels came from (e.g. a review export).
    """
    import mlflow

    if kind not in MODEL_KINDS:
        raise TrainingError(f"unknown model {kind!r}; use one of {MODEL_KINDS}")
    dataset, taxonomy_dict = load_dataset_dir(dataset_dir)
    taxonomy: Taxonomy = taxonomy_from_dict(taxonomy_dict, f"{dataset_dir}/taxonomy.json")
    meta = json.loads((Path(dataset_dir) / "dataset_meta.json").read_text(encoding="utf-8"))
    specs = task_specs(taxonomy)
    train, validation, test = (split_inputs(dataset[s], specs) for s in ("train", "validation", "test"))
    name = registered_model or settings.registry.model_name

    start = time.monotonic()
    ensure_experiment(settings.registry.experiment)
    mlflow.set_experiment(settings.registry.experiment)
    with mlflow.start_run(run_name=f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags({"occ.model_kind": kind, "occ.taxonomy_version": taxonomy.version, **dict(lineage or {}),
                         **({"mlflow.source.git.commit": commit} if (commit := _git_commit()) else {})})
        recipe = fit_recipe(kind, specs, train, validation, settings)
        model, used_config, thresholds, temperatures = recipe.model, recipe.used_config, recipe.thresholds, recipe.temperatures
        safety, val_metrics = recipe.safety, recipe.validation_metrics
        mlflow.set_tag("occ.refit", recipe.refit)
        raw_test = model.predict_proba(test[0])
        test_metrics = evaluate_all(specs, apply_temperatures(specs, raw_test, temperatures), test[1], thresholds)
        calibration_report = _calibration_report(specs, temperatures, raw_test, test[1], test_metrics)
        seconds = time.monotonic() - start
        logger.info("%s on the frozen test split:\n%s", kind, metrics_table(test_metrics))

        mlflow.log_params(logged_settings(kind, used_config, settings))
        mlflow.log_params({"dataset.sizes": json.dumps(meta["sizes"]), "dataset.seed": meta.get("seed"),
                           "taxonomy.version": taxonomy.version})
        mlflow.log_metrics({**flat_metrics(test_metrics, "test"), **flat_metrics(val_metrics, "validation"),
                            **calibration_report, "train_seconds": seconds})
        if safety is not None:
            mlflow.set_tags(safety_tags(safety))
        for step, epoch in enumerate(getattr(model, "history_", []) or []):
            mlflow.log_metrics({k: float(v) for k, v in epoch.items() if isinstance(v, (int, float)) and k != "epoch"},
                               step=int(epoch.get("epoch", step)))
        for split_name in ("train", "validation", "test"):
            frame = _split_frame(dataset[split_name], specs)
            mlflow.log_input(mlflow.data.from_pandas(frame, source=str(Path(dataset_dir).resolve()), name=split_name),
                             context=split_name)

        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            run_artifacts.confusion_pngs(specs, test_metrics, tmp_path / "plots")
            (tmp_path / "per_label_report.md").write_text(run_artifacts.per_label_report(test_metrics), encoding="utf-8")
            (tmp_path / "model_card.md").write_text(
                run_artifacts.model_card(kind, taxonomy.to_dict(), meta, used_config, test_metrics, thresholds, safety,
                                         training_notes(kind, recipe, settings)),
                encoding="utf-8")
            (tmp_path / "metrics.json").write_text(json.dumps({"test": test_metrics, "validation": val_metrics}, indent=2), encoding="utf-8")
            mlflow.log_artifacts(str(tmp_path), artifact_path="evaluation")

            bundle = ModelBundle(kind, model, taxonomy.to_dict(), thresholds,
                                 products.to_dict() if products is not None else None,
                                 {"run_id": run.info.run_id, "dataset_sizes": meta["sizes"],
                                  "safety": safety.to_dict() if safety else None}, temperatures)
            bundle_dir = bundle.save(tmp_path / "bundle")
            example = pd.DataFrame({"text": test[0][:3] or ["example post"]})
            info = log_bundle(bundle_dir, name="model", input_example=example)
        tags = {"model_kind": kind, "taxonomy_version": taxonomy.version,
                "test_mean_macro_f1": f"{mean_macro_f1(test_metrics):.4f}",
                **(safety_tags(safety) if safety is not None else {}), **dict(lineage or {})}
        version = register_version(name, info.model_uri, run.info.run_id, tags=tags)
    try:
        aliases = [CHALLENGER] + ([CHAMPION] if version.became_champion else [])
        result = TrainResult(kind, run.info.run_id, name, version.version, test_metrics, val_metrics, thresholds,
                             seconds, aliases, safety)
        if metrics_out is not None:
            write_metrics_files(metrics_out, test_metrics, seconds, getattr(model, "history_", None), safety)
    except BaseException:
        logger.error("a step after registering %s version %s failed: deleting that version so that no "
                     "incomplete version stays registered", name, version.version)
        delete_version(version)
        raise
    if safety is not None and not safety.target_met:
        logger.warning("%s version %s: %s", name, version.version, safety.sentence())
    return result


def write_metrics_files(metrics_out: Path, test_metrics: Mapping[str, Any], seconds: float,
                        history: Sequence[Mapping[str, Any]] | None, safety: SafetyOutcome | None) -> None:
    """DVC's metrics JSON and the epoch-history CSV beside it (an empty one for the baseline)."""
    metrics_out = Path(metrics_out)
    try:
        metrics_out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainingError(f"cannot write --metrics-out {metrics_out}: {exc.strerror or exc}; choose a writable path") from exc
    summary: dict[str, Any] = {
        "test_mean_macro_f1": round(mean_macro_f1(test_metrics), 4),
        **{f"{t}_macro_f1": round(m.get("macro_f1", float("nan")), 4) for t, m in test_metrics.items()},
        "train_seconds": round(seconds, 1),
    }
    if safety is not None:
        test = test_metrics.get(safety.task, {})
        summary.update({"safety_validation_recall": round(safety.validation_recall, 4),
                        "safety_test_recall": round(test.get("recall_at_threshold", float("nan")), 4),
                        "safety_test_flag_share": round(test.get("flag_share", float("nan")), 4),
                        "safety_target_met": safety.target_met})
    frame = pd.DataFrame([{k: v for k, v in epoch.items() if isinstance(v, (int, float))} for epoch in history or []])
    if frame.empty:  # the baseline has no epochs; DVC still gets its (empty) plot file
        frame = pd.DataFrame(columns=["epoch", "train_loss", "val_loss", "val_macro_f1", "val_ranking"])
    try:
        write_bytes_atomic(metrics_out, (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
        write_bytes_atomic(metrics_out.with_name(f"{metrics_out.stem}_history.csv"), frame.to_csv(index=False).encode("utf-8"))
    except OSError as exc:
        raise TrainingError(f"cannot write --metrics-out {metrics_out}: {exc.strerror or exc}; choose a writable path") from exc
