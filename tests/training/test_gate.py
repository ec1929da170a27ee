"""The promotion rule itself, on hand-made metrics with known answers."""

from __future__ import annotations

import pytest

from training.config import PromotionPolicy
from training.registry import gate

POLICY = PromotionPolicy(max_mean_drop=0.01, max_task_drop=0.03)


def metrics(**f1: float) -> dict:
    return {task: {"macro_f1": value} for task, value in f1.items()}


@pytest.mark.parametrize(
    "challenger, champion, passes, why",
    [
        (metrics(a=0.80, b=0.70), metrics(a=0.75, b=0.70), True, "mean"),          # better
        (metrics(a=0.70, b=0.60), metrics(a=0.80, b=0.70), False, "mean macro-F1 drops"),  # worse
        (metrics(a=0.795, b=0.70), metrics(a=0.80, b=0.70), True, "mean"),         # within tolerance
        (metrics(a=0.86, b=0.65), metrics(a=0.80, b=0.70), False, "task b drops"),  # mean up, one task collapses
    ],
)
def test_gate(challenger: dict, champion: dict, passes: bool, why: str) -> None:
    passed, reason, table = gate(challenger, champion, POLICY)
    assert passed is passes and why in reason
    assert table[-1]["task"] == "mean" and len(table) == len(challenger) + 1
