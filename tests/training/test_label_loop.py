"""`occ label select | zero-shot | audit` end to end on real MLflow, the real sentence encoder and real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from helpers import TAXONOMY, make_labeled_table, settings, write_dump, write_params
from occ import app
from training.data import build_dataset_from
from training.train import train_and_register


@pytest.fixture()
def pool(tmp_path: Path) -> Path:
    from labeling.ingest.run import ingest

    ingest([write_dump(tmp_path / "dump.jsonl", 400, seed=7, bad=False)], tmp_path / "pool", progress=False)
    return tmp_path / "pool"


@pytest.fixture()
def model(tracking: str, tmp_path: Path, own_labels: Path, own_taxonomy: Path) -> str:
    dataset = tmp_path / "dataset"
    build_dataset_from(own_labels, None, own_taxonomy, dataset, None, settings(baseline={"min_df": 1}))
    train_and_register("baseline", dataset, settings(baseline={"min_df": 1}, safety={"task": "flag"}),
                       registered_model="loop")
    return "models:/loop@champion"


def read_batch(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_select_leaves_out_labeled_and_test_posts_and_says_why(model: str, pool: Path, tmp_path: Path,
                                                               own_taxonomy: Path) -> None:
    labeled = tmp_path / "already.csv"
    pd.DataFrame({"post_id": [f"s{i}" for i in range(0, 200)], "task": "urgency", "label": "low",
                  "annotator": "a"}).to_csv(labeled, index=False)
    frozen = tmp_path / "frozen.txt"
    frozen.write_text("".join(f"s{i}\n" for i in range(200, 300)))
    runner = CliRunner()
    chosen = {}
    for strategy in ("random", "uncertainty", "diverse"):
        out = tmp_path / f"{strategy}.jsonl"
        done = runner.invoke(app, ["label", "select", "--pool", str(pool), "--n", "20", "--model", model,
                                   "--strategy", strategy, "--labeled", str(labeled), "--frozen-test", str(frozen),
                                   "--taxonomy", str(own_taxonomy), "--out", str(out)])
        assert done.exit_code == 0, done.output
        rows = read_batch(out)
        ids = {int(r["post_id"][1:]) for r in rows}
        assert len(rows) == 20 and len(ids) == 20 and min(ids) >= 300  # never labeled (0-199) or test (200-299)
        assert all(r["selection"]["strategy"] == strategy and r["selection"]["model"] == "models:/loop/1" for r in rows)
        assert set(rows[0]["predictions"]) == {"urgency", "topics", "flag"}
        chosen[strategy] = rows
    scores = [r["selection"]["score"] for r in chosen["uncertainty"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.5
    assert "uncertain on" in chosen["uncertainty"][0]["selection"]["reason"]
    # the most uncertain posts are more uncertain than a random sample of the same pool
    random_mean = np.mean([_uncertainty(r) for r in chosen["random"]])
    assert np.mean(scores) > random_mean


def _uncertainty(row: dict) -> float:
    from labeling.loop.selection import combined_uncertainty
    from labeling.taxonomy import taxonomy_from_dict

    taxonomy = taxonomy_from_dict(TAXONOMY)
    proba = {t: np.array([list(p["scores"].values())]) for t, p in row["predictions"].items()}
    return float(combined_uncertainty(list(taxonomy.tasks), proba)[0][0])


def test_a_scored_pool_needs_no_model_and_bad_requests_are_one_line(model: str, pool: Path, tmp_path: Path,
                                                                   own_taxonomy: Path) -> None:
    from inference.scoring.run import score

    scored = tmp_path / "scored"
    score([write_dump(tmp_path / "dump2.jsonl", 120, seed=9, bad=False)], scored, model,
          settings(baseline={"min_df": 1}, safety={"task": "flag"}), progress=False)
    runner = CliRunner()
    out = tmp_path / "from_scores.jsonl"
    done = runner.invoke(app, ["label", "select", "--pool", str(scored), "--n", "10", "--taxonomy", str(own_taxonomy),
                               "--out", str(out), "--strategy", "uncertainty"])
    assert done.exit_code == 0, done.output
    assert read_batch(out)[0]["selection"]["model"] == "models:/loop/1"
    too_many = runner.invoke(app, ["label", "select", "--pool", str(scored), "--n", "500", "--taxonomy",
                                   str(own_taxonomy), "--out", str(tmp_path / "x.jsonl")])
    assert too_many.exit_code == 2 and "cannot choose 500" in too_many.output
    no_model = runner.invoke(app, ["label", "select", "--pool", str(pool), "--n", "5", "--strategy", "uncertainty",
                                   "--taxonomy", str(own_taxonomy), "--out", str(tmp_path / "y.jsonl")])
    assert no_model.exit_code == 2 and "--strategy coverage" in no_model.output


def test_coverage_and_zero_shot_from_label_definitions_alone(pool: Path, tmp_path: Path, own_taxonomy: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "coverage.jsonl"
    done = runner.invoke(app, ["label", "select", "--pool", str(pool), "--n", "12", "--strategy", "coverage",
                               "--taxonomy", str(own_taxonomy), "--out", str(out)])
    assert done.exit_code == 0, done.output
    reasons = [r["selection"]["reason"] for r in read_batch(out)]
    for label in ("urgency/low", "urgency/high", "topics/cost", "topics/dosing", "topics/safety", "flag/yes"):
        assert any(label in reason for reason in reasons), label  # every label, rare ones included
    # the post most similar to "dosing: Dose." is about dosing
    first_dosing = next(r for r in read_batch(out) if "topics/dosing" in r["selection"]["reason"])
    assert any(w in first_dosing["text"] for w in ("dose", "dosing", "titrate"))

    predictions = tmp_path / "zero_shot.csv"
    done = runner.invoke(app, ["label", "zero-shot", "--pool", str(pool), "--taxonomy", str(own_taxonomy),
                               "--out", str(predictions)])
    assert done.exit_code == 0, done.output
    frame = pd.read_csv(predictions, keep_default_na=False)
    assert len(frame) == 400 and {"urgency", "topics", "flag", "topics.cost", "flag.yes"} <= set(frame.columns)
    cost = frame["text"].str.contains("price|insurance|copay|prior auth")
    assert frame.loc[cost, "topics.cost"].mean() > frame.loc[~cost, "topics.cost"].mean()

    bare = yaml.safe_load(own_taxonomy.read_text())
    bare["tasks"][0]["labels"][0]["description"] = ""
    no_desc = tmp_path / "bare.yaml"
    no_desc.write_text(yaml.safe_dump(bare))
    refused = runner.invoke(app, ["label", "zero-shot", "--pool", str(pool), "--taxonomy", str(no_desc), "--out",
                                  str(tmp_path / "z.csv")])
    assert refused.exit_code == 2 and "urgency.low" in refused.output and "description" in refused.output


def test_audit_finds_flipped_labels_first(tmp_path: Path, own_taxonomy: Path) -> None:
    table = make_labeled_table(600, seed=3)
    rng = np.random.default_rng(1)
    flipped = rng.choice(len(table), 30, replace=False)
    table.loc[flipped, "urgency"] = table.loc[flipped, "urgency"].map({"low": "high", "high": "low"})
    labels = tmp_path / "labels.csv"
    table.to_csv(labels, index=False)
    params = write_params(tmp_path / "params.yaml", baseline={"min_df": 1})
    out = tmp_path / "issues.csv"
    done = CliRunner().invoke(app, ["label", "audit", "--labels", str(labels), "--taxonomy", str(own_taxonomy),
                                    "--out", str(out), "--params", str(params)])
    assert done.exit_code == 0, done.output
    issues = pd.read_csv(out, keep_default_na=False)
    urgency = issues[issues["task"] == "urgency"]
    top = set(urgency["post_id"].head(30))
    precision_at_k = len(top & {f"p{i}" for i in flipped}) / 30
    assert precision_at_k >= 0.6, precision_at_k
    first = urgency.iloc[0]
    assert first["suggested"] != first["given"] and "out-of-fold" in first["evidence"]
    assert issues["rank"].tolist() == list(range(1, len(issues) + 1))
