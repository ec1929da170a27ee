"""The labeling loop measured on real public text: active learning, cold start, label errors, agreement.

    python bench/labeling_loop.py active DATA_DIR [--seeds 5] [--budget 1000] [--out bench/out/labeling]
    python bench/labeling_loop.py cold-start DATA_DIR [--seeds 5] [--out ...]
    python bench/labeling_loop.py label-errors DATA_DIR [--seeds 5] [--demo DEMO_DIR] [--out ...]
    python bench/labeling_loop.py agreement DEMO_DIR

DATA_DIR holds the public corpora (one folder each, `posts.jsonl`; see its README). Nothing is copied into the
project. Each corpus is split 80/20 by group (seeded); the 80% is the unlabeled pool, the 20% the test set.

- `active`: simulated annotation. Start from 50 randomly chosen labels, then add batches of 50 chosen by each
  strategy (`random`, `uncertainty`, and the default `diverse`: uncertainty with diversity, exactly the code
  `occ label select` runs) up to the budget, retraining the baseline recipe each round; test macro-F1 (mean over
  the corpus's tasks) per round, mean and spread over seeds, a PNG of the curves and a table. The headline:
  how many labels the default strategy needs to reach random sampling's F1 at the largest budget the pool
  allows (1,000, or less where the pool is smaller).
- `cold-start`: the first 100-post batch under `coverage` (label definitions only, the bundled sentence
  encoder) versus `random`: how many posts of each label it holds; zero-shot macro-F1 on the test set against
  always predicting the majority class.
- `label-errors`: flip 10% of the pool's labels at random (per class, seeded), run the audit (`occ label audit`:
  out-of-fold baseline probabilities, 5 folds, confident learning) and report precision and recall of the
  flipped labels in the top k (k = number of flips). With `--demo`, the same on the demo's annotations against
  the generator's true labels.
- `agreement`: the demo annotations' agreement figures (`occ label agreement`).

Thresholds in the simulation are 0.5 for every strategy (the comparison is between strategies under one rule).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import public_corpora as pc  # noqa: E402

from common.settings import Settings  # noqa: E402
from labeling.loop.selection import (combined_uncertainty, select_coverage, select_diverse, select_random,  # noqa: E402
                                     select_uncertain, text_vectors)
from labeling.taxonomy import Label, Task  # noqa: E402
from models.tasks import TaskSpec  # noqa: E402
from training.metrics import task_metrics  # noqa: E402

logger = logging.getLogger("bench.labeling_loop")

STRATEGIES = ("random", "uncertainty", "diverse")
CORPORA = {  # corpus -> the public tasks that share its texts (fitted together, as one taxonomy)
    "psytar": ("psytar_facets", "psytar_adr"),
    "cadec": ("cadec_needs",),
    "drugscom": ("drugscom_sentiment",),
    "medqa": ("medqa_type",),
    "liveqa": ("liveqa_types",),
}

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "sentiment": {
        "negative": "The patient is dissatisfied with the drug: it did not help or its side effects were bad.",
        "neutral": "The patient has mixed feelings about the drug, some benefit and some problems.",
        "positive": "The patient is satisfied with the drug: it worked well and was tolerable.",
    },
    "facets": {
        "ADR": "A side effect or adverse reaction the writer experienced from the drug.",
        "WD": "Withdrawal symptoms after stopping, reducing or missing the drug.",
        "EF": "The drug worked: the writer's symptoms improved.",
        "INF": "The drug did not work: no improvement in symptoms.",
        "SSI": "Signs, symptoms or an illness the writer has, not caused by the drug.",
        "DI": "The reason the drug was prescribed: the condition it treats, such as depression or anxiety.",
    },
    "adverse_event": {
        "no": "No side effect or adverse reaction to the drug is described.",
        "yes": "A side effect or adverse reaction to the drug is described.",
    },
    "info_need": {
        "Uncertainity of Post_Diagnosis": "The writer is unsure whether the drug caused their problem.",
        "Medical Assistance": "The writer sought or needs help from a doctor or medical care.",
        "Diet and Maintenance": "Diet, exercise, supplements or lifestyle changes to manage the condition.",
        "Information Source": "The writer asks for or cites a source of information about the drug.",
    },
    "question_type": {
        "Action": "How the drug works in the body.",
        "Appearance": "What the pill or tablet looks like: color, shape, imprint.",
        "Dose": "How much of the drug to take.",
        "Indication": "What the drug is used for.",
        "Information": "General information about what the drug is.",
        "Ingredient": "What the drug contains: ingredients.",
        "Interaction": "Whether the drug can be taken with another drug, food or alcohol.",
        "Side effects": "Side effects and adverse reactions of the drug.",
        "Stopping/tapering": "How to stop or taper off the drug.",
        "Usage": "How to take or use the drug.",
        "Usage/time": "When or how long to take the drug.",
    },
}


def task_from_spec(spec: TaskSpec, descriptions: dict[str, str] | None = None) -> Task:
    labels = tuple(Label(name, (descriptions or {}).get(name, "")) for name in spec.labels)
    return Task(spec.name, spec.kind, labels, positive=spec.positive)


def corpus_tasks(data_dir: Path) -> dict[str, list[pc.PublicTask]]:
    by_name = {t.name: t for t in pc.load_public_tasks(data_dir)}
    return {corpus: [by_name[n] for n in names if n in by_name] for corpus, names in CORPORA.items()
            if all(n in by_name for n in names)}


def pool_and_test(tasks: list[pc.PublicTask], seed: int) -> tuple[np.ndarray, np.ndarray]:
    pool, _, test = pc.split_indices(tasks[0].groups, seed, fractions=(0.8, 0.0, 0.2))
    return pool, test


def fit(specs: list[TaskSpec], texts: list[str], targets: dict[str, np.ndarray]) -> Any:
    from common.settings import to_dict
    from models.baseline import TfidfMultiTaskClassifier

    options = {k: (tuple(v) if isinstance(v, list) else v) for k, v in to_dict(Settings().baseline).items()}
    options["min_df"] = 1  # 50-label rounds: an n-gram seen once is all there is
    model = TfidfMultiTaskClassifier(tasks=specs, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(texts, targets)


def mean_f1(specs: list[TaskSpec], proba: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> float:
    return float(np.mean([task_metrics(s, proba[s.name], targets[s.name], None)["macro_f1"] for s in specs]))


# ---- active learning ------------------------------------------------------------------------------------------


def simulate(tasks: list[pc.PublicTask], seed: int, strategy: str, start: int, step: int, budget: int) -> list[tuple[int, float]]:
    pool, test = pool_and_test(tasks, seed)
    texts = tasks[0].texts
    specs = [t.spec for t in tasks]
    rng = np.random.default_rng(seed)
    labeled = list(rng.choice(pool, size=start, replace=False))
    test_texts = [texts[i] for i in test]
    test_targets = {t.spec.name: t.y[test] for t in tasks}
    taxonomy = [task_from_spec(s) for s in specs]
    curve = []
    budget = min(budget, len(pool))
    while True:
        targets = {t.spec.name: t.y[labeled] for t in tasks}
        model = fit(specs, [texts[i] for i in labeled], targets)
        curve.append((len(labeled), mean_f1(specs, model.predict_proba(test_texts), test_targets)))
        if len(labeled) >= budget:
            return curve
        taken = set(labeled)
        rest = np.array([i for i in pool if i not in taken])
        n = min(step, budget - len(labeled), len(rest))
        if strategy == "random":
            chosen = rest[select_random(len(rest), n, seed * 1000 + len(labeled)).indices]
        else:
            proba = model.predict_proba([texts[i] for i in rest])
            uncertainty, reasons = combined_uncertainty(taxonomy, proba)
            if strategy == "uncertainty":
                chosen = rest[select_uncertain(uncertainty, reasons, n).indices]
            else:
                chosen = rest[select_diverse(uncertainty, reasons, n,
                                             lambda rows: text_vectors([texts[rest[i]] for i in rows], seed=seed),
                                             seed, Settings().label.candidate_factor).indices]
        labeled += [int(i) for i in chosen]


def labels_to_match(curve_default: dict[int, float], target: float) -> int | None:
    """The fewest labels at which the default strategy's mean F1 reaches `target`."""
    for n in sorted(curve_default):
        if curve_default[n] >= target - 1e-9:
            return n
    return None


def active(data_dir: Path, seeds: int, budget: int, out: Path) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results: dict[str, Any] = {}
    corpora = corpus_tasks(data_dir)
    fig, axes = plt.subplots(1, len(corpora), figsize=(4.2 * len(corpora), 3.6), squeeze=False)
    for ax, (corpus, tasks) in zip(axes[0], corpora.items()):
        started = time.perf_counter()
        curves: dict[str, list[list[tuple[int, float]]]] = {s: [] for s in STRATEGIES}
        for seed in range(seeds):
            for strategy in STRATEGIES:
                curves[strategy].append(simulate(tasks, seed, strategy, 50, 50, budget))
                logger.info("%s seed %d %s: %s", corpus, seed, strategy,
                            " ".join(f"{n}:{f:.3f}" for n, f in curves[strategy][-1][::4]))
        summary = {}
        for strategy, runs in curves.items():
            sizes = [n for n, _ in runs[0]]
            values = np.array([[f for _, f in run] for run in runs])
            summary[strategy] = {"labels": sizes, "mean": values.mean(axis=0).round(4).tolist(),
                                 "std": values.std(axis=0).round(4).tolist()}
            ax.errorbar(sizes, values.mean(axis=0), yerr=values.std(axis=0), label=strategy, capsize=2, lw=1.2)
        results[corpus] = {"pool": int(len(pool_and_test(tasks, 0)[0])), "curves": summary,
                           "seconds": round(time.perf_counter() - started, 1)}
        results[corpus].update(savings(results[corpus]))
        ax.set_title(f"{corpus} (pool {results[corpus]['pool']})")
        ax.set_xlabel("labels")
        ax.set_ylabel("test macro-F1 (mean of tasks)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        r = results[corpus]
        print(f"{corpus}: random reaches {r['random_f1_at_budget']:.3f} at {r['budget']} labels; the default strategy "
              f"reaches it with {r['default_labels_to_match'] or 'more than ' + str(r['budget'])} labels "
              f"({r['seconds']:.0f}s)", flush=True)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "active_learning.png", dpi=110)
    print_active_table(results)
    return results


def savings(result: dict[str, Any], budget: int = 1000) -> dict[str, Any]:
    """Labels each strategy needs to reach random sampling's mean F1 at the reference budget.

    The reference is 1,000 labels, or 60% of the pool where the pool is smaller than that allows: once a
    strategy has labeled (almost) the whole pool every strategy has the same labels, and the comparison says
    nothing.
    """
    curves = result["curves"]
    reference = min(budget, int(0.6 * result["pool"]) // 50 * 50)
    random_curve = dict(zip(curves["random"]["labels"], curves["random"]["mean"]))
    target = random_curve[max(n for n in random_curve if n <= reference)]
    out = {"budget": reference, "random_f1_at_budget": target}
    for strategy, key in (("diverse", "default_labels_to_match"), ("uncertainty", "uncertainty_labels_to_match")):
        out[key] = labels_to_match(dict(zip(curves[strategy]["labels"], curves[strategy]["mean"])), target)
    return out


def print_active_table(results: dict[str, Any]) -> None:
    print("\n| corpus | pool | budget | random F1 at budget | default: labels to match | uncertainty: labels to match |"
          " F1 at 300 labels (random / uncertainty / default) |")
    print("|---|---|---|---|---|---|---|")
    for corpus, r in results.items():
        at = {}
        for strategy in STRATEGIES:
            curve = dict(zip(r["curves"][strategy]["labels"], zip(r["curves"][strategy]["mean"], r["curves"][strategy]["std"])))
            m, s = curve.get(300, (float("nan"), float("nan")))
            at[strategy] = f"{m:.3f}±{s:.3f}"
        print(f"| {corpus} | {r['pool']} | {r['budget']} | {r['random_f1_at_budget']:.3f} | "
              f"{r['default_labels_to_match'] or '>' + str(r['budget'])} | "
              f"{r['uncertainty_labels_to_match'] or '>' + str(r['budget'])} | "
              f"{at['random']} / {at['uncertainty']} / {at['diverse']} |")


# ---- cold start -----------------------------------------------------------------------------------------------


def cold_start(data_dir: Path, seeds: int, batch: int = 100) -> dict[str, Any]:
    from models.zero_shot import SentenceEncoder, ZeroShotClassifier

    encoder = SentenceEncoder()
    results: dict[str, Any] = {}
    for corpus, tasks in corpus_tasks(data_dir).items():
        specs = [t.spec for t in tasks]
        if not all(s.name in DESCRIPTIONS for s in specs):
            continue
        pool, test = pool_and_test(tasks, 0)
        texts = tasks[0].texts
        started = time.perf_counter()
        embeddings = encoder.embed(texts)
        zero_shot = ZeroShotClassifier(specs, {s.name: DESCRIPTIONS[s.name] for s in specs}, encoder)
        similarity = zero_shot.similarities(embeddings=embeddings)
        taxonomy = [task_from_spec(s, DESCRIPTIONS[s.name]) for s in specs]
        coverage = pool[select_coverage(taxonomy, {k: v[pool] for k, v in similarity.items()}, batch).indices]
        entry: dict[str, Any] = {"embed_seconds": round(time.perf_counter() - started, 1), "tasks": {}}
        for task in tasks:
            spec = task.spec
            counts_cov = label_counts(spec, task.y[coverage])
            random_counts = [label_counts(spec, task.y[pool[select_random(len(pool), batch, s).indices]])
                             for s in range(seeds)]
            mean_random = {k: float(np.mean([c[k] for c in random_counts])) for k in counts_cov}
            proba = zero_shot.probabilities({spec.name: similarity[spec.name][test]})[spec.name]
            zero_f1 = task_metrics(spec, proba, task.y[test], None)["macro_f1"]
            majority = majority_f1(spec, task.y[pool], task.y[test])
            entry["tasks"][task.name] = {"coverage": counts_cov, "random_mean": mean_random,
                                         "labels_covered": {"coverage": sum(v > 0 for v in counts_cov.values()),
                                                            "random": float(np.mean([sum(v > 0 for v in c.values())
                                                                                     for c in random_counts]))},
                                         "zero_shot_macro_f1": round(zero_f1, 4), "majority_macro_f1": round(majority, 4)}
            print(f"{task.name}: first {batch}: coverage {counts_cov} | random (mean of {seeds}) "
                  f"{ {k: round(v, 1) for k, v in mean_random.items()} }; zero-shot macro-F1 {zero_f1:.3f} vs "
                  f"majority {majority:.3f}", flush=True)
        results[corpus] = entry
    return results


def label_counts(spec: TaskSpec, y: np.ndarray) -> dict[str, int]:
    if spec.kind == "multi":
        return {label: int(y[:, j].sum()) for j, label in enumerate(spec.labels)}
    return {label: int((y == j).sum()) for j, label in enumerate(spec.labels)}


def majority_f1(spec: TaskSpec, y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Macro-F1 of always predicting the training majority (multi-label: each label's majority, i.e. none)."""
    if spec.kind == "multi":
        majority = (y_train.mean(axis=0) > 0.5).astype(float)
        proba = np.tile(majority, (len(y_test), 1))
    else:
        proba = np.zeros((len(y_test), len(spec.labels)))
        proba[:, np.bincount(y_train, minlength=len(spec.labels)).argmax()] = 1.0
    return float(task_metrics(spec, proba, y_test, None)["macro_f1"])


# ---- label errors ---------------------------------------------------------------------------------------------


def flip_labels(spec: TaskSpec, y: np.ndarray, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flip `rate` of each class's labels (multi-label: of each label's entries); returns (noisy, flipped mask)."""
    noisy = y.copy()
    if spec.kind == "multi":
        flipped = np.zeros_like(y, dtype=bool)
        for j in range(y.shape[1]):
            for value in (0, 1):
                members = np.flatnonzero(y[:, j] == value)
                pick = rng.choice(members, size=int(round(rate * len(members))), replace=False)
                noisy[pick, j] = 1 - value
                flipped[pick, j] = True
        return noisy, flipped
    flipped = np.zeros(len(y), dtype=bool)
    k = len(spec.labels)
    for value in range(k):
        members = np.flatnonzero(y == value)
        pick = rng.choice(members, size=int(round(rate * len(members))), replace=False)
        noisy[pick] = (value + rng.integers(1, k, len(pick))) % k
        flipped[pick] = True
    return noisy, flipped


AUDIT_VARIANTS = {"baseline (C=4)": {"audit_model": "baseline", "audit_C": 4.0},
                  "baseline (C=1)": {"audit_model": "baseline", "audit_C": 1.0},
                  "baseline+embeddings (default)": {}}


def label_errors(data_dir: Path, seeds: int) -> dict[str, Any]:
    from common.settings import settings_from_mapping
    from training.label_loop import audit

    results: dict[str, Any] = {}
    by_name = {t.name: t for t in pc.load_public_tasks(data_dir)}
    for name in ("drugscom_sentiment", "medqa_type", "psytar_adr", "psytar_facets", "cadec_needs"):
        if name not in by_name:
            continue
        task = by_name[name]
        results[name] = {}
        for variant, changes in AUDIT_VARIANTS.items():
            data = Settings().to_dict()
            data["label"].update(changes)
            settings = settings_from_mapping(data)
            runs = []
            for seed in range(seeds):
                pool, _ = pool_and_test([task], seed)
                rng = np.random.default_rng(seed)
                y = task.y[pool]
                noisy, flipped = flip_labels(task.spec, y, 0.10, rng)
                texts = [task.texts[i] for i in pool]
                ids = [str(i) for i in range(len(pool))]
                found = audit(texts, ids, {task.spec.name: noisy}, [task.spec], [str(g) for g in task.groups[pool]],
                              settings)
                k = int(flipped.sum())
                if task.spec.kind == "multi":
                    truth = {(str(i), task.spec.labels[j]) for i, j in zip(*np.nonzero(flipped))}
                    keys = list(zip(found["post_id"], found["label"]))
                else:
                    truth = {(str(i), "") for i in np.flatnonzero(flipped)}
                    keys = [(p, "") for p in found["post_id"]]
                hits = sum(key in truth for key in keys[:k])
                runs.append({"k": k, "flagged": len(found), "precision_at_k": hits / max(k, 1),
                             "precision_all": sum(key in truth for key in keys) / max(len(keys), 1),
                             "recall_all": sum(key in truth for key in keys) / max(k, 1)})
            p = np.array([r["precision_at_k"] for r in runs])
            results[name][variant] = {"runs": runs, "precision_at_k_mean": round(float(p.mean()), 4),
                                      "precision_at_k_std": round(float(p.std()), 4), "k": runs[0]["k"],
                                      "flagged_mean": float(np.mean([r["flagged"] for r in runs])),
                                      "recall_all_mean": round(float(np.mean([r["recall_all"] for r in runs])), 4),
                                      "precision_all_mean": round(float(np.mean([r["precision_all"] for r in runs])), 4)}
            r = results[name][variant]
            print(f"{name} [{variant}]: k={r['k']}: precision@k = recall@k {p.mean():.3f} ± {p.std():.3f}; all "
                  f"{r['flagged_mean']:.0f} flagged: precision {r['precision_all_mean']:.3f}, recall "
                  f"{r['recall_all_mean']:.3f}", flush=True)
    print("\n| task | k | " + " | ".join(AUDIT_VARIANTS) + " |")
    print("|---|---|" + "---|" * len(AUDIT_VARIANTS))
    for name, variants in results.items():
        k = next(iter(variants.values()))["k"]
        print(f"| {name} | {k} | " + " | ".join(f"{v['precision_at_k_mean']:.3f} ± {v['precision_at_k_std']:.3f}"
                                               for v in variants.values()) + " |")
    return results


def demo_label_errors(demo: Path, work: Path) -> dict[str, Any]:
    """Audit the demo's gold labels (votes over noisy annotators) against the generator's true labels."""
    import pandas as pd

    from labeling.ingest.run import ingest
    from labeling.taxonomy import load_taxonomy
    from training.label_loop import audit_labels

    ingested = work / "demo_ingested"
    if not (ingested / "posts.parquet").is_file():
        ingest([demo / "posts.jsonl"], ingested, progress=False)
    taxonomy = load_taxonomy()
    found = audit_labels(demo / "annotations.csv", taxonomy, Settings(), posts=ingested)
    truth = pd.read_csv(demo / "true_labels.csv", dtype=str, keep_default_na=False).set_index("post_id")
    from labeling.annotations import read_annotations
    from labeling.gold import adjudicate

    gold, _ = adjudicate(read_annotations(demo / "annotations.csv"), taxonomy)
    out: dict[str, Any] = {}
    for task in taxonomy.tasks:
        wrong = set()
        for row in gold.itertuples(index=False):
            value = getattr(row, task.name)
            if value is None or (isinstance(value, float) and value != value) or row.post_id not in truth.index:
                continue
            true = truth.at[row.post_id, task.name]
            if task.is_multi:
                true_set = {t for t in true.split("|") if t}
                for label in task.label_names:
                    if (label in value) != (label in true_set):
                        wrong.add((row.post_id, label))
            elif value != true:
                wrong.add((row.post_id, ""))
        mine = found[found["task"] == task.name]
        keys = list(zip(mine["post_id"], mine["label"] if task.is_multi else [""] * len(mine)))
        k = len(wrong)
        hits = sum(key in wrong for key in keys[:k])
        out[task.name] = {"gold_errors": k, "flagged": len(keys), "precision_at_k": round(hits / max(k, 1), 4),
                          "precision_all": round(sum(key in wrong for key in keys) / max(len(keys), 1), 4),
                          "recall_all": round(sum(key in wrong for key in keys) / max(k, 1), 4)}
        print(f"demo {task.name}: {k} gold labels differ from the truth; audit flags {len(keys)}: precision@k "
              f"{out[task.name]['precision_at_k']:.3f}, all flagged: precision {out[task.name]['precision_all']:.3f}, "
              f"recall {out[task.name]['recall_all']:.3f}", flush=True)
    return out


def agreement(demo: Path) -> dict[str, Any]:
    from labeling.annotations import read_annotations
    from labeling.loop.agreement import agreement_report
    from labeling.taxonomy import load_taxonomy

    report = agreement_report(read_annotations(demo / "annotations.csv"), load_taxonomy(), Settings().label.min_agreement)
    print(report.table())
    return report.to_dict()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("active", "cold-start", "label-errors", "agreement"))
    parser.add_argument("data_dir", type=Path, help="public corpora folder (agreement: an `occ demo-data` folder)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--demo", type=Path, default=None, help="label-errors: also audit this demo folder")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "labeling")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("models").setLevel(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "active":
        result = active(args.data_dir, args.seeds, args.budget, args.out)
    elif args.command == "cold-start":
        result = cold_start(args.data_dir, args.seeds)
    elif args.command == "label-errors":
        result = {"public": label_errors(args.data_dir, args.seeds)}
        if args.demo:
            result["demo"] = demo_label_errors(args.demo, args.out)
    else:
        result = agreement(args.data_dir)
    (args.out / f"{args.command}.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
