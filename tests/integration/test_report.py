"""The report reads back what a sweep logged: runs logged by hand into a fresh SQLite store, no training."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import mlflow
import pytest

import freeze_study.names as N
from freeze_study.report import (
    ReportError,
    load_sweep,
    resolve_sweep,
    select_level,
    summarize,
    write_report,
)
from freeze_study.tracking.sweeps import latest_sweep
from tests.helpers import EPOCHS, N_TEST, N_VAL, TOTAL, TRAINABLE, curve, log_child, md_table, new_parent

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
    "test_results.png",
    "confusion_matrices.png",
    "cost_frontier.png",
    "accuracies.png",
    "loss_progress.png",
    "overfitting_analysis.png",
    "convergence_analysis.png",
    "params_vs_time.png",
)
T_975_DF1 = 12.706204736174707  # Student's t quantile 0.975 with 1 degree of freedom (two seeds), from tables


def make_sweep(store: mlflow.MlflowClient, evidence: bool) -> dict:
    """Levels 0, 2, 4 × seeds 42, 43; plus a FAILED child and a child of another sweep, both to be ignored.
    With `evidence`, the children's validation and test predictions too."""
    exp_id = store.create_experiment(N.DEFAULT_EXPERIMENT)
    parent = new_parent(store, exp_id, start=1_000)
    other = new_parent(store, exp_id, start=2_000, name="other")
    children = {key: log_child(store, exp_id, parent, *key, *spec, evidence=evidence) for key, spec in SPEC.items()}
    failed = log_child(store, exp_id, parent, 4, 44, 0.99, 5.0, 1, 0.9, status=N.FAILED, epochs=2, evidence=False)
    stray = log_child(store, exp_id, other, 1, 42, 0.99, 5.0, 1, 0.9, evidence=False)
    return {
        "client": store,
        "exp_id": exp_id,
        "parent": parent,
        "other": other,
        "children": children,
        "ignored": {failed, stray},
    }


@pytest.fixture
def sweep(store: mlflow.MlflowClient) -> dict:
    return make_sweep(store, evidence=True)


@pytest.fixture
def plain_sweep(store: mlflow.MlflowClient) -> dict:
    """The same sweep without predictions (quicker to log), where they do not matter."""
    return make_sweep(store, evidence=False)


def test_load_sweep_reads_only_finished_children_of_the_sweep(plain_sweep: dict) -> None:
    sweep = plain_sweep
    loaded = load_sweep(sweep["client"], sweep["parent"])
    runs, history = loaded.runs, loaded.history
    assert list(zip(runs.freeze, runs.seed, strict=False)) == sorted(SPEC)
    assert set(runs.run_id) == set(sweep["children"].values())
    assert not set(runs.run_id) & sweep["ignored"]
    for row in runs.itertuples():
        test_acc, fit, best, v0 = SPEC[(row.freeze, row.seed)]
        assert (row.test_acc, row.fit_time_s, row.best_epoch, row.epochs_run) == (test_acc, fit, best, EPOCHS)
        assert (row.trainable_params, row.total_params) == (TRAINABLE[row.freeze], TOTAL)
        assert row.val_acc == pytest.approx(v0 + 0.05 * best)  # at the tested epoch, not the max
        assert row.val_loss == pytest.approx(curve(N.VAL_LOSS, best, v0))
    assert runs.loc[runs.freeze == 2, "frozen_stages"].iloc[0] == "stem,layer1,layer2"
    assert len(history) == len(SPEC) * len(N.EPOCH_METRICS) * EPOCHS
    point = history[(history.run_id == sweep["children"][(2, 43)]) & (history.metric == N.VAL_LOSS)]
    assert list(point.epoch) == list(range(EPOCHS))
    assert list(point.value) == pytest.approx([curve(N.VAL_LOSS, e, 0.60) for e in range(EPOCHS)])


def test_load_sweep_reads_each_runs_predictions_and_class_scores(sweep: dict) -> None:
    loaded = load_sweep(sweep["client"], sweep["parent"])
    assert loaded.excluded.empty
    per_run = loaded.predictions.groupby(["run_id", "split"]).size()
    assert set(per_run.index.get_level_values("run_id")) == set(sweep["children"].values())
    assert (
        per_run.xs("validation", level="split").eq(N_VAL).all() and per_run.xs("test", level="split").eq(N_TEST).all()
    )
    test = loaded.predictions[
        (loaded.predictions.run_id == sweep["children"][(2, 43)]) & (loaded.predictions.split == "test")
    ]
    assert test.correct.sum() == round(0.906 * N_TEST)
    assert test.image.iloc[2] == "test/healthy/img_0002.jpg"
    scores = loaded.class_scores.set_index(["run_id", "split", "class", "score"]).value
    run = sweep["children"][(0, 42)]
    assert scores[(run, "test", "macro", "f1")] == pytest.approx(
        sweep["client"].get_run(run).data.metrics["test_macro_f1"]
    )
    assert len(loaded.class_scores) == len(SPEC) * 2 * (3 * 3 + 1)  # runs x splits x (classes x scores + macro)


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
    table = {row[0].split()[0]: row for row in md_table(md, "Results per freeze level")}
    for freeze in (0, 2, 4):
        tests = [SPEC[(freeze, s)][0] * 100 for s in (42, 43)]
        fits = [SPEC[(freeze, s)][1] for s in (42, 43)]
        vals = [(SPEC[(freeze, s)][3] + 0.05 * SPEC[(freeze, s)][2]) * 100 for s in (42, 43)]
        mean, half = statistics.mean(tests), T_975_DF1 * statistics.stdev(tests) / 2**0.5
        row = table[str(freeze)]
        assert row[8] == f"{mean:.1f} [{max(mean - half, 0):.1f}, {min(mean + half, 100):.1f}]"
        assert row[4] == f"{statistics.mean(fits):.0f} ± {statistics.stdev(fits):.0f}"
        assert row[7] == f"{statistics.mean(vals):.1f} ± {statistics.stdev(vals):.1f}"
        assert row[2].startswith(f"{TRAINABLE[freeze]:,}") and row[3] == "2"
    assert table["0"][:5] == ["0 (recommended)", "none", "11,178,051 (100.0%)", "2", "105 ± 7"]
    assert table["0"][8] == "91.0 [78.3, 100.0]"  # the t interval of two seeds, clipped at 100%
    assert all(f"]({name})" in md for name in FIGURES)

    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert "http" not in re.sub(r"base64,[^\"]+", "", page)  # no external resources
    assert "91.0 [78.3, 100.0]" in page


def test_summary_states_spread_only_where_there_is_one(sweep: dict) -> None:
    loaded = load_sweep(sweep["client"], sweep["parent"])
    summary = summarize(loaded.runs, loaded.predictions).set_index("freeze")
    assert list(summary.n) == [2, 2, 2]
    assert summary.loc[4, "pct_trainable"] == pytest.approx(1_539 / TOTAL * 100)
    assert summary.loc[0, "test_acc_mean"] == pytest.approx(0.91)
    assert summary.loc[0, "test_acc_std"] == pytest.approx(statistics.stdev([0.90, 0.92]))
    assert summary.loc[4, "test_acc_low"] == pytest.approx(0.82 - T_975_DF1 * statistics.stdev([0.8, 0.84]) / 2**0.5)
    assert summary.loc[2, "test_acc_interval"] == "t over 2 seeds"

    one = summarize(loaded.runs[loaded.runs.freeze == 2].head(1), loaded.predictions).iloc[0]
    assert one.n == 1 and one.test_acc_std != one.test_acc_std  # NaN: no spread with one seed
    assert one.test_acc_interval == f"Wilson, {N_TEST} images"


def test_single_run_cells_say_n1_and_carry_the_wilson_interval(store: mlflow.MlflowClient, tmp_path: Path) -> None:
    exp_id = store.create_experiment(N.DEFAULT_EXPERIMENT)
    parent = new_parent(store, exp_id, start=1_000)
    log_child(store, exp_id, parent, 3, 7, 0.88, 30.0, 9, 0.6)  # best_epoch 9 was never logged
    runs = load_sweep(store, parent).runs
    assert runs.val_acc.iloc[0] == pytest.approx(0.6 + 0.05 * (EPOCHS - 1))
    md = (write_report(store, parent, tmp_path / "r") / "report.md").read_text()
    (row,) = md_table(md, "Results per freeze level")
    # Wilson score interval of 440 right of 500, by hand: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n),
    # p = 0.88, z = 1.959964: 0.848580 and 0.905625
    assert row[8] == "88.0 [84.9, 90.6] (n=1)"
    assert (row[3], row[4], row[7]) == ("1", "30 (n=1)", "80.0 (n=1)")
    assert "± 0.0" not in md and "freeze=3 (stem–layer3)" in md
    assert "Wilson" in md and "single seed" in md


def test_sweep_without_finished_children_raises(store: mlflow.MlflowClient, tmp_path: Path) -> None:
    exp_id = store.create_experiment(N.DEFAULT_EXPERIMENT)
    parent = new_parent(store, exp_id, start=1_000)
    log_child(store, exp_id, parent, 0, 42, 0.9, 10.0, 1, 0.5, status=N.FAILED, evidence=False)
    with pytest.raises(ReportError, match=f"sweep '{parent}' has no FINISHED child runs"):
        write_report(store, parent, tmp_path / "r")
    assert store.list_artifacts(parent) == []


def test_resolve_sweep_picks_the_newest_parent_and_checks_a_given_id(plain_sweep: dict) -> None:
    sweep = plain_sweep
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


def test_selection_of_the_fixture_sweep_is_made_on_validation(sweep: dict) -> None:
    loaded = load_sweep(sweep["client"], sweep["parent"])
    chosen = select_level(loaded.runs, loaded.predictions)
    evidence = chosen.evidence.set_index("freeze")
    # val at the best epoch: freeze=0 75% and 82%, freeze=2 68% and 75%; the first images right, so freeze=2 is
    # wrong on 14 images per seed that freeze=0 gets right, and never the other way: p = 2 * 0.5**28
    assert (chosen.level, chosen.best_level) == (0, 0)
    assert (evidence.loc[2, "only_this"], evidence.loc[2, "only_best"], evidence.loc[2, "images"]) == (0, 28, 2 * N_VAL)
    assert evidence.loc[2, "pvalue"] == pytest.approx(2 * 0.5**28)
    assert list(evidence.verdict) == ["best", "worse than the best", "worse than the best"]
    assert chosen.run_id == sweep["children"][(0, 43)] and chosen.seed == 43  # 82% > 75% on validation
