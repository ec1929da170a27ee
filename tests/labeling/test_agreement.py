"""Inter-annotator agreement: the statistics against published worked examples, the report against a small
frame whose figures were worked out by hand, and the inputs that must be refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from labeling.dataset import DatasetError
from labeling.loop.agreement import (
    AgreementError,
    AgreementUndefined,
    agreement_report,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha_from_counts,
    krippendorff_alpha_nominal,
)
from labeling.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()

# Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for Communication,
# University of Pennsylvania, departmental paper 43, section C ("nominal data, any number of observers, missing
# data"): 4 observers x 12 units; unit 12 has a single value and is not pairable; n = 40 pairable values;
# published alpha (nominal) = 0.743.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]

# Fleiss, J. L. (1971) as worked in Wikipedia, "Fleiss' kappa", section "Worked example": 10 subjects, 14 raters,
# 5 categories; P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]

# Wikipedia, "Cohen's kappa", section "Simple example": 50 grant proposals read by A and B; both yes 20,
# A yes / B no 5, A no / B yes 10, both no 15; p_o = 0.7, p_e = 0.5, kappa = 0.4.
COHEN_A = ["yes"] * 25 + ["no"] * 25
COHEN_B = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15


def test_krippendorff_alpha_matches_the_2011_worked_example() -> None:
    assert krippendorff_alpha_nominal(KRIPPENDORFF_2011) == pytest.approx(0.743, abs=5e-4)
    with_nan = [[np.nan if v is None else v for v in row] for row in KRIPPENDORFF_2011]
    assert krippendorff_alpha_nominal(with_nan) == pytest.approx(krippendorff_alpha_nominal(KRIPPENDORFF_2011))


def test_krippendorff_alpha_from_counts_is_the_same_computation() -> None:
    counts = [[sum(row[u] == c for row in KRIPPENDORFF_2011) for c in range(1, 6)] for u in range(12)]
    assert sum(map(sum, counts[:11])) == 40  # the paper's n (unit 12 not pairable)
    assert krippendorff_alpha_from_counts(counts) == pytest.approx(krippendorff_alpha_nominal(KRIPPENDORFF_2011))


def test_fleiss_kappa_matches_the_worked_example() -> None:
    assert fleiss_kappa(FLEISS_WIKIPEDIA) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_with_unequal_raters_per_item_by_hand() -> None:
    # items (neg, neu, pos): (0,0,3) P=1; (2,0,1) P=2/6; (0,2,0) P=1; (1,0,1) P=0; (1,0,0) one rating: left out.
    # P-bar = 7/12; pooled shares 3/10, 2/10, 5/10 -> P_e = 0.38; kappa = (7/12 - 0.38) / 0.62 = 61/186.
    counts = [[0, 0, 3], [2, 0, 1], [0, 2, 0], [1, 0, 1], [1, 0, 0]]
    assert fleiss_kappa(counts) == pytest.approx(61 / 186)
    # Krippendorff: coincidences o_nn=1, o_uu=2, o_pp=3, o_np=o_pn=2; n=10; alpha = 1 - 9*4/(100-38) = 13/31
    assert krippendorff_alpha_from_counts(counts) == pytest.approx(13 / 31)


def test_cohen_kappa_matches_the_textbook_example_and_scikit_learn() -> None:
    assert cohen_kappa(COHEN_A, COHEN_B) == pytest.approx(0.4)
    assert cohen_kappa(COHEN_A, COHEN_B) == pytest.approx(cohen_kappa_score(COHEN_A, COHEN_B))
    rng = np.random.default_rng(7)
    truth = rng.choice(["negative", "neutral", "positive"], 200)
    a = np.where(rng.random(200) < 0.2, rng.choice(["negative", "neutral", "positive"], 200), truth)
    b = np.where(rng.random(200) < 0.3, rng.choice(["negative", "neutral", "positive"], 200), truth)
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


def test_two_raters_scotts_pi_and_alpha_by_hand() -> None:
    # With two raters Fleiss' kappa is Scott's pi: pooled yes share 55/100, P_e = 0.55^2 + 0.45^2 = 0.505,
    # pi = (0.7 - 0.505) / 0.495. Alpha: n = 100 values, o_yn = o_ny = 15, alpha = 1 - 99 * 30 / (2*55*45) = 0.4.
    counts = [[(x == "yes") + (y == "yes"), (x == "no") + (y == "no")] for x, y in zip(COHEN_A, COHEN_B)]
    assert fleiss_kappa(counts) == pytest.approx(0.195 / 0.495)
    assert krippendorff_alpha_nominal([COHEN_A, COHEN_B]) == pytest.approx(0.4)


@pytest.mark.parametrize("call", [
    lambda: cohen_kappa([], []),
    lambda: cohen_kappa(["no", "no"], ["no", "no"]),
    lambda: fleiss_kappa([[2, 0], [3, 0]]),
    lambda: fleiss_kappa([[1, 0], [0, 1]]),
    lambda: krippendorff_alpha_nominal([[1, None], [None, 2]]),
    lambda: krippendorff_alpha_from_counts([[0, 3], [0, 2]]),
])
def test_undefined_figures_say_why(call) -> None:
    with pytest.raises(AgreementUndefined):
        call()


@pytest.mark.parametrize("call, message", [
    (lambda: cohen_kappa(["a"], ["a", "b"]), "same items"),
    (lambda: cohen_kappa(["a", None], ["a", "b"]), "drop the items"),
    (lambda: fleiss_kappa([[1.5, 0]]), "whole numbers"),
    (lambda: fleiss_kappa([1, 2]), "items x categories"),
    (lambda: krippendorff_alpha_nominal([[1, 2], [1]]), "one entry per unit"),
])
def test_bad_arguments_are_errors(call, message: str) -> None:
    with pytest.raises(AgreementError, match=message):
        call()


def ann(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["post_id", "task", "label", "annotator"])


# Sentiment: p1 a,b,c positive; p2 a,b negative, c positive; p3 a,b neutral; p4 a positive, c negative; p5 a only.
# Perception: p1 a {efficacy}, b {efficacy, comparison}; p2 a and b none. Adverse event: one annotator only.
SMALL = ann([
    ("p1", "sentiment", "positive", "a"), ("p1", "sentiment", "positive", "b"), ("p1", "sentiment", "positive", "c"),
    ("p2", "sentiment", "negative", "a"), ("p2", "sentiment", "negative", "b"), ("p2", "sentiment", "positive", "c"),
    ("p3", "sentiment", "neutral", "a"), ("p3", "sentiment", "neutral", "b"),
    ("p4", "sentiment", "positive", "a"), ("p4", "sentiment", "negative", "c"),
    ("p5", "sentiment", "positive", "a"),
    ("p1", "perception", "efficacy", "a"), ("p1", "perception", "efficacy", "b"), ("p1", "perception", "comparison", "b"),
    ("p2", "perception", "", "a"), ("p2", "perception", "", "b"),
    ("p1", "adverse_event", "no", "a"),
])


def test_report_single_label_task_by_hand() -> None:
    report = agreement_report(SMALL, TAXONOMY, min_agreement=0.6)
    sentiment = report.task("sentiment")
    assert (sentiment.posts, sentiment.multiply_annotated) == (5, 4)
    figures = sentiment.figures()
    # the unequal-raters example above: these are the same four posts
    assert figures.fleiss_kappa.value == pytest.approx(61 / 186) and figures.fleiss_kappa.n == 4
    assert figures.krippendorff_alpha.value == pytest.approx(13 / 31) and figures.krippendorff_alpha.n == 4
    pairs = {p.annotators: (p.kappa.value, p.kappa.n) for p in figures.pairwise}
    # a~b: identical on p1-p3 -> 1; a~c on p1,p2,p4: p_o 1/3, p_e 5/9 -> -0.5; b~c on p1,p2: p_o 1/2, p_e 1/2 -> 0
    assert pairs[("a", "b")] == (pytest.approx(1.0), 3)
    assert pairs[("a", "c")] == (pytest.approx(-0.5), 3)
    assert pairs[("b", "c")] == (pytest.approx(0.0), 2)
    consensus = {c.annotator: c for c in figures.consensus}
    # a: p1 others say positive (same), p2 others tie (left out), p3 b says neutral (same), p4 c says negative
    # (differs): labels (pos, neu, pos) vs (pos, neu, neg): p_o 2/3, p_e 1/3 -> 0.5
    assert consensus["a"].kappa.value == pytest.approx(0.5) and consensus["a"].kappa.n == 3
    assert consensus["a"].percent_agreement == pytest.approx(2 / 3) and consensus["a"].others_tied == 1
    assert consensus["b"].kappa.value == pytest.approx(1.0) and consensus["b"].kappa.n == 2
    # c: p1 same, p2 others say negative, p4 a says positive: (pos, pos, neg) vs (pos, neg, pos) -> -0.5
    assert consensus["c"].kappa.value == pytest.approx(-0.5) and consensus["c"].percent_agreement == pytest.approx(1 / 3)
    assert {(f.annotator, round(f.kappa, 3), f.n) for f in sentiment.flagged} == {("a", 0.5, 3), ("c", -0.5, 3)}


def test_report_multi_label_task_is_judged_label_by_label() -> None:
    report = agreement_report(SMALL, TAXONOMY, min_agreement=0.6)
    perception = report.task("perception")
    efficacy, comparison = perception.figures("efficacy"), perception.figures("comparison")
    # efficacy: p1 both chose it, p2 neither -> perfect agreement on two posts
    assert efficacy.fleiss_kappa.value == pytest.approx(1.0) and efficacy.pairwise[0].kappa.value == pytest.approx(1.0)
    # comparison: p1 (chosen 1, not 1) P=0, p2 (not 2) P=1; shares 1/4, 3/4 -> P_e 10/16; kappa = -1/3.
    # alpha: o_cn = o_nc = 1, o_nn = 2, n = 4: 1 - 3 * 2 / (16 - 10) = 0; Cohen a~b: p_o 1/2, p_e 1/2 -> 0.
    assert comparison.fleiss_kappa.value == pytest.approx(-1 / 3)
    assert comparison.krippendorff_alpha.value == pytest.approx(0.0)
    assert comparison.pairwise[0].kappa.value == pytest.approx(0.0) and comparison.pairwise[0].kappa.n == 2
    never = perception.figures("access_cost")  # nobody chose it: one category only, figures undefined with a reason
    assert never.fleiss_kappa.value is None and "one category" in never.fleiss_kappa.reason
    assert never.pairwise[0].kappa.value is None and never.pairwise[0].kappa.reason
    assert {(f.annotator, f.label) for f in perception.flagged} == {("a", "comparison"), ("b", "comparison")}


def test_report_tasks_without_overlap_have_reasons_not_crashes() -> None:
    report = agreement_report(SMALL, TAXONOMY, min_agreement=0.6)
    adverse = report.task("adverse_event")
    assert adverse.multiply_annotated == 0 and "two annotators" in adverse.note
    assert adverse.figures().fleiss_kappa.value is None and adverse.figures().fleiss_kappa.reason
    assert adverse.figures().consensus[0].kappa.reason == "no post shared with another annotator"
    assert report.task("evidence_need").note == "no annotations for this task"
    assert not adverse.flagged and not report.task("evidence_need").flagged


def test_report_serializes_and_prints() -> None:
    report = agreement_report(SMALL, TAXONOMY, min_agreement=0.6)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["annotators"] == ["a", "b", "c"] and data["min_agreement"] == 0.6
    sentiment = data["tasks"]["sentiment"]["labels"][0]
    assert sentiment["fleiss_kappa"] == {"value": round(61 / 186, 4), "n": 4, "reason": None}
    assert {(f["task"], f["annotator"]) for f in data["flagged"]} >= {("sentiment", "a"), ("sentiment", "c")}
    text = report.table()
    assert "sentiment" in text and "a~c" in text and "-0.500 (3)" in text
    assert "Below 0.6: a (0.500, 3 posts); c (-0.500, 3 posts)" in text
    assert "no post has two annotators for this task" in text


def test_min_agreement_zero_flags_nobody_above_it() -> None:
    report = agreement_report(SMALL, TAXONOMY, min_agreement=0.0)
    assert [(f.task, f.annotator) for f in report.flagged] == [("sentiment", "c")]


def test_no_overlap_anywhere_is_an_error() -> None:
    frame = ann([("p1", "sentiment", "positive", "a"), ("p2", "sentiment", "neutral", "b"),
                 ("p1", "adverse_event", "no", "a")])
    with pytest.raises(DatasetError, match="at least two annotators on some posts"):
        agreement_report(frame, TAXONOMY, 0.6)
    with pytest.raises(DatasetError, match="at least two annotators"):
        agreement_report(ann([]), TAXONOMY, 0.6)


@pytest.mark.parametrize("rows, message", [
    ([("p1", "mood", "happy", "a"), ("p1", "mood", "sad", "b")], "task"),
    ([("p1", "sentiment", "great", "a"), ("p1", "sentiment", "positive", "b")], "unknown label"),
])
def test_unknown_tasks_and_labels_are_errors(rows: list, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        agreement_report(ann(rows), TAXONOMY, 0.6)


def test_min_agreement_must_be_a_kappa() -> None:
    with pytest.raises(AgreementError, match="between -1 and 1"):
        agreement_report(SMALL, TAXONOMY, 60)


def test_demo_corpus_ranks_the_noisiest_annotator_last(tmp_path) -> None:
    from labeling.annotations import read_annotations
    from labeling.demo.generator import generate_demo

    generate_demo(tmp_path, posts=3000, seed=13, labeled_fraction=0.3)
    report = agreement_report(read_annotations(tmp_path / "annotations.csv"), TAXONOMY, 0.6)
    sentiment = {c.annotator: c.kappa.value for c in report.task("sentiment").figures().consensus}
    assert sentiment["ann_c"] < sentiment["ann_a"]  # error rates 10% vs 4%
    figures = report.task("sentiment").figures()
    assert 0.5 < figures.fleiss_kappa.value < 0.95 and 0.5 < figures.krippendorff_alpha.value < 0.95
