"""Peak memory and time of `occ report` on large scored runs, against the implementation before compact frames.

    python bench/bench_report.py --source data/scored --posts 1000000 10000000 [--work DIR] [--old-max 1000000]

A scored run of N posts is synthesized from a real one (`--source`, e.g. the demo's `data/scored`) by
replicating its posts: replica k gets fresh ids (`<post_id>-r<k>`, and `in_reply_to` remapped the same way, so
replies resolve inside the replica), its own authors (`<author_id>-r<k>`, also in mentions, handles,
`authors.parquet` and `author_links.parquet`), so the author count and the interaction graph grow with N. Every
column of the source is kept (text too: the report reads it for example posts only), written as part files of
`--part-rows` rows with a `_manifest.json` listing them, as `occ score` writes a run.

Each report runs as a child process, as a user runs it: `occ report RUN --out DIR` (the new path), and the
frozen reference implementation (`tests/inference/report_reference`, the code before compact frames) through
this script's `--child-old` mode. Seconds are wall time of the child; peak RSS is the child's own
(`os.wait4`). The old path runs only up to `--old-max` posts (at 10^7 it needs more memory than the target).
Not a pytest: run by hand. Measured on a shared 2-core machine (demo run of 19,895 posts replicated):
10^6 posts: old 32.9 s / 894 MiB, new 19.5 s / 567 MiB (x0.59 time, x0.63 peak RSS); 10^7 posts: new 343 s /
2,346 MiB (old not run: extrapolated from 10^6 it needs several GB). After preallocated columns, per-stage
memory release and no whole-frame copies (gaps.py docstring): 10^6 posts old 35.7 s / 895 MiB, new 21.0 s /
601 MiB; 10^7 posts new 437 s / 1,989 MiB (under 2 GiB without margin; machine shared and loaded, so the
seconds are not comparable with the 343 s above). After the long label frames stopped being merged with the
per-post columns (`inference/insights/rows.py`, gaps.py docstring), measured as `/usr/bin/time -v occ report`
before and after the change on the same runs, same loaded machine: 10^6 posts 495 -> 449 MiB, 11.6 -> 9.6 s;
10^7 posts 2,012 -> 1,497 MiB, 459 -> 377 s (tests running alongside both 10^7 runs); a second 10^7 run of
the new path with no tests alongside: 1,509 MiB, 182 s (peak RSS varies by ~1% between runs).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]


# ---- synthesizing a large run ----------------------------------------------------------------------------------

def _suffix(array: pa.ChunkedArray | pa.Array, suffix: str) -> pa.Array:
    """`value + suffix` for a string column (nulls stay null) or for every element of a list<string> column."""
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if pa.types.is_list(array.type):
        values = pc.list_flatten(array)
        lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
        offsets = pa.array([0, *lengths.cumsum().tolist()], pa.int32())
        joined = pc.binary_join_element_wise(values, pa.scalar(suffix), "")
        return pa.ListArray.from_arrays(offsets, joined, type=array.type, mask=array.is_null())
    return pc.binary_join_element_wise(array, pa.scalar(suffix), "")


REMAPPED = ("post_id", "in_reply_to", "author_id", "author_handle", "mentions")


def replica(table: pa.Table, k: int) -> pa.Table:
    suffix = f"-r{k}"
    for name in REMAPPED:
        if name in table.column_names:
            index = table.column_names.index(name)
            table = table.set_column(index, table.field(name), _suffix(table.column(name), suffix))
    return table


def synthesize_run(source: Path, out: Path, posts: int, part_rows: int = 100_000) -> Path:
    """Write a scored run of `posts` posts into `out` by replicating the scored run `source` (see module doc)."""
    manifest = json.loads((source / "_manifest.json").read_text(encoding="utf-8"))
    parts = [source / "scores" / name for name in manifest["parts"]]
    base = pa.concat_tables([pq.read_table(p) for p in parts]).combine_chunks()
    replicas = math.ceil(posts / base.num_rows)
    if out.exists():
        shutil.rmtree(out)
    (out / "scores").mkdir(parents=True)
    names: list[str] = []
    pending: list[pa.Table] = []
    pending_rows = written = 0

    def flush(final: bool) -> None:
        nonlocal pending, pending_rows
        table = pa.concat_tables(pending) if pending else None
        while table is not None and (table.num_rows >= part_rows or final and table.num_rows):
            name = f"part-{len(names):06d}.parquet"
            pq.write_table(table.slice(0, part_rows), out / "scores" / name)
            names.append(name)
            table = table.slice(part_rows)
        pending = [table] if table is not None and table.num_rows else []
        pending_rows = sum(t.num_rows for t in pending)

    for k in range(replicas):
        chunk = replica(base, k).slice(0, posts - written)
        written += chunk.num_rows
        pending.append(chunk)
        pending_rows += chunk.num_rows
        if pending_rows >= part_rows:
            flush(final=False)
    flush(final=True)

    for name, columns in (("authors.parquet", ("author_id", "person_id")), ("author_links.parquet", ("author_a", "author_b"))):
        path = source / name
        if path.is_file():
            table = pq.read_table(path)
            copies = []
            for k in range(replicas):
                copy = table
                for column in columns:
                    copy = copy.set_column(copy.column_names.index(column), copy.field(column),
                                           _suffix(copy.column(column), f"-r{k}"))
                copies.append(copy)
            pq.write_table(pa.concat_tables(copies), out / name)
    manifest["parts"] = names
    manifest.setdefault("counts", {})["rows_scored"] = written
    manifest["counts"]["rows_read"] = written
    (out / "_manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


# ---- running the report as a child process ----------------------------------------------------------------------

def run_child(args: list[str]) -> tuple[float, float, int]:
    """Run `args`; return (seconds, peak RSS in MiB of that child alone, exit status)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.stderr.write(proc.stderr.read().decode("utf-8", "replace")[-3000:] if proc.stderr else "")
    return seconds, usage.ru_maxrss / 1024, proc.returncode


def old_report(scored: Path, out: Path) -> None:
    """The reference implementation, called as `occ report` calls `build_report` (default settings, no list)."""
    sys.path.insert(0, str(ROOT / "tests" / "inference"))
    from common.settings import load_settings
    from report_reference.report import build_report

    settings = load_settings(None)
    build_report(scored, out, settings.report, None, settings.safety.task)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=ROOT / "data" / "scored", help="a scored run to replicate")
    parser.add_argument("--posts", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--old-max", type=int, default=1_000_000, help="largest run the old path is measured on")
    parser.add_argument("--part-rows", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=None, help="folder for the synthesized runs (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the synthesized runs")
    parser.add_argument("--child-old", nargs=2, type=Path, metavar=("SCORED", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_old:
        old_report(*args.child_old)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-report-"))
    occ = str(Path(sys.executable).with_name("occ"))
    print(f"{'posts':>11} {'path':>4} {'seconds':>8} {'peak MiB':>9}  vs old (time, RSS)")
    for n in args.posts:
        run = work / f"run-{n}"
        started = time.perf_counter()
        if not (run / "_manifest.json").is_file():
            synthesize_run(args.source, run, n, args.part_rows)
        print(f"# synthesized {n} posts in {len(list((run / 'scores').glob('part-*.parquet')))} parts "
              f"({time.perf_counter() - started:.0f}s)", flush=True)
        old = None
        if n <= args.old_max:
            old = run_child([sys.executable, str(Path(__file__).resolve()), "--child-old", str(run), str(work / f"old-{n}")])
            print(f"{n:>11} {'old':>4} {old[0]:>8.1f} {old[1]:>9.0f}" + ("" if old[2] == 0 else f"  FAILED ({old[2]})"),
                  flush=True)
        new = run_child([occ, "report", str(run), "--out", str(work / f"new-{n}")])
        ratio = f"  x{new[0] / old[0]:.2f}, x{new[1] / old[1]:.2f}" if old and old[2] == 0 else ""
        print(f"{n:>11} {'new':>4} {new[0]:>8.1f} {new[1]:>9.0f}{ratio}" + ("" if new[2] == 0 else f"  FAILED ({new[2]})"),
              flush=True)
        if not args.keep:
            shutil.rmtree(run, ignore_errors=True)
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
