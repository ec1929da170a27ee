"""`occ ingest` and `occ score` on Spark, local mode and a standalone cluster, against the local engine.

    python bench/bench_spark.py [--posts 200000] [--model models:/NAME/VERSION] [--workdir DIR] [--keep]

One demo dump (`occ demo-data`), each command timed end to end as a user runs it (a subprocess: JVM start,
reading, validation, de-duplication, scoring, writing), once per engine:
- local: the local engine (`--engine local`, its worker processes, one per core);
- spark local: `--engine spark --spark-master local[2]`;
- spark cluster: `--engine spark` on a standalone cluster on 127.0.0.1, 2 workers x 1 core x 1 GiB
  (started from pyspark's own `spark-class`, as tests/spark_cluster.py does; stopped at the end).
Each Spark run's outputs are checked against the local engine's (same rows, counts), so a fast wrong run
does not count. Without `--model`, a baseline is trained on a small demo corpus into a throwaway MLflow store
in the work folder. Prints one table: seconds, posts/s and the ratio to the local engine's time.
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

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the cluster the cluster test starts (tests/spark_cluster.py)

from spark_cluster import leftover_processes, standalone_cluster  # noqa: E402


def occ(*args: str, cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """Run `occ ARGS`; returns (seconds, stdout). Fails loudly: a benchmark of a failed run means nothing."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "occ", *args], cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"occ {' '.join(args[:3])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return seconds, done.stdout


def train_model(work: Path, env: dict[str, str]) -> str:
    """A baseline model registered in the work folder's MLflow store; returns its URI."""
    occ("demo-data", "--out", str(work / "train"), "--posts", "3000", "--seed", "7", cwd=work, env=env)
    occ("ingest", str(work / "train" / "posts.jsonl"), "--out", str(work / "train_ingested"),
        "--products", str(work / "train" / "products.yaml"), cwd=work, env=env)
    occ("dataset", "--labels", str(work / "train" / "annotations.csv"), "--posts", str(work / "train_ingested"),
        "--out", str(work / "dataset"), cwd=work, env=env)
    occ("train", "--model", "baseline", "--dataset", str(work / "dataset"), "--registered-model", "bench-spark",
        "--products", str(work / "train" / "products.yaml"), cwd=work, env=env)
    return "models:/bench-spark@challenger"


def same_ingest(spark_out: Path, local_out: Path) -> None:
    for name in ("posts.parquet", "quarantine.parquet", "duplicates.parquet"):
        a, b = pq.read_table(spark_out / name), pq.read_table(local_out / name)
        assert a.column("post_id").to_pylist() == b.column("post_id").to_pylist(), f"{name} differs"
    counts = ("rows_read", "rows_written", "rows_quarantined", "duplicates_dropped", "suppressed")
    a, b = (json.loads((out / "ingest_summary.json").read_text()) for out in (spark_out, local_out))
    assert [a[k] for k in counts] == [b[k] for k in counts], "ingest counts differ"


def same_scores(spark_out: Path, local_out: Path) -> None:
    a, b = (json.loads((out / "_manifest.json").read_text()) for out in (spark_out, local_out))
    assert a["counts"] == b["counts"], "score counts differ"
    ids = [pq.read_table(out / "scores", columns=["post_id"]).column(0).to_pylist() for out in (spark_out, local_out)]
    assert ids[0] == ids[1], "scored rows differ"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--model", help="a registered model URI (default: train a baseline first)")
    parser.add_argument("--workdir", type=Path, help="folder for the dump and outputs (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    work.mkdir(parents=True, exist_ok=True)
    # a --model lives in the project's store (as `make demo` made it) unless MLFLOW_TRACKING_URI says otherwise;
    # without one, a throwaway store in the work folder holds the baseline trained here
    default_store = ROOT / "mlflow.db" if args.model else work / "mlflow.db"
    env = {"MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{default_store}")}
    model = args.model or train_model(work, env)
    runs = work / f"runs-{args.posts}-{int(time.time())}"  # fresh outputs: a scoring run refuses a used --out
    dump = runs / "dump"
    occ("demo-data", "--out", str(dump), "--posts", str(args.posts), "--seed", "2027", cwd=work, env=env)
    inputs = [str(dump / "posts.jsonl")]
    products = ["--products", str(dump / "products.yaml")]
    times: dict[tuple[str, str], float] = {}
    rows: dict[str, int] = {}

    def run(command: str, engine: str, extra: list[str], run_env: dict[str, str]) -> None:
        out = runs / f"{command}-{engine.replace(' ', '-')}"
        options = products if command == "ingest" else ["--model", model]
        seconds, _ = occ(command, *inputs, "--out", str(out), *options, *extra, cwd=work, env={**env, **run_env})
        times[(command, engine)] = seconds
        if engine != "local":
            (same_ingest if command == "ingest" else same_scores)(out, runs / f"{command}-local")
        elif command == "ingest":
            rows["read"] = json.loads((out / "ingest_summary.json").read_text())["rows_read"]
        print(f"  {command:6s} {engine:13s} {seconds:7.1f}s", flush=True)

    print(f"{args.posts} demo posts in {work}; model {model}", flush=True)
    for command in ("ingest", "score"):
        run(command, "local", [], {})
        run(command, "spark local", ["--engine", "spark", "--spark-master", "local[2]"], {})
    with standalone_cluster(runs / "cluster", workers=2, cores=1, memory="1g") as cluster:
        for command in ("ingest", "score"):
            run(command, "spark cluster", ["--engine", "spark", "--spark-master", cluster.url], cluster.env)
    left = leftover_processes(cluster)
    assert not left, f"cluster processes left behind: {left}"

    cores = len(os.sched_getaffinity(0))
    print(f"\n{rows['read']} rows read, {cores} CPU cores; every Spark run's rows and counts equal the local engine's")
    print(f"{'command':8s} {'engine':28s} {'seconds':>8s} {'rows/s':>8s} {'x local time':>13s}")
    labels = {"local": "local engine", "spark local": "spark local[2]", "spark cluster": "spark cluster (2 x 1 core)"}
    for command in ("ingest", "score"):
        base = times[(command, "local")]
        for engine in ("local", "spark local", "spark cluster"):
            seconds = times[(command, engine)]
            print(f"{command:8s} {labels[engine]:28s} {seconds:8.1f} {rows['read'] / seconds:8.0f} {seconds / base:13.2f}")
    if not args.keep and args.workdir is None:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
