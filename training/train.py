"""Train a model family on a saved dataset, evaluate it on the frozen test split, track it in MLflow and
register it as a new version with alias `challenger` (the first version ever also becomes `champion`).

Everything that can fail on bad input (dataset, taxonomy, params) is checked before the MLflow run starts,
and a failure after registration removes the version again, so bad input never leaves a version behind.
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from labeling.dataset import load_dataset_dir
from labeling.products import ProductDictionary
from labeling.taxonomy import Taxonomy, taxonomy_from_dict
from models.artifact import ModelBundle, log_bundle
from models.tasks import TaskSpec
from models.tracking import ensure_experiment
from models.tasks import UNLABELED
from models.thresholds import guard_recall_threshold, tune_all
from training import artifacts as run_artifacts
from training.config import RegistryConfig, ThresholdPolicy
from training.data import split_inputs, task_specs
from training.metrics import evaluate_all, flat_metrics, mean_macro_f1, metrics_table
from training.registry import CHALLENGER, CHAMPION, register_version

logger = logging.getLogger(__name__)

MODEL_KINDS = ("baseline", "transformer")


class TrainingError(ValueError):
    """Training cannot start or finish; the message names the problem and the fix."""


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

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "run_id": self.run_id, "model_name": self.model_name, "version": self.version,
                "aliases": self.aliases, "seconds": round(self.seconds, 1),
                "test_mean_macro_f1": round(mean_macro_f1(self.test_metrics), 4),
                "test_macro_f1": {t: round(m.get("macro_f1", float("nan")), 4) for t, m in self.test_metrics.items()}}


def _filter_min_recall(specs: Sequence[TaskSpec], min_recall: Mapping[str, float]) -> dict[str, float]:
    binary = {s.name for s in specs if s.kind == "binary"}
    kept = {task: target for task, target in min_recall.items() if task in binary}
    for task in sorted(set(min_recall) - binary):
        logger.info("thresholds.min_recall names %r, which is not a binary task of this taxonomy: ignored", task)
    return kept


def tune_with_policy(specs: Sequence[TaskSpec], proba_val: Mapping[str, np.ndarray],
                     y_val: Mapping[str, np.ndarray], policy: ThresholdPolicy) -> dict[str, list[float]]:
    """Thresholds as `occ train` sets them: the F1 rule, recall targets for safety tasks, then the guards that
    keep a recall target from flagging most posts (see `models.thresholds.guard_recall_threshold`)."""
    min_recall = _filter_min_recall(specs, policy.min_recall)
    thresholds = tune_all(specs, proba_val, y_val, min_recall, strategy=policy.strategy,
                          min_positives=policy.min_positives, clip=policy.clip, shrink=policy.shrink)
    for spec in specs:
        if spec.name not in min_recall or spec.name not in y_val:
            continue
        y = np.asarray(y_val[spec.name])
        keep = y != UNLABELED
        scores = np.asarray(proba_val[spec.name])[keep, spec.positive_index]
        guarded, reason = guard_recall_threshold(scores, y[keep] == spec.positive_index, thresholds[spec.name][0],
                                                 policy.min_recall_floor, policy.max_flag_ratio)
        if reason is not None:
            logger.warning("task %s: recall target %.2f not reachable at a workable threshold: %s. Label more "
                           "positives, review label noise, or use a stronger model.", spec.name,
                           min_recall[spec.name], reason)
            thresholds[spec.name] = [guarded]
    return thresholds


def fit_family(kind: str, specs: Sequence[TaskSpec], train: tuple[list[str], dict[str, np.ndarray]],
               validation: tuple[list[str], dict[str, np.ndarray]], family_params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Fit one model family; returns the model and the flat config that was used (for MLflow params)."""
    texts, targets = train
    if kind == "baseline":
        from models.baseline import TfidfMultiTaskClassifier

        options = dict(family_params)
        for key in ("word_ngram_range", "char_ngram_range"):
            if options.get(key) is not None:
                options[key] = tuple(options[key])
        model = TfidfMultiTaskClassifier(tasks=list(specs), **options)
        model.fit(texts, targets)
        return model, {k: v for k, v in model.get_params().items() if k != "tasks"}
    if kind == "transformer":
        from models.encoder import default_encoder_dir
        from models.transformer import TransformerClassifier, TransformerConfig, cpu_has_fast_bf16

        options = dict(family_params)
        encoder = options.pop("encoder", None) or default_encoder_dir()
        if options.get("precision", "auto") == "auto":  # bf16 pays only where the CPU computes it natively
            options["precision"] = "bf16" if cpu_has_fast_bf16() else "fp32"
        config = TransformerConfig.from_dict(options)
        model = TransformerClassifier(list(specs), encoder_dir=encoder, config=config)
        model.fit(texts, targets, validation[0], validation[1])
        return model, {**config.to_dict(), "encoder": Path(str(encoder)).name}
    raise TrainingError(f"unknown model {kind!r}; use one of {MODEL_KINDS}")


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


def train_and_register(kind: str, dataset_dir: Path, params: Mapping[str, Any], *,
                       products: ProductDictionary | None = None, registered_model: str | None = None,
                       metrics_out: Path | None = None, family_overrides: Mapping[str, Any] | None = None) -> TrainResult:
    """The ML engineer's loop in one call: fit, tune thresholds, evaluate, log, register as challenger."""
    import mlflow

    if kind not in MODEL_KINDS:
        raise TrainingError(f"unknown model {kind!r}; use one of {MODEL_KINDS}")
    dataset, taxonomy_dict = load_dataset_dir(dataset_dir)
    taxonomy: Taxonomy = taxonomy_from_dict(taxonomy_dict, f"{dataset_dir}/taxonomy.json")
    meta = json.loads((Path(dataset_dir) / "dataset_meta.json").read_text(encoding="utf-8"))
    specs = task_specs(taxonomy)
    train, validation, test = (split_inputs(dataset[s], specs) for s in ("train", "validation", "test"))
    policy = ThresholdPolicy.from_params(dict(params))
    registry = RegistryConfig.from_params(dict(params))
    name = registered_model or registry.model_name
    family_params = dict(params.get(kind) or {})
    family_params.update(family_overrides or {})

    start = time.monotonic()
    ensure_experiment(registry.experiment)
    mlflow.set_experiment(registry.experiment)
    with mlflow.start_run(run_name=f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags({"occ.model_kind": kind, "occ.taxonomy_version": taxonomy.version,
                         **({"mlflow.source.git.commit": commit} if (commit := _git_commit()) else {})})
        model, used_config = fit_family(kind, specs, train, validation, family_params)
        proba_val = model.predict_proba(validation[0])
        thresholds = tune_with_policy(specs, proba_val, validation[1], policy)
        model.thresholds_ = thresholds
        val_metrics = evaluate_all(specs, proba_val, validation[1], thresholds)
        test_metrics = evaluate_all(specs, model.predict_proba(test[0]), test[1], thresholds)
        seconds = time.monotonic() - start
        logger.info("%s on the frozen test split:\n%s", kind, metrics_table(test_metrics))

        mlflow.log_params({f"{kind}.{k}": str(v)[:500] for k, v in used_config.items()})
        mlflow.log_params({f"thresholds.{k}": str(v) for k, v in vars(policy).items()})
        mlflow.log_params({"dataset.sizes": json.dumps(meta["sizes"]), "dataset.seed": meta.get("seed"),
                           "taxonomy.version": taxonomy.version})
        mlflow.log_metrics({**flat_metrics(test_metrics, "test"), **flat_metrics(val_metrics, "validation"),
                            "train_seconds": seconds})
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
                run_artifacts.model_card(kind, taxonomy.to_dict(), meta, used_config, test_metrics, thresholds), encoding="utf-8")
            (tmp_path / "metrics.json").write_text(json.dumps({"test": test_metrics, "validation": val_metrics}, indent=2), encoding="utf-8")
            mlflow.log_artifacts(str(tmp_path), artifact_path="evaluation")

            bundle = ModelBundle(kind, model, taxonomy.to_dict(), thresholds,
                                 products.to_dict() if products is not None else None,
                                 {"run_id": run.info.run_id, "dataset_sizes": meta["sizes"]})
            bundle_dir = bundle.save(tmp_path / "bundle")
            example = pd.DataFrame({"text": test[0][:3] or ["example post"]})
            info = log_bundle(bundle_dir, name="model", input_example=example)
        version = register_version(name, info.model_uri, run.info.run_id,
                                   tags={"model_kind": kind, "taxonomy_version": taxonomy.version,
                                         "test_mean_macro_f1": f"{mean_macro_f1(test_metrics):.4f}"})
    aliases = [CHALLENGER] + ([CHAMPION] if version.became_champion else [])
    result = TrainResult(kind, run.info.run_id, name, version.version, test_metrics, val_metrics, thresholds, seconds, aliases)
    if metrics_out is not None:
        metrics_out.parent.mkdir(parents=True, exist_ok=True)
        metrics_out.write_text(json.dumps({"test_mean_macro_f1": round(mean_macro_f1(test_metrics), 4),
                                           **{f"{t}_macro_f1": round(m.get("macro_f1", float('nan')), 4) for t, m in test_metrics.items()},
                                           "train_seconds": round(seconds, 1)}, indent=2) + "\n", encoding="utf-8")
        history = pd.DataFrame([{k: v for k, v in epoch.items() if isinstance(v, (int, float))}
                                for epoch in getattr(model, "history_", None) or []])
        if history.empty:  # the baseline has no epochs; DVC still gets its (empty) plot file
            history = pd.DataFrame(columns=["epoch", "train_loss", "val_loss", "val_macro_f1"])
        history.to_csv(metrics_out.with_name(f"{metrics_out.stem}_history.csv"), index=False)
    return result
