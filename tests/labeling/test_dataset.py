"""Gold labels by majority vote (ties left out, never guessed) and author-grouped, frozen splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.settings import DatasetSettings
from labeling.dataset import DatasetError, build_dataset, load_dataset_dir
from labeling.gold import adjudicate
from labeling.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()


def ann(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["post_id", "task", "label", "annotator"])


def test_majority_vote_and_ties() -> None:
    frame = ann([
        ("p1", "sentiment", "positive", "a"), ("p1", "sentiment", "positive", "b"), ("p1", "sentiment", "neutral", "c"),
        ("p2", "sentiment", "positive", "a"), ("p2", "sentiment", "negative", "b"),                      # tie
        ("p3", "sentiment", "neutral", "a"),
        ("p1", "perception", "efficacy", "a"), ("p1", "perception", "efficacy", "b"), ("p1", "perception", "comparison", "b"),
        ("p1", "perception", "", "c"),
        ("p2", "perception", "efficacy", "a"), ("p2", "perception", "", "b"),                           # tie on efficacy
        ("p3", "perception", "", "a"),                                                                  # labeled: none
        ("p1", "adverse_event", "yes", "a"), ("p1", "adverse_event", "no", "b"), ("p1", "adverse_event", "yes", "c"),
    ])
    gold, report = adjudicate(frame, TAXONOMY)
    gold = gold.set_index("post_id")
    assert gold.loc["p1", "sentiment"] == "positive"
    assert "p2" not in gold.index  # tied on every task it was labeled for: left out entirely
    assert gold.loc["p3", "sentiment"] == "neutral"
    assert gold.loc["p1", "perception"] == ["efficacy"]          # comparison: 1 of 3, not a majority
    assert gold.loc["p3", "perception"] == []
    assert gold.loc["p1", "adverse_event"] == "yes"
    assert report.ties == {"sentiment": 1, "perception": 1}


@pytest.mark.parametrize("rows, message", [
    ([("p1", "mood", "happy", "a")], "task"),
    ([("p1", "sentiment", "great", "a")], "unknown label"),
])
def test_unknown_tasks_and_labels_are_errors(rows: list, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        adjudicate(ann(rows), TAXONOMY)


def synthetic(n_posts: int = 400, n_authors: int = 60, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    posts = pd.DataFrame({"post_id": [f"p{i}" for i in range(n_posts)], "text": [f"text {i}" for i in range(n_posts)],
                          "author_id": [f"a{rng.integers(n_authors)}" for _ in range(n_posts)]})
    gold = pd.DataFrame({
        "post_id": posts["post_id"],
        "sentiment": rng.choice(["negative", "neutral", "positive"], n_posts),
        "perception": [list(rng.choice(["efficacy", "comparison"], rng.integers(0, 3), replace=False)) for _ in range(n_posts)],
        "evidence_need": [["long_term_outcomes"] if rng.random() < 0.3 else [] for _ in range(n_posts)],
        "adverse_event": rng.choice(["no", "yes"], n_posts, p=[0.8, 0.2]),
    })
    return posts, gold


def test_splits_are_grouped_by_author_deterministic_and_frozen(tmp_path: Path) -> None:
    posts, gold = synthetic()
    gold.loc[::7, "sentiment"] = None  # tied or unlabeled cells must stay missing, not become the string "nan"
    frozen = tmp_path / "frozen.txt"
    meta = build_dataset(posts, gold, TAXONOMY, DatasetSettings(seed=3), tmp_path / "d1", frozen)
    data, taxonomy = load_dataset_dir(tmp_path / "d1")
    assert taxonomy["version"] == TAXONOMY.version and not meta["frozen_test_reused"]
    authors = {split: set(data[split]["author_id"]) for split in data}
    assert not authors["train"] & authors["test"] and not authors["train"] & authors["validation"]
    assert not authors["validation"] & authors["test"]
    assert 0.1 < len(data["test"]) / len(posts) < 0.3
    again = build_dataset(posts, gold, TAXONOMY, DatasetSettings(seed=3), tmp_path / "d2", None)
    assert again["sizes"] == meta["sizes"]
    # New labels arrive: the frozen test ids are reused, and no test author leaks into training.
    more_posts, more_gold = synthetic(600, 80, seed=1)
    more_posts["post_id"] = "n" + more_posts["post_id"]
    more_gold["post_id"] = more_posts["post_id"]
    all_posts, all_gold = pd.concat([posts, more_posts]), pd.concat([gold, more_gold])
    reused = build_dataset(all_posts, all_gold, TAXONOMY, DatasetSettings(seed=99), tmp_path / "d3", frozen)
    data3, _ = load_dataset_dir(tmp_path / "d3")
    assert reused["frozen_test_reused"]
    gold_values = set(data3["train"]["sentiment"]) | set(data3["test"]["adverse_event"])
    assert "nan" not in gold_values and "None" not in gold_values
    assert sorted(data3["test"]["post_id"]) == sorted(data["test"]["post_id"])
    assert not set(data3["train"]["author_id"]) & set(data3["test"]["author_id"])


def test_single_class_task_and_unknown_ids_are_errors(tmp_path: Path) -> None:
    posts, gold = synthetic()
    with pytest.raises(DatasetError, match="single class"):
        build_dataset(posts, gold.assign(sentiment="neutral"), TAXONOMY, DatasetSettings(), tmp_path / "x", None)
    with pytest.raises(DatasetError, match="not among the ingested posts"):
        build_dataset(posts.iloc[10:], gold, TAXONOMY, DatasetSettings(), tmp_path / "y", None)
    with pytest.raises(DatasetError, match="too few"):
        build_dataset(posts.assign(author_id="same"), gold, TAXONOMY, DatasetSettings(), tmp_path / "z", None)
