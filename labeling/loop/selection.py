"""What to label next: query strategies over a pool's predicted probabilities and text vectors.

Pure functions of arrays (the caller supplies the model's probabilities, or label-definition similarities on
day one), so the same code serves `occ label select`, the review workspace's annotation queue and the
simulation bench.

- `random`: a seeded sample, the baseline every strategy is measured against.
- `uncertainty`: the posts the model is least sure about. Per task, uncertainty is the closeness of the
  decision to flipping, in [0, 1]: for a single-label task 1 - (p1 - p2) (margin) or the normalized entropy;
  for a binary or multi-label decision, how close the probability is to *its own threshold* relative to the
  room on that side (a rare label with threshold 0.1 is uncertain at 0.12, not at 0.5). A post's uncertainty
  is the maximum over tasks and labels, so a post uncertain only about a rare label still counts.
- `diverse` (default), uncertainty with diversity: take the `candidate_factor` x N most uncertain posts,
  cluster them into N groups on their text vectors (k-means), and take the most uncertain post of each
  group. A batch of near-duplicates teaches the model one thing N times (the cluster-margin idea of Citovsky
  et al., 2021, "Batch Active Learning at Scale").
- `coverage` (cold start): round-robin over every label of every task, taking the post most similar to
  that label's definition that is not chosen yet, so the first batch holds likely examples of every label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from labeling.taxonomy import Task

STRATEGIES = ("random", "uncertainty", "diverse", "coverage")
MODEL_STRATEGIES = ("uncertainty", "diverse")
"""Strategies that need the model's probabilities."""
UNCERTAINTY_METHODS = ("margin", "entropy")


@dataclass
class Selection:
    """Chosen rows of the pool (indices into it), in the order chosen, with why each was chosen."""

    indices: np.ndarray
    scores: np.ndarray
    reasons: list[str]


def _decision_closeness(p: np.ndarray, threshold: float) -> np.ndarray:
    """1 at the threshold, 0 at certainty on either side, linear in between."""
    room = np.where(p >= threshold, 1.0 - threshold, threshold)
    return 1.0 - np.abs(p - threshold) / np.maximum(room, 1e-9)


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def task_uncertainty(task: Task, proba: np.ndarray, thresholds: Sequence[float] | None = None,
                     method: str = "margin") -> tuple[np.ndarray, np.ndarray]:
    """Per-post uncertainty of one task in [0, 1], and which label (index) it is about.

    Args:
        task: the task (labels in taxonomy order).
        proba: (n, L) probabilities in label order.
        thresholds: the model's decision thresholds (multi: one per label; binary: one); 0.5 if None.
        method: "margin" (closeness to the decision) or "entropy" (normalized entropy, thresholds ignored).
    """
    if method not in UNCERTAINTY_METHODS:
        raise ValueError(f"uncertainty method must be one of {UNCERTAINTY_METHODS}, got {method!r}")
    proba = np.asarray(proba, dtype=np.float64)
    n, width = proba.shape
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    if task.kind == "single":
        top2 = np.sort(proba, axis=1)[:, -2:]
        if method == "margin":
            value = 1.0 - (top2[:, 1] - top2[:, 0])
        else:
            p = np.clip(proba, 1e-12, 1.0)
            value = -(p * np.log(p)).sum(axis=1) / np.log(width)
        return np.clip(value, 0.0, 1.0), np.argsort(proba, axis=1)[:, -2]  # about the runner-up label
    if task.kind == "binary":
        positive = task.label_names.index(task.positive) if task.positive in task.label_names else 1
        p = proba[:, positive]
        cut = float(thresholds[0]) if thresholds else 0.5
        value = _decision_closeness(p, cut) if method == "margin" else _binary_entropy(p)
        return np.clip(value, 0.0, 1.0), np.full(n, positive)
    cuts = np.asarray(thresholds if thresholds else [0.5] * width, dtype=np.float64)
    per_label = _decision_closeness(proba, cuts) if method == "margin" else _binary_entropy(proba)
    return np.clip(per_label.max(axis=1), 0.0, 1.0), per_label.argmax(axis=1)


def combined_uncertainty(tasks: Sequence[Task], proba: Mapping[str, np.ndarray],
                         thresholds: Mapping[str, Sequence[float]] | None = None,
                         method: str = "margin") -> tuple[np.ndarray, list[str]]:
    """Each post's largest uncertainty over tasks and labels, and a reason naming where it is."""
    thresholds = thresholds or {}
    present = [t for t in tasks if t.name in proba]
    if not present:
        raise ValueError("no task of the taxonomy has probabilities: nothing to measure uncertainty on")
    values, labels = [], []
    for task in present:
        value, label = task_uncertainty(task, proba[task.name], thresholds.get(task.name), method)
        values.append(value)
        labels.append(label)
    stacked = np.vstack(values)
    which = stacked.argmax(axis=0)
    best = stacked.max(axis=0)
    reasons = []
    for i, (t, score) in enumerate(zip(which, best)):
        task = present[t]
        label = task.label_names[int(labels[t][i])]
        reasons.append(f"uncertain on {task.name}/{label} ({score:.2f})")
    return best, reasons


def select_random(n_pool: int, n: int, seed: int = 0) -> Selection:
    rng = np.random.default_rng(seed)
    chosen = rng.choice(n_pool, size=min(n, n_pool), replace=False)
    return Selection(chosen, np.zeros(len(chosen)), ["random sample"] * len(chosen))


def select_uncertain(uncertainty: np.ndarray, reasons: Sequence[str], n: int) -> Selection:
    """The n most uncertain posts (ties: earlier in the pool first)."""
    order = np.argsort(-np.asarray(uncertainty), kind="stable")[:n]
    return Selection(order, np.asarray(uncertainty)[order], [reasons[i] for i in order])


def select_diverse(uncertainty: np.ndarray, reasons: Sequence[str], n: int,
                   vectorize: Callable[[np.ndarray], np.ndarray], seed: int = 0,
                   candidate_factor: int = 10) -> Selection:
    """The most uncertain post of each of n k-means clusters over the `candidate_factor` x n most uncertain.

    Args:
        vectorize: maps candidate row indices to their vectors (rows in the same order); only candidates are
            vectorized, so a pool of millions costs one argsort plus `candidate_factor` x n vectors.
    """
    from sklearn.cluster import KMeans

    uncertainty = np.asarray(uncertainty)
    n = min(n, len(uncertainty))
    if n == 0:
        return Selection(np.zeros(0, dtype=np.int64), np.zeros(0), [])
    candidates = np.argsort(-uncertainty, kind="stable")[: max(n, candidate_factor * n)]
    if len(candidates) <= n:
        return select_uncertain(uncertainty, reasons, n)
    points = np.asarray(vectorize(candidates))
    clusters = KMeans(n_clusters=n, n_init=3, random_state=seed).fit_predict(points)
    chosen = []
    for cluster in range(n):
        members = candidates[clusters == cluster]
        if len(members):
            chosen.append(int(members[np.argmax(uncertainty[members])]))
    chosen_set = set(chosen)
    for extra in candidates:  # k-means can leave a cluster empty: fill up with the next most uncertain
        if len(chosen) >= n:
            break
        if int(extra) not in chosen_set:
            chosen.append(int(extra))
            chosen_set.add(int(extra))
    order = np.array(sorted(chosen, key=lambda i: -uncertainty[i]), dtype=np.int64)
    return Selection(order, uncertainty[order], [f"{reasons[i]}; most uncertain of its cluster" for i in order])


def select_coverage(tasks: Sequence[Task], similarity: Mapping[str, np.ndarray], n: int) -> Selection:
    """Round-robin over every label: the not-yet-chosen post most similar to that label's definition.

    Args:
        similarity: {task: (n_pool, L) cosine similarity of each post to each label's `name: description`}.
    """
    queues = []
    for task in tasks:
        if task.name not in similarity:
            continue
        sim = np.asarray(similarity[task.name])
        for j, label in enumerate(task.label_names):
            if task.kind == "binary" and label != task.positive:
                continue  # the negative class is what most posts are: no need to look for it
            queues.append((f"{task.name}/{label}", np.argsort(-sim[:, j], kind="stable"), sim[:, j]))
    if not queues:
        raise ValueError("coverage needs label-definition similarities for at least one task")
    pool = len(queues[0][1])
    n = min(n, pool)
    chosen: list[int] = []
    scores: list[float] = []
    reasons: list[str] = []
    taken: set[int] = set()
    cursor = [0] * len(queues)
    while len(chosen) < n:
        progressed = False
        for q, (name, order, sims) in enumerate(queues):
            if len(chosen) >= n:
                break
            while cursor[q] < pool and int(order[cursor[q]]) in taken:
                cursor[q] += 1
            if cursor[q] >= pool:
                continue
            index = int(order[cursor[q]])
            taken.add(index)
            chosen.append(index)
            scores.append(float(sims[index]))
            reasons.append(f"likely {name} (similarity {sims[index]:.2f} to its definition)")
            progressed = True
        if not progressed:
            break
    return Selection(np.array(chosen, dtype=np.int64), np.array(scores), reasons)


def text_vectors(texts: Sequence[str], dims: int = 100, seed: int = 0) -> np.ndarray:
    """Unit-length TF-IDF vectors reduced by truncated SVD: cheap, model-free vectors for clustering a pool."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    texts = list(texts)
    if not texts:
        return np.zeros((0, 1))
    matrix = TfidfVectorizer(sublinear_tf=True, min_df=1, max_features=50_000).fit_transform(texts)
    components = max(1, min(dims, matrix.shape[1] - 1, len(texts) - 1))
    if components < 2:
        return normalize(matrix.toarray())
    reduced = TruncatedSVD(n_components=components, random_state=seed).fit_transform(matrix)
    return normalize(reduced)
