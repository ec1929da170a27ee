"""A user error is one readable line (exit 2); a bug is a traceback. The CLI must never hide the second as the first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from occ import app

ROOT = Path(__file__).resolve().parents[1]


def test_a_user_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["ingest", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "out")])
    assert done.exit_code == 2
    assert done.output.strip().splitlines() == [f"error: {tmp_path / 'missing.jsonl'}: no such file"]


def test_a_bug_shows_its_traceback_and_is_not_called_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import labeling.ingest.run as run_module

    def buggy_ingest(*args: object, **kwargs: object) -> None:
        raise ValueError("a programming error inside ingest")  # what `except ValueError` used to swallow

    monkeypatch.setattr(run_module, "ingest", buggy_ingest)
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"post_id": "1", "text": "hello"}\n')
    done = CliRunner().invoke(app, ["ingest", str(dump), "--out", str(tmp_path / "out")])
    assert done.exit_code == 1 and isinstance(done.exception, ValueError)
    assert "error:" not in done.output


def test_a_bad_setting_names_the_file_and_the_key(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("ingest:\n  batch_rowz: 10\n")
    done = CliRunner().invoke(app, ["ingest", str(params), "--out", str(tmp_path / "out"), "--params", str(params)])
    assert done.exit_code == 2
    assert f"{params}: unknown setting `ingest.batch_rowz`" in done.output


def test_debug_logging_shows_the_traceback_of_a_user_error_too(tmp_path: Path) -> None:
    env = {**os.environ, "OCC_LOG_LEVEL": "DEBUG"}
    args = [sys.executable, "-m", "occ", "ingest", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]
    debug = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert debug.returncode == 2 and "Traceback" in debug.stderr and "InputError" in debug.stderr
    quiet = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "OCC_LOG_LEVEL": "INFO"}, cwd=ROOT,
                           timeout=120)
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr and "no such file" in quiet.stderr
