"""Would averaging the weights of the transformer's best epochs beat the best epoch alone? Paired in one fine-tune.

    python bench/checkpoint_averaging.py DATA_DIR [--corpora a,b] [--seeds 5] [--demo DIR]
                                         [--json bench/out/checkpoint_averaging.jsonl]

Averaging the weights of several checkpoints of one fine-tune (Izmailov et al. 2018, "Averaging Weights Leads to
Wider Optima and Better Generalization"; Wortsman et al. 2022, "Model soups") costs nothing at scoring time, so
it is the cheapest way left to get more out of the same encoder. Each corpus and seed fine-tunes the transformer
once, exactly as `benchmarks.py` does (same training file, split, seed, params.yaml's settings, early stopping
as shipped), and keeps every epoch's weights. The weights early stopping restores (`best`) are then compared
with averages of:

- `top2` / `top3`: the 2 or 3 epochs with the best validation ranking score among those run;
- `tail`: the best epoch and every epoch after it (those run before the stop: the patience);
- `greedy`: the greedy soup: from the best epoch, each next-best epoch joins if the average's validation
  ranking score does not fall.

Each set of weights gets its own temperatures and thresholds on validation (as `fit_recipe`), then test macro-F1
alone and in the ensemble with the baseline of the same split (`training.recipe.combine`). Printed per corpus:
means over seeds and each average's paired difference to `best`; every seed is appended to `--json` (seeds
already there are not fine-tuned again).
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common.settings import Settings  # noqa: E402

logger = logging.getLogger("checkpoint_averaging")

AVERAGES = ("top2", "top3", "tail", "greedy")


def average_one(corpus: Any, seed: int, settings: Settings) -> dict[str, Any]:
    """One fine-tune of this corpus and seed; test macro-F1 of its best epoch and of each average of epochs."""
    import torch
    from benchmarks import test_split, train_validation
    from early_stopping import _ranking

    from models.calibration import apply_temperatures, fit_temperatures
    from models.ensemble import mix
    from models.transformer.classifier import PREDICT_BATCH_SIZE, TransformerClassifier
    from training.metrics import evaluate_all, mean_macro_f1
    from training.recipe import FittedRecipe, combine, fit_recipe, tune_with_policy

    specs = corpus.specs
    training_file, test = test_split(corpus, seed)
    train, validation = train_validation(corpus, training_file, seed, settings)
    test_x, test_y = corpus.rows(test)
    model = TransformerClassifier(list(specs), encoder_dir=settings.transformer.encoder, config=settings.transformer)
    states: list[dict[str, Any]] = []
    scores: list[float] = []
    validate = model._validate

    def validate_and_keep(*args: Any) -> dict[str, Any]:
        out = validate(*args)
        states.append({k: v.detach().clone() for k, v in model.model_.state_dict().items()})
        scores.append(out["val_macro_f1"] if np.isnan(out["val_ranking"]) else out["val_ranking"])
        return out

    model._validate = validate_and_keep  # type: ignore[method-assign]
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(train[0], train[1], validation[0], validation[1], progress=False)
    fit_s = time.perf_counter() - started
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = fit_recipe("baseline", specs, train, validation, settings, progress=False)
    test_baseline = apply_temperatures(specs, baseline.model.predict_proba(test_x), baseline.temperatures)

    restored = {k: v.detach().clone() for k, v in model.model_.state_dict().items()}
    val_ids, test_ids = model._encode(validation[0]), model._encode(test_x)

    def load(epochs: list[int]) -> None:
        model.model_.load_state_dict({k: torch.stack([states[e][k] for e in epochs]).mean(0).to(v.dtype)
                                      if v.is_floating_point() else v for k, v in restored.items()})
        model.model_.eval()

    def proba(ids: list[list[int]]) -> dict[str, np.ndarray]:
        return model._proba_from_logits(model._logits(ids, PREDICT_BATCH_SIZE, model.training_precision_))

    order = sorted(range(len(states)), key=lambda e: (-scores[e], e))
    best = order[0]
    if best != model.best_epoch_ - 1:
        raise SystemExit(f"{corpus.name} seed {seed}: the kept scores disagree with the epoch early stopping restored")
    greedy = [best]
    load(greedy)
    greedy_score = _ranking(specs, proba(val_ids), validation[1])
    for epoch in order[1:]:
        load(greedy + [epoch])
        score = _ranking(specs, proba(val_ids), validation[1])
        if score >= greedy_score:
            greedy, greedy_score = greedy + [epoch], score
    sets = {"best": [best], "top2": order[:2], "top3": order[:3], "tail": list(range(best, len(states))),
            "greedy": greedy}
    row: dict[str, Any] = {"corpus": corpus.name, "seed": seed, "epochs_run": len(states), "fit_s": fit_s,
                           "epochs": {name: [e + 1 for e in sorted(chosen)] for name, chosen in sets.items()}}
    for name, chosen in sets.items():
        load(chosen)
        val_raw, test_raw = proba(val_ids), proba(test_ids)
        temperatures = fit_temperatures(specs, val_raw, validation[1]) if settings.thresholds.calibrate else None
        val_cal = apply_temperatures(specs, val_raw, temperatures)
        thresholds, _ = tune_with_policy(specs, val_cal, validation[1], settings.thresholds, settings.safety)
        test_cal = apply_temperatures(specs, test_raw, temperatures)
        member = FittedRecipe(model, thresholds, temperatures, None, {}, {}, "", 0.0, val_cal, dict(validation[1]))
        ensemble = combine(specs, baseline, member, validation, settings)
        weights = {s.name: float(ensemble.model.weights[s.name]) for s in specs}
        row[name] = mean_macro_f1(evaluate_all(specs, test_cal, test_y, thresholds))
        row[f"ensemble_{name}"] = mean_macro_f1(evaluate_all(specs, mix(specs, test_baseline, test_cal, weights),
                                                             test_y, ensemble.thresholds))
    row["baseline"] = mean_macro_f1(evaluate_all(specs, test_baseline, test_y, baseline.thresholds))
    return row


def summarize(rows: list[dict[str, Any]]) -> str:
    """A Markdown table: per corpus, means over seeds and each average's paired difference to the best epoch."""
    by_corpus: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for row in rows:
        by_corpus[row["corpus"]].append(row)
    lines = ["| corpus | seeds | baseline | best epoch | " + " | ".join(f"{a} - best" for a in AVERAGES)
             + " | ensemble, best epoch | " + " | ".join(f"ensemble, {a} - best" for a in AVERAGES) + " |",
             "|---|---|---|---|" + "---|" * (2 * len(AVERAGES) + 1)]
    diffs: dict[str, list[float]] = collections.defaultdict(list)
    for corpus, runs in sorted(by_corpus.items()):
        mean = {k: 100 * float(np.mean([r[k] for r in runs]))
                for k in ("baseline", "best", "ensemble_best", *AVERAGES, *(f"ensemble_{a}" for a in AVERAGES))}
        for a in AVERAGES:
            diffs[a].append(mean[a] - mean["best"])
            diffs[f"ensemble_{a}"].append(mean[f"ensemble_{a}"] - mean["ensemble_best"])
        lines.append(f"| {corpus} | {len(runs)} | {mean['baseline']:.1f} | {mean['best']:.1f} | "
                     + " | ".join(f"{diffs[a][-1]:+.1f}" for a in AVERAGES) + f" | {mean['ensemble_best']:.1f} | "
                     + " | ".join(f"{diffs[f'ensemble_{a}'][-1]:+.1f}" for a in AVERAGES) + " |")
    lines.append("| **mean** | | | | " + " | ".join(f"{np.mean(diffs[a]):+.1f}" for a in AVERAGES) + " | | "
                 + " | ".join(f"{np.mean(diffs[f'ensemble_{a}']):+.1f}" for a in AVERAGES) + " |")
    return "\n".join(lines)


def main() -> None:
    from benchmarks import append_row, paired_setup, read_rows

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--demo", type=Path, default=None, help="a dataset folder written by occ dataset")
    parser.add_argument("--corpora", default=None, help="comma-separated corpus names (default: all)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "checkpoint_averaging.jsonl",
                        help="one line per corpus and seed; seeds already there are not fine-tuned again")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="fine-tune with a setting changed (YAML value)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings, corpora = paired_setup(args.data_dir, args.demo, args.set)
    wanted = set(args.corpora.split(",")) if args.corpora else {c.name for c in corpora}
    rows = read_rows(args.json)
    done = {(r["corpus"], r["seed"]) for r in rows}
    for corpus in corpora:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            if corpus.name not in wanted or (corpus.name, seed) in done:
                continue
            row = average_one(corpus, seed, settings)
            logger.info("%s seed %d: best epoch %.3f, top3 %.3f, tail %.3f, greedy %.3f (epochs %s)", corpus.name,
                        seed, row["best"], row["top3"], row["tail"], row["greedy"], row["epochs"])
            append_row(args.json, row)
            rows.append(row)
    print(summarize([r for r in rows if r["corpus"] in wanted]))


if __name__ == "__main__":
    main()
