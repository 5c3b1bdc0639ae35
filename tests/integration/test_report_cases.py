"""Whatever a real store holds, the report comes out: one-epoch sweeps, runs without history or with NaN
metrics, what was run at the top (weights, data, code)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import mlflow
import pytest
from matplotlib.figure import Figure

import freeze_study.names as N
from freeze_study.report import load_sweep, write_report
from freeze_study.report.figures import accuracies, convergence_analysis, loss_progress
from tests.helpers import EPOCHS, log_child, md_table, new_parent


@pytest.fixture
def parent(store: mlflow.MlflowClient) -> tuple[str, str]:
    exp_id = store.create_experiment(N.DEFAULT_EXPERIMENT)
    return exp_id, new_parent(store, exp_id, start=1_000)


def test_one_epoch_sweep_draws_markers_on_integer_ticks(store, parent, tmp_path: Path) -> None:
    exp_id, pid = parent
    for freeze, seed in ((0, 1), (0, 2), (4, 1)):
        log_child(store, exp_id, pid, freeze, seed, 0.7, 10.0, 0, 0.5, epochs=1)
    loaded = load_sweep(store, pid)
    for draw in (accuracies, loss_progress):
        ax = Figure().subplots()
        draw(loaded.history, ax)
        drawn = [line for line in ax.get_lines() if len(line.get_xdata())]
        assert drawn and all(line.get_marker() not in ("None", None, "") for line in drawn), draw.__name__
        assert list(ax.get_xticks()) == [0]  # the only epoch, no fractional ticks
    ax = Figure().subplots()
    convergence_analysis(loaded.runs, loaded.history, ax)
    assert all(float(t).is_integer() for t in ax.get_yticks())
    assert (write_report(store, pid, tmp_path / "r") / "accuracies.png").stat().st_size > 0


def test_runs_without_history_or_with_nan_metrics_are_listed_and_left_out(store, parent, tmp_path: Path) -> None:
    exp_id, pid = parent
    good = [log_child(store, exp_id, pid, 0, s, acc, 10.0, 2, 0.5) for s, acc in ((1, 0.80), (2, 0.84))]
    log_child(store, exp_id, pid, 2, 1, 0.70, 20.0, 2, 0.5)
    no_history = log_child(store, exp_id, pid, 2, 2, 0.99, 20.0, 0, 0.5, epochs=0)
    nan_test = log_child(store, exp_id, pid, 4, 1, 0.99, 5.0, 2, 0.5, once={N.TEST_LOSS: math.nan}, evidence=False)
    diverged = log_child(store, exp_id, pid, 4, 2, 0.99, 5.0, 2, 0.5, evidence=False)
    store.log_metric(diverged, N.VAL_LOSS, math.nan, step=EPOCHS)  # --lr 10: the loss became NaN
    no_fit_time = log_child(store, exp_id, pid, 4, 3, 0.99, 5.0, 2, 0.5, once={N.FIT_TIME: None}, evidence=False)

    loaded = load_sweep(store, pid)
    reasons = dict(zip(loaded.excluded.run_id, loaded.excluded.reason, strict=True))
    assert reasons == {
        no_history: "no per-epoch history",
        nan_test: "non-finite test_loss=nan (diverged?)",
        diverged: f"non-finite val_loss at epoch {EPOCHS} (diverged?)",
        no_fit_time: "missing fit_time_s",
    }
    assert set(loaded.runs.run_id) == {*good, loaded.runs.run_id[loaded.runs.freeze == 2].iloc[0]}
    assert set(loaded.history.run_id) == set(loaded.runs.run_id)

    md = (write_report(store, pid, tmp_path / "r") / "report.md").read_text()
    table = {row[0].split()[0]: row for row in md_table(md, "Results per freeze level")}
    assert set(table) == {"0", "2"}  # freeze=4 has no usable run
    assert table["2"][8].startswith("70.0 [") and table["2"][8].endswith("(n=1)")  # the 99% runs stay out
    assert table["0"][8].startswith("82.0 [")
    left_out = {row[0]: row[2] for row in md_table(md, "Runs left out of every mean")}
    assert left_out == reasons
    assert "4 more FINISHED runs are left out" in md


def test_a_sweep_with_only_unusable_runs_still_reports_them(store, parent, tmp_path: Path) -> None:
    exp_id, pid = parent
    run = log_child(store, exp_id, pid, 1, 1, 0.5, 5.0, 0, 0.5, epochs=0, evidence=False)
    md = (write_report(store, pid, tmp_path / "r") / "report.md").read_text()
    assert md_table(md, "Runs left out") == [[run, "freeze=1 seed=1", "no per-epoch history"]]


def test_context_names_the_weights_the_data_and_the_code(store, parent, tmp_path: Path) -> None:
    exp_id, pid = parent
    weights = tmp_path / "resnet18.pth"
    weights.write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    run = log_child(store, exp_id, pid, 1, 1, 0.5, 5.0, 1, 0.5, params={N.WEIGHTS_PARAM: str(weights)}, evidence=False)
    store.log_param(run, N.WEIGHTS_SHA256_PARAM, digest)
    store.set_tag(run, N.GIT_COMMIT_TAG, "0123abcd" * 5)
    context = load_sweep(store, pid).context
    lines = dict(context.lines)
    assert lines["Weights"] == f"file {weights} (SHA-256 {digest})"
    assert lines["Code"] == f"git commit {'0123abcd' * 5}"
    assert lines["Seeds"] == "1" and lines["Epochs"].startswith("at most 30 (early stopping on val_loss)")
    assert not context.random_init and context.note is None

    other = new_parent(store, exp_id, start=2_000)
    log_child(store, exp_id, other, 1, 1, 0.5, 5.0, 1, 0.5, params={N.WEIGHTS_PARAM: "none"})
    md = (write_report(store, other, tmp_path / "r2") / "report.md").read_text()
    assert dict(md_table(md, "What was run"))["Weights"] == "none (random initialisation)"
    assert "these accuracies do not measure transfer from ImageNet" in md.split("## What was run")[0]
    assert dict(md_table(md, "What was run"))["Code"].startswith("git commit unknown")


def test_a_grid_point_finished_twice_counts_once_and_an_unreadable_table_is_no_table(store, parent) -> None:
    exp_id, pid = parent
    first = log_child(store, exp_id, pid, 0, 1, 0.80, 10.0, 2, 0.5, evidence=False)
    second = log_child(store, exp_id, pid, 0, 1, 0.90, 10.0, 2, 0.5, evidence=False)  # two workers, one point
    store.log_text(first, "not a table", N.predictions_artifact("test"))
    loaded = load_sweep(store, pid)
    assert list(loaded.runs.run_id) == [first]
    assert loaded.excluded.reason.tolist() == [f"grid point finished twice; the first run, {first}, is used"]
    assert loaded.excluded.run_id.tolist() == [second] and loaded.predictions.empty
