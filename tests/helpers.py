"""Small labeled data the tests make themselves (importable from any test folder)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import pandas as pd

if TYPE_CHECKING:
    from common.settings import Settings

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



def write_dump(path: Path, n: int, seed: int = 1, bad: bool = True) -> Path:
    """A JSONL dump of labeled-looking posts; with `bad`, a broken line and a duplicate id every 97 posts."""
    rng = random.Random(seed)
    table = make_labeled_table(n, seed=seed)
    lines = []
    for i, row in table.iterrows():
        lines.append(json.dumps({"post_id": f"s{i}", "text": row["text"] + rng.choice(["", " =cmd|' /C calc'!A0"]),
                                 "author_id": row["author_id"], "platform": "x"}))
        if bad and i % 97 == 0:
            lines.append('{"post_id": "broken"')
            lines.append(json.dumps({"post_id": f"s{i}", "text": "duplicate id"}))
    path.write_text("\n".join(lines) + "\n")
    return path


ROOT = Path(__file__).resolve().parents[1]


def settings(**sections: dict) -> "Settings":
    """The shipped settings with some keys changed, checked like a params file:
    `settings(baseline={"min_df": 1}, safety={"task": "flag"})`."""
    from common.settings import load_settings, settings_from_mapping

    data = load_settings(ROOT / "params.yaml").to_dict()
    for name, changes in sections.items():
        data[name] = {**data[name], **changes}
    return settings_from_mapping(data, "test settings")


def write_params(path: Path, **sections: dict) -> Path:
    """A params.yaml for CLI tests: the shipped settings with some keys changed."""
    import yaml

    path.write_text(yaml.safe_dump(settings(**sections).to_dict(), sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def local_mlflow(home: Path) -> Iterator[str]:
    """A throwaway MLflow store (SQLite in `home`, artifacts beside it) with `home` as the working folder; the
    previous tracking URI and folder come back afterwards. Yields the tracking URI."""
    import mlflow

    old_uri, old_cwd = os.environ.get("MLFLOW_TRACKING_URI"), os.getcwd()
    uri = f"sqlite:///{home / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.chdir(home)
    mlflow.set_tracking_uri(uri)
    try:
        yield uri
    finally:
        os.chdir(old_cwd)
        if old_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old_uri
