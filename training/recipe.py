"""The training recipe of every model family: fit, calibrate, choose thresholds, refit on every label.

`occ train` and the benchmarks (`bench/benchmarks.py`) call the same `fit_recipe`, so the table a user reads to
choose a family measures exactly what `occ train` ships.

Why refit: users bring a few hundred to a few thousand labels per task; carving validation out of them and never
training on it throws away 15-20% of the most expensive input. The baseline is therefore refit on train plus
validation after its thresholds are chosen; its temperatures and thresholds come from out-of-fold
probabilities over train plus validation (k models, each predicting the fold it did not see), because a
model refit on more data would otherwise be judged by probabilities of a model it no longer is. The
transformer's refit (the chosen epoch count on train plus validation) is behind `transformer.refit`: its
out-of-fold probabilities would cost k fine-tunes, so its thresholds stay those of the validation model. The
switch is off: on binary tasks the refit's scores drift from those thresholds, and on a CPU it doubles the
fine-tune (bench/transformer_refit.py, docs/BENCHMARKS.md).
The frozen test split never enters any of this: it is only for the gate.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import OccError
from common.progress import Progress
from common.settings import MODEL_KINDS, SafetySettings, Settings, ThresholdSettings, to_dict
from models.calibration import apply_temperatures, fit_temperatures
from models.tasks import UNLABELED, TaskSpec
from models.thresholds import guard_recall_threshold, tune_all
from training.metrics import evaluate_all
from training.safety import SafetyOutcome

logger = logging.getLogger(__name__)

WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 11), 2)
"""Baseline weights an ensemble may take per task (0 = transformer only, 1 = baseline only)."""
REFIT_KEYS = ("refit", "refit_folds")
"""Recipe switches in a family's settings section; the estimator itself never sees them."""

Split = tuple[list[str], dict[str, np.ndarray]]


class TrainingError(OccError, ValueError):
    """Training cannot start or finish; the message names the problem and the fix."""


def safety_spec(specs: Sequence[TaskSpec], safety: SafetySettings) -> TaskSpec | None:
    """The taxonomy's safety task (a binary task named `safety.task`), or None when it has none."""
    for spec in specs:
        if spec.name == safety.task:
            if spec.kind != "binary":
                raise TrainingError(f"safety.task {safety.task!r} must be a binary task, but it is {spec.kind!r}; "
                                    "fix safety.task in params.yaml or the task's kind in the taxonomy")
            return spec
    return None


def tune_with_policy(specs: Sequence[TaskSpec], proba_val: Mapping[str, np.ndarray], y_val: Mapping[str, np.ndarray],
                     policy: ThresholdSettings, safety: SafetySettings) -> tuple[dict[str, list[float]], SafetyOutcome | None]:
    """Thresholds per task from validation probabilities, with the recall target on the safety task, guarded to
    keep a recall target from flagging most posts (`models.thresholds.guard_recall_threshold`).

    Returns the thresholds and, when the taxonomy has the safety task, the operating point it settled on:
    the recall actually reached on validation and the share of posts flagged.
    """
    spec = safety_spec(specs, safety)
    thresholds = tune_all(specs, proba_val, y_val, policy, {spec.name: safety.min_recall} if spec else None)
    if spec is None:
        return thresholds, None
    y = y_val[spec.name]
    labeled = y != UNLABELED
    scores = proba_val[spec.name][labeled, spec.positive_index]
    positive = y[labeled] == spec.positive_index
    guarded, reason = guard_recall_threshold(scores, positive, thresholds[spec.name][0], safety.min_recall_floor,
                                             safety.max_flag_ratio)
    if reason:
        logger.warning("task %s: recall target %.2f not reachable at a workable threshold: %s. Label more "
                       "positive examples to reach it", spec.name, safety.min_recall, reason)
        thresholds[spec.name] = [guarded]
    outcome = SafetyOutcome.measure(spec.name, safety.min_recall, thresholds[spec.name][0], scores, positive,
                                    reason or None)
    return thresholds, outcome


def estimator_options(section: Any) -> dict[str, Any]:
    """A family's settings section without the recipe switches, lists as tuples (what the estimator takes)."""
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in to_dict(section).items() if k not in REFIT_KEYS}


def fit_family(kind: str, specs: Sequence[TaskSpec], train: Split, validation: Split | None,
               settings: Settings, *, epochs: int | None = None, progress: bool = True) -> tuple[Any, dict[str, Any]]:
    """Fit one model family once; returns the model and the estimator settings that shaped it.

    `epochs` (transformer) trains exactly that many epochs without early stopping (the refit).
    """
    texts, targets = train
    if kind == "baseline":
        from models.baseline import TfidfMultiTaskClassifier

        options = estimator_options(settings.baseline)
        model = TfidfMultiTaskClassifier(tasks=list(specs), **options)
        model.fit(texts, targets)
        return model, {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}
    if kind == "transformer":
        from models.transformer import TransformerClassifier
        from models.transformer.encoder import default_encoder_dir

        config = settings.transformer if epochs is None else dataclasses.replace(settings.transformer, epochs=epochs)
        encoder = config.encoder or default_encoder_dir()
        model = TransformerClassifier(list(specs), encoder_dir=encoder, config=config)
        if validation is None or epochs is not None:
            model.fit(texts, targets, progress=progress)
        else:
            model.fit(texts, targets, validation[0], validation[1], progress=progress)
        used = {**{k: v for k, v in to_dict(config).items() if k not in REFIT_KEYS},
                "encoder": Path(str(encoder)).name, "precision_resolved": model.training_precision_}
        return model, used
    raise TrainingError(f"unknown model {kind!r}; use one of {MODEL_KINDS}")


@dataclass
class FittedRecipe:
    """What a recipe produced: the model to ship and everything that decided how it decides."""

    model: Any
    thresholds: dict[str, list[float]]
    temperatures: dict[str, list[float]] | None
    safety: SafetyOutcome | None
    used_config: dict[str, Any]
    validation_metrics: dict[str, Any]
    """Metrics of the probabilities the thresholds were chosen on (out-of-fold for a refit baseline)."""
    refit: str
    """How the shipped model was trained: "train", "train+validation (k-fold out-of-fold thresholds)", ..."""
    seconds: float
    validation_proba: dict[str, np.ndarray]
    """The calibrated probabilities the thresholds were chosen on, with their targets (for other policies)."""
    validation_targets: dict[str, np.ndarray]


def _concat(a: Split, b: Split) -> Split:
    return a[0] + b[0], {name: np.concatenate([a[1][name], b[1][name]]) for name in a[1]}


def _subset(split: Split, rows: np.ndarray) -> Split:
    texts = split[0]
    return [texts[i] for i in rows.tolist()], {name: y[rows] for name, y in split[1].items()}


def out_of_fold_proba(kind: str, specs: Sequence[TaskSpec], data: Split, settings: Settings, folds: int,
                      seed: int) -> dict[str, np.ndarray]:
    """Probabilities of every post from a model that did not see it (k-fold, shuffled, seeded)."""
    from sklearn.model_selection import KFold

    n = len(data[0])
    oof = {spec.name: np.zeros((n, len(spec.labels))) for spec in specs}
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    bar = Progress("out-of-fold models", total=folds, unit="folds")
    for fit_rows, held_rows in splitter.split(np.arange(n)):
        model, _ = fit_family(kind, specs, _subset(data, fit_rows), None, settings)
        for name, proba in model.predict_proba([data[0][i] for i in held_rows.tolist()]).items():
            oof[name][held_rows] = proba
        bar.update(1)
    bar.close()
    return oof


def _calibrate_and_tune(specs: Sequence[TaskSpec], raw: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray],
                        settings: Settings) -> tuple[Any, ...]:
    temperatures = fit_temperatures(specs, raw, y) if settings.thresholds.calibrate else None
    calibrated = apply_temperatures(specs, raw, temperatures)
    thresholds, safety = tune_with_policy(specs, calibrated, y, settings.thresholds, settings.safety)
    return temperatures, thresholds, safety, evaluate_all(specs, calibrated, y, thresholds), calibrated


def fit_recipe(kind: str, specs: Sequence[TaskSpec], train: Split, validation: Split, settings: Settings,
               *, progress: bool = True) -> FittedRecipe:
    """Fit `kind` the way `occ train` ships it (see the module docstring for the refit rules)."""
    if kind not in MODEL_KINDS:
        raise TrainingError(f"unknown model {kind!r}; use one of {MODEL_KINDS}")
    if kind == "ensemble":
        members = {name: fit_recipe(name, specs, train, validation, settings, progress=progress)
                   for name in ("baseline", "transformer")}
        return combine(specs, members["baseline"], members["transformer"], validation, settings)
    start = time.monotonic()
    section = settings.baseline if kind == "baseline" else settings.transformer
    labeled_val = any((y != UNLABELED).any() for y in validation[1].values()) if validation[0] else False
    if kind == "baseline" and section.refit and labeled_val:
        combined = _concat(train, validation)
        folds = min(section.refit_folds, len(combined[0]))
        logger.info("baseline: thresholds from %d-fold out-of-fold probabilities over train + validation "
                    "(%d posts), then one refit on all of them", folds, len(combined[0]))
        oof = out_of_fold_proba(kind, specs, combined, settings, folds, settings.dataset.seed)
        temperatures, thresholds, safety, val_metrics, val_proba = _calibrate_and_tune(specs, oof, combined[1], settings)
        val_targets = combined[1]
        model, used = fit_family(kind, specs, combined, None, settings)
        refit = f"train+validation ({folds}-fold out-of-fold thresholds)"
    else:
        model, used = fit_family(kind, specs, train, validation, settings, progress=progress)
        temperatures, thresholds, safety, val_metrics, val_proba = _calibrate_and_tune(
            specs, model.predict_proba(validation[0]), validation[1], settings)
        val_targets = validation[1]
        refit = "train"
        if kind == "transformer" and section.refit and labeled_val:
            epochs = int(getattr(model, "best_epoch_", 0) or section.epochs)
            logger.info("transformer: refit on train + validation for the chosen %d epoch(s); thresholds and "
                        "temperatures stay those of the validation model", epochs)
            model, used = fit_family(kind, specs, _concat(train, validation), None, settings, epochs=epochs,
                                     progress=progress)
            refit = f"train+validation ({epochs} epochs; thresholds from the validation model)"
    used = {**used, "refit": bool(section.refit), **({"refit_folds": section.refit_folds} if kind == "baseline" else {})}
    model.thresholds_ = thresholds
    return FittedRecipe(model, thresholds, temperatures, safety, used, val_metrics, refit, time.monotonic() - start,
                        dict(val_proba), dict(val_targets))


def _validation_rows(recipe: FittedRecipe, n_validation: int) -> dict[str, np.ndarray]:
    """A member's calibrated probabilities of the validation posts (a refit baseline's are the last rows of its
    out-of-fold probabilities over train + validation)."""
    return {k: v[-n_validation:] for k, v in recipe.validation_proba.items()}


def log_loss(spec: TaskSpec, proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the labeled rows (multi: summed over labels): the weight's criterion."""
    eps = 1e-7
    p = np.clip(np.asarray(proba, dtype=float), eps, 1 - eps)
    if spec.kind == "multi":
        keep = ~(y == UNLABELED).any(axis=1)
        t = y[keep].astype(float)
        return float(-(t * np.log(p[keep]) + (1 - t) * np.log(1 - p[keep])).sum(axis=1).mean()) if keep.any() else 0.0
    keep = y != UNLABELED
    return float(-np.log(p[keep, y[keep]]).mean()) if keep.any() else 0.0


def ensemble_weights(specs: Sequence[TaskSpec], baseline: Mapping[str, np.ndarray], transformer: Mapping[str, np.ndarray],
                     targets: Mapping[str, np.ndarray], baseline_weight: float | None) -> dict[str, float]:
    """The baseline's share per task: `baseline_weight` for every task, or (None) the grid value with the lowest
    log loss of the mix on these (validation) targets."""
    weights = {}
    for spec in specs:
        if baseline_weight is not None:
            weights[spec.name] = float(baseline_weight)
            continue
        losses = [log_loss(spec, w * baseline[spec.name] + (1 - w) * transformer[spec.name], targets[spec.name])
                  for w in WEIGHT_GRID]
        weights[spec.name] = float(WEIGHT_GRID[int(np.argmin(losses))])
    logger.info("ensemble weights of the baseline per task (%s): %s",
                "ensemble.baseline_weight" if baseline_weight is not None else "validation log loss", weights)
    return weights


def combine(specs: Sequence[TaskSpec], baseline: FittedRecipe, transformer: FittedRecipe, validation: Split,
            settings: Settings) -> FittedRecipe:
    """The ensemble of two fitted members: each task's weight (`ensemble.baseline_weight`), thresholds on the mix.

    Equal shares by default. A weight chosen on validation log loss (`baseline_weight: null`) leans toward the
    transformer: its validation probabilities come from the epoch early stopping chose on that same set (and
    its temperatures are fitted there), so they look better there than on new text, while the baseline's are
    out-of-fold. On the shared corpora compared so far, equal shares beat both members on each one, and that
    choice on most (docs/BENCHMARKS.md).
    """
    from models.ensemble import EnsembleClassifier, mix

    start = time.monotonic()
    n = len(validation[0])
    first, second = _validation_rows(baseline, n), _validation_rows(transformer, n)
    weights = ensemble_weights(specs, first, second, validation[1], settings.ensemble.baseline_weight)
    mixed = mix(specs, first, second, weights)
    thresholds, safety = tune_with_policy(specs, mixed, validation[1], settings.thresholds, settings.safety)
    model = EnsembleClassifier(specs, {"baseline": baseline.model, "transformer": transformer.model},
                               {"baseline": baseline.temperatures, "transformer": transformer.temperatures}, weights)
    model.thresholds_ = thresholds
    used = {**{f"baseline.{k}": v for k, v in baseline.used_config.items()},
            **{f"transformer.{k}": v for k, v in transformer.used_config.items()},
            **{f"weight.{task}": w for task, w in weights.items()}}
    return FittedRecipe(model, thresholds, None, safety, used, evaluate_all(specs, mixed, validation[1], thresholds),
                        f"members: baseline {baseline.refit}; transformer {transformer.refit}",
                        baseline.seconds + transformer.seconds + time.monotonic() - start, mixed, dict(validation[1]))
