"""Small labeled data the tests make themselves, and an isolated MLflow store per test."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest
import yaml

TAXONOMY = {
    "version": "test-1",
    "tasks": [
        {"name": "urgency", "kind": "single", "description": "How urgent.", "labels": [
            {"name": "low", "description": "Can wait."}, {"name": "high", "description": "Needs action."}]},
        {"name": "topics", "kind": "multi", "description": "What it is about.", "labels": [
            {"name": "cost", "description": "Price."}, {"name": "dosing", "description": "Dose."},
            {"name": "safety", "description": "Side effects."}]},
        {"name": "flag", "kind": "binary", "positive": "yes", "description": "Flag it.", "labels": [
            {"name": "no", "description": "No."}, {"name": "yes", "description": "Yes."}]},
    ],
}

PHRASES = {
    "cost": ["the price is outrageous", "insurance denied coverage", "copay is too high", "prior auth again"],
    "dosing": ["what dose should we titrate to", "weekly dosing schedule", "missed dose guidance", "dose escalation"],
    "safety": ["severe nausea reported", "rash after two weeks", "liver enzymes went up", "hypoglycemia episode"],
}
URGENT = ["urgent help needed today", "ER visit last night", "needs action now"]
CALM = ["just curious", "for the next meeting", "no rush on this"]


def make_labeled_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topics = [t for t in PHRASES if rng.random() < 0.4]
        high = rng.random() < 0.4
        flag = "safety" in topics and high
        parts = [rng.choice(PHRASES[t]) for t in topics] + [rng.choice(URGENT if high else CALM)]
        rng.shuffle(parts)
        rows.append({"post_id": f"p{i}", "author_id": f"a{i % 48}", "text": ", ".join(parts) + f" #{i}",
                     "urgency": "high" if high else "low", "topics": "|".join(topics), "flag": "yes" if flag else "no"})
    return pd.DataFrame(rows)


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
