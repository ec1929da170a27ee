"""How hard is the demo corpus? A quick TF-IDF + logistic regression per task, macro-F1 on held-out authors.

Why: the demo corpus must be neither trivial (a baseline at 1.0 would hide every modelling bug and make the
transformer pointless) nor noise (chance-level would make the demo meaningless). This script regenerates a
corpus in a temporary directory, builds gold labels by majority vote over annotators, splits by author
(GroupShuffleSplit, so no author's style or stance leaks into the test set) and prints macro-F1 per task.
The target band is roughly 0.6-0.85 per task.

    python bench/demo_baseline.py [--posts 20000] [--seed 13] [--labeled-fraction 0.3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupShuffleSplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from labeling.demo.generator import generate_demo  # noqa: E402
from labeling.taxonomy import Taxonomy, load_taxonomy  # noqa: E402

ANNOTATOR_PRIORITY = ("ann_a", "ann_b", "ann_c")
"""Tie-break order for two-annotator disagreements: the generator's most reliable annotator first."""


def majority_labels(annotations: Path, taxonomy: Taxonomy) -> dict[str, dict[str, object]]:
    """Gold labels per post: majority vote per task; ties go to the most reliable annotator.

    Multi-label tasks vote per label (a label is gold when more than half the annotators chose it, or exactly
    half including the tie-break annotator); an empty label row means "annotated, none apply".
    """
    votes: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    with open(annotations, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            bucket = votes[(row["post_id"], row["task"])][row["annotator"]]
            if row["label"]:
                bucket.add(row["label"])
    gold: dict[str, dict[str, object]] = defaultdict(dict)
    for (post_id, task_name), by_annotator in votes.items():
        task = taxonomy.task(task_name)
        annotators = sorted(by_annotator, key=lambda a: ANNOTATOR_PRIORITY.index(a) if a in ANNOTATOR_PRIORITY else 99)
        n = len(annotators)
        if task.kind == "multi":
            chosen = set()
            for label in task.label_names:
                count = sum(label in by_annotator[a] for a in annotators)
                if 2 * count > n or (2 * count == n and label in by_annotator[annotators[0]]):
                    chosen.add(label)
            gold[post_id][task_name] = chosen
        else:
            counts: dict[str, int] = defaultdict(int)
            for a in annotators:
                for label in by_annotator[a]:
                    counts[label] += 1
            best = max(counts.values())
            leaders = [l for l, c in counts.items() if c == best]
            first = next(iter(by_annotator[annotators[0]]), None)
            gold[post_id][task_name] = first if first in leaders else sorted(leaders)[0]
    return gold


def run(posts: int, seed: int, labeled_fraction: float, keep: Path | None) -> dict[str, float]:
    taxonomy = load_taxonomy()
    with tempfile.TemporaryDirectory() as tmp:
        out = keep or Path(tmp)
        started = time.perf_counter()
        summary = generate_demo(out, posts=posts, seed=seed, labeled_fraction=labeled_fraction)
        print(f"generated {summary.posts} posts, {summary.labeled_posts} labeled, in {time.perf_counter() - started:.1f}s")
        gold = majority_labels(out / "annotations.csv", taxonomy)
        texts, groups, ids = [], [], []
        with open(out / "posts.jsonl", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                if record["post_id"] in gold:
                    ids.append(record["post_id"])
                    texts.append(record["text"])
                    groups.append(record["author_id"])

    split = GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=seed)
    train, test = next(split.split(texts, groups=groups))
    word = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=200_000)
    train_texts = [texts[i] for i in train]
    test_texts = [texts[i] for i in test]
    x_train = hstack([word.fit_transform(train_texts), char.fit_transform(train_texts)]).tocsr()
    x_test = hstack([word.transform(test_texts), char.transform(test_texts)]).tocsr()
    print(f"train {len(train)} posts / {len({groups[i] for i in train})} authors, test {len(test)} / {len({groups[i] for i in test})}")

    def fit_predict(y_train: np.ndarray) -> np.ndarray:
        if len(set(y_train.tolist())) < 2:
            return np.full(x_test.shape[0], y_train[0])
        model = LogisticRegression(class_weight="balanced", max_iter=2000)
        model.fit(x_train, y_train)
        return model.predict(x_test)

    results: dict[str, float] = {}
    for task in taxonomy.tasks:
        labels = task.label_names
        if task.kind == "multi":
            y = np.array([[int(l in gold[ids[i]][task.name]) for l in labels] for i in range(len(ids))])
            pred = np.column_stack([fit_predict(y[train, j]) for j in range(len(labels))])
            score = f1_score(y[test], pred, average="macro", zero_division=0)
            per_label = f1_score(y[test], pred, average=None, zero_division=0)
            detail = ", ".join(f"{l}={s:.2f}(n={int(y[test, j].sum())})" for j, (l, s) in enumerate(zip(labels, per_label)))
        else:
            y = np.array([labels.index(gold[ids[i]][task.name]) for i in range(len(ids))])
            pred = fit_predict(y[train])
            score = f1_score(y[test], pred, average="macro", zero_division=0)
            per_label = f1_score(y[test], pred, average=None, labels=list(range(len(labels))), zero_division=0)
            detail = ", ".join(f"{l}={s:.2f}(n={int((y[test] == j).sum())})" for j, (l, s) in enumerate(zip(labels, per_label)))
        results[task.name] = float(score)
        print(f"{task.name:15s} macro-F1 {score:.3f}   [{detail}]")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--labeled-fraction", type=float, default=0.3)
    parser.add_argument("--keep", type=Path, default=None, help="write the corpus here instead of a temp dir")
    args = parser.parse_args(argv)
    run(args.posts, args.seed, args.labeled_fraction, args.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
