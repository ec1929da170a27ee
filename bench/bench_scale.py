"""Dumps of any size: ingest and score rates with 1 and 2 workers, and peak memory at 10^6 and 10^7 posts.

    python bench/bench_scale.py --model models:/occ-insights/1 [--posts 1000000] [--large 10000000] \
        [--transformer models:/occ-insights/2 --transformer-posts 2000 10000] [--reference DIR] [--workdir DIR]
        [--stages ingest,score,transformer]

Every run is `occ ingest` / `occ score` as a user runs it (a subprocess). Memory is sampled every 0.2 s over
the whole process tree (the main process and its workers): the figures are the main process's peak RSS and the
tree's peak total. Baselines, named and run in the same script:
- `--workers 1`: the same code with no worker process, for the rate with 2 workers;
- for the transformer, the model scoring in the main process (`score.model_process_posts: 0`) against the
  shipped setting (a process of its own, replaced every 200,000 posts), on the same posts; with
  `--transformer-posts 200000 1000000` and a tiny encoder this is the memory growth check;
- `--reference DIR`: a checkout of the code before this change (`git worktree add DIR <commit>`), run on the
  same dump, for "today's" rate and memory (in-memory de-duplication, one process).
The large dump repeats the generated one with fresh post, reply, author ids and handles (`-rK` suffixes: the
same texts by new authors are not duplicates), so duplicates, quarantined rows and authors keep their shares.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]


def tree_rss(proc: psutil.Process) -> tuple[int, int]:
    try:
        main = proc.memory_info().rss
        total = main + sum(c.memory_info().rss for c in proc.children(recursive=True))
        return main, total
    except psutil.Error:
        return 0, 0


def run(args: list[str], code: Path = ROOT, env: dict[str, str] | None = None) -> dict:
    """Run `python -m occ ARGS` from `code`; returns its JSON summary, seconds and peak memory in MB."""
    tracking = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{ROOT / 'mlflow.db'}"  # the same registry from any checkout
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(code), "MLFLOW_TRACKING_URI": tracking}
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "occ", *args, "--json"], cwd=code, env=full_env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0, 0]
    watched = psutil.Process(child.pid)

    def sample() -> None:
        while child.poll() is None:
            main, total = tree_rss(watched)
            peak[0], peak[1] = max(peak[0], main), max(peak[1], total)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    sampler.join()
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"occ {' '.join(args)} failed:\n{err[-3000:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    return {"summary": summary, "seconds": seconds, "main_mb": peak[0] / 2**20, "tree_mb": peak[1] / 2**20}


def repeat_dump(source: Path, target: Path, times: int) -> None:
    """`times` copies of `source` with fresh post ids (and reply targets), streamed line by line."""
    if target.exists():
        return
    tmp = target.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for k in range(times):
            with open(source, encoding="utf-8") as handle:
                for line in handle:
                    if k:
                        try:
                            row = json.loads(line)
                        except ValueError:
                            out.write(line)
                            continue
                        if isinstance(row, dict):
                            for key in ("post_id", "in_reply_to", "author_id", "author_handle"):
                                if isinstance(row.get(key), str):
                                    row[key] = f"{row[key]}-r{k}"
                            line = json.dumps(row) + "\n"
                    out.write(line)
    tmp.rename(target)


def ensure_dump(work: Path, posts: int) -> Path:
    raw = work / f"raw{posts}"
    if not (raw / "posts.jsonl").exists():
        subprocess.run([sys.executable, "-m", "occ", "demo-data", "--out", str(raw), "--posts", str(posts)],
                       check=True, cwd=ROOT, capture_output=True)
    return raw / "posts.jsonl"


def line(label: str, result: dict, rows_key: str, base: dict | None) -> str:
    rows = result["summary"][rows_key] if rows_key in result["summary"] else result["summary"]["rows_read"]
    rate = result["summary"]["rows_read"] / result["seconds"]
    ratio = f"{base['seconds'] / result['seconds']:.2f}x" if base else "1.00x"
    return (f"{label:<44}{rate:>10,.0f}{ratio:>10}{result['main_mb']:>10,.0f}{result['tree_mb']:>10,.0f}"
            f"   ({rows:,} rows out, {result['seconds']:.0f}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a registered TF-IDF baseline")
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=10_000_000, help="0 to skip the 10^7 memory runs")
    parser.add_argument("--transformer", default=None)
    parser.add_argument("--transformer-posts", type=int, nargs=2, default=[2000, 10000])
    parser.add_argument("--reference", type=Path, default=None, help="a checkout of the code to compare with")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--stages", default="ingest,score", help="comma-separated: ingest, score, transformer")
    parser.add_argument("--large-only", action="store_true", help="only the large runs (memory), e.g. in the background")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="occ-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    stages = set(args.stages.split(","))
    dump = ensure_dump(work, args.posts)
    products = dump.parent / "products.yaml"
    large = None
    if args.large:
        large = work / f"posts{args.large}.jsonl"
        repeat_dump(dump, large, max(1, args.large // args.posts))
    header = f"{'run':<44}{'rows/s':>10}{'vs base':>10}{'main MB':>10}{'tree MB':>10}"
    def out_dir() -> Path:
        return Path(tempfile.mkdtemp(prefix="out-", dir=work))  # a fresh, empty --out per run

    def compare(command: list[str], rows_key: str) -> dict | None:
        """Today's code, then this code with 1 and 2 workers, on the same dump; returns the 2-worker run."""
        if args.large_only:
            return None
        ref = None
        if args.reference:
            ref = run([*command, "--out", str(out_dir())], code=args.reference)
            print(line("today's code (reference checkout)", ref, rows_key, None))
        one = run([*command, "--out", str(out_dir()), "--workers", "1"])
        print(line("this code, 1 worker", one, rows_key, ref))
        two = run([*command, "--out", str(out_dir()), "--workers", "2"])
        print(line("this code, 2 workers", two, rows_key, ref or one))
        if ref:
            print(f"  2 workers vs 1 worker: {one['seconds'] / two['seconds']:.2f}x")
        return two

    def grown(big: dict, small: dict | None) -> None:
        if small:
            print(f"  peak main RSS {args.large:,} / {args.posts:,} posts: {big['main_mb'] / small['main_mb']:.2f}x; "
                  f"process tree {big['tree_mb'] / small['tree_mb']:.2f}x")

    if "ingest" in stages:
        print(f"\nocc ingest, {args.posts:,}-post demo dump (baseline for the ratio: first row)")
        print(header)
        ingest = ["ingest", str(dump), "--products", str(products)]
        two = compare(ingest, "rows_written")
        if large:
            big = run(["ingest", str(large), "--products", str(products), "--out", str(out_dir()), "--workers", "2"])
            print(line(f"this code, 2 workers, {args.large:,} posts", big, "rows_written", None))
            grown(big, two)

    if "score" in stages:
        print(f"\nocc score with {args.model}, {args.posts:,}-post demo dump")
        print(header)
        score = ["score", str(dump), "--model", args.model]
        two = compare(score, "rows_scored")
        if large:
            big = run(["score", str(large), "--model", args.model, "--out", str(out_dir()), "--workers", "2"])
            print(line(f"this code, 2 workers, {args.large:,} posts", big, "rows_scored", None))
            grown(big, two)

    if "transformer" in stages and args.transformer:
        small, bigger = args.transformer_posts
        print(f"\nocc score with {args.transformer} (transformer), {small:,} and {bigger:,} posts; baseline for the "
              "ratio: the model in the main process (score.model_process_posts: 0), run just before")
        print(header)
        in_main = work / "params-model-in-main.yaml"
        shipped = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
        shipped["score"]["model_process_posts"] = 0
        in_main.write_text(yaml.safe_dump(shipped, sort_keys=False), encoding="utf-8")
        runs: dict[int, dict] = {}
        for n in (small, bigger):
            sub = work / f"head{n}.jsonl"
            if not sub.exists():
                source = dump if n <= args.posts else large
                if source is None:
                    raise SystemExit(f"--transformer-posts {n} needs --large of at least {n}")
                with open(source, encoding="utf-8") as src, open(sub, "w", encoding="utf-8") as dst:
                    for i, text in enumerate(src):
                        if i >= n:
                            break
                        dst.write(text)
            score = ["score", str(sub), "--model", args.transformer]
            ref = run([*score, "--out", str(out_dir()), "--params", str(in_main)])
            print(line(f"in the main process, {n:,} posts", ref, "rows_scored", None))
            mine = run([*score, "--out", str(out_dir())])
            processes = mine["summary"].get("model_processes")
            print(line(f"in its own process ({processes}), {n:,} posts", mine, "rows_scored", ref))
            runs[n] = {"main": ref, "own": mine}
        for name in ("main", "own"):
            big, little = runs[bigger][name], runs[small][name]
            print(f"  {'in the main process' if name == 'main' else 'in its own process'}: peak main RSS "
                  f"{bigger:,} / {small:,} posts {big['main_mb'] / little['main_mb']:.2f}x; process tree "
                  f"{big['tree_mb'] / little['tree_mb']:.2f}x")


if __name__ == "__main__":
    main()
