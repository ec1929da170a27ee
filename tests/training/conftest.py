"""Small labeled data the tests make themselves, and an isolated MLflow store per test."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import TAXONOMY, make_labeled_table

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
