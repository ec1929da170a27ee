"""Calibrated probabilities whose order survives: temperature scaling fitted on validation, per task.

Why: a fine-tuned transformer is over-confident (on an adverse-event corpus its probabilities had a median of
0.000004 and a 90th percentile of 0.9998), so a threshold chosen on validation lands in a region where a few
posts decide everything, and stored scores tie. Dividing the logits by a temperature T > 1 (Guo et al., 2017,
"On Calibration of Modern Neural Networks") spreads them out without changing any post's ranking within a
label; T is fitted by minimizing the negative log-likelihood on validation (one number per single/binary task,
one per label of a multi-label task). Isotonic regression calibrates more flexibly, but it is a step function:
it maps whole ranges of scores to one value, which is exactly the tying this module exists to avoid.

Probabilities are turned back into logits (log p for softmax tasks, logit p for sigmoid labels), so the same
code calibrates any model family that outputs probabilities.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax, logit, softmax

from models.tasks import UNLABELED, TaskSpec

EPS = 1e-300
"""Probabilities are kept above this before taking logs (float64 reaches it only for logits beyond ~690)."""
ONE = float(np.nextafter(1.0, 0.0))
BOUNDS = (0.05, 50.0)
"""Temperatures searched (log-uniformly): from sharpening 20x to flattening 50x."""


def _softmax_nll(log_p: np.ndarray, y: np.ndarray, temperature: float) -> float:
    scaled = log_softmax(log_p / temperature, axis=1)
    return float(-scaled[np.arange(len(y)), y].mean())


def _sigmoid_nll(z: np.ndarray, y: np.ndarray, temperature: float) -> float:
    p = np.clip(expit(z / temperature), 1e-15, 1 - 1e-15)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def _fit(objective: Any) -> float:
    result = minimize_scalar(lambda log_t: objective(float(np.exp(log_t))), bounds=np.log(BOUNDS), method="bounded",
                             options={"xatol": 1e-4})
    return float(np.exp(result.x))


def fit_temperatures(specs: Sequence[TaskSpec], proba: Mapping[str, np.ndarray],
                     targets: Mapping[str, np.ndarray]) -> dict[str, list[float]]:
    """{task: [T]} for single/binary tasks, {task: [T per label]} for multi-label; 1.0 where nothing to fit on."""
    out: dict[str, list[float]] = {}
    for spec in specs:
        if spec.name not in proba or spec.name not in targets:
            continue
        p = np.clip(np.asarray(proba[spec.name], dtype=np.float64), EPS, ONE)
        y = np.asarray(targets[spec.name])
        if spec.kind == "multi":
            temps = []
            for j in range(p.shape[1]):
                keep = y[:, j] != UNLABELED
                yj = y[keep, j].astype(np.float64)
                if keep.sum() < 10 or yj.min() == yj.max():
                    temps.append(1.0)
                    continue
                z = logit(p[keep, j])
                temps.append(_fit(lambda t, z=z, yj=yj: _sigmoid_nll(z, yj, t)))
            out[spec.name] = temps
        else:
            keep = y != UNLABELED
            if keep.sum() < 10 or len(np.unique(y[keep])) < 2:
                out[spec.name] = [1.0]
                continue
            log_p = np.log(p[keep])
            out[spec.name] = [_fit(lambda t, lp=log_p, yy=y[keep]: _softmax_nll(lp, yy, t))]
    return out


def apply_temperatures(specs: Sequence[TaskSpec], proba: Mapping[str, np.ndarray],
                       temperatures: Mapping[str, Sequence[float]] | None) -> dict[str, np.ndarray]:
    """Calibrated probabilities (tasks without a temperature pass through unchanged)."""
    if not temperatures:
        return dict(proba)
    out = dict(proba)
    for spec in specs:
        temps = temperatures.get(spec.name)
        if not temps or spec.name not in proba:
            continue
        p = np.clip(np.asarray(proba[spec.name], dtype=np.float64), EPS, ONE)
        if spec.kind == "multi":
            out[spec.name] = expit(logit(p) / np.asarray(temps, dtype=np.float64)[None, :])
        else:
            out[spec.name] = softmax(np.log(p) / float(temps[0]), axis=1)
    return out
