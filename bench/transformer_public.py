"""Check that the transformer family's default recipe generalizes to real text, and measure its speed.

Fine-tunes the packaged all-MiniLM-L6-v2 with `TransformerSettings` defaults on public corpora (see the data
folder's README: patients' reviews and sentences, not clinicians, so this checks robustness to a change of
register) and compares test scores with the TF-IDF + logistic regression baseline (models/baseline.py) on the
same grouped split, with the corpora, splits, scoring and threshold policies of bench/public_corpora.py (so the
numbers line up with the baseline's). It also measures scoring throughput (fp32 / bf16 / int8) and fine-tuning
time per 1,000 posts per epoch.

Run by hand, one fine-tune at a time (the CPU is shared):
    python bench/transformer_public.py DATA_DIR --jobs drugscom psytar --max-train 1500 --threads 2 --out r.json

The corpora never enter the project, and no test depends on them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/public_corpora.py: shared corpora and scoring

import numpy as np  # noqa: E402

from common.settings import to_dict  # noqa: E402
from models.tasks import TaskSpec  # noqa: E402

logger = logging.getLogger("bench.transformer_public")


JOINT: dict[str, tuple[str, ...]] = {
    "drugscom": ("drugscom_sentiment",),
    "psytar": ("psytar_adr", "psytar_facets"),
    "psytar_reviews": ("psytar_review_sentiment",),
    "cadec": ("cadec_needs",),
    "medqa": ("medqa_type",),
}
"""Jobs: public tasks fitted together. PsyTAR's ADR and facet tasks share their sentences, so they train as one
two-head model, as the product's taxonomy does (one encoder, one forward pass for every task)."""

def _policies(pc: Any) -> dict[str, Any]:
    """Threshold policies reported: fixed 0.5, and the project default (models/thresholds.py, tuned on
    validation), picked from bench/public_corpora.py's list by strategy so that renames there do not matter."""
    from common.settings import ThresholdSettings

    chosen = {}
    for policy in pc.DEFAULT_POLICIES:
        if policy.min_recall is not None:
            continue
        if policy.strategy == "fixed" or (
            policy.strategy == ThresholdSettings().strategy and "default" in policy.name
        ):
            chosen[policy.name] = policy
    return chosen


def run_job(job: str, tasks: Sequence[Any], config: Any, seed: int, max_rows: int | None,
            progress: bool, baseline_only: bool = False) -> tuple[dict[str, Any], Any]:
    """Fit the transformer (all of the job's tasks at once) and the TF-IDF baseline (per task, as
    bench/public_corpora.py does) on the same grouped 60/20/20 split; score both on the test part."""
    import public_corpora as pc

    from models.transformer import TransformerClassifier

    parts = [pc.subsample(t, max_rows, seed) for t in tasks]
    first = parts[0]
    assert all(p.texts == first.texts for p in parts), "tasks of one job must share their texts"
    train, val, test = pc.split_indices(first.groups, seed)
    pick = lambda idx: [first.texts[i] for i in idx]  # noqa: E731
    specs = [p.spec for p in parts]
    sizes = {"train": len(train), "val": len(val), "test": len(test)}
    logger.info("%s seed %d: %s", job, seed, sizes)
    policies = _policies(pc)

    def report(spec: TaskSpec, p_val: np.ndarray, p_test: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, policy in policies.items():
            if spec.kind == "single" and out:
                break
            cuts = policy.thresholds(spec, p_val, y[val])
            metrics = pc.score(spec, p_test, y[test], cuts)
            out["argmax" if spec.kind == "single" else name] = {**metrics, "headline": pc.headline(spec, metrics)}
        return out

    result: dict[str, Any] = {"job": job, "seed": seed, "sizes": sizes, "config": to_dict(config),
                              "tfidf_lr": {}, "transformer": {}}
    for part in parts:
        model = pc.baseline_factory()([part.spec])
        t0 = time.perf_counter()
        model.fit(pick(train), {part.spec.name: part.y[train]})
        fit_s = time.perf_counter() - t0
        p_val = model.predict_proba(pick(val))[part.spec.name]
        p_test = model.predict_proba(pick(test))[part.spec.name]
        result["tfidf_lr"][part.name] = {**report(part.spec, p_val, p_test, part.y), "fit_s": fit_s}
    if baseline_only:
        return result, None

    clf = TransformerClassifier(specs, config=config)
    t0, c0 = time.perf_counter(), time.process_time()
    clf.fit(pick(train), {p.spec.name: p.y[train] for p in parts}, pick(val), {p.spec.name: p.y[val] for p in parts},
            progress=progress)
    fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    p_val, p_test = clf.predict_proba(pick(val)), clf.predict_proba(pick(test))
    predict_s = time.perf_counter() - t0
    for part in parts:
        result["transformer"][part.name] = report(part.spec, p_val[part.spec.name], p_test[part.spec.name], part.y)
    result["_proba"] = {f"{split}.{name}": proba[name] for split, proba in (("val", p_val), ("test", p_test))
                        for name in p_val}  # re-score later without refitting (written to an .npz, not JSON)
    train_tokens = float(np.mean([len(x) for x in clf._encode(pick(train))]))
    epoch_s = [h["train_seconds"] for h in clf.history_]
    result.update({
        "history": clf.history_,
        "best_epoch": clf.best_epoch_,
        "fit_seconds": fit_s,
        "fit_cpu_seconds": fit_cpu_s,
        "predict_seconds_val_test": predict_s,
        "predict_posts": len(val) + len(test),
        "train_mean_tokens": train_tokens,
        "seconds_per_1000_posts_per_epoch": 1000 * float(np.median(epoch_s)) / len(train),
        "load_avg_after": os.getloadavg(),
    })
    return result, clf


def headline_table(result: dict[str, Any]) -> list[str]:
    lines = []
    for family in ("tfidf_lr", "transformer"):
        for task, by_policy in result[family].items():
            cells = [f"{p} {m['headline']:.3f}" for p, m in by_policy.items() if isinstance(m, dict)]
            lines.append(f"{result['job']:8s} {family:11s} {task:26s} " + "  ".join(cells))
    return lines


def _random_head_classifier() -> Any:
    """all-MiniLM with random heads for the default taxonomy's shapes (speed does not depend on head weights)."""
    from models.transformer.encoder import default_encoder_dir, load_tokenizer
    from models.transformer import MultiTaskTransformer, TransformerClassifier

    tasks = [TaskSpec("sentiment", "single", ("negative", "neutral", "positive")),
             TaskSpec("perception", "multi", tuple(f"p{i}" for i in range(5))),
             TaskSpec("evidence_need", "multi", tuple(f"e{i}" for i in range(7))),
             TaskSpec("adverse_event", "binary", ("no", "yes"), "yes")]
    clf = TransformerClassifier(tasks)
    clf.tokenizer_ = load_tokenizer(default_encoder_dir())
    clf.model_ = MultiTaskTransformer.from_pretrained(default_encoder_dir(), tasks).eval()
    clf._int8_model = None
    clf.thresholds_ = {}
    return clf


def throughput(clf: Any, texts: list[str], slow_precision_posts: int = 200) -> dict[str, Any]:
    """Scoring speed per precision (wall posts/s and posts per CPU-second, since the CPU may be shared) and how
    often bf16 / int8 decisions agree with fp32 (meaningful with a fine-tuned `clf`).

    bf16 runs on the first `slow_precision_posts` posts only when the CPU lacks native bf16 (emulated: slow).
    """
    import torch

    from models.tasks import decide_indices
    from models.transformer import cpu_has_fast_bf16

    tokens = float(np.mean([len(x) for x in clf._encode(texts)]))
    out: dict[str, Any] = {"posts": len(texts), "mean_tokens": tokens, "threads": torch.get_num_threads(),
                           "cpu_native_bf16": cpu_has_fast_bf16(), "load_avg_before": os.getloadavg()}
    reference: dict[str, np.ndarray] = {}
    for precision in ("fp32", "int8", "bf16"):
        subset = texts if precision != "bf16" or cpu_has_fast_bf16() else texts[:slow_precision_posts]
        clf.predict_proba(texts[:32], precision=precision)  # warm-up (and the one-off int8 conversion)
        t0, c0 = time.perf_counter(), time.process_time()
        proba = clf.predict_proba(subset, precision=precision)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        entry: dict[str, Any] = {"posts": len(subset), "posts_per_s": len(subset) / wall,
                                 "posts_per_cpu_s": len(subset) / cpu}
        if precision == "fp32":
            reference = proba
        else:
            agreement = {}
            for task in clf.tasks:
                same = decide_indices(task, proba[task.name]) == decide_indices(task, reference[task.name][: len(subset)])
                agreement[task.name] = float(np.mean(same.all(axis=1) if same.ndim == 2 else same))
            entry["decision_agreement"] = agreement
        out[precision] = entry
        logger.info("%s: %.1f posts/s (%.1f posts per CPU-s)", precision, entry["posts_per_s"], entry["posts_per_cpu_s"])
    out["load_avg_after"] = os.getloadavg()
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="folder holding the public corpora (one subfolder each)")
    parser.add_argument("--jobs", nargs="*", default=["drugscom", "psytar"], choices=sorted(JOINT))
    parser.add_argument("--max-train", type=int, default=1500,
                        help="about this many training posts per job (rows are subsampled by whole groups)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (bench/public_corpora.split_indices)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override TransformerSettings fields, e.g. learning_rate=1e-4 class_weighting=inverse")
    parser.add_argument("--throughput", type=int, default=0, metavar="N",
                        help="also measure scoring speed on N posts (0 = skip)")
    parser.add_argument("--save", type=Path, default=None, help="save the last job's fitted transformer here")
    parser.add_argument("--model", type=Path, default=None,
                        help="a saved TransformerClassifier to time (default: the last job's, else random heads)")
    parser.add_argument("--out", type=Path, default=None, help="write results as JSON here")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--baseline-only", action="store_true", help="score only the TF-IDF baseline (seconds)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    import public_corpora as pc
    from common.settings import TransformerSettings

    torch.set_num_threads(args.threads)
    defaults = TransformerSettings(precision="fp32")  # the bench runs in fp32 whatever the CPU
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = value if isinstance(getattr(defaults, key, None), str) else json.loads(value)
    config = replace(defaults, **overrides)

    by_name = {t.name: t for t in pc.load_public_tasks(args.data_dir)}
    results: dict[str, Any] = {"runs": []}
    clf = None
    for job in args.jobs:
        tasks = [by_name[name] for name in JOINT[job] if name in by_name]
        if not tasks:
            logger.warning("job %s: no corpus found under %s", job, args.data_dir)
            continue
        max_rows = int(args.max_train / 0.6) if args.max_train else None
        result, clf = run_job(job, tasks, config, args.seed, max_rows, progress=not args.no_progress,
                              baseline_only=args.baseline_only)
        if args.baseline_only:
            print("\n".join(headline_table(result)), flush=True)
            continue
        if args.save:
            clf.save(args.save)
        proba = result.pop("_proba")
        if args.out:
            np.savez_compressed(args.out.with_name(f"{args.out.stem}.{job}.proba.npz"), **proba)
        results["runs"].append(result)
        print("\n".join(headline_table(result)), flush=True)
        print(json.dumps({k: result[k] for k in ("job", "sizes", "best_epoch", "fit_seconds", "fit_cpu_seconds",
                                                 "seconds_per_1000_posts_per_epoch", "train_mean_tokens")}),
              flush=True)
        if args.out:
            args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    if args.throughput:
        texts: list[str] = []
        for name in ("drugscom_sentiment", "cadec_needs"):
            if name in by_name:
                texts += by_name[name].texts
        if args.model is not None:
            from models.transformer import TransformerClassifier

            clf = TransformerClassifier.load(args.model)
        results["throughput"] = throughput(clf if clf is not None else _random_head_classifier(),
                                           texts[: args.throughput])
        print(json.dumps(results["throughput"], indent=1), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
