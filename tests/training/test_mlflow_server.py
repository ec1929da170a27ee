"""Against a real `mlflow server` on 127.0.0.1 with a SQLite backend: train, register, reload through it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def mlflow_server(tmp_path: Path):
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mlflow server did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.mark.slow
def test_train_register_and_load_through_a_real_server(mlflow_server: str, tmp_path: Path, own_labels: Path, own_taxonomy: Path) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    common = ["--labels", str(own_labels), "--taxonomy", str(own_taxonomy), "--registered-model", "srv"]
    first = subprocess.run([sys.executable, "-m", "occ", "train", "--model", "baseline", *common], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "registered srv version 1 (challenger, champion)" in first.stdout
    script = ("import mlflow, pandas as pd\n"
              "m = mlflow.pyfunc.load_model('models:/srv@champion')\n"
              "print(m.predict(pd.DataFrame({'text': ['urgent help needed today']}))['urgency'][0])\n")
    loaded = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0 and loaded.stdout.strip().splitlines()[-1] == "high", loaded.stderr[-3000:]
    # The artifacts went through the server, not to a local folder of the client.
    assert any((tmp_path / "server-artifacts").rglob("occ_model.json"))


def test_unreachable_server_is_one_clear_line(tmp_path: Path, own_labels: Path, own_taxonomy: Path) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    done = subprocess.run([sys.executable, "-m", "occ", "evaluate", "--model", "models:/x@champion"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "unreachable" in done.stderr and "Traceback" not in done.stderr
