"""Finding label errors with confident learning (Northcutt, Jiang and Chuang, 2021, "Confident Learning:
Estimating Uncertainty in Dataset Labels", JAIR 70: 1373-1411).

Given each labeled post's out-of-fold predicted probabilities (from a model that never saw that post's label),
confident learning estimates which given labels are wrong without knowing the noise rates:

1. per-class thresholds `t_j` = the mean probability of class j over the posts *labeled* j (the model's
   self-confidence on its own class);
2. the confident joint `C[i][j]`: posts labeled i whose probability of some class j reaches `t_j` are
   counted under the j with the highest probability among those (the "confidently j" class);
3. `prune_by_noise_rate` (the paper's default): calibrate C so that each row sums to the number of posts
   labeled i, then for every off-diagonal cell (i, j) flag the round(C[i][j]) posts labeled i with the
   largest margin p_j - p_i.

Flagged posts are ranked by `self_confidence` (p of the given label, lowest first) or `normalized_margin`
(p_given - max other p, lowest first). Multi-label tasks are audited label by label as binary problems.
The method is a few dozen lines; it is implemented here rather than taken from cleanlab (AGPL-3.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RANKINGS = ("self_confidence", "normalized_margin")


@dataclass
class LabelIssues:
    """Posts whose given label looks wrong, most likely first."""

    indices: np.ndarray  # rows of the input, ranked
    given: np.ndarray  # given class per flagged row
    suggested: np.ndarray  # the class confident learning believes instead
    self_confidence: np.ndarray  # p(given)
    suggested_probability: np.ndarray  # p(suggested)
    ranking_score: np.ndarray  # lower = more likely an error
    thresholds: np.ndarray  # per-class thresholds t_j


def class_thresholds(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """t_j = mean p_j over the posts labeled j (classes nobody has: 1.0, so nothing is confidently them)."""
    k = pred_probs.shape[1]
    out = np.ones(k)
    for j in range(k):
        members = labels == j
        if members.any():
            out[j] = float(pred_probs[members, j].mean())
    return out


def confident_joint(labels: np.ndarray, pred_probs: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The K x K confident joint, and each post's confident class (-1 where no class reaches its threshold)."""
    k = pred_probs.shape[1]
    above = pred_probs >= thresholds[None, :] - 1e-12
    masked = np.where(above, pred_probs, -np.inf)
    confident = np.where(above.any(axis=1), masked.argmax(axis=1), -1)
    joint = np.zeros((k, k), dtype=np.int64)
    counted = confident >= 0
    np.add.at(joint, (labels[counted], confident[counted]), 1)
    return joint, confident


def calibrated_joint(joint: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rows rescaled to the number of posts given each label (the paper's calibration, eq. 2)."""
    counts = np.bincount(labels, minlength=joint.shape[0]).astype(float)
    rows = joint.sum(axis=1, keepdims=True).astype(float)
    return np.where(rows > 0, joint / np.maximum(rows, 1.0) * counts[:, None], 0.0)


def find_label_issues(labels: np.ndarray, pred_probs: np.ndarray, rank_by: str = "self_confidence") -> LabelIssues:
    """Flag likely label errors with prune-by-noise-rate and rank them (see the module docstring).

    Args:
        labels: (n,) given class indices.
        pred_probs: (n, K) out-of-fold probabilities, rows summing to 1.
        rank_by: "self_confidence" or "normalized_margin".
    """
    if rank_by not in RANKINGS:
        raise ValueError(f"rank_by must be one of {RANKINGS}, got {rank_by!r}")
    labels = np.asarray(labels, dtype=np.int64)
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    if pred_probs.ndim != 2 or pred_probs.shape[0] != labels.shape[0]:
        raise ValueError(f"pred_probs must be (n, K) with n = {labels.shape[0]}, got {pred_probs.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= pred_probs.shape[1]):
        raise ValueError("labels must be class indices 0..K-1")
    thresholds = class_thresholds(labels, pred_probs)
    joint, _ = confident_joint(labels, pred_probs, thresholds)
    calibrated = calibrated_joint(joint, labels)
    k = pred_probs.shape[1]
    flagged: dict[int, int] = {}
    for i in range(k):
        members = np.flatnonzero(labels == i)
        for j in range(k):
            if i == j:
                continue
            count = int(round(calibrated[i, j]))
            if count <= 0 or members.size == 0:
                continue
            margin = pred_probs[members, j] - pred_probs[members, i]
            for row in members[np.argsort(-margin, kind="stable")[:count]]:
                row = int(row)
                if row not in flagged or pred_probs[row, j] > pred_probs[row, flagged[row]]:
                    flagged[row] = j
    rows = np.array(sorted(flagged), dtype=np.int64)
    suggested = np.array([flagged[r] for r in rows], dtype=np.int64)
    given = labels[rows]
    own = pred_probs[rows, given] if rows.size else np.zeros(0)
    if rank_by == "self_confidence":
        score = own
    else:
        others = pred_probs[rows].copy()
        if rows.size:
            others[np.arange(rows.size), given] = -np.inf
        score = own - (others.max(axis=1) if rows.size else np.zeros(0))
    order = np.argsort(score, kind="stable")
    return LabelIssues(rows[order], given[order], suggested[order], own[order],
                       pred_probs[rows[order], suggested[order]] if rows.size else np.zeros(0), score[order], thresholds)
