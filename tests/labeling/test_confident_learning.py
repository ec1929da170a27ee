"""Confident learning (Northcutt et al., 2021) on cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from labeling.loop.confident_learning import class_thresholds, confident_joint, find_label_issues


def test_thresholds_and_confident_joint_by_hand() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8],   # the third post labeled 0 looks like class 1
                      [0.3, 0.7], [0.1, 0.9], [0.4, 0.6]])
    t = class_thresholds(labels, probs)
    assert t == pytest.approx([(0.9 + 0.8 + 0.2) / 3, (0.7 + 0.9 + 0.6) / 3])
    joint, confident = confident_joint(labels, probs, t)
    # t0 = 0.633, t1 = 0.733: post 2 is confidently 1; post 5 (0.6 < t1, 0.4 < t0) is confidently nothing
    assert confident.tolist() == [0, 0, 1, -1, 1, -1]
    assert joint.tolist() == [[2, 1], [0, 1]]
    issues = find_label_issues(labels, probs)
    assert issues.indices.tolist() == [2] and issues.suggested.tolist() == [1] and issues.given.tolist() == [0]


def test_recovers_flipped_labels_of_a_noisy_but_informative_model() -> None:
    rng = np.random.default_rng(0)
    n, k = 3000, 3
    truth = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), truth] += 2.5  # the model is right most of the time, with calibrated-looking doubt
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = truth.copy()
    flipped = rng.random(n) < 0.1
    given[flipped] = (truth[flipped] + rng.integers(1, k, flipped.sum())) % k
    for rank_by in ("self_confidence", "normalized_margin"):
        issues = find_label_issues(given, probs, rank_by=rank_by)
        top = issues.indices[: flipped.sum()]
        precision_at_k = flipped[top].mean()
        assert precision_at_k > 0.7, (rank_by, precision_at_k)
        assert (issues.suggested == truth[issues.indices]).mean() > 0.8  # and it suggests the true label
        assert np.all(np.diff(issues.ranking_score) >= 0)  # most likely first


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="rank_by"):
        find_label_issues(np.array([0]), np.array([[1.0, 0.0]]), rank_by="loss")
    with pytest.raises(ValueError, match="class indices"):
        find_label_issues(np.array([2]), np.array([[1.0, 0.0]]))
    clean = find_label_issues(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))
    assert clean.indices.size == 0
