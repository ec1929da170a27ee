"""Which validation criterion should pick the transformer's epoch: each one replayed on the same fine-tunes.

    python bench/early_stopping.py DATA_DIR --record bench/out/epochs [--corpora a,b] [--seeds 5] [--demo DIR]
    python bench/early_stopping.py DATA_DIR --replay bench/out/epochs [--demo DIR]
    python bench/early_stopping.py DATA_DIR --record DIR --set transformer.task_weighting=equal   # any setting

`--record` fine-tunes the transformer exactly as `benchmarks.py` does (same training file, same train/validation
split, params.yaml's settings) but runs every epoch (no early stop) and keeps each epoch's validation and test
probabilities. The first k epochs of such a run are the run early stopping would have cut at k (same seed,
same batches, same learning-rate schedule, which depends on `epochs`, not on when training stops), so
`--replay` can apply any stopping rule afterwards, in seconds:

- `f1@0.5`: validation macro-F1 with every label decided at 0.5 (`transformer.early_stopping: f1_at_half`);
- `f1@tuned`: validation macro-F1 at thresholds tuned on that same validation set (`tune_with_policy`), the
  rule the product decides with after training;
- `loss`: validation loss (lower is better);
- `ranking`: what ships (`transformer.early_stopping: ranking`, `models.metrics.task_ranking_score`): average
  precision of binary tasks, mean average precision over the labels of multi-label tasks (threshold-free),
  macro-F1 at the top label for single-label tasks;
- `last`: no early stopping.

Each rule stops after `transformer.patience` epochs without gain (or `--patience`) and keeps its best epoch. Printed per corpus
(mean over seeds): test macro-F1 at thresholds tuned on validation, for each rule, and the epoch it chose.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import logging
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common.settings import Settings  # noqa: E402
from models.tasks import TaskSpec  # noqa: E402

logger = logging.getLogger("early_stopping")

RULES = ("f1@0.5", "f1@tuned", "loss", "ranking", "last")


def record(corpus: Any, seed: int, settings: Settings, folder: Path) -> None:
    """Fine-tune every epoch on this corpus and seed; keep per-epoch validation and test probabilities."""
    from benchmarks import test_split, train_validation

    from models.transformer.classifier import PREDICT_BATCH_SIZE, TransformerClassifier

    training_file, test = test_split(corpus, seed)
    (train_x, train_y), (val_x, val_y) = train_validation(corpus, training_file, seed, settings)
    test_x, test_y = corpus.rows(test)
    config = dataclasses.replace(settings.transformer, patience=settings.transformer.epochs + 1)
    model = TransformerClassifier(list(corpus.specs), encoder_dir=config.encoder, config=config)
    kept: dict[str, Any] = collections.defaultdict(list)
    original = model._validate

    def validate_and_keep(val_ids: list[list[int]], val_targets: Mapping[str, np.ndarray], weights: Any) -> dict:
        out = original(val_ids, val_targets, weights)
        kept["val_loss"].append(out["val_loss"])
        for name, ids in (("validation", val_ids), ("test", model._encode(test_x))):
            proba = model._proba_from_logits(model._logits(ids, PREDICT_BATCH_SIZE, model.training_precision_))
            for task, p in proba.items():
                kept[f"{name}_proba.{task}"].append(p)
        return out

    model._validate = validate_and_keep  # type: ignore[method-assign]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(train_x, train_y, val_x, val_y, progress=False)
    arrays = {key: np.stack(value) for key, value in kept.items()}
    arrays.update({f"validation_targets.{k}": v for k, v in val_y.items()})
    arrays.update({f"test_targets.{k}": v for k, v in test_y.items()})
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / f"{corpus.name}.{seed}.npz", **arrays)
    logger.info("%s seed %d: %d epochs kept", corpus.name, seed, len(kept["val_loss"]))


def _load(path: Path) -> dict[str, dict[str, np.ndarray]]:
    with np.load(path) as kept:
        out: dict[str, dict[str, np.ndarray]] = collections.defaultdict(dict)
        for key in kept.files:
            kind, _, task = key.partition(".")
            out[kind][task] = kept[key]
    return out


def _ranking(specs: Sequence[TaskSpec], proba: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray]) -> float:
    from models.metrics import task_ranking_score

    scores = [task_ranking_score(s, y[s.name], proba[s.name]) for s in specs]
    return float(np.mean([s for s in scores if s is not None]))  # as the classifier's val_ranking


def replay(specs: Sequence[TaskSpec], kept: dict[str, dict[str, np.ndarray]], settings: Settings,
           patience: int) -> dict[str, tuple[float, int]]:
    """{rule: (test macro-F1 at the chosen epoch, the chosen epoch)}."""
    from models.tasks import decide_indices
    from training.metrics import evaluate_all, mean_macro_f1, task_macro_f1
    from training.recipe import tune_with_policy

    y_val, y_test = kept["validation_targets"], kept["test_targets"]
    val_loss = kept["val_loss"][""]
    epochs = len(val_loss)

    def at(kind: str, epoch: int) -> dict[str, np.ndarray]:
        return {task: v[epoch] for task, v in kept[kind].items()}

    def tuned(epoch: int) -> tuple[dict[str, list[float]], float]:
        cuts, _ = tune_with_policy(specs, at("validation_proba", epoch), y_val, settings.thresholds, settings.safety)
        return cuts, mean_macro_f1(evaluate_all(specs, at("validation_proba", epoch), y_val, cuts))

    criteria: dict[str, Callable[[int], float]] = {
        "f1@0.5": lambda e: float(np.mean([task_macro_f1(s, y_val[s.name], decide_indices(s, at("validation_proba", e)[s.name])) or 0.0
                                           for s in specs])),
        "f1@tuned": lambda e: tuned(e)[1],
        "loss": lambda e: -float(val_loss[e]),
        "ranking": lambda e: _ranking(specs, at("validation_proba", e), y_val),
        "last": lambda e: float(e),
    }
    out = {}
    for rule, criterion in criteria.items():
        best, best_epoch, stale = -np.inf, 0, 0
        for epoch in range(epochs):
            score = criterion(epoch)
            if score > best + 1e-6:
                best, best_epoch, stale = score, epoch, 0
            else:
                stale += 1
                if stale >= patience:
                    break
        cuts, _ = tuned(best_epoch)
        out[rule] = (mean_macro_f1(evaluate_all(specs, at("test_proba", best_epoch), y_test, cuts)), best_epoch + 1)
    return out


def main() -> None:
    from benchmarks import paired_setup

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--demo", type=Path, default=None, help="a dataset folder written by occ dataset")
    parser.add_argument("--corpora", default=None, help="comma-separated corpus names (default: all)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--record", type=Path, default=None, metavar="DIR")
    parser.add_argument("--replay", type=Path, default=None, metavar="DIR")
    parser.add_argument("--patience", type=int, default=None, help="replay with this patience (default: params.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="record with a setting changed (YAML value), e.g. transformer.task_weighting=equal")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings, corpora = paired_setup(args.data_dir, args.demo, args.set)
    if args.corpora:
        corpora = [c for c in corpora if c.name in set(args.corpora.split(","))]
    if args.record:
        for corpus in corpora:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                record(corpus, seed, settings, args.record)
    if args.replay:
        logging.getLogger().setLevel(logging.WARNING)
        results: dict[str, dict[str, list[tuple[float, int]]]] = collections.defaultdict(lambda: collections.defaultdict(list))
        specs_of = {c.name: c.specs for c in corpora}
        for path in sorted(args.replay.glob("*.npz")):
            corpus = path.name.split(".")[0]
            if corpus in specs_of:
                patience = args.patience or settings.transformer.patience
                for rule, value in replay(specs_of[corpus], _load(path), settings, patience).items():
                    results[corpus][rule].append(value)
        print("| corpus | seeds | " + " | ".join(RULES) + " | " + " | ".join(f"{r} - f1@0.5" for r in RULES[1:])
              + " | epochs chosen (" + ", ".join(RULES) + ") |")
        print("|---|---|" + "---|" * (2 * len(RULES) - 1) + "---|")
        totals: dict[str, list[float]] = collections.defaultdict(list)
        for corpus, row in sorted(results.items()):
            f1 = {r: 100 * float(np.mean([v[0] for v in row[r]])) for r in RULES}
            for r in RULES:
                totals[r].append(f1[r])
            print(f"| {corpus} | {len(row['last'])} | " + " | ".join(f"{f1[r]:.1f}" for r in RULES) + " | "
                  + " | ".join(f"{f1[r] - f1['f1@0.5']:+.1f}" for r in RULES[1:]) + " | "
                  + ", ".join(f"{np.mean([v[1] for v in row[r]]):.1f}" for r in RULES) + " |")
        print("| **mean** | | " + " | ".join(f"{np.mean(totals[r]):.1f}" for r in RULES) + " | "
              + " | ".join(f"{np.mean(totals[r]) - np.mean(totals['f1@0.5']):+.1f}" for r in RULES[1:]) + " | |")


if __name__ == "__main__":
    main()
