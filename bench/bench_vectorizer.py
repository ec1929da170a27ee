"""Is the project's own TF-IDF vectorizer worth keeping? `WordCharTfidf` against scikit-learn, end to end.

    python bench/bench_vectorizer.py --demo DEMO_DIR [--corpora DATA_DIR] [--repeats 3]

The baseline named in every ratio is scikit-learn's `FeatureUnion` of two `TfidfVectorizer`s with the same
settings as the baseline family (word 1-2 and char_wb 3-5 n-grams, `sublinear_tf`, `min_df` 2, at most
200,000 features per block), run in this same process on the same texts. For each text set it prints:

- `fit`: learning both vocabularies and idf weights on the training texts (what `occ train` pays);
- `transform`: featurizing unseen posts (what `occ score` pays per post);
- `train job` / `score job`: the baseline family end to end with each vectorizer plugged in (fit: features
  plus one logistic head per task; score: features plus every head), which is what a user waits for;
- the largest absolute difference between the two feature matrices (they must be the same features).

Best of `--repeats` runs per figure (a shared machine only ever adds time). Texts: the demo dump's posts
(`occ demo-data`), and, with `--corpora`, every `posts.jsonl` under the public corpora folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from models.baseline import TfidfMultiTaskClassifier, WordCharTfidf  # noqa: E402
from models.tasks import TaskSpec  # noqa: E402

SETTINGS = {"word_ngram_range": (1, 2), "char_ngram_range": (3, 5), "min_df": 2, "max_features": 200_000}


def sklearn_union() -> FeatureUnion:
    """The reference: what a scikit-learn user would write for the same features."""
    common = {"sublinear_tf": True, "min_df": SETTINGS["min_df"], "max_features": SETTINGS["max_features"],
              "dtype": np.float32}
    return FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=SETTINGS["word_ngram_range"], **common)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=SETTINGS["char_ngram_range"], **common)),
    ])


def own_vectorizer() -> WordCharTfidf:
    return WordCharTfidf(**SETTINGS)


def best_of(repeats: int, work: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def read_texts(path: Path, limit: int | None = None) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                texts.append(str(json.loads(line)["text"]))
                if limit and len(texts) >= limit:
                    break
    return texts


def synthetic_targets(texts: list[str], seed: int = 0) -> tuple[list[TaskSpec], dict[str, np.ndarray]]:
    """Three tasks shaped like the demo taxonomy, with labels that depend on the text (so heads converge as
    they do on real labels, not on pure noise)."""
    rng = np.random.default_rng(seed)
    lengths = np.array([len(t) for t in texts])
    q = np.quantile(lengths, [0.33, 0.66])
    specs = [TaskSpec("sentiment", "single", ("negative", "neutral", "positive")),
             TaskSpec("topics", "multi", ("a", "b", "c", "d")),
             TaskSpec("flag", "binary", ("no", "yes"), "yes")]
    single = np.digitize(lengths, q)
    flip = rng.random(len(texts)) < 0.2
    single[flip] = rng.integers(0, 3, flip.sum())
    multi = np.stack([np.array([(w in t.lower()) for t in texts]) for w in ("the", "and", "not", "for")], axis=1)
    flag = np.array(["?" in t for t in texts], dtype=np.int64)
    return specs, {"sentiment": single.astype(np.int64), "topics": multi.astype(np.int8), "flag": flag}


class _UnionFeaturizer:
    """Adapter so the classifier can be fitted on scikit-learn's features (same interface as WordCharTfidf)."""

    def __init__(self) -> None:
        self.union = sklearn_union()

    def fit_transform(self, texts: list[str]) -> sp.csr_matrix:
        return self.union.fit_transform(texts).tocsr()

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        return self.union.transform(texts).tocsr()


def run_set(name: str, texts: list[str], repeats: int) -> dict[str, Any]:
    split = int(len(texts) * 0.7)
    train, unseen = texts[:split], texts[split:]
    row: dict[str, Any] = {"set": name, "train_texts": len(train), "unseen_texts": len(unseen)}
    t_sk_fit, union = best_of(repeats, lambda: sklearn_union().fit(train))
    t_own_fit, own = best_of(repeats, lambda: own_vectorizer().fit(train))
    t_sk_tr, m_sk = best_of(repeats, lambda: union.transform(unseen).tocsr())
    t_own_tr, m_own = best_of(repeats, lambda: own.transform(unseen))
    row.update(sklearn_fit_s=t_sk_fit, own_fit_s=t_own_fit, fit_ratio=t_sk_fit / t_own_fit,
               sklearn_transform_posts_s=len(unseen) / t_sk_tr, own_transform_posts_s=len(unseen) / t_own_tr,
               transform_ratio=t_sk_tr / t_own_tr,
               max_abs_diff=float(abs(m_sk.astype(np.float64) - m_own.astype(np.float64)).max())
               if m_sk.shape == m_own.shape else float("nan"),
               same_shape=m_sk.shape == m_own.shape)

    specs, targets = synthetic_targets(train)
    from models.baseline import classifier as baseline_module

    def fit_job(featurizer: Any) -> tuple[float, Any]:
        model = TfidfMultiTaskClassifier(tasks=specs, word_ngram_range=SETTINGS["word_ngram_range"],
                                         char_ngram_range=SETTINGS["char_ngram_range"], min_df=SETTINGS["min_df"],
                                         max_features=SETTINGS["max_features"])
        original = baseline_module.WordCharTfidf
        baseline_module.WordCharTfidf = featurizer  # the classifier builds its featurizer from this name
        try:
            return best_of(repeats, lambda: model.fit(train, targets))
        finally:
            baseline_module.WordCharTfidf = original

    t_sk_train, model_sk = fit_job(lambda **_: _UnionFeaturizer())
    t_own_train, model_own = fit_job(WordCharTfidf)
    t_sk_score, _ = best_of(repeats, lambda: model_sk.predict_proba(unseen))
    t_own_score, _ = best_of(repeats, lambda: model_own.predict_proba(unseen))
    row.update(sklearn_train_job_s=t_sk_train, own_train_job_s=t_own_train, train_job_ratio=t_sk_train / t_own_train,
               sklearn_score_posts_s=len(unseen) / t_sk_score, own_score_posts_s=len(unseen) / t_own_score,
               score_job_ratio=t_sk_score / t_own_score)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, help="an `occ demo-data` folder (posts.jsonl)")
    parser.add_argument("--demo-posts", type=int, default=20_000)
    parser.add_argument("--corpora", type=Path, help="the public corpora folder (each subfolder has posts.jsonl)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    sets: list[tuple[str, list[str]]] = []
    if args.demo:
        sets.append(("demo", read_texts(args.demo / "posts.jsonl", args.demo_posts)))
    if args.corpora:
        for path in sorted(args.corpora.glob("*/posts.jsonl")):
            sets.append((path.parent.name, read_texts(path)))
    if not sets:
        parser.error("give --demo and/or --corpora")
    rows = []
    print(f"baseline of every ratio: scikit-learn FeatureUnion of two TfidfVectorizers, {SETTINGS}; best of {args.repeats}")
    header = (f"{'set':<16}{'texts':>7}{'fit x':>8}{'transform x':>13}{'train job x':>13}{'score job x':>13}"
              f"{'own score/s':>13}{'sk score/s':>12}{'max |diff|':>12}")
    print(header)
    for name, texts in sets:
        row = run_set(name, texts, args.repeats)
        rows.append(row)
        print(f"{name:<16}{len(texts):>7}{row['fit_ratio']:>8.2f}{row['transform_ratio']:>13.2f}"
              f"{row['train_job_ratio']:>13.2f}{row['score_job_ratio']:>13.2f}{row['own_score_posts_s']:>13.0f}"
              f"{row['sklearn_score_posts_s']:>12.0f}{row['max_abs_diff']:>12.2e}", flush=True)
    geo = lambda key: float(np.exp(np.mean(np.log([r[key] for r in rows]))))  # noqa: E731
    print(f"{'geometric mean':<23}{geo('fit_ratio'):>8.2f}{geo('transform_ratio'):>13.2f}"
          f"{geo('train_job_ratio'):>13.2f}{geo('score_job_ratio'):>13.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
