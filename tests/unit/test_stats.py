"""The statistics and the frontier on values computed by hand: Wilson bounds, non-dominated points."""

from __future__ import annotations

import pandas as pd
import pytest

from freeze_study.report.result_figures import non_dominated
from freeze_study.report.stats import accuracy_interval, wilson


def test_wilson_bounds_match_a_hand_computed_value() -> None:
    # (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n) with p = 115/128, z = 1.959964 (by hand)
    assert wilson(115, 128) == pytest.approx((0.833975, 0.939681), abs=1e-6)
    one = accuracy_interval([115 / 128], correct=115, images=128)
    assert (one.low, one.high, one.method) == (
        pytest.approx(0.833975, abs=1e-6),
        pytest.approx(0.939681, abs=1e-6),
        "Wilson, 128 images",
    )
    unknown = accuracy_interval([0.9])
    assert unknown.low != unknown.low and unknown.method == "no per-image predictions"


def test_frontier_membership() -> None:
    cost = pd.Series({0: 100.0, 1: 90.0, 2: 60.0, 3: 70.0, 4: 20.0})
    acc = pd.Series({0: 0.91, 1: 0.90, 2: 0.908, 3: 0.85, 4: 0.82})
    assert non_dominated(cost, acc) == [4, 2, 0]  # 1 and 3 cost more than 2 and are less accurate
    tie = pd.Series({0: 0.9, 1: 0.9})
    assert non_dominated(pd.Series({0: 10.0, 1: 10.0}), tie) == [0, 1]  # equal points do not dominate each other
    assert non_dominated(pd.Series({0: 10.0, 1: 5.0}), tie) == [1]  # as accurate and cheaper
