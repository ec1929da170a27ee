"""Shared fixtures. Nothing here may reach a network: hub access is switched off before any import."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from helpers import TAXONOMY, make_labeled_table  # noqa: E402


@pytest.fixture()
def own_taxonomy(tmp_path: Path) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(TAXONOMY, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture()
def own_labels(tmp_path: Path) -> Path:
    path = tmp_path / "labels.csv"
    make_labeled_table().to_csv(path, index=False)
    return path


@pytest.fixture()
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    import mlflow

    mlflow.set_tracking_uri(uri)
    return uri
