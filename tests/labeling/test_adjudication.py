"""Disagreements listed for a person, their decisions read back, and gold labels where a decision outranks the
vote (a tie included) with every gold cell's source counted."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from labeling.dataset import DatasetError
from labeling.gold import adjudicate
from labeling.loop.adjudication import (
    DISAGREEMENT_COLUMNS,
    adjudication_decisions,
    disagreements,
    read_adjudications,
)
from labeling.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()


def ann(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["post_id", "task", "label", "annotator"])


VOTES = ann([
    ("p1", "sentiment", "positive", "a"), ("p1", "sentiment", "positive", "b"), ("p1", "sentiment", "neutral", "c"),
    ("p2", "sentiment", "positive", "a"), ("p2", "sentiment", "negative", "b"),                        # tie
    ("p3", "sentiment", "positive", "a"), ("p3", "sentiment", "neutral", "a"), ("p3", "sentiment", "neutral", "b"),
    ("p4", "sentiment", "neutral", "a"),                                                              # one annotator
    ("p1", "perception", "efficacy", "a"), ("p1", "perception", "comparison", "b"), ("p1", "perception", "efficacy", "b"),
    ("p1", "perception", "", "c"),
    ("p2", "perception", "efficacy", "a"), ("p2", "perception", "", "b"),                             # tie on efficacy
    ("p3", "perception", "", "a"), ("p3", "perception", "", "b"),                                     # both: none
    ("p1", "adverse_event", "yes", "a"), ("p1", "adverse_event", "yes", "b"),
])


def test_disagreements_lists_every_split_vote_with_each_answer() -> None:
    table = disagreements(VOTES, TAXONOMY)
    assert list(table.columns) == DISAGREEMENT_COLUMNS
    expected = pd.DataFrame([
        ("p1", "perception", 3, "a=efficacy; b=efficacy|comparison; c=(none)", "efficacy|comparison", "efficacy", False),
        ("p1", "sentiment", 3, "a=positive; b=positive; c=neutral", "neutral|positive", "positive", False),
        ("p2", "perception", 2, "a=efficacy; b=(none)", "efficacy", "", True),
        ("p2", "sentiment", 2, "a=positive; b=negative", "negative|positive", "", True),
    ], columns=DISAGREEMENT_COLUMNS)
    # p3 sentiment: a's last label (neutral) counts, so a and b agree; p4 has one annotator; p1 adverse_event agrees
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


def test_disagreement_ties_are_exactly_the_ties_gold_leaves_out() -> None:
    table = disagreements(VOTES, TAXONOMY)
    _, report = adjudicate(VOTES, TAXONOMY)
    assert table[table["tied"]].groupby("task").size().to_dict() == dict(report.ties)


def test_disagreements_when_everyone_agrees_is_an_empty_table() -> None:
    table = disagreements(ann([("p1", "sentiment", "neutral", "a"), ("p1", "sentiment", "neutral", "b")]), TAXONOMY)
    assert table.empty and list(table.columns) == DISAGREEMENT_COLUMNS


def write(tmp_path: Path, text: str, name: str = "adjudications.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """post_id,task,label,adjudicator
p2,sentiment,negative,lee
p2,perception,efficacy|comparison,lee
p1,perception,comparison,lee
p1,perception,safety_tolerability,lee
p5,evidence_need,,lee
p1,sentiment,neutral,kim
"""


def test_read_adjudications_normalizes_both_multi_label_forms(tmp_path: Path) -> None:
    table = read_adjudications(write(tmp_path, GOOD), TAXONOMY)
    assert table.loc[table["task"] == "perception", ["post_id", "label", "line"]].values.tolist() == [
        ["p2", "efficacy", 3], ["p2", "comparison", 3], ["p1", "comparison", 4], ["p1", "safety_tolerability", 5]]
    assert adjudication_decisions(table, TAXONOMY) == {
        "sentiment": {"p1": "neutral", "p2": "negative"},
        "perception": {"p1": ["safety_tolerability", "comparison"], "p2": ["efficacy", "comparison"]},
        "evidence_need": {"p5": []},
        "adverse_event": {},
    }


def test_read_adjudications_from_json_lines_with_a_label_list(tmp_path: Path) -> None:
    lines = [{"post_id": "p2", "task": "perception", "label": ["comparison", "efficacy"], "adjudicator": "lee"},
             {"post_id": "p2", "task": "adverse_event", "label": "no", "adjudicator": "lee"}]
    path = write(tmp_path, "\n".join(json.dumps(line) for line in lines) + "\n", "adjudications.jsonl")
    assert adjudication_decisions(read_adjudications(path, TAXONOMY), TAXONOMY)["perception"] == {
        "p2": ["efficacy", "comparison"]}


HEADER = "post_id,task,label,adjudicator\n"


@pytest.mark.parametrize("body, message", [
    ("p1,sentiment,positive,lee\np2,sentiment,great,lee\n",
     r"line 3: task 'sentiment' has no label\(s\) \['great'\]; valid labels are \['negative', 'neutral', 'positive'\]"),
    ("p1,mood,happy,lee\n", r"line 2: unknown task 'mood'; taxonomy .* has tasks \['sentiment'"),
    ("p1,sentiment,,lee\n", r"line 2: single task 'sentiment' takes exactly one label, found an empty label"),
    ("p1,adverse_event,yes|no,lee\n", r"line 2: binary task 'adverse_event' takes exactly one label, found 2 labels"),
    ("p1,perception,efficacy|cost,lee\n", r"line 2: task 'perception' has no label\(s\) \['cost'\].*empty for none"),
    (",sentiment,neutral,lee\n", r"line 2: empty post_id"),
    ("p1,sentiment,neutral,lee\np1,sentiment,positive,kim\n",
     r"post 'p1', task 'sentiment' is decided twice with different labels \['neutral', 'positive'\] \(line 2, line 3\)"),
    ("p1,perception,,lee\np1,perception,efficacy,lee\n", r"both 'none apply' \(empty label\) and \['efficacy'\]"),
])
def test_bad_adjudications_name_the_line_and_the_fix(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        read_adjudications(write(tmp_path, HEADER + body), TAXONOMY)


def test_adjudications_file_problems(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['label'\]"):
        read_adjudications(write(tmp_path, "post_id,task\np1,sentiment\n"), TAXONOMY)
    with pytest.raises(DatasetError, match="no such file"):
        read_adjudications(tmp_path / "absent.csv", TAXONOMY)


def test_decisions_outrank_votes_and_resolve_ties(tmp_path: Path) -> None:
    decisions = read_adjudications(write(tmp_path, GOOD), TAXONOMY)
    gold, report = adjudicate(VOTES, TAXONOMY, adjudications=decisions)
    gold = gold.set_index("post_id")
    assert gold.loc["p1", "sentiment"] == "neutral"              # 2 of 3 said positive: the adjudicator outranks them
    assert gold.loc["p2", "sentiment"] == "negative"             # a tie, resolved
    assert gold.loc["p2", "perception"] == ["efficacy", "comparison"]
    assert gold.loc["p1", "perception"] == ["safety_tolerability", "comparison"]
    assert gold.loc["p5", "evidence_need"] == []                 # decided without votes: still a gold label
    assert gold.loc["p3", "sentiment"] == "neutral" and gold.loc["p4", "sentiment"] == "neutral"
    assert dict(report.ties) == {}
    # sentiment: p1, p2 adjudicated; p3 by two annotators; p4 by one. perception: p1, p2 adjudicated; p3 by two.
    assert report.sources == {
        "sentiment": {"adjudicated": 2, "majority": 1, "single_annotator": 1},
        "perception": {"adjudicated": 2, "majority": 1, "single_annotator": 0},
        "evidence_need": {"adjudicated": 1, "majority": 0, "single_annotator": 0},
        "adverse_event": {"adjudicated": 0, "majority": 1, "single_annotator": 0},
    }
    assert report.to_dict()["sources"] == report.sources


def test_without_adjudications_the_vote_stands_and_sources_are_counted() -> None:
    gold, report = adjudicate(VOTES, TAXONOMY)
    gold = gold.set_index("post_id")
    assert gold.loc["p1", "sentiment"] == "positive" and "p2" not in gold.index  # tied on both tasks it had
    assert dict(report.ties) == {"sentiment": 1, "perception": 1}
    assert report.sources["sentiment"] == {"adjudicated": 0, "majority": 2, "single_annotator": 1}
    assert report.sources["perception"] == {"adjudicated": 0, "majority": 2, "single_annotator": 0}


def test_a_hand_built_frame_follows_the_same_rules() -> None:
    frame = pd.DataFrame({"post_id": ["p2"], "task": ["perception"], "label": ["comparison|efficacy"]})
    gold, report = adjudicate(VOTES, TAXONOMY, adjudications=frame)
    assert gold.set_index("post_id").loc["p2", "perception"] == ["efficacy", "comparison"]
    assert dict(report.ties) == {"sentiment": 1}
    with pytest.raises(DatasetError, match="row 0: task 'sentiment' has no label"):
        adjudicate(VOTES, TAXONOMY, adjudications=pd.DataFrame({"post_id": ["p2"], "task": ["sentiment"], "label": ["meh"]}))


def test_settling_every_disagreement_leaves_no_tie(tmp_path: Path) -> None:
    table = disagreements(VOTES, TAXONOMY)
    table["label"] = [row.majority if row.majority and row.majority != "(none)" else
                      ("" if row.task == "perception" else "neutral") for row in table.itertuples()]
    path = tmp_path / "settled.csv"
    table.assign(adjudicator="lee")[["post_id", "task", "label", "adjudicator"]].to_csv(path, index=False)
    gold, report = adjudicate(VOTES, TAXONOMY, adjudications=read_adjudications(path, TAXONOMY))
    assert dict(report.ties) == {} and report.sources["sentiment"]["adjudicated"] == 2
    assert gold.set_index("post_id").loc["p2", "sentiment"] == "neutral"
