"""Query strategies on probabilities whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from labeling.loop.selection import (combined_uncertainty, select_coverage, select_diverse, select_random,
                                     select_uncertain, task_uncertainty)
from labeling.taxonomy import Label, Task

SINGLE = Task("tone", "single", (Label("neg"), Label("neu"), Label("pos")))
MULTI = Task("topics", "multi", (Label("cost"), Label("rare")))
BINARY = Task("ae", "binary", (Label("no"), Label("yes")), positive="yes")


def test_single_label_margin_and_entropy() -> None:
    proba = np.array([[0.98, 0.01, 0.01], [0.4, 0.35, 0.25], [1 / 3, 1 / 3, 1 / 3]])
    margin, about = task_uncertainty(SINGLE, proba)
    assert margin == pytest.approx([1 - 0.97, 1 - 0.05, 1.0])
    entropy, _ = task_uncertainty(SINGLE, proba, method="entropy")
    assert entropy[2] == pytest.approx(1.0) and entropy[0] < 0.15
    assert about[1] == 1  # the runner-up label


def test_thresholds_decide_where_a_binary_or_multi_label_decision_is_close() -> None:
    proba = np.array([[0.88, 0.12], [0.5, 0.5], [0.0, 1.0]])
    near_low_threshold, _ = task_uncertainty(BINARY, proba, [0.1])
    assert near_low_threshold[0] > 0.95 and near_low_threshold[1] < near_low_threshold[0]  # 0.12 is near 0.1
    assert near_low_threshold[2] == pytest.approx(0.0)
    rare = np.array([[0.9, 0.06], [0.9, 0.5], [0.2, 0.01]])
    value, label = task_uncertainty(MULTI, rare, [0.5, 0.05])
    assert label[0] == 1 and value[0] > 0.9  # the rare label sits on its low threshold
    combined, reasons = combined_uncertainty([SINGLE, MULTI], {"tone": np.tile([0.98, 0.01, 0.01], (3, 1)),
                                                               "topics": rare}, {"topics": [0.5, 0.05]})
    assert combined[0] == pytest.approx(value[0]) and "topics/rare" in reasons[0]


def test_uncertain_random_and_diverse() -> None:
    scores = np.array([0.1, 0.9, 0.95, 0.2, 0.93, 0.5])
    chosen = select_uncertain(scores, [f"r{i}" for i in range(6)], 3)
    assert chosen.indices.tolist() == [2, 4, 1] and chosen.reasons[0] == "r2"
    assert select_random(100, 5, seed=1).indices.tolist() == select_random(100, 5, seed=1).indices.tolist()
    # 20 near-duplicates are the most uncertain; 3 other groups are a little less so (all 35 are candidates)
    rng = np.random.default_rng(0)
    centers = np.eye(4) * 10
    vectors = np.vstack([centers[0] + rng.normal(0, 0.01, (20, 4))] + [centers[g] + rng.normal(0, 0.01, (5, 4)) for g in (1, 2, 3)])
    uncertainty = np.r_[np.full(20, 0.99) - np.arange(20) * 1e-4, np.full(15, 0.9)]
    plain = select_uncertain(uncertainty, ["u"] * 35, 4)
    diverse = select_diverse(uncertainty, ["u"] * 35, 4, lambda rows: vectors[rows], seed=0)
    group = lambda i: 0 if i < 20 else 1 + (i - 20) // 5  # noqa: E731
    assert {group(i) for i in plain.indices} == {0}
    assert {group(i) for i in diverse.indices} == {0, 1, 2, 3}
    assert diverse.indices[0] == 0  # the most uncertain post still comes first


def test_coverage_takes_every_label_in_turn_and_never_twice() -> None:
    similarity = {"tone": np.array([[0.9, 0.1, 0.2], [0.8, 0.2, 0.1], [0.1, 0.7, 0.1], [0.1, 0.1, 0.6]]),
                  "ae": np.array([[0.1, 0.1], [0.2, 0.9], [0.1, 0.2], [0.3, 0.1]])}
    chosen = select_coverage([SINGLE, BINARY], similarity, 4)
    assert chosen.indices.tolist() == [0, 2, 3, 1]  # neg, neu, pos, then ae/yes (post 1, not taken yet)
    assert "ae/yes" in chosen.reasons[3] and len(set(chosen.indices)) == 4
