"""Ingest throughput and peak memory on a large synthetic dump, and where the time goes.

    python bench/bench_ingest.py [--posts 1000000] [--workdir DIR]

Baseline (named, same script): a bare streaming pass that only parses each JSON line and writes the rows
to Parquet with pyarrow, no validation, redaction, de-duplication or product matching. `occ ingest` is run
as a subprocess (as a user runs it) with redaction on (the default `fast` path) and off (identity redactor,
for the cost of redaction alone); peak RSS is the child's maximum resident set size. A profile of the row
pipeline on a sample shows where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def bare_parse_and_write(path: Path, out: Path, batch: int = 5000) -> float:
    start = time.perf_counter()
    writer = None
    rows: list[dict] = []
    with open(path, "rb") as handle:
        for line in handle:
            record = json.loads(line)
            rows.append({"post_id": str(record.get("post_id")), "text": record.get("text")})
            if len(rows) >= batch:
                table = pa.Table.from_pylist(rows)
                writer = writer or pq.ParquetWriter(out, table.schema)
                writer.write_table(table)
                rows = []
    if rows:
        table = pa.Table.from_pylist(rows)
        writer = writer or pq.ParquetWriter(out, table.schema)
        writer.write_table(table)
    if writer:
        writer.close()
    return time.perf_counter() - start


def run_ingest(dump: Path, out: Path, products: Path, extra_env: dict[str, str] | None = None) -> tuple[dict, float, float]:
    import os

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "occ", "ingest", str(dump), "--out", str(out), "--products", str(products),
                           "--json"], capture_output=True, text=True, env={**os.environ, **(extra_env or {})})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    peak_mb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    return json.loads(done.stdout.strip().splitlines()[-1]), seconds, peak_mb


def profile_pipeline(dump: Path, products: Path, sample: int = 50000) -> str:
    from common.settings import IngestSettings
    from labeling.ingest.pipeline import PostPipeline
    from labeling.ingest.products import load_products
    from labeling.ingest.readers import read_jsonl

    pipeline = PostPipeline(IngestSettings(), products=load_products(products))
    records = []
    for i, raw in enumerate(read_jsonl(dump, False, 10**6, 2000)):
        if i >= sample:
            break
        records.append(raw)
    profiler = cProfile.Profile()
    profiler.enable()
    for raw in records:
        pipeline.process(raw)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    lines = [f"row pipeline on {len(records)} parsed rows: {len(records) / total:,.0f} rows/s (profiled)"]
    by_function = sorted(stats.stats.items(), key=lambda item: -item[1][3])  # cumulative time
    wanted = ("redact", "coerce_post", "find", "text_fingerprint", "apply", "_quarantine")
    for (filename, _, name), (_, _, _, cumulative, _) in by_function:
        if name in wanted and "labeling" in filename:
            lines.append(f"  {name:<18} {cumulative / total:6.1%} of pipeline time")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="occ-bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    raw = work / "raw"
    if not (raw / "posts.jsonl").exists():
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "occ", "demo-data", "--out", str(raw), "--posts", str(args.posts)], check=True)
        print(f"generated {args.posts:,} posts in {time.perf_counter() - start:.0f}s")
    dump, products = raw / "posts.jsonl", raw / "products.yaml"
    size_mb = dump.stat().st_size / 2**20

    base_s = bare_parse_and_write(dump, work / "bare.parquet")
    summary, occ_s, occ_peak = run_ingest(dump, work / "ingested", products)
    rows = summary["rows_read"]
    print(f"\ndump: {rows:,} rows, {size_mb:,.0f} MB")
    print(f"{'path':<46}{'rows/s':>10}{'vs baseline':>13}{'peak RSS':>11}")
    print(f"{'baseline: bare json.loads + Parquet write':<46}{rows / base_s:>10,.0f}{1.0:>12.2f}x{'':>11}")
    print(f"{'occ ingest (redaction on, subprocess)':<46}{rows / occ_s:>10,.0f}{base_s / occ_s:>12.2f}x{occ_peak:>9,.0f}MB")
    print(f"  (inside the run: {summary['rows_per_second']:,.0f} rows/s; reconciled: {summary['reconciled']}; "
          f"quarantined {summary['rows_quarantined']}, duplicates {summary['duplicates_dropped']}, "
          f"redactions {summary['redactions']})")
    print()
    print(profile_pipeline(dump, products))


if __name__ == "__main__":
    main()
