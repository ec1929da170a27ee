"""`occ label agreement | disagreements | export-ls | import-ls` and `occ dataset --adjudications`, from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from occ import app


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from labeling.demo.generator import generate_demo
    from labeling.ingest.run import ingest

    home = tmp_path_factory.mktemp("label_cli")
    generate_demo(home / "raw", posts=1500, seed=21, labeled_fraction=0.4)
    ingest([home / "raw" / "posts.jsonl"], home / "ingested", progress=False)
    return home


def test_agreement_prints_every_task_and_json(demo: Path) -> None:
    done = CliRunner().invoke(app, ["label", "agreement", str(demo / "raw" / "annotations.csv"), "--json"])
    assert done.exit_code == 0, done.output
    for task in ("sentiment", "perception", "evidence_need", "adverse_event"):
        assert task in done.output
    figures = json.loads(done.output.strip().splitlines()[-1])
    assert figures and "Traceback" not in done.output


def test_agreement_needs_two_annotators(tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    pd.DataFrame([{"post_id": "p1", "task": "sentiment", "label": "positive", "annotator": "a"}]).to_csv(one, index=False)
    done = CliRunner().invoke(app, ["label", "agreement", str(one)])
    assert done.exit_code == 2 and "at least two annotators" in done.output
    bad = tmp_path / "bad.csv"
    pd.DataFrame([{"post_id": "p1", "task": "sentiment", "label": "ecstatic", "annotator": "a"}]).to_csv(bad, index=False)
    done = CliRunner().invoke(app, ["label", "agreement", str(bad)])
    assert done.exit_code == 2 and "ecstatic" in done.output


def test_adjudicated_decisions_resolve_every_tie_in_the_dataset(demo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    split = tmp_path / "disagreements.csv"
    done = runner.invoke(app, ["label", "disagreements", str(demo / "raw" / "annotations.csv"), "--out", str(split)])
    assert done.exit_code == 0, done.output
    items = pd.read_csv(split, keep_default_na=False)
    ties = items[items["tied"].astype(str) == "True"]
    single_ties = ties[ties["task"].isin(["sentiment", "adverse_event"])]
    assert len(single_ties) > 0
    decisions = tmp_path / "decisions.csv"
    pd.DataFrame({"post_id": single_ties["post_id"], "task": single_ties["task"],
                  "label": ["neutral" if t == "sentiment" else "no" for t in single_ties["task"]],
                  "adjudicator": "lead"}).to_csv(decisions, index=False)
    before = runner.invoke(app, ["dataset", "--labels", str(demo / "raw" / "annotations.csv"), "--posts",
                                 str(demo / "ingested"), "--out", str(tmp_path / "d1"), "--frozen-test",
                                 str(tmp_path / "f1.txt")])
    after = runner.invoke(app, ["dataset", "--labels", str(demo / "raw" / "annotations.csv"), "--posts",
                                str(demo / "ingested"), "--out", str(tmp_path / "d2"), "--frozen-test",
                                str(tmp_path / "f2.txt"), "--adjudications", str(decisions)])
    assert before.exit_code == 0 and after.exit_code == 0, after.output
    assert "gold from adjudicated" in after.output
    n_before = sum(json.loads((tmp_path / "d1" / "dataset_meta.json").read_text())["sizes"].values())
    n_after = sum(json.loads((tmp_path / "d2" / "dataset_meta.json").read_text())["sizes"].values())
    assert n_after >= n_before  # posts whose only labels were ties now have gold


def test_label_studio_round_trip_from_the_cli(demo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    batch = tmp_path / "batch.jsonl"
    done = runner.invoke(app, ["label", "select", "--pool", str(demo / "ingested"), "--n", "5", "--strategy", "random",
                               "--out", str(batch)])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["label", "export-ls", str(batch), "--out", str(tmp_path / "ls")])
    assert done.exit_code == 0, done.output
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    assert len(tasks) == 5 and (tmp_path / "ls" / "labeling_config.xml").is_file()
    export = [{"id": i, "data": t["data"], "predictions": [], "annotations": [
        {"id": 100 + i, "completed_by": 7, "was_cancelled": False, "updated_at": "2026-12-01T10:00:00Z",
         "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["neutral"]}},
                    {"from_name": "adverse_event", "to_name": "text", "type": "choices", "value": {"choices": ["no"]}}]}]}
        for i, t in enumerate(tasks)]
    (tmp_path / "export.json").write_text(json.dumps(export))
    done = runner.invoke(app, ["label", "import-ls", str(tmp_path / "export.json"), "--out", str(tmp_path / "ann.csv")])
    assert done.exit_code == 0, done.output
    rows = pd.read_csv(tmp_path / "ann.csv", keep_default_na=False)
    assert set(rows["post_id"]) == {json.loads(line)["post_id"] for line in batch.read_text().splitlines()}
    assert set(rows["annotator"]) == {"ls_7"} and set(rows["task"]) >= {"sentiment", "adverse_event"}
