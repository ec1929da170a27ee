"""One macro-F1 everywhere: early stopping, evaluation, the gate and reports agree with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score

from models.metrics import task_macro_f1, task_ranking_score
from models.tasks import UNLABELED, TaskSpec, decide_indices
from training.metrics import task_metrics

SINGLE = TaskSpec("tone", "single", ("neg", "neu", "pos"))
MULTI = TaskSpec("topics", "multi", ("cost", "dosing", "safety"))
BINARY = TaskSpec("ae", "binary", ("no", "yes"), "yes")


def test_a_class_absent_from_gold_and_predictions_counts_as_zero_like_scikit_learn() -> None:
    y = np.array([0, 0, 1, 1, UNLABELED])          # "pos" never occurs, in gold or predictions
    decided = np.array([0, 1, 1, 1, 2])            # the unlabeled row's decision is ignored
    expected = f1_score([0, 0, 1, 1], [0, 1, 1, 1], labels=[0, 1, 2], average="macro", zero_division=0)
    assert task_macro_f1(SINGLE, y, decided) == pytest.approx(expected)
    assert expected < f1_score([0, 0, 1, 1], [0, 1, 1, 1], average="macro")  # leaving it out would score higher


def test_multi_label_and_binary_against_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (50, 3)).astype(np.int8)
    y[:, 2] = 0  # a label nobody has ...
    decided = rng.integers(0, 2, (50, 3)).astype(np.int8)
    decided[:, 2] = 0  # ... and nobody predicts: F1 0, not left out
    y[:5] = UNLABELED
    assert task_macro_f1(MULTI, y, decided) == pytest.approx(
        f1_score(y[5:], decided[5:], average="macro", zero_division=0))
    yb = rng.integers(0, 2, 60)
    db = rng.integers(0, 2, 60)
    assert task_macro_f1(BINARY, yb, db) == pytest.approx(f1_score(yb, db, labels=[0, 1], average="macro"))
    assert task_macro_f1(BINARY, np.full(4, UNLABELED), db[:4]) is None


def test_evaluation_early_stopping_and_the_gate_use_the_same_function() -> None:
    import models.transformer.classifier as transformer_classifier

    assert transformer_classifier.task_macro_f1 is task_macro_f1  # early stopping
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1]])
    assert task_metrics(SINGLE, proba, y, None)["macro_f1"] == pytest.approx(
        task_macro_f1(SINGLE, y, proba.argmax(axis=1)))  # evaluation, reports and the gate


def test_the_ranking_score_ignores_thresholds_and_unlabeled_posts() -> None:
    """What `transformer.early_stopping: ranking` reads: average precision per label, so a model that orders posts
    as well but is less confident (every probability below 0.5) scores the same, where macro-F1 at 0.5 falls."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (80, 3)).astype(np.int8)
    y[:, 2] = 0                                    # no positive: left out, not scored 0
    y[:6] = UNLABELED                              # unlabeled posts: left out
    proba = np.clip(0.6 * y + rng.normal(0.2, 0.25, y.shape), 0, 1)
    expected = np.mean([average_precision_score(y[6:, j], proba[6:, j]) for j in (0, 1)])
    assert task_ranking_score(MULTI, y, proba) == pytest.approx(expected)
    shy = 0.4 * proba
    assert task_ranking_score(MULTI, y, shy) == pytest.approx(expected)
    assert task_macro_f1(MULTI, y, decide_indices(MULTI, shy)) < task_macro_f1(MULTI, y, decide_indices(MULTI, proba))

    yb = np.where(rng.random(60) < 0.3, 1, 0)
    pb = np.column_stack([1 - (0.5 * yb + rng.random(60) * 0.6), 0.5 * yb + rng.random(60) * 0.6])
    yb_masked = yb.copy()
    yb_masked[:10] = UNLABELED
    assert task_ranking_score(BINARY, yb_masked, pb) == pytest.approx(average_precision_score(yb[10:], pb[10:, 1]))
    assert task_ranking_score(BINARY, np.zeros(5, dtype=int), pb[:5]) is None  # no positive: nothing to rank

    ys = np.array([0, 0, 1, 2])
    ps = np.array([[0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    assert task_ranking_score(SINGLE, ys, ps) == pytest.approx(task_macro_f1(SINGLE, ys, ps.argmax(axis=1)))
