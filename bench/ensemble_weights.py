"""How the ensemble should mix its members: each rule against both members, on kept probabilities.

    python bench/benchmarks.py DATA_DIR --families baseline,transformer --probabilities bench/out/probabilities
    python bench/ensemble_weights.py DATA_DIR bench/out/probabilities [--fixed 0.3,0.5,0.7] [--log-linear 0.5]
                                     [--demo data/dataset]

The ensemble only mixes its members' calibrated probabilities, so once `benchmarks.py --probabilities` has kept
each member's validation and test probabilities, every combination rule can be compared on every corpus and seed
in seconds, without fine-tuning a transformer again. Each rule goes through the product's own code
(`training.recipe.ensemble_weights`, `models.ensemble.mix`, `training.recipe.tune_with_policy`): weights and
thresholds from validation, macro-F1 on test. Printed per corpus, mean over seeds: each member, each rule, and
the rule's difference to the better member (points of macro-F1).
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path
from typing import Mapping

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.settings import Settings, load_settings  # noqa: E402
from models.tasks import TaskSpec  # noqa: E402

Arrays = dict[str, dict[str, np.ndarray]]


def load_kept(path: Path) -> Arrays:
    """{"validation_proba" | "validation_targets" | "test_proba" | "test_targets": {task: array}}."""
    with np.load(path) as kept:
        out: Arrays = collections.defaultdict(dict)
        for key in kept.files:
            kind, task = key.split(".", 1)
            out[kind][task] = kept[key]
    return out


def test_macro_f1(specs: list[TaskSpec], validation: Mapping[str, np.ndarray], validation_targets: Mapping[str, np.ndarray],
                  test: Mapping[str, np.ndarray], test_targets: Mapping[str, np.ndarray], settings: Settings) -> float:
    """Mean test macro-F1 over tasks at thresholds tuned on validation, as `occ train` tunes them."""
    from training.metrics import evaluate_all, mean_macro_f1
    from training.recipe import tune_with_policy

    thresholds, _ = tune_with_policy(specs, validation, validation_targets, settings.thresholds, settings.safety)
    return mean_macro_f1(evaluate_all(specs, test, test_targets, thresholds))


def log_linear_mix(specs: list[TaskSpec], first: Mapping[str, np.ndarray], second: Mapping[str, np.ndarray],
                   weight: float) -> dict[str, np.ndarray]:
    """Log-linear pooling (a weighted geometric mean, renormalized; per label on the log-odds for multi-label
    tasks): the other classic way to pool calibrated probabilities (Genest & Zidek 1986, "Combining probability
    distributions"). Compared here, not shipped: it measured below the weighted mean."""
    out = {}
    for spec in specs:
        p = np.clip(np.asarray(first[spec.name], dtype=float), 1e-7, 1 - 1e-7)
        q = np.clip(np.asarray(second[spec.name], dtype=float), 1e-7, 1 - 1e-7)
        if spec.kind == "multi":
            z = weight * np.log(p / (1 - p)) + (1 - weight) * np.log(q / (1 - q))
            out[spec.name] = 1.0 / (1.0 + np.exp(-z))
        else:
            z = weight * np.log(p) + (1 - weight) * np.log(q)
            z = np.exp(z - z.max(axis=1, keepdims=True))
            out[spec.name] = z / z.sum(axis=1, keepdims=True)
    return out


def compare(folder: Path, specs_of: Mapping[str, list[TaskSpec]], rules: Mapping[str, float | None],
            settings: Settings) -> dict[str, dict[str, list[float]]]:
    """{corpus: {"baseline" | "transformer" | rule: [test macro-F1 per seed]}}."""
    from models.ensemble import mix
    from training.recipe import ensemble_weights

    results: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for first_path in sorted(folder.glob("*.baseline.*.npz")):
        corpus, _, seed, _ = first_path.name.split(".")
        second_path = first_path.with_name(f"{corpus}.transformer.{seed}.npz")
        if not second_path.is_file() or corpus not in specs_of:
            continue
        specs = specs_of[corpus]
        baseline, transformer = load_kept(first_path), load_kept(second_path)
        y_val, y_test = transformer["validation_targets"], transformer["test_targets"]
        n = len(next(iter(y_val.values())))
        # a refit baseline kept its out-of-fold probabilities over train + validation: validation is the last rows
        b_val = {task: v[-n:] for task, v in baseline["validation_proba"].items()}
        t_val = transformer["validation_proba"]
        for name, member in (("baseline", baseline), ("transformer", transformer)):
            results[corpus][name].append(test_macro_f1(specs, member["validation_proba"], member["validation_targets"],
                                                       member["test_proba"], y_test, settings))
        for rule, weight in rules.items():
            if rule.startswith("log-linear"):
                results[corpus][rule].append(test_macro_f1(
                    specs, log_linear_mix(specs, b_val, t_val, float(weight)), y_val,
                    log_linear_mix(specs, baseline["test_proba"], transformer["test_proba"], float(weight)), y_test,
                    settings))
                continue
            weights = ensemble_weights(specs, b_val, t_val, y_val, weight)
            results[corpus][rule].append(test_macro_f1(specs, mix(specs, b_val, t_val, weights), y_val,
                                                       mix(specs, baseline["test_proba"], transformer["test_proba"], weights),
                                                       y_test, settings))
    return results


def main() -> None:
    import dataclasses
    import logging

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="the public corpora (for their task specs)")
    parser.add_argument("probabilities", type=Path, help="the folder benchmarks.py --probabilities wrote")
    parser.add_argument("--fixed", default="0.5", help="comma-separated fixed baseline weights to compare")
    parser.add_argument("--log-linear", default="", help="comma-separated weights of log-linear pooling to compare")
    parser.add_argument("--demo", type=Path, default=None, help="the demo's dataset folder, for its task specs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sys.path.insert(0, str(ROOT / "bench"))
    from public_corpora import load_public_tasks

    settings = load_settings(ROOT / "params.yaml")
    # the macro-F1 comparison of benchmarks.py: no task gets the safety recall target
    settings = dataclasses.replace(settings, safety=dataclasses.replace(settings.safety, task="__none__"))
    specs_of = {t.name: [t.spec] for t in load_public_tasks(args.data_dir)}
    if args.demo is not None:
        from benchmarks import demo_corpus

        specs_of["demo"] = demo_corpus(args.demo).specs
    rules: dict[str, float | None] = {"validation log loss": None}
    rules.update({f"fixed {float(w):.2f}": float(w) for w in args.fixed.split(",") if w.strip()})
    rules.update({f"log-linear {float(w):.2f}": float(w) for w in args.log_linear.split(",") if w.strip()})
    results = compare(args.probabilities, specs_of, rules, settings)
    names = ["baseline", "transformer", *rules]
    print("| corpus | seeds | " + " | ".join(names) + " | " + " | ".join(f"{r} - better" for r in rules) + " |")
    print("|---|---|" + "---|" * (2 * len(names) - 2))
    for corpus, row in sorted(results.items()):
        means = {k: 100 * float(np.mean(v)) for k, v in row.items()}
        better = max(means["baseline"], means["transformer"])
        print(f"| {corpus} | {len(row['baseline'])} | " + " | ".join(f"{means[k]:.1f}" for k in names) + " | "
              + " | ".join(f"{means[r] - better:+.1f}" for r in rules) + " |")


if __name__ == "__main__":
    main()
