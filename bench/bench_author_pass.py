"""The author pass of a scored run: every author at once (the way it ran before buckets) against author-id
buckets with 1 and 2 worker processes; seconds, peak memory and whether the tables are identical.

    python bench/bench_author_pass.py RUN_DIR [--variants memory,buckets1,buckets2]

RUN_DIR is a folder `occ score` wrote (its `scores/part-*.parquet`). Each variant runs in its own process, so
its peak memory is its own: "main" is that process's peak RSS, "tree" the peak of it and its workers together
(sampled every 0.2 s). The baseline for the ratios is the first variant, `memory`:
`resolve.resolve_authors(resolve.read_profiles(parts))`, every profile and decision held at once.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_variant(run_dir: Path, variant: str, out: Path) -> None:
    """In this process: one way of writing `authors.parquet` and `author_links.parquet` into `out`."""
    from common.atomic import write_table_atomic
    from common.settings import load_settings
    from labeling.authors import author_pass, resolve

    settings = load_settings(None).authors
    parts = sorted((run_dir / "scores").glob("part-*.parquet"))
    out.mkdir(parents=True, exist_ok=True)
    if variant == "memory":
        tables = resolve.resolve_authors(resolve.read_profiles(parts, settings.texts_per_author), settings)
        write_table_atomic(out / resolve.AUTHORS_FILE, tables.authors)
        write_table_atomic(out / resolve.LINKS_FILE, tables.links)
    else:
        author_pass.write_author_tables(parts, out, settings, workers=int(variant.removeprefix("buckets")))


def measure(run_dir: Path, variant: str, out: Path) -> dict:
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, str(run_dir), "--child", variant, "--out", str(out)],
                             cwd=ROOT, stderr=subprocess.PIPE, text=True)
    watched, peak = psutil.Process(child.pid), [0, 0]

    def sample() -> None:
        while child.poll() is None:
            try:
                main = watched.memory_info().rss
                tree = main + sum(c.memory_info().rss for c in watched.children(recursive=True))
                peak[0], peak[1] = max(peak[0], main), max(peak[1], tree)
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = child.communicate()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{err[-3000:]}")
    return {"seconds": time.perf_counter() - start, "main_mb": peak[0] / 2**20, "tree_mb": peak[1] / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--variants", default="memory,buckets1,buckets2")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_variant(args.run_dir, args.child, args.out)
        return
    import pyarrow.parquet as pq

    work = Path(tempfile.mkdtemp(prefix="occ-bench-authors-"))
    results, base = {}, None
    print(f"{'variant':<12}{'seconds':>10}{'vs first':>10}{'main MB':>10}{'tree MB':>10}   tables")
    for variant in args.variants.split(","):
        out = work / variant
        result = measure(args.run_dir, variant, out)
        first = work / args.variants.split(",")[0]
        same = all(pq.read_table(out / name).equals(pq.read_table(first / name))
                   for name in ("authors.parquet", "author_links.parquet"))
        base = base or result
        print(f"{variant:<12}{result['seconds']:>10.1f}{base['seconds'] / result['seconds']:>9.2f}x"
              f"{result['main_mb']:>10,.0f}{result['tree_mb']:>10,.0f}   {'identical' if same else 'DIFFER'}")
        results[variant] = {**result, "identical_to_first": same}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
