"""The benchmark table's paired differences: the interval a reader uses to tell a tie from a loss."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from benchmarks import paired_difference, paired_table  # noqa: E402


def test_paired_difference_is_the_paired_t_interval() -> None:
    first = {0: 0.80, 1: 0.75, 2: 0.90, 3: 0.70, 4: 0.86}
    second = {0: 0.79, 1: 0.77, 2: 0.85, 3: 0.71, 4: 0.80, 9: 0.99}  # seed 9 has no pair and must not count
    mean, half, ahead, n = paired_difference(first, second)
    seeds = sorted(first)
    interval = stats.ttest_rel([first[s] for s in seeds], [second[s] for s in seeds]).confidence_interval(0.95)
    assert n == 5 and ahead == 3
    assert mean == pytest.approx(100 * np.mean([first[s] - second[s] for s in seeds]))
    assert mean - half == pytest.approx(100 * interval.low)
    assert mean + half == pytest.approx(100 * interval.high)


def test_better_member_is_the_one_with_the_higher_mean_on_that_row() -> None:
    ensemble = {0: 0.70, 1: 0.72}
    by = {("c", "t", "baseline"): {0: 0.61, 1: 0.61}, ("c", "t", "transformer"): {0: 0.71, 1: 0.71},
          ("c", "t", "ensemble"): ensemble}
    row = next(line for line in paired_table(by, [("c", "t")]) if line.startswith("| c / t"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2] == "+10.0 (+10.0 to +10.0), 2/2"  # transformer - baseline: 10 points on both seeds, no spread
    assert cells[4].startswith("+0.0") and cells[4].endswith("1/2")  # against the transformer, not the baseline
    assert cells[3] == "-"  # no adapted runs
