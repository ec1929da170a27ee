"""Choosing decision thresholds on validation data, for any model family that outputs probabilities.

Model-agnostic on purpose: the baseline and the transformer both call `tune_thresholds` / `tune_all` on their
validation probabilities, so the two families are compared at operating points chosen the same way.

Why not simply take the F1-optimal cut on validation: that cut is an estimate, and with few validation
positives it chases noise (a few lucky scores). Why not shrink it toward 0.5 either: on small training sets the
scores of rare labels are compressed well below 0.5 even with balanced class weights (regularization pulls
them toward the balanced prior), so 0.5 is a biased anchor and shrinking toward it loses most of the gain.
The "shrunk" strategy (default) therefore combines two low-variance pieces:

1. the *bagged* F1-optimal cut: the median of the F1-optimal cuts of `n_boot` bootstrap resamples of the
   validation set (seeded, so tuning is reproducible), much less jumpy than a single optimum;
2. the *prevalence anchor*: the score above which the same share of validation posts falls as the share that
   is positive (a quantile, stable even with few positives), which captures a systematic shift of scores;

and moves from the anchor toward the bagged cut by `n_pos / (n_pos + shrink)`: few positives, stay near the
anchor; many, trust the F1 optimum. With fewer than `min_positives` positives the anchor alone is used (0.5
with none), and the result is clipped to `clip`, so no label is switched always on or always off.

Evidence (`bench/public_corpora.py grid`: 5 threshold-tuned public tasks x 5 seeds x 3 training-set sizes,
balanced logistic regression): mean test F1 0.499 for "shrunk", 0.491 for the raw F1 optimum, 0.461 for the
usual safeguards (>= 10 positives, clip [0.1, 0.9], shrink toward 0.5) and 0.428 for a fixed 0.5. It has the
highest mean at every training-set size (tied with the raw optimum at 600 rows) and for every C / class_weight
/ n-gram setting tried; per task it loses at most ~0.01 to a fixed 0.5 (PsyTAR facets) and gains up to +0.18
(CADEC information needs, 300 rows).

A minimum-recall target (`min_recall`, binary tasks only, e.g. 0.95 for adverse events) overrides the F1 rule:
it picks the highest threshold whose recall on validation reaches the target, with a small-sample correction
(see `recall_threshold`), and is neither shrunk nor clipped, because moving it would give away the target.
The caller then applies `guard_recall_threshold`: on noisy gold the last few "positives" are label noise that
no model ranks high, and chasing them flags most posts. On the demo corpus (about 30% of adverse-event gold is
annotation noise) a 0.95 target asked for thresholds of 0.002-0.02, flagging 40-80% of posts for recall gains
of a few points; the guard stops at a review queue of at most `max_flag_ratio` times the positives.
"""

from __future__ import annotations

import logging
import math
from typing import Mapping, Sequence

import numpy as np

from common.settings import THRESHOLD_STRATEGIES, ThresholdSettings
from models.tasks import UNLABELED, TaskSpec

logger = logging.getLogger(__name__)

STRATEGIES = THRESHOLD_STRATEGIES
"""`fixed`: always 0.5; `tuned`: the raw F1-optimal cut; `shrunk`: bagged cut shrunk toward the prevalence
anchor (see the module docstring). The policy itself is `common.settings.ThresholdSettings`."""

ANCHOR = 0.5
"""The threshold used when validation has no positive at all, and by the `fixed` strategy."""

RECALL_MIN_POSITIVES = 100
"""Below this many validation positives a recall target is met only on average: on the public corpora a 0.95
target gave test recall >= 0.945 in every split with ~430 validation positives, but down to 0.83 with ~20."""


def f1_optimal_threshold(scores: np.ndarray, y: np.ndarray, objective: str = "positive_f1") -> tuple[float, float]:
    """Threshold maximizing F1 of the positive class (or the mean F1 of both classes), and that value.

    `objective="macro_f1"` is for a binary task judged by macro-F1 over its two labels, as `occ train` and the
    gate judge it: the positive-class optimum then flags too many posts whenever positives are common, since it
    ignores what each false positive costs the negative label's F1.

    The cut is placed midway between the lowest score kept positive and the next lower score, rather than on
    a validation score itself, so that unseen posts scoring just below a validation positive are not decided
    by an accident of the sample. Ties in F1 go to the cut closest to `ANCHOR`.

    Args:
        scores: (n,) probabilities of the positive class.
        y: (n,) 0/1 gold labels (no UNLABELED entries).

    Returns:
        (threshold, best F1); (ANCHOR, 0.0) when there is no positive.
    """
    scores = np.asarray(scores, dtype=float)
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    if n_pos == 0 or scores.size == 0:
        return ANCHOR, 0.0
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    tp = np.cumsum(y[order])
    k = np.arange(1, s.size + 1)
    # only cut where the score changes: posts with equal scores are decided together
    last_of_run = np.r_[s[1:] < s[:-1], True]
    if objective == "macro_f1":
        fp, fn = k - tp, n_pos - tp
        tn = s.size - k - fn
        f1_neg = 2.0 * tn / np.maximum(2.0 * tn + fp + fn, 1e-12)
        value = (2.0 * tp / (k + n_pos) + f1_neg) / 2.0
    elif objective == "positive_f1":
        value = 2.0 * tp / (k + n_pos)
    else:
        raise ValueError(f"objective must be 'positive_f1' or 'macro_f1', got {objective!r}")
    f1 = np.where(last_of_run, value, -1.0)
    cuts = np.r_[(s[:-1] + s[1:]) / 2.0, s[-1]]  # keeping all posts positive: cut at the lowest score
    best = f1.max()
    candidates = np.flatnonzero(f1 >= best - 1e-12)
    choice = candidates[np.argmin(np.abs(cuts[candidates] - ANCHOR))]
    return float(cuts[choice]), float(best)


def recall_threshold(scores: np.ndarray, y: np.ndarray, min_recall: float) -> float:
    """Highest threshold whose expected recall on unseen positives reaches `min_recall`.

    Keeping the top j of n validation positives gives, for a new positive from the same distribution, an
    expected recall of j / (n + 1) (order statistics), not j / n. So j = ceil(min_recall * (n + 1)), capped at
    n; with few positives this falls back to the lowest positive score, the conservative choice for safety.

    Args:
        scores: (n,) probabilities of the positive class.
        y: (n,) 0/1 gold labels (no UNLABELED entries).
        min_recall: target in (0, 1].

    Returns:
        The threshold (decide positive when score >= threshold); ANCHOR when there is no positive.
    """
    pos = np.sort(np.asarray(scores, dtype=float)[np.asarray(y).astype(bool)])[::-1]
    if pos.size == 0:
        return ANCHOR
    keep = min(pos.size, max(1, math.ceil(min_recall * (pos.size + 1) - 1e-9)))
    return float(pos[keep - 1])


def workload_threshold(scores: np.ndarray, y: np.ndarray, max_flag_ratio: float) -> float:
    """Lowest threshold that flags at most `max_flag_ratio` times as many validation posts as are positive.

    Why: a recall target on noisy gold can demand a threshold that flags most posts (the last few "positives"
    are label noise that no model ranks high). Past that point each extra flagged post is nearly always a
    false alarm, and a review queue several times the true volume is not reviewed. Expressing the cap as a
    ratio to the prevalence keeps it meaningful for any model's score scale and any base rate.
    """
    scores = np.sort(np.asarray(scores, dtype=float))[::-1]
    n_pos = int(np.asarray(y).astype(bool).sum())
    budget = int(math.floor(max_flag_ratio * n_pos))
    if n_pos == 0 or budget >= scores.size:
        return 0.0
    if budget == 0:
        return ANCHOR
    return float(np.nextafter(scores[budget], np.inf))  # strictly above the first post past the budget


def guard_recall_threshold(scores: np.ndarray, y: np.ndarray, threshold: float, floor: float,
                           max_flag_ratio: float | None) -> tuple[float, str | None]:
    """Raise a recall-target threshold to the safeguards (`floor`, workload cap); say why when it moved.

    Returns (threshold, reason): reason is None when the target's own threshold already respects both.
    """
    guard, why = floor, f"the floor {floor:.2f}"
    if max_flag_ratio is not None:
        capped = workload_threshold(scores, y, max_flag_ratio)
        if capped > guard:
            guard, why = capped, f"{capped:.3f}, which flags at most {max_flag_ratio:g}x the validation positives"
    if threshold >= guard:
        return threshold, None
    y = np.asarray(y).astype(bool)
    scores = np.asarray(scores, dtype=float)
    recall = float((scores[y] >= guard).mean()) if y.any() else float("nan")
    flagged = float((scores >= guard).mean()) if scores.size else float("nan")
    below = float((scores >= threshold).mean()) if scores.size else float("nan")
    reason = (f"the recall target needs threshold {threshold:.3f}, which flags {below:.0%} of validation posts; "
              f"using {why} instead: validation recall {recall:.2f}, {flagged:.0%} of posts flagged")
    return guard, reason


def bagged_f1_threshold(scores: np.ndarray, y: np.ndarray, n_boot: int = 100, seed: int = 0,
                        objective: str = "positive_f1") -> float:
    """Median of the F1-optimal thresholds of `n_boot` bootstrap resamples of (scores, y).

    Why: the F1 curve is flat and ragged near its maximum, so the single optimum jumps with the sample; the
    median over resamples is a far steadier estimate of where the optimum lies. Seeded: same input, same cut.
    """
    scores = np.asarray(scores, dtype=float)
    y = np.asarray(y).astype(bool)
    if not y.any():
        return ANCHOR
    rng = np.random.default_rng(seed)
    cuts = []
    for _ in range(n_boot):
        i = rng.integers(0, scores.size, scores.size)
        if y[i].any():
            cuts.append(f1_optimal_threshold(scores[i], y[i], objective)[0])
    return float(np.median(cuts)) if cuts else f1_optimal_threshold(scores, y, objective)[0]


def prevalence_threshold(scores: np.ndarray, y: np.ndarray) -> float:
    """The score above which the share of posts equals the share of positives (ANCHOR with no positive).

    Why: a quantile is stable even with few positives, and it follows a systematic shift of the scores (rare
    labels scored well below 0.5), which a fixed 0.5 does not.
    """
    scores = np.asarray(scores, dtype=float)
    prevalence = float(np.mean(np.asarray(y).astype(bool))) if scores.size else 0.0
    if prevalence == 0.0:
        return ANCHOR
    return float(np.quantile(scores, 1.0 - prevalence))


def tune_label(
    scores: np.ndarray,
    y: np.ndarray,
    policy: ThresholdSettings = ThresholdSettings(),
    *,
    min_recall: float | None = None,
    anchor: str = "prevalence",
    name: str = "label",
    objective: str = "positive_f1",
) -> float:
    """One label's threshold under `policy` (see the module docstring); `min_recall` overrides the F1 rule.

    `anchor="half"` shrinks toward 0.5 instead of the prevalence threshold; kept only so the benchmark can
    show why the prevalence anchor is the default.
    """
    scores = np.asarray(scores, dtype=float)
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    if min_recall is not None:
        if n_pos < RECALL_MIN_POSITIVES:
            spread = math.sqrt(min_recall * (1.0 - min_recall) / max(n_pos, 1))
            logger.warning(
                "%s: only %d validation positives: recall on new posts will vary by about +/-%.2f around the "
                "%.2f target. Label more positives (>= %d) for a trustworthy operating point.",
                name, n_pos, spread, min_recall, RECALL_MIN_POSITIVES,
            )
        return recall_threshold(scores, y, min_recall)
    if policy.strategy == "fixed" or n_pos == 0:
        return ANCHOR
    if policy.strategy == "tuned":
        return f1_optimal_threshold(scores, y, objective)[0]
    if anchor not in ("prevalence", "half"):
        raise ValueError(f"anchor must be 'prevalence' or 'half', got {anchor!r}")
    start = prevalence_threshold(scores, y) if anchor == "prevalence" else ANCHOR
    if n_pos < policy.min_positives:
        logger.info("%s: %d validation positives (< %d): using the anchor threshold %.3f", name, n_pos,
                    policy.min_positives, start)
        cut = start
    else:
        weight = n_pos / (n_pos + policy.shrink) if policy.shrink > 0 else 1.0
        cut = start + (bagged_f1_threshold(scores, y, policy.n_boot, objective=objective) - start) * weight
    return float(np.clip(cut, policy.clip[0], policy.clip[1]))


def tune_thresholds(
    spec: TaskSpec,
    proba_val: np.ndarray,
    y_val: np.ndarray,
    policy: ThresholdSettings = ThresholdSettings(),
    min_recall: float | None = None,
    *,
    anchor: str = "prevalence",
) -> list[float]:
    """Thresholds for one `multi` or `binary` task, in the `models.tasks` convention.

    Args:
        spec: the task (single tasks take the argmax and have no threshold: ValueError).
        proba_val: (n, L) validation probabilities in label order.
        y_val: validation targets in the `models.tasks` encoding; UNLABELED rows/entries are ignored.
        policy: strategy and safeguards (`common.settings.ThresholdSettings`).
        min_recall: binary tasks only: recall target on the positive label.
        anchor: see `tune_label`.

    Returns:
        One threshold per label (multi) or a one-element list for the positive label (binary).
    """
    proba_val = np.asarray(proba_val, dtype=float)
    y_val = np.asarray(y_val)
    if spec.kind == "single":
        raise ValueError(f"task {spec.name!r} is single-label: it takes the argmax and has no threshold to tune")
    if proba_val.ndim != 2 or proba_val.shape[1] != len(spec.labels):
        raise ValueError(
            f"task {spec.name!r}: expected probabilities of shape (n, {len(spec.labels)}), got {proba_val.shape}"
        )
    if spec.kind == "binary":
        if y_val.shape != (proba_val.shape[0],):
            raise ValueError(f"task {spec.name!r}: expected targets of shape ({proba_val.shape[0]},), got {y_val.shape}")
        keep = y_val != UNLABELED
        pos = spec.positive_index
        return [tune_label(proba_val[keep, pos], y_val[keep] == pos, policy, min_recall=min_recall, anchor=anchor,
                           name=spec.name, objective=policy.binary_objective)]
    if min_recall is not None:
        raise ValueError(f"task {spec.name!r}: min_recall applies to binary tasks only, this one is {spec.kind!r}")
    if y_val.shape != proba_val.shape:
        raise ValueError(f"task {spec.name!r}: expected targets of shape {proba_val.shape}, got {y_val.shape}")
    out = []
    for j, label in enumerate(spec.labels):
        keep = y_val[:, j] != UNLABELED
        out.append(tune_label(proba_val[keep, j], y_val[keep, j] == 1, policy, anchor=anchor,
                              name=f"{spec.name}/{label}"))
    return out


def tune_all(
    specs: Sequence[TaskSpec],
    proba_val: Mapping[str, np.ndarray],
    y_val: Mapping[str, np.ndarray],
    policy: ThresholdSettings = ThresholdSettings(),
    min_recall: Mapping[str, float] | None = None,
) -> dict[str, list[float]]:
    """Thresholds for every non-single task (the `thresholds_` dict of a model); tasks missing from `y_val`
    keep 0.5, since there is nothing to tune them on."""
    min_recall = dict(min_recall or {})
    check_min_recall(specs, min_recall)
    out: dict[str, list[float]] = {}
    for spec in specs:
        if spec.kind == "single":
            continue
        if spec.name not in y_val:
            logger.warning("no validation targets for task %r: keeping threshold %.2f", spec.name, ANCHOR)
            out[spec.name] = [ANCHOR] * (len(spec.labels) if spec.kind == "multi" else 1)
            continue
        out[spec.name] = tune_thresholds(spec, proba_val[spec.name], y_val[spec.name], policy,
                                         min_recall.get(spec.name))
    return out


def check_min_recall(specs: Sequence[TaskSpec], min_recall: Mapping[str, float]) -> None:
    """Raise if a recall target names an unknown or non-binary task, or is outside (0, 1]."""
    kinds = {s.name: s.kind for s in specs}
    binary = sorted(k for k, v in kinds.items() if v == "binary")
    for task, target in min_recall.items():
        if kinds.get(task) != "binary":
            found = "no such task" if task not in kinds else f"kind {kinds[task]!r}"
            raise ValueError(f"min_recall[{task!r}]: recall targets apply to binary tasks ({binary}), found {found}")
        if not 0.0 < float(target) <= 1.0:
            raise ValueError(f"min_recall[{task!r}] must be in (0, 1], got {target!r}")
