"""The one definition of macro-F1, used by early stopping, evaluation, reports and the promotion gate.

Why one: the transformer's early stopping once left out classes absent from both gold and predictions while
evaluation counted them as 0, so the epoch it kept was chosen on a different number than the one the gate
compared. Here every label of the task counts, an absent one scores 0 (scikit-learn's `average="macro"` with
`labels=` all classes and `zero_division=0`), on the posts that carry a gold label for the task.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, f1_score

from models.tasks import UNLABELED, TaskSpec, labeled_mask


def task_macro_f1(spec: TaskSpec, y: np.ndarray, decisions: np.ndarray) -> float | None:
    """Macro-F1 over all of the task's labels on its labeled posts; None when no post is labeled.

    Args:
        spec: the task.
        y: gold targets in the `models.tasks` encoding (UNLABELED rows are left out).
        decisions: decisions in the same encoding (`models.tasks.decide_indices`).
    """
    keep = labeled_mask(spec, y)
    if not keep.any():
        return None
    gold, predicted = np.asarray(y)[keep], np.asarray(decisions)[keep]
    if spec.kind == "multi":
        return float(f1_score(gold, predicted, average="macro", zero_division=0))
    return float(f1_score(gold, predicted, labels=list(range(len(spec.labels))), average="macro", zero_division=0))


def task_ranking_score(spec: TaskSpec, y: np.ndarray, proba: np.ndarray) -> float | None:
    """How well the task's probabilities order its posts, with no threshold: average precision of the positive
    label (binary), mean average precision over labels (multi-label, each on the posts labeled for it, labels
    with no positive or no negative there left out), macro-F1 at the most probable label (single-label, which
    needs no threshold). None when nothing can be scored.

    Why: early stopping reads this (`transformer.early_stopping: ranking`). The product cuts every binary and
    multi-label task at thresholds tuned on validation after training, so what an epoch should be judged on is
    the order it gives, not its decisions at 0.5: at 0.5 a rare label only counts once the model grows
    confident enough to cross it, so that figure jumps from epoch to epoch and stopping on it cuts on noise
    (bench/early_stopping.py).
    """
    y, proba = np.asarray(y), np.asarray(proba)
    if spec.kind == "single":
        return task_macro_f1(spec, y, proba.argmax(axis=1))
    if spec.kind == "binary":
        keep = labeled_mask(spec, y)
        gold = y[keep] == spec.positive_index
        if gold.all() or not gold.any():
            return None
        return float(average_precision_score(gold, proba[keep, spec.positive_index]))
    scores = []
    for j in range(y.shape[1]):
        keep = y[:, j] != UNLABELED
        gold = y[keep, j] == 1
        if gold.any() and not gold.all():
            scores.append(float(average_precision_score(gold, proba[keep, j])))
    return float(np.mean(scores)) if scores else None
