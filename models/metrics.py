"""The one definition of macro-F1, used by early stopping, evaluation, reports and the promotion gate.

Why one: the transformer's early stopping once left out classes absent from both gold and predictions while
evaluation counted them as 0, so the epoch it kept was chosen on a different number than the one the gate
compared. Here every label of the task counts, an absent one scores 0 (scikit-learn's `average="macro"` with
`labels=` all classes and `zero_division=0`), on the posts that carry a gold label for the task.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from models.tasks import TaskSpec, labeled_mask


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
