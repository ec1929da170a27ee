"""The promotion rule itself, on hand-made metrics with known answers: quality, then safety."""

from __future__ import annotations

import pytest

from common.settings import PromoteSettings, SafetySettings
from training.registry import PromotionDecision, comparison_table, gate

POLICY = PromoteSettings(max_mean_drop=0.01, max_task_drop=0.03)
SAFETY = SafetySettings(task="ae", max_recall_drop=0.02, max_flag_ratio=3.0)


def metrics(**f1: float) -> dict:
    return {task: {"macro_f1": value} for task, value in f1.items()}


def with_ae(f1: float, recall: float, flag_share: float, positive_share: float = 0.1, **others: float) -> dict:
    found = metrics(**others)
    found["ae"] = {"macro_f1": f1, "recall_at_threshold": recall, "precision_at_threshold": 0.5,
                   "flag_share": flag_share, "positive_share": positive_share}
    return found


@pytest.mark.parametrize(
    "challenger, champion, passes, why",
    [
        (metrics(a=0.80, b=0.70), metrics(a=0.75, b=0.70), True, "mean"),          # better
        (metrics(a=0.70, b=0.60), metrics(a=0.80, b=0.70), False, "mean macro-F1 drops"),  # worse
        (metrics(a=0.795, b=0.70), metrics(a=0.80, b=0.70), True, "mean"),         # within tolerance
        (metrics(a=0.86, b=0.65), metrics(a=0.80, b=0.70), False, "task b drops"),  # mean up, one task collapses
    ],
)
def test_quality_rules(challenger: dict, champion: dict, passes: bool, why: str) -> None:
    passed, reason, table = gate(challenger, champion, POLICY)
    assert passed is passes and why in reason
    assert table[-1]["task"] == "mean" and len(table) == len(challenger) + 1


def test_a_better_model_that_finds_fewer_adverse_events_is_refused() -> None:
    # macro-F1 up everywhere, but the safety task's recall at its own threshold falls from 0.95 to 0.90
    challenger = with_ae(0.80, recall=0.90, flag_share=0.15, a=0.90)
    champion = with_ae(0.75, recall=0.95, flag_share=0.20, a=0.80)
    passed, reason, table = gate(challenger, champion, POLICY, SAFETY)
    assert not passed and "ae recall drops by 0.0500" in reason
    rows = {row["task"]: row for row in table}
    assert rows["ae recall"]["champion"] == 0.95 and rows["ae recall"]["challenger"] == 0.90
    assert rows["ae flag share"]["challenger"] == 0.15
    # without the safety settings the same comparison passes: the rule is what refuses it
    assert gate(challenger, champion, POLICY)[0]


def test_a_small_recall_drop_within_tolerance_passes() -> None:
    challenger = with_ae(0.80, recall=0.935, flag_share=0.15, a=0.90)
    champion = with_ae(0.75, recall=0.95, flag_share=0.20, a=0.80)
    passed, reason, _ = gate(challenger, champion, POLICY, SAFETY)
    assert passed and "safety recall and workload within bounds" in reason


def test_flagging_past_the_review_workload_cap_is_refused() -> None:
    # 10% of test posts are positive: the cap at 3x is 30%; the challenger flags 35%
    challenger = with_ae(0.80, recall=0.99, flag_share=0.35, a=0.90)
    champion = with_ae(0.75, recall=0.95, flag_share=0.20, a=0.80)
    passed, reason, table = gate(challenger, champion, POLICY, SAFETY)
    assert not passed and "review-workload cap 30.0%" in reason
    text = comparison_table(PromotionDecision(False, reason, "2", "1", table))
    assert "ae flag share" in text and "<= 0.3000" in text and "ae recall" in text


def test_a_champion_over_the_cap_sets_the_limit_for_a_challenger_that_flags_fewer() -> None:
    # The cap is 30%; the champion flags 34%: a challenger flagging 32% lightens the workload and finds more.
    champion = with_ae(0.75, recall=0.95, flag_share=0.34, a=0.80)
    passed, reason, table = gate(with_ae(0.80, recall=0.96, flag_share=0.32, a=0.90), champion, POLICY, SAFETY)
    assert passed, reason
    text = comparison_table(PromotionDecision(True, reason, "2", "1", table))
    assert "<= 0.3400 (champion's; cap 0.3000)" in text
    # ... but not one that flags more than the champion
    passed, reason, _ = gate(with_ae(0.80, recall=0.96, flag_share=0.36, a=0.90), champion, POLICY, SAFETY)
    assert not passed and "review-workload cap 30.0%" in reason and "over the champion's 34.0%" in reason


def test_no_cap_and_no_safety_task_in_the_taxonomy() -> None:
    challenger = with_ae(0.80, recall=0.99, flag_share=0.90, a=0.90)
    champion = with_ae(0.75, recall=0.95, flag_share=0.20, a=0.80)
    assert gate(challenger, champion, POLICY, SafetySettings(task="ae", max_flag_ratio=None))[0]
    assert gate(metrics(a=0.8), metrics(a=0.8), POLICY, SAFETY)[0]  # neither model has the task: quality only
