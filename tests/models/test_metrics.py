"""One macro-F1 everywhere: early stopping, evaluation, the gate and reports agree with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from models.metrics import task_macro_f1
from models.tasks import UNLABELED, TaskSpec
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
