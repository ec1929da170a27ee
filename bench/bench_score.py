"""Scoring throughput of `occ score` against a naive `transformers.pipeline` loop, and accuracy per precision.

    python bench/bench_score.py --transformer models:/occ-insights/2 --baseline models:/occ-insights/1 \
        --dump data/new_dump/posts.jsonl --dataset data/dataset [--posts 20000] [--naive-posts 2000] \
        [--large-dump big/posts.jsonl [--large-only]]

Baseline (named): `transformers.pipeline("text-classification")` over the same encoder (all-MiniLM-L6-v2 with a
classification head) and the same posts, at batch size 1 and 32 (`top_k=None`: every label's score, as
`occ score` gives). It gets the raw texts only: no reading, validation or writing. `occ score` is timed end to
end as a user runs it (a subprocess: reading, validation, redaction, scoring, writing Parquet), once per
precision mode; peak RSS is the child's. Macro-F1 per task on the frozen test split is computed for each
precision mode with the same registered model. The naive loop runs on the first `--naive-posts` posts
(posts/s is a rate; the naive loop at 40 posts/s would take many minutes on 20,000).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def read_texts(dump: Path, n: int) -> list[str]:
    texts = []
    with open(dump, encoding="utf-8") as handle:
        for line in handle:
            texts.append(json.loads(line)["text"])
            if len(texts) >= n:
                break
    return texts


def naive_pipeline_rate(texts: list[str], batch_size: int, n_labels: int) -> float:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from models.transformer.encoder import default_encoder_dir

    folder = default_encoder_dir()
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=n_labels)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1, top_k=None)
    classify(texts[:8], batch_size=batch_size, truncation=True, max_length=128)  # warm-up
    start = time.perf_counter()
    if batch_size == 1:
        for text in texts:
            classify(text, truncation=True, max_length=128)
    else:
        classify(texts, batch_size=batch_size, truncation=True, max_length=128)
    return len(texts) / (time.perf_counter() - start)


def occ_score_rate(dump: Path, model: str, precision: str, work: Path, posts: int | None) -> tuple[float, float, dict]:
    """Run `occ score` as a user would (a child process) on the first `posts` rows of `dump` (all if None)."""
    subset = dump if posts is None else work / f"dump-{posts}.jsonl"
    if not subset.exists():
        with open(dump, encoding="utf-8") as src, open(subset, "w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i >= posts:
                    break
                dst.write(line)
    out = work / f"scored-{model.replace('/', '_').replace(':', '')}-{precision}-{posts or 'all'}"
    log = work / f"{out.name}.log"
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as stdout, open(log.with_suffix(".err"), "w", encoding="utf-8") as stderr:
        child = subprocess.Popen([sys.executable, "-m", "occ", "score", str(subset), "--out", str(out), "--model",
                                  model, "--precision", precision, "--json"], stdout=stdout, stderr=stderr,
                                 env=os.environ.copy())
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage: its peak RSS, not the max of all
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    text = log.read_text(encoding="utf-8")
    if child.returncode != 0:
        raise SystemExit(log.with_suffix(".err").read_text(encoding="utf-8")[-3000:])
    peak = usage.ru_maxrss / 1024  # kB on Linux
    summary = json.loads(text.strip().splitlines()[-1])
    return summary["rows_read"] / seconds, peak, summary


def macro_f1_by_precision(model: str, dataset: Path, precisions: list[str]) -> dict[str, dict[str, float]]:
    from labeling.dataset import load_dataset_dir
    from labeling.taxonomy import taxonomy_from_dict
    from models.registry import load_pinned, pin
    from training.data import split_inputs, task_specs
    from training.metrics import evaluate_all

    bundle = load_pinned(pin(model))
    data, taxonomy = load_dataset_dir(dataset)
    specs = task_specs(taxonomy_from_dict(taxonomy))
    texts, targets = split_inputs(data["test"], specs)
    result = {}
    for precision in precisions:
        proba = bundle.predict_proba(texts, precision=None if precision == "default" else precision)
        metrics = evaluate_all(specs, proba, targets, bundle.thresholds)
        result[precision] = {task: round(m["macro_f1"], 4) for task, m in metrics.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transformer", required=True, help="registered transformer model URI")
    parser.add_argument("--baseline", required=True, help="registered baseline model URI")
    parser.add_argument("--dump", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--naive-posts", type=int, default=2000)
    parser.add_argument("--precisions", default="fp32,bf16,int8")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--large-dump", type=Path, default=None,
                        help="also score this whole dump (e.g. 1,000,000 posts) with each model: peak RSS at scale")
    parser.add_argument("--large-only", action="store_true", help="skip the 20,000-post comparison")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from models.tracking import configure_tracking

    configure_tracking()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="occ-bench-score-"))
    work.mkdir(parents=True, exist_ok=True)
    precisions = args.precisions.split(",")

    if args.large_dump:
        for name, model in (("baseline", args.baseline), ("transformer", args.transformer)):
            rate, peak, summary = occ_score_rate(args.large_dump, model, "default", work, None)
            print(f"large dump, {name} ({model}, default precision): {summary['rows_read']:,} rows, {rate:,.0f} posts/s "
                  f"end to end, peak RSS {peak:,.0f} MB", flush=True)
    if args.large_only:
        return

    texts = read_texts(args.dump, args.naive_posts)
    from models.registry import load_pinned, pin

    n_labels = sum(len(s.labels) for s in load_pinned(pin(args.transformer)).specs)
    naive = {b: naive_pipeline_rate(texts, b, n_labels) for b in (1, 32)}
    print(f"baseline: naive transformers.pipeline on {len(texts):,} posts: batch 1 {naive[1]:.1f} posts/s, "
          f"batch 32 {naive[32]:.1f} posts/s", flush=True)

    rows = []
    for precision in precisions:
        rate, peak, summary = occ_score_rate(args.dump, args.transformer, precision, work, args.posts)
        rows.append((f"occ score transformer {precision}", rate, peak))
        print(f"occ score transformer {precision}: {rate:.1f} posts/s end to end ({summary['rows_read']:,} rows), "
              f"peak RSS {peak:,.0f} MB", flush=True)
    rate, peak, summary = occ_score_rate(args.dump, args.baseline, "default", work, args.posts)
    rows.append(("occ score baseline (TF-IDF)", rate, peak))

    print(f"\n{'path':<36}{'posts/s':>10}{'vs naive b1':>13}{'vs naive b32':>14}{'peak RSS':>11}")
    for name, value in (("naive pipeline batch 1", naive[1]), ("naive pipeline batch 32", naive[32])):
        print(f"{name:<36}{value:>10.1f}{value / naive[1]:>12.2f}x{value / naive[32]:>13.2f}x{'':>11}")
    for name, value, peak in rows:
        print(f"{name:<36}{value:>10.1f}{value / naive[1]:>12.2f}x{value / naive[32]:>13.2f}x{peak:>9,.0f}MB")
    print("\nmacro-F1 on the frozen test split per precision mode:")
    for precision, scores in macro_f1_by_precision(args.transformer, args.dataset, precisions).items():
        print(f"  {precision:<6} " + "  ".join(f"{task} {value:.4f}" for task, value in scores.items()))


if __name__ == "__main__":
    main()
