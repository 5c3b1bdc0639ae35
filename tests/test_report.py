"""The report reads back what a sweep logged: runs logged by hand into a fresh SQLite store, no training."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import mlflow
import pytest

import freeze_study.names as N
from freeze_study.report import ReportError, findings, latest_sweep, load_runs, resolve_sweep, summarize, write_report
from tests.helpers import EPOCHS, TOTAL, TRAINABLE, curve, log_child, new_parent

# (freeze, seed): test_acc, fit_time_s, best_epoch, val_acc at epoch 0 (val_acc rises 0.05 per epoch)
SPEC = {
    (0, 42): (0.90, 100.0, 3, 0.60),
    (0, 43): (0.92, 110.0, 4, 0.62),
    (2, 42): (0.91, 60.0, 2, 0.58),
    (2, 43): (0.906, 64.0, 3, 0.60),
    (4, 42): (0.80, 20.0, 4, 0.50),
    (4, 43): (0.84, 24.0, 2, 0.52),
}
FIGURES = (
    "accuracies.png",
    "loss_progress.png",
    "overfitting_analysis.png",
    "convergence_analysis.png",
    "params_vs_time.png",
    "test_results.png",
)


@pytest.fixture
def sweep(store: mlflow.MlflowClient) -> dict:
    """Levels 0, 2, 4 × seeds 42, 43; plus a FAILED child and a child of another sweep, both to be ignored."""
    exp_id = store.create_experiment(N.DEFAULT_EXPERIMENT)
    parent = new_parent(store, exp_id, start=1_000)
    other = new_parent(store, exp_id, start=2_000, name="other")
    children = {key: log_child(store, exp_id, parent, *key, *spec) for key, spec in SPEC.items()}
    failed = log_child(store, exp_id, parent, 4, 44, 0.99, 5.0, 1, 0.9, status=N.FAILED, epochs=2)
    stray = log_child(store, exp_id, other, 1, 42, 0.99, 5.0, 1, 0.9)
    return {
        "client": store,
        "exp_id": exp_id,
        "parent": parent,
        "other": other,
        "children": children,
        "ignored": {failed, stray},
    }


def test_load_runs_reads_only_finished_children_of_the_sweep(sweep: dict) -> None:
    runs, history = load_runs(sweep["client"], sweep["parent"])
    assert list(zip(runs.freeze, runs.seed, strict=False)) == sorted(SPEC)
    assert set(runs.run_id) == set(sweep["children"].values())
    assert not set(runs.run_id) & sweep["ignored"]
    for row in runs.itertuples():
        test_acc, fit, best, v0 = SPEC[(row.freeze, row.seed)]
        assert (row.test_acc, row.fit_time_s, row.best_epoch, row.epochs_run) == (test_acc, fit, best, EPOCHS)
        assert (row.trainable_params, row.total_params) == (TRAINABLE[row.freeze], TOTAL)
        assert row.val_acc == pytest.approx(v0 + 0.05 * best)  # at the tested epoch, not the max
    assert runs.loc[runs.freeze == 2, "frozen_stages"].iloc[0] == "stem,layer1,layer2"
    assert len(history) == len(SPEC) * len(N.EPOCH_METRICS) * EPOCHS
    point = history[(history.run_id == sweep["children"][(2, 43)]) & (history.metric == N.VAL_LOSS)]
    assert list(point.epoch) == list(range(EPOCHS))
    assert list(point.value) == pytest.approx([curve(N.VAL_LOSS, e, 0.60) for e in range(EPOCHS)])


def test_report_files_match_the_logged_numbers_and_are_logged_to_the_parent(sweep: dict, tmp_path: Path) -> None:
    client, parent = sweep["client"], sweep["parent"]
    out = write_report(client, parent, tmp_path / "report")
    names = {*FIGURES, "report.md", "report.html"}
    assert {p.name for p in out.iterdir()} == names
    assert all((out / name).stat().st_size > 0 for name in names)
    assert {Path(a.path).name for a in client.list_artifacts(parent, N.REPORT_ARTIFACT)} == names
    assert client.list_artifacts(sweep["other"]) == []

    md = (out / "report.md").read_text()
    assert parent in md and N.DEFAULT_EXPERIMENT in md
    for freeze in (0, 2, 4):
        tests = [SPEC[(freeze, s)][0] * 100 for s in (42, 43)]
        fits = [SPEC[(freeze, s)][1] for s in (42, 43)]
        vals = [(SPEC[(freeze, s)][3] + 0.05 * SPEC[(freeze, s)][2]) * 100 for s in (42, 43)]
        row = next(line for line in md.splitlines() if line.startswith(f"| {freeze} |"))
        assert f"{statistics.mean(tests):.1f} ± {statistics.stdev(tests):.1f}% (n=2)" in row
        assert f"{statistics.mean(fits):.1f} ± {statistics.stdev(fits):.1f} s (n=2)" in row
        assert f"{statistics.mean(vals):.1f} ± {statistics.stdev(vals):.1f}% (n=2)" in row
        assert f"{TRAINABLE[freeze]:,}" in row
    assert "| 0 | none | 11,178,051 (100.0%) | 105.0 ± 7.1 s (n=2) |" in md
    assert all(f"]({name})" in md for name in FIGURES)

    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert "http" not in re.sub(r"base64,[^\"]+", "", page)  # no external resources
    assert "91.0 ± 1.4% (n=2)" in page


def test_summarize_and_findings(sweep: dict) -> None:
    runs, _ = load_runs(sweep["client"], sweep["parent"])
    summary = summarize(runs).set_index("freeze")
    assert list(summary.n) == [2, 2, 2]
    assert summary.loc[4, "pct_trainable"] == pytest.approx(1_539 / TOTAL * 100)
    assert summary.loc[0, "test_acc_mean"] == pytest.approx(0.91)
    assert summary.loc[0, "test_acc_std"] == pytest.approx(statistics.stdev([0.90, 0.92]))

    notes = findings(summarize(runs))
    assert notes[0].endswith("91.0% (n=2), at freeze=0 (nothing frozen).")
    assert notes[1].startswith("freeze=2 (stem–layer2) comes within 1 percentage point")  # 90.8% vs 91.0%
    assert "10,494,979 parameters" in notes[1]
    assert "freeze=4 (stem–layer4) fits fastest (22 s" in notes[2] and "4.8× as long" in notes[2]

    one = summarize(runs[runs.freeze == 2].head(1))
    assert (one.n.iloc[0], one.test_acc_std.iloc[0], one.fit_time_s_std.iloc[0]) == (1, 0.0, 0.0)
    assert any("single seed" in note for note in findings(one))


def test_single_run_sweep_reports_and_falls_back_to_the_best_val_acc(
    store: mlflow.MlflowClient, tmp_path: Path
) -> None:
    exp_id = store.create_experiment(N.DEFAULT_EXPERIMENT)
    parent = new_parent(store, exp_id, start=1_000)
    log_child(store, exp_id, parent, 3, 7, 0.88, 30.0, 9, 0.6)  # best_epoch 9 was never logged
    runs, _ = load_runs(store, parent)
    assert runs.val_acc.iloc[0] == pytest.approx(0.6 + 0.05 * (EPOCHS - 1))
    md = (write_report(store, parent, tmp_path / "r") / "report.md").read_text()
    assert "88.0 ± 0.0% (n=1)" in md and "freeze=3 (stem–layer3)" in md


def test_sweep_without_finished_children_raises(store: mlflow.MlflowClient, tmp_path: Path) -> None:
    exp_id = store.create_experiment(N.DEFAULT_EXPERIMENT)
    parent = new_parent(store, exp_id, start=1_000)
    log_child(store, exp_id, parent, 0, 42, 0.9, 10.0, 1, 0.5, status=N.FAILED)
    with pytest.raises(ReportError, match=f"sweep '{parent}' has no FINISHED child runs"):
        write_report(store, parent, tmp_path / "r")
    assert store.list_artifacts(parent) == []


def test_resolve_sweep_picks_the_newest_parent_and_checks_a_given_id(sweep: dict) -> None:
    client, exp = sweep["client"], N.DEFAULT_EXPERIMENT
    assert latest_sweep(client, exp) == sweep["other"]  # started later
    newest = new_parent(client, sweep["exp_id"], start=3_000)
    assert resolve_sweep(client, exp) == newest
    assert resolve_sweep(client, exp, sweep["parent"]) == sweep["parent"]
    with pytest.raises(ReportError, match="is not a sweep parent"):
        resolve_sweep(client, exp, sweep["children"][(0, 42)])
    with pytest.raises(ReportError, match="no run with id 'nope'"):
        resolve_sweep(client, exp, "nope")
    assert latest_sweep(client, "missing") is None
    client.create_experiment("empty")
    with pytest.raises(ReportError, match=r"no sweep runs in experiment 'empty' \(run `freeze-study sweep` first\)"):
        resolve_sweep(client, "empty")
