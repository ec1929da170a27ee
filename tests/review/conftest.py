"""A real scored run and report (small demo corpus through the real pipeline), and real databases: SQLite files
and a PostgreSQL server these tests start themselves on 127.0.0.1 (from Debian's postgresql packages)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

XSS = "Jakvira pt developed zoster <script>window.__xss = 1</script><img src=x onerror=\"window.__xss=2\"> & more"


from workspace import free_port  # noqa: E402


@pytest.fixture(scope="session")
def scored_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Demo posts -> ingest -> dataset -> baseline (registered) -> score a fresh dump (with an XSS post) -> report."""
    import mlflow

    from helpers import local_mlflow, settings
    from inference.insights.report import build_report
    from inference.scoring.run import score
    from labeling.demo.generator import generate_demo
    from labeling.ingest.run import ingest
    from training.data import build_dataset_from
    from training.train import train_and_register

    home = tmp_path_factory.mktemp("review_run")
    with local_mlflow(home) as uri:
        chosen = settings(baseline={"min_df": 1})
        generate_demo(home / "raw", posts=3000, seed=31, labeled_fraction=0.5)
        ingest([home / "raw" / "posts.jsonl"], home / "ingested", progress=False)
        build_dataset_from(home / "raw" / "annotations.csv", home / "ingested", None, home / "dataset",
                           home / "frozen.txt", chosen)
        mlflow.set_experiment("review-tests")
        from labeling.ingest.products import load_products

        train_and_register("baseline", home / "dataset", chosen, registered_model="review-tests",
                           products=load_products(home / "raw" / "products.yaml"))
        generate_demo(home / "new", posts=2000, seed=32, labeled_fraction=0.0)
        with open(home / "new" / "posts.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"post_id": "xss-1", "text": XSS, "author_id": "attacker", "platform": "x",
                                     "created_at": "2026-10-20T10:00:00Z"}) + "\n")
        score([home / "new" / "posts.jsonl"], home / "scored", "models:/review-tests/1", chosen, progress=False)
        build_report(home / "scored", home / "report", chosen.report, safety_task="adverse_event")
        yield {"home": home, "scored": home / "scored", "report": home / "report", "frozen": home / "frozen.txt",
               "tracking": uri, "raw": home / "raw", "ingested": home / "ingested"}


def _postgres_bin() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").is_file():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    pytest.fail("these tests need a PostgreSQL server binary (initdb, pg_ctl): `apt-get install -y postgresql`, or `bash scripts/system_deps.sh` "
                "(.ci/run does it); they never skip, so that the PostgreSQL path cannot silently go untested")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (trust auth, user occ), stopped at the end of the session."""
    import tempfile

    binary = _postgres_bin()
    # not under pytest's base temp: that is private to root (0700), and the server runs as the postgres user
    home = Path(tempfile.mkdtemp(prefix="occ-postgres-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: the cluster belongs to the postgres user
        shutil.chown(home, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = home / "data"
    subprocess.run(run_as + [str(binary / "initdb"), "-D", str(data), "-A", "trust", "-U", "occ", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    subprocess.run(run_as + [str(binary / "pg_ctl"), "-D", str(data), "-o", f"-p {port} -k {home} -h 127.0.0.1 -F",
                             "-l", str(home / "log"), "-w", "start"], check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://occ@127.0.0.1:{port}"
    finally:
        subprocess.run(run_as + [str(binary / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)


_counter = {"n": 0}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    import psycopg

    server = request.getfixturevalue("postgres_server")
    _counter["n"] += 1
    name = f"review_{os.getpid()}_{_counter['n']}_{int(time.time() * 1000) % 100000}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"
