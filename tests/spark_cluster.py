"""A real Spark standalone cluster on 127.0.0.1 (one master, N workers) from the scripts pip's pyspark ships.

pip's pyspark has `bin/spark-class` but not `sbin/start-master.sh`, so the daemons are started with
`spark-class org.apache.spark.deploy.{master.Master,worker.Worker}`, each in its own process group (its
executors and their Python workers are its children), and stopped by killing those groups: nothing outlives
the `with` block. Used by the cluster test (tests/inference/test_spark_cluster.py) and bench/bench_spark.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    url: str  # spark://127.0.0.1:PORT, what --spark-master takes
    ui: str  # the master's web UI
    env: dict[str, str]  # what a driver needs beside it (loopback address, the executors' Python)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.ui}/json", timeout=5) as response:
            return json.loads(response.read())


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _wait(check, timeout: float, what: str, processes: list[subprocess.Popen], logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p for p in processes if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a Spark daemon exited ({dead[0].args[2:4]}) before {what}; logs in {logs}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"no {what} after {timeout:.0f}s; logs in {logs}")


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each daemon's process group (daemon, executors, Python workers), then SIGKILL what is left."""
    groups = [p.pid for p in processes]  # start_new_session: each daemon leads its own group
    for group in groups:
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 20
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for group in groups:  # executors may ignore SIGTERM while shutting down, or outlive their worker
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for process in processes:
        process.wait(timeout=10)
    deadline = time.monotonic() + 15  # killed children are reaped by init a moment later
    while time.monotonic() < deadline and any(_group_alive(group) for group in groups):
        time.sleep(0.2)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


def leftover_processes(cluster: Cluster) -> list[str]:
    """Processes of this cluster still running: its daemons by class name and URL, or anything in their groups."""
    import psutil

    groups = {p.pid for p in cluster.processes}
    port = cluster.url.rsplit(":", 1)[1]
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:  # dead, waiting to be reaped: holds nothing
                continue
            cmdline = " ".join(process.info["cmdline"] or [])
            ours = (MASTER_CLASS in cmdline and f"--port {port}" in cmdline) or (
                WORKER_CLASS in cmdline and cluster.url in cmdline)
            if ours or os.getpgid(process.info["pid"]) in groups:
                found.append(f"{process.info['pid']}: {cmdline[:200]}")
        except (psutil.Error, ProcessLookupError):
            continue
    return found


@contextmanager
def standalone_cluster(folder: Path, workers: int = 2, cores: int = 1, memory: str = "1g",
                       timeout: float = 180) -> Iterator[Cluster]:
    """Start a master and `workers` workers (each `cores` cores, `memory`), wait until every worker has
    registered, yield the cluster, and stop all of it however the block ends. Logs and work dirs under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    home = _spark_home()
    spark_class = str(home / "bin" / "spark-class")
    env = {"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    daemon_env = {**os.environ, **env, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(folder / "logs"),
                  "SPARK_WORKER_DIR": str(folder / "work"), "SPARK_NO_DAEMONIZE": "1"}
    port, ui_port = free_port(), free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}", env)

    def launch(name: str, *args: str) -> None:
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - the daemon holds it until it ends
        cluster.processes.append(subprocess.Popen([spark_class, *args], stdout=log, stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL, env=daemon_env, cwd=folder,
                                                  start_new_session=True))
        log.close()

    try:
        launch("master", MASTER_CLASS, "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui_port))
        _wait(lambda: cluster.state() is not None, timeout, "master web UI", cluster.processes, folder)
        for i in range(workers):
            work = folder / f"worker-{i}"
            work.mkdir(exist_ok=True)
            launch(f"worker-{i}", WORKER_CLASS, cluster.url, "--cores", str(cores), "--memory", memory,
                   "--host", "127.0.0.1", "--webui-port", str(free_port()), "--work-dir", str(work))

        def all_registered() -> bool:
            alive = [w for w in cluster.state().get("workers", []) if w.get("state") == "ALIVE"]
            return len(alive) == workers

        _wait(all_registered, timeout, f"{workers} registered workers", cluster.processes, folder)
        yield cluster
    finally:
        _stop(cluster.processes)
