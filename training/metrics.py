"""Evaluation metrics, computed once and sent both to MLflow and to DVC's metrics file.

Per task: macro-F1 (the one definition in `models.metrics`) and micro-F1 over labels, per-label
precision/recall/F1/support, and the expected calibration error (ECE) of the probabilities, which matters
because reviewers and the safety export read probabilities, not just labels. Binary tasks also get the
operating point the safety team lives with: recall of the flagged label at the model's own threshold, and the
share of posts flagged (`flag_share`) next to the share that is truly positive (`positive_share`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from models.metrics import task_macro_f1

from models.tasks import TaskSpec, decide_indices, labeled_mask


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def task_metrics(spec: TaskSpec, proba: np.ndarray, y: np.ndarray, thresholds: Sequence[float] | None) -> dict[str, Any]:
    """Metrics of one task on the posts that carry a gold label for it."""
    mask = labeled_mask(spec, y)
    proba, y = proba[mask], y[mask]
    result: dict[str, Any] = {"support": int(mask.sum())}
    if mask.sum() == 0:
        return result
    predicted = decide_indices(spec, proba, thresholds)
    labels = list(range(len(spec.labels)))
    if spec.kind == "multi":
        p, r, f, s = precision_recall_fscore_support(y, predicted, average=None, zero_division=0)
        result["macro_f1"] = task_macro_f1(spec, y, predicted)
        result["micro_f1"] = float(f1_score(y, predicted, average="micro", zero_division=0))
        result["ece"] = expected_calibration_error(proba.ravel(), (y.ravel() == 1).astype(float))
    else:
        p, r, f, s = precision_recall_fscore_support(y, predicted, labels=labels, average=None, zero_division=0)
        result["macro_f1"] = task_macro_f1(spec, y, predicted)
        result["micro_f1"] = float(f1_score(y, predicted, labels=labels, average="micro", zero_division=0))
        result["ece"] = expected_calibration_error(proba.max(axis=1), (proba.argmax(axis=1) == y).astype(float))
        result["confusion"] = confusion_matrix(y, predicted, labels=labels).tolist()
        if spec.kind == "binary":
            positive = spec.positive_index
            result["recall_at_threshold"] = float(r[positive])
            result["precision_at_threshold"] = float(p[positive])
            result["flag_share"] = float(np.mean(predicted == positive))
            result["positive_share"] = float(np.mean(y == positive))
    result["per_label"] = {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(spec.labels)
    }
    return result


def evaluate_all(specs: Sequence[TaskSpec], proba: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray],
                 thresholds: Mapping[str, Sequence[float]]) -> dict[str, dict[str, Any]]:
    return {s.name: task_metrics(s, proba[s.name], targets[s.name], thresholds.get(s.name)) for s in specs}


def mean_macro_f1(metrics: Mapping[str, Mapping[str, Any]]) -> float:
    values = [m["macro_f1"] for m in metrics.values() if "macro_f1" in m]
    return float(np.mean(values)) if values else float("nan")


def flat_metrics(metrics: Mapping[str, Mapping[str, Any]], prefix: str = "test") -> dict[str, float]:
    """MLflow-style flat names: test.sentiment.macro_f1, test.perception.efficacy.f1, test.mean_macro_f1."""
    flat: dict[str, float] = {f"{prefix}.mean_macro_f1": mean_macro_f1(metrics)}
    for task, values in metrics.items():
        for key in ("macro_f1", "micro_f1", "ece", "recall_at_threshold", "precision_at_threshold", "flag_share",
                    "positive_share"):
            if key in values and np.isfinite(values[key]):
                flat[f"{prefix}.{task}.{key}"] = float(values[key])
        for label, scores in values.get("per_label", {}).items():
            for key in ("precision", "recall", "f1"):
                flat[f"{prefix}.{task}.{label}.{key}"] = float(scores[key])
    return flat


def metrics_table(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain-text table a person can read in a terminal."""
    lines = [f"{'task':<22}{'macro-F1':>10}{'micro-F1':>10}{'ECE':>8}{'n':>7}"]
    for task, values in metrics.items():
        if "macro_f1" not in values:
            lines.append(f"{task:<22}{'-':>10}{'-':>10}{'-':>8}{values.get('support', 0):>7}")
            continue
        lines.append(f"{task:<22}{values['macro_f1']:>10.3f}{values['micro_f1']:>10.3f}{values['ece']:>8.3f}{values['support']:>7}")
    lines.append(f"{'mean':<22}{mean_macro_f1(metrics):>10.3f}")
    return "\n".join(lines)
