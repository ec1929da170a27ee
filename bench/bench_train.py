"""Training cost and quality on the demo corpus: baseline vs transformer, and fine-tuning 5,000 posts.

    python bench/bench_train.py --dataset data/dataset [--finetune-posts 5000] [--epochs N]

Baseline (named, same script): the TF-IDF + logistic-regression family fitted on the same training split.
For each family: wall time to fit (thresholds tuned on validation) and macro-F1 per task on the frozen test
split. Then the transformer is fine-tuned on `--finetune-posts` labeled posts (the training split, topped
up from validation if it is smaller) for the configured epochs, and the wall time is printed against the
15-minute target. Uses params.yaml for every setting, as `occ train` does.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from common.settings import Settings, load_settings
from labeling.dataset import load_dataset_dir
from labeling.taxonomy import taxonomy_from_dict
from training.data import split_inputs, task_specs
from training.metrics import evaluate_all, mean_macro_f1
from training.recipe import fit_family, tune_with_policy


def fit_and_score(kind: str, specs, splits, settings: Settings) -> tuple[float, dict]:
    start = time.perf_counter()
    model, _ = fit_family(kind, specs, splits["train"], splits["validation"], settings)
    thresholds, _ = tune_with_policy(specs, model.predict_proba(splits["validation"][0]), splits["validation"][1],
                                     settings.thresholds, settings.safety)
    seconds = time.perf_counter() - start
    metrics = evaluate_all(specs, model.predict_proba(splits["test"][0]), splits["test"][1], thresholds)
    return seconds, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--finetune-posts", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=None, help="override transformer.epochs")
    parser.add_argument("--finetune-only", action="store_true", help="only time the fine-tune on --finetune-posts")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")  # epoch lines
    settings = load_settings(args.params)
    if args.epochs:
        settings = settings.replace("transformer", epochs=args.epochs)
    data, taxonomy = load_dataset_dir(args.dataset)
    specs = task_specs(taxonomy_from_dict(taxonomy))
    splits = {name: split_inputs(data[name], specs) for name in ("train", "validation", "test")}

    results = {}
    for kind in () if args.finetune_only else ("baseline", "transformer"):
        seconds, metrics = fit_and_score(kind, specs, splits, settings)
        results[kind] = (seconds, metrics)
        print(f"{kind}: fit {seconds:.0f}s, test mean macro-F1 {mean_macro_f1(metrics):.3f}", flush=True)
    if results:
        report(specs, results)
    finetune(specs, splits, settings, args.finetune_posts)


def report(specs, results) -> None:
    print(f"\n{'task':<18}{'baseline':>10}{'transformer':>13}")
    for spec in specs:
        print(f"{spec.name:<18}{results['baseline'][1][spec.name]['macro_f1']:>10.3f}"
              f"{results['transformer'][1][spec.name]['macro_f1']:>13.3f}")
    base_s, tf_s = results["baseline"][0], results["transformer"][0]
    print(f"{'train wall time':<18}{base_s:>9.0f}s{tf_s:>12.0f}s   (transformer / baseline: {tf_s / base_s:.1f}x)")


def finetune(specs, splits, settings: Settings, posts: int) -> None:
    texts, targets = splits["train"]
    for topup in ("validation", "test"):  # timing only: the quality figures above come from the proper splits
        if len(texts) < posts:
            extra = posts - len(texts)
            texts = texts + splits[topup][0][:extra]
            targets = {k: np.concatenate([v, splits[topup][1][k][:extra]]) for k, v in targets.items()}
    texts = texts[: posts]
    targets = {k: v[: posts] for k, v in targets.items()}
    start = time.perf_counter()
    fit_family("transformer", specs, (texts, targets), splits["validation"], settings)
    minutes = (time.perf_counter() - start) / 60
    print(f"\nfine-tune on {len(texts):,} labeled posts: {minutes:.1f} min (target: under 15 min on 2 cores)")


if __name__ == "__main__":
    main()
