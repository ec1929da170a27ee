"""Does refitting the transformer on train + validation pay (`transformer.refit`)? Paired with the model it replaces.

    python bench/early_stopping.py DATA_DIR --record bench/out/epochs [--corpora a,b] [--seeds 5] [--demo DIR]
    python bench/transformer_refit.py DATA_DIR --records bench/out/epochs [--demo DIR] [--json bench/out/refit.jsonl]
                                      [--keep bench/out/refit_proba]
    python bench/transformer_refit.py DATA_DIR --share-matching bench/out/refit_proba [--demo DIR]

`occ train` with `transformer.refit: true` fine-tunes once with early stopping, keeps that model's temperatures
and thresholds (chosen on validation), then fine-tunes again on train + validation for the epoch count early
stopping chose and ships the second model (`training.recipe.fit_recipe`). The first fine-tune of that recipe is
exactly what `early_stopping.py --record` keeps (same training file, split, seed and batches; its epochs are
those of an early-stopped run), so this script takes the validation model from the record instead of
fine-tuning it again, and only fine-tunes the refit: half the CPU time of `benchmarks.py --set
transformer.refit=true` for the same figures.

Per corpus and seed: the epoch the shipped rule (`ranking`) picks on the record; temperatures and thresholds
fitted on that epoch's validation probabilities (`fit_recipe`'s calibration and `tune_with_policy`, no safety
target: macro-F1 is compared, as in benchmarks.py); test macro-F1 of the validation model (the record's test
probabilities at that epoch) and of the refit; the same for the ensemble of each with the baseline of the same
split (`training.recipe.combine`: equal shares, thresholds on the mixed validation probabilities). Printed per
corpus: means over seeds and the paired difference; every seed is appended to `--json`.

`--share-matching DIR` (after a run with `--keep DIR`) tries one way of giving the refit thresholds of its own:
move each threshold so that the refit flags the same share of unlabeled posts as the first model did. Half of
each test set stands in for a team's unlabeled posts (labels unused), the other half is scored, over 20 random
halvings; printed per corpus: macro-F1 of the first model, of the refit at the inherited thresholds and at the
moved ones, and for the safety task the recall and share of posts flagged.
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

logger = logging.getLogger("transformer_refit")


def refit_one(corpus: Any, seed: int, kept: dict[str, dict[str, np.ndarray]], settings: Settings,
              keep: Path | None = None) -> dict[str, Any]:
    """Both transformers (the recorded validation model and a fresh refit) and both ensembles on one seed's test set.

    `keep`: a folder for both models' calibrated test probabilities with the targets and the first model's
    thresholds, so that other ways of deciding with the refit can be compared without fine-tuning it again."""
    from benchmarks import safety_shape, test_split, train_validation, with_safety_task
    from early_stopping import replay

    from models.calibration import apply_temperatures, fit_temperatures
    from models.ensemble import mix
    from training.metrics import evaluate_all, mean_macro_f1
    from training.recipe import (
        FittedRecipe,
        _concat,
        combine,
        fit_family,
        fit_recipe,
        tune_with_policy,
    )

    specs = corpus.specs
    training_file, test = test_split(corpus, seed)
    train, validation = train_validation(corpus, training_file, seed, settings)
    test_x, test_y = corpus.rows(test)
    for name, y in test_y.items():
        if not np.array_equal(y, kept["test_targets"][name]):
            raise SystemExit(f"{corpus.name} seed {seed}: the record's test set is not this split's; record again")

    epoch = replay(specs, kept, settings, settings.transformer.patience)["ranking"][1]  # 1-based
    val_raw = {task: v[epoch - 1] for task, v in kept["validation_proba"].items()}
    temperatures = fit_temperatures(specs, val_raw, validation[1]) if settings.thresholds.calibrate else None
    val_cal = apply_temperatures(specs, val_raw, temperatures)
    thresholds, _ = tune_with_policy(specs, val_cal, validation[1], settings.thresholds, settings.safety)
    safety_cut = None  # the safety task's threshold at its recall target (guarded by the flag cap)
    if corpus.safety:
        cuts, _ = tune_with_policy(specs, val_cal, validation[1], settings.thresholds,
                                   with_safety_task(settings, corpus.safety).safety)
        safety_cut = cuts[corpus.safety][0]

    def f1(proba: dict[str, np.ndarray], cuts: dict[str, list[float]]) -> float:
        return mean_macro_f1(evaluate_all(specs, proba, test_y, cuts))

    test_val_model = apply_temperatures(specs, {t: v[epoch - 1] for t, v in kept["test_proba"].items()}, temperatures)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit, _ = fit_family("transformer", specs, _concat(train, validation), None, settings, epochs=epoch,
                              progress=False)
    refit_s = time.perf_counter() - started
    test_refit = apply_temperatures(specs, refit.predict_proba(test_x), temperatures)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = fit_recipe("baseline", specs, train, validation, settings, progress=False)
    test_baseline = apply_temperatures(specs, baseline.model.predict_proba(test_x), baseline.temperatures)
    member = FittedRecipe(refit, thresholds, temperatures, None, {}, {}, "", 0.0, val_cal, dict(validation[1]))
    ensemble = combine(specs, baseline, member, validation, settings)  # thresholds on the mix: the same for both
    weights = {s.name: float(ensemble.model.weights[s.name]) for s in specs}
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        arrays = {f"{kind}.{task}": value for kind, proba in (("test_proba", test_val_model), ("refit_proba", test_refit),
                                                               ("test_targets", test_y)) for task, value in proba.items()}
        arrays.update({f"thresholds.{task}": np.asarray(cut, dtype=float) for task, cut in thresholds.items() if cut})
        if safety_cut is not None:
            arrays[f"safety_threshold.{corpus.safety}"] = np.asarray([safety_cut], dtype=float)
        np.savez_compressed(keep / f"{corpus.name}.{seed}.npz", **arrays)
    safety = {} if safety_cut is None else {
        name: safety_shape(next(s for s in specs if s.name == corpus.safety), proba[corpus.safety],
                           test_y[corpus.safety], safety_cut)
        for name, proba in (("transformer", test_val_model), ("transformer_refit", test_refit))}
    return {
        "corpus": corpus.name, "seed": seed, "epochs": epoch, "refit_s": refit_s,
        "n_train": len(train[0]), "n_validation": len(validation[0]),
        "transformer": f1(test_val_model, thresholds), "transformer_refit": f1(test_refit, thresholds),
        "ensemble": f1(mix(specs, test_baseline, test_val_model, weights), ensemble.thresholds),
        "ensemble_refit": f1(mix(specs, test_baseline, test_refit, weights), ensemble.thresholds),
        **({"safety": safety} if corpus.safety else {}),
    }


def summarize(rows: list[dict[str, Any]]) -> str:
    """A Markdown table: per corpus, means over seeds and paired differences in macro-F1 points."""
    by_corpus: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for row in rows:
        by_corpus[row["corpus"]].append(row)
    lines = ["| corpus | seeds | transformer | refit | refit - transformer (per seed) | ensemble | ensemble, refit "
             "member | difference | epochs | refit s |", "|---|---|---|---|---|---|---|---|---|---|"]
    diffs, ens_diffs = [], []
    for corpus, runs in sorted(by_corpus.items()):
        runs.sort(key=lambda r: r["seed"])
        mean = {k: 100 * float(np.mean([r[k] for r in runs]))
                for k in ("transformer", "transformer_refit", "ensemble", "ensemble_refit")}
        per_seed = ", ".join(f"{100 * (r['transformer_refit'] - r['transformer']):+.1f}" for r in runs)
        diffs.append(mean["transformer_refit"] - mean["transformer"])
        ens_diffs.append(mean["ensemble_refit"] - mean["ensemble"])
        lines.append(f"| {corpus} | {len(runs)} | {mean['transformer']:.1f} | {mean['transformer_refit']:.1f} | "
                     f"{diffs[-1]:+.1f} ({per_seed}) | {mean['ensemble']:.1f} | {mean['ensemble_refit']:.1f} | "
                     f"{ens_diffs[-1]:+.1f} | {np.mean([r['epochs'] for r in runs]):.1f} | "
                     f"{np.mean([r['refit_s'] for r in runs]):.0f} |")
    lines.append(f"| **mean** | | | | {np.mean(diffs):+.1f} | | | {np.mean(ens_diffs):+.1f} | | |")
    return "\n".join(lines)


def matched_cuts(spec: Any, cuts: list[float], first: np.ndarray, second: np.ndarray) -> list[float]:
    """Per label column: the cut at which `second` flags the share of these posts that `first` flags at `cuts`."""
    columns = [spec.positive_index] if spec.kind == "binary" else list(range(len(spec.labels)))
    moved = []
    for column, cut in zip(columns, cuts):
        share = float((first[:, column] >= cut).mean())
        ranked = np.sort(second[:, column])[::-1]
        k = int(round(share * len(ranked)))
        moved.append(float(ranked[k - 1]) if k >= 1 else float(ranked[0]) + 1e-9)
    return moved


def share_matching(corpora: dict[str, Any], folder: Path, halvings: int = 20) -> str:
    """The `--share-matching` comparison over every kept corpus and seed, as a Markdown table."""
    from early_stopping import _load

    from training.metrics import evaluate_all, mean_macro_f1

    per_corpus: dict[str, list[np.ndarray]] = collections.defaultdict(list)
    for path in sorted(folder.glob("*.npz")):
        corpus = corpora.get(path.name.split(".")[0])
        if corpus is None:
            continue
        kept, specs = _load(path), {s.name: s for s in corpus.specs}
        n = len(next(iter(kept["test_targets"].values())))
        rng, rows = np.random.default_rng(0), []
        for _ in range(halvings):
            order = rng.permutation(n)
            unlabeled, scored = order[: n // 2], order[n // 2:]
            first, refit = kept["test_proba"], kept["refit_proba"]
            cuts = {task: list(cut) for task, cut in kept["thresholds"].items()}
            moved = {task: matched_cuts(specs[task], cut, first[task][unlabeled], refit[task][unlabeled])
                     for task, cut in cuts.items()}
            y = {task: v[scored] for task, v in kept["test_targets"].items()}

            def f1(proba: dict[str, np.ndarray], at: dict[str, list[float]]) -> float:
                return mean_macro_f1(evaluate_all(corpus.specs, {t: v[scored] for t, v in proba.items()}, y, at))

            row = [f1(first, cuts), f1(refit, cuts), f1(refit, {**cuts, **moved})]
            for task, cut in kept.get("safety_threshold", {}).items():
                spec = specs[task]
                safety_cut = matched_cuts(spec, list(cut), first[task][unlabeled], refit[task][unlabeled])[0]
                labeled = y[task] >= 0
                positive = y[task][labeled] == spec.positive_index
                for proba, at in ((first, cut[0]), (refit, cut[0]), (refit, safety_cut)):
                    flagged = proba[task][scored][labeled, spec.positive_index] >= at
                    row += [float(flagged[positive].mean()), float(flagged.mean())]
            rows.append(row)
        per_corpus[corpus.name].append(np.mean(rows, axis=0))
    lines = ["| corpus | seeds | first model | refit, inherited thresholds | refit, matched thresholds | matched - first "
             "| safety recall / flagged: first, inherited, matched |", "|---|---|---|---|---|---|---|"]
    for name, seeds in sorted(per_corpus.items()):
        m = 100 * np.mean(seeds, axis=0)
        safety = ", ".join(f"{m[i]:.1f} / {m[i + 1]:.1f}" for i in range(3, len(m), 2)) if len(m) > 3 else "-"
        lines.append(f"| {name} | {len(seeds)} | {m[0]:.1f} | {m[1]:.1f} | {m[2]:.1f} | {m[2] - m[0]:+.1f} | {safety} |")
    return "\n".join(lines)


def main() -> None:
    from benchmarks import append_row, paired_setup, read_rows
    from early_stopping import _load

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--records", type=Path, default=None, metavar="DIR", help="early_stopping.py --record's folder")
    parser.add_argument("--share-matching", type=Path, default=None, metavar="DIR",
                        help="compare thresholds matched on unlabeled posts, from a run's --keep folder")
    parser.add_argument("--demo", type=Path, default=None, help="a dataset folder written by occ dataset")
    parser.add_argument("--corpora", default=None, help="comma-separated corpus names (default: every record)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "transformer_refit.jsonl",
                        help="one line per corpus and seed; seeds already there are not fine-tuned again")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep both models' calibrated test probabilities here (one .npz per corpus and seed)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="the settings the records were made with, if not params.yaml's")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings, listed = paired_setup(args.data_dir, args.demo, args.set)
    corpora = {c.name: c for c in listed}
    wanted = set(args.corpora.split(",")) if args.corpora else None
    if args.share_matching:
        print(share_matching({k: c for k, c in corpora.items() if not wanted or k in wanted}, args.share_matching))
        return
    if args.records is None:
        parser.error("give --records DIR (or --share-matching DIR)")
    rows = read_rows(args.json)
    done = {(r["corpus"], r["seed"]) for r in rows}
    for path in sorted(args.records.glob("*.npz")):
        name, seed = path.name.split(".")[0], int(path.name.split(".")[1])
        if name not in corpora or (wanted and name not in wanted) or (name, seed) in done:
            continue
        row = refit_one(corpora[name], seed, _load(path), settings, args.keep)
        logger.info("%s seed %d: transformer %.3f, refit %.3f (%d epochs, %.0f s); ensemble %.3f, with the refit %.3f",
                    name, seed, row["transformer"], row["transformer_refit"], row["epochs"], row["refit_s"],
                    row["ensemble"], row["ensemble_refit"])
        append_row(args.json, row)
        rows.append(row)
    print(summarize([r for r in rows if not wanted or r["corpus"] in wanted]))


if __name__ == "__main__":
    main()
