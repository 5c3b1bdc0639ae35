"""Choosing on validation, the intervals and the paired tests, the cost frontier: known values logged by hand."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from matplotlib.figure import Figure

import freeze_study.names as N
from freeze_study.report import load_sweep, select_level, write_report
from freeze_study.report.result_figures import cost_frontier, non_dominated
from freeze_study.report.stats import Paired, compare
from freeze_study.report.summary import compare_on_test, summarize
from tests.helpers import N_TEST, N_VAL, first_right, log_child, md_table, new_parent


@pytest.fixture
def logged(store: mlflow.MlflowClient):
    """Log children with given right/wrong masks under one new sweep parent: log(freeze, seed, val, test)."""
    exp_id = store.create_experiment(N.DEFAULT_EXPERIMENT)
    parent = new_parent(store, exp_id, start=1_000)

    def log(freeze: int, seed: int, val: np.ndarray, test: np.ndarray, fit: float = 10.0) -> str:
        v0 = val.mean() - 0.05  # best epoch 1: the val_acc metric is the masks' accuracy
        return log_child(
            store, exp_id, parent, freeze, seed, test.mean(), fit, 1, v0, val_correct=val, test_correct=test
        )

    log.parent, log.client = parent, store
    return log


def test_selection_follows_validation_when_test_disagrees(logged, tmp_path: Path) -> None:
    for seed in (1, 2):  # freeze=0 is far better on validation, freeze=4 far better on test
        logged(0, seed, first_right(N_VAL, 0.90), first_right(N_TEST, 0.80))
        logged(4, seed, first_right(N_VAL, 0.60), first_right(N_TEST, 0.90))
    loaded = load_sweep(logged.client, logged.parent)
    chosen = select_level(loaded.runs, loaded.predictions)
    assert (chosen.level, chosen.best_level) == (0, 0)
    assert chosen.evidence.set_index("freeze").loc[4, "verdict"] == "worse than the best"
    md = (write_report(logged.client, logged.parent, tmp_path / "r") / "report.md").read_text()
    assert "Recommended: freeze=0 (nothing frozen)" in md and "no test result is consulted" in md
    assert "a real difference on this test set (freeze=4 is better)" in md  # said, but it does not choose
    assert md_table(md, "Results per freeze level")[0][0] == "0 (recommended)"


@pytest.mark.parametrize(("shortfall", "recommended", "pvalue"), [(5, 4, 2 * 0.5**5), (6, 0, 2 * 0.5**6)])
def test_the_cheaper_level_is_chosen_only_within_noise(logged, shortfall, recommended, pvalue) -> None:
    """freeze=4 gets `shortfall` fewer validation images right than freeze=0 over two seeds, never one more:
    exact McNemar p = 2 * 0.5**shortfall; 5 images (p = 0.0625) is within noise, 6 (p = 0.031) is not."""
    right = {1: 150, 2: 152}
    runs = {}
    for seed, k in right.items():
        test = first_right(N_TEST, 0.8)
        logged(0, seed, first_right(N_VAL, k / N_VAL), test)
        lost = 2 if seed == 1 else shortfall - 2
        runs[seed] = logged(4, seed, first_right(N_VAL, (k - lost) / N_VAL), test)
    loaded = load_sweep(logged.client, logged.parent)
    chosen = select_level(loaded.runs, loaded.predictions)
    row = chosen.evidence.set_index("freeze").loc[4]
    assert (row.only_this, row.only_best, row.seeds_paired, row.images) == (0, shortfall, 2, 2 * N_VAL)
    assert row.pvalue == pytest.approx(pvalue)
    assert chosen.level == recommended and chosen.best_level == 0
    if recommended == 4:  # the run to register: the level's best on validation (148 vs 152 - 3 = 149 right)
        assert chosen.run_id == runs[2] and chosen.seed == 2
    assert "McNemar" in chosen.rule and "validation" in chosen.rule


def test_runs_without_predictions_are_not_assessed_and_never_chosen(logged) -> None:
    logged(0, 1, first_right(N_VAL, 0.7), first_right(N_TEST, 0.7))
    exp_id = logged.client.get_run(logged.parent).info.experiment_id
    log_child(logged.client, exp_id, logged.parent, 4, 1, 0.95, 5.0, 1, 0.9, evidence=False)  # older run, better
    loaded = load_sweep(logged.client, logged.parent)
    chosen = select_level(loaded.runs, loaded.predictions)
    assert chosen.level == 0
    assert chosen.evidence.set_index("freeze").loc[4, "verdict"] == "not assessed: no validation predictions"
    nothing = select_level(loaded.runs, loaded.predictions.iloc[:0])
    assert nothing.level is None and nothing.run_id is None and nothing.reason == "no run has validation predictions"


def test_mcnemar_on_a_constructed_pair_of_prediction_tables(logged) -> None:
    a, b = np.ones(N_TEST, bool), np.ones(N_TEST, bool)
    a[:40] = b[:40] = False  # both wrong: not counted
    b[100:105] = False  # A right, B wrong on 5 images
    a[200] = False  # B right, A wrong on 1
    # exact McNemar: two-sided binomial on 6 discordant images, p = 2 * P(X <= 1 | 6, 1/2) = 2 * 7/64
    assert compare(a, b) == Paired(only_a=5, only_b=1, images=N_TEST, pvalue=pytest.approx(14 / 64))
    val = first_right(N_VAL, 0.5)
    logged(3, 1, val, b)
    logged(0, 1, val, a)
    loaded = load_sweep(logged.client, logged.parent)
    (row,) = compare_on_test(loaded.runs, loaded.predictions, reference=3).itertuples()
    assert row.freeze == 0 and row.seeds == [1] and row.images == N_TEST
    assert row.per_seed[0] == Paired(5, 1, N_TEST, pytest.approx(14 / 64)) and row.pooled.pvalue == pytest.approx(
        14 / 64
    )


def test_frontier_of_a_logged_sweep(logged) -> None:
    for freeze, fit, acc in ((0, 300.0, 0.9), (2, 200.0, 0.8), (3, 100.0, 0.85), (4, 20.0, 0.6)):
        logged(freeze, 1, first_right(N_VAL, acc), first_right(N_TEST, acc), fit=fit)
    loaded = load_sweep(logged.client, logged.parent)
    s = summarize(loaded.runs, loaded.predictions).set_index("freeze")
    assert non_dominated(s["fit_time_s_mean"], s["test_acc_mean"]) == [4, 3, 0]  # 2 is slower and worse than 3
    assert non_dominated(s[N.TRAINABLE_PARAMS], s["test_acc_mean"]) == [4, 3, 0]
    fig = Figure()
    cost_frontier(s.reset_index(), fig, recommended=3)
    time_ax, params_ax = fig.axes[:2]
    joined = [line for line in time_ax.get_lines() if len(line.get_xdata()) == 3]  # the frontier's line
    assert [list(line.get_xdata()) for line in joined] == [[20.0, 100.0, 300.0]]
    assert params_ax.get_xscale() == "log"
