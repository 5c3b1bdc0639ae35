"""The sweep: one parent, one FINISHED child per grid point, resumable, failures retried."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import optuna
import pytest

import freeze_study.names as N
import freeze_study.sweep.worker as sweep_module
from freeze_study.cli import main
from freeze_study.config import SweepConfig, TrainConfig
from freeze_study.sweep import run_sweep
from tests.helpers import TINY_IMAGE_SIZE, children, md_table, runs_of, sweep_args, sweep_parents


@pytest.mark.slow
def test_sweep_is_idempotent_and_retries_failed_points(store, tiny_config, monkeypatch, tmp_path):
    args = sweep_args(tiny_config, "0,4", "1,2")
    real_train = sweep_module.train

    def fail_freeze_4_seed_2(cfg, parent_run_id, tags):  # a real failure inside a real child run
        if (cfg.freeze, cfg.seed) == (4, 2):
            cfg = dataclasses.replace(cfg, weights=str(tmp_path / "no-such-weights.pth"))
        return real_train(cfg, parent_run_id, tags)

    monkeypatch.setattr(sweep_module, "train", fail_freeze_4_seed_2)
    assert main(args) == 1  # one point failed: non-zero at the end, the others still ran
    (parent,) = sweep_parents(store)
    pid = parent.info.run_id
    assert parent.info.status == N.FAILED and "freeze=4 seed=2" in parent.data.tags[N.ERROR_TAG]
    assert {r.data.tags[N.GRID_POINT_TAG] for r in children(store, pid, N.FINISHED)} == {
        "freeze=0 seed=1",
        "freeze=0 seed=2",
        "freeze=4 seed=1",
    }
    (failed,) = children(store, pid, N.FAILED)
    assert "no-such-weights.pth" in failed.data.tags[N.ERROR_TAG]

    monkeypatch.setattr(sweep_module, "train", real_train)
    assert main(args) == 0  # resumes: only the failed point runs
    assert main(args) == 0  # nothing left to run
    runs = runs_of(store)
    assert len([r for r in runs if r.data.tags.get(N.ROLE_TAG) == N.SWEEP_ROLE]) == 1
    finished = children(store, pid, N.FINISHED)
    assert sorted(r.info.run_name for r in finished) == [
        "freeze=0 seed=1",
        "freeze=0 seed=2",
        "freeze=4 seed=1",
        "freeze=4 seed=2",
    ]
    assert len(children(store, pid)) == 5  # 4 finished + the failed first try, nothing more
    parent = store.get_run(pid)
    assert parent.info.status == N.FINISHED and N.ERROR_TAG not in parent.data.tags
    assert parent.data.params[N.LEVELS_PARAM] == "0,4" and parent.data.params[N.SEEDS_PARAM] == "1,2"
    assert parent.data.params["epochs"] == "1" and N.FREEZE_PARAM not in parent.data.params
    child = finished[0]
    assert child.data.params["epochs"] == "1" and child.data.metrics[N.TEST_ACC] >= 0
    assert child.data.tags[N.STUDY_NAME_TAG] == parent.data.tags[N.STUDY_NAME_TAG]
    assert {r.data.tags[N.WORKER_TAG] for r in finished} == {f"{socket.gethostname()}:{os.getpid()}"}
    assert parent.data.metrics[N.WORKERS_METRIC] == 1

    study = optuna.load_study(
        study_name=parent.data.tags[N.STUDY_NAME_TAG], storage=f"sqlite:///{tmp_path / 'optuna.db'}"
    )
    assert study.user_attrs[N.PARENT_RUN_ATTR] == pid
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted((t.params[N.FREEZE_PARAM], t.params[N.SEED_PARAM]) for t in complete) == [
        (0, 1),
        (0, 2),
        (4, 1),
        (4, 2),
    ]
    assert {t.user_attrs[N.RUN_ID_ATTR] for t in complete} == {r.info.run_id for r in finished}


def test_one_point_sweep(store, tiny_config):
    assert main(sweep_args(tiny_config, "4", "5")) == 0
    (parent,) = sweep_parents(store)
    assert [r.info.run_name for r in children(store, parent.info.run_id, N.FINISHED)] == ["freeze=4 seed=5"]


def test_changed_training_config_is_a_new_sweep():
    base = SweepConfig(levels=(0, 1), train=TrainConfig(epochs=3))
    assert base.key() == SweepConfig(levels=(1, 0), train=TrainConfig(epochs=3, experiment="x")).key()
    assert base.key() == SweepConfig(levels=(0, 1), train=TrainConfig(epochs=3, num_workers=1)).key()
    assert base.key() != SweepConfig(levels=(0, 1), train=TrainConfig(epochs=4)).key()
    assert base.key() != SweepConfig(levels=(0, 1, 2), train=TrainConfig(epochs=3)).key()
    assert base.key() != SweepConfig(levels=(0, 1), train=TrainConfig(epochs=3, image_size=64)).key()


@pytest.mark.parametrize(
    ("flag", "value", "message"), [("--levels", "0,5", "invalid levels=0,5"), ("--seeds", "1,1", "invalid seeds")]
)
def test_invalid_grid_is_named(store, tiny_config, capsys, flag, value, message):
    args = sweep_args(tiny_config, "0", "1")
    args[args.index(flag) + 1] = value
    assert main(args) == 2
    assert message in capsys.readouterr().err.replace("'", "")
    assert runs_of(store) == []


@pytest.mark.slow
def test_sweep_and_report_against_a_tracking_server(mlflow_server, tiny_config, tmp_path, capsys):
    args = sweep_args(tiny_config, "1,3", "7") + ["--storage", f"sqlite:///{tmp_path / 'remote-optuna.db'}", "--report"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[2/2] freeze=3 seed=7 done: val_acc=" in out and "left" in out
    (parent,) = sweep_parents(mlflow_server)
    pid = parent.info.run_id
    assert len(children(mlflow_server, pid, N.FINISHED)) == 2
    assert parent.data.tags[N.STORAGE_TAG].endswith("remote-optuna.db")
    report = {a.path for a in mlflow_server.list_artifacts(pid, N.REPORT_ARTIFACT)}
    assert {"report/report.md", "report/report.html", "report/test_results.png"} <= report
    md = (tmp_path / "reports" / pid / "report.md").read_text()
    assert [row[0].split()[0] for row in md_table(md, "Results per freeze level")] == ["1", "3"]  # a row per level
    context = dict(md_table(md, "What was run"))
    assert context["Weights"] == "none (random initialisation)" and "not from ImageNet weights" in md
    assert context["Data"].startswith(f"{tiny_config.data} (content digest ")
    assert context["Device and precision"].startswith("cpu ") and context["Seeds"] == "7"
    same = TrainConfig(
        data=tiny_config.data, weights="none", epochs=1, batch_size=4, num_workers=0, image_size=TINY_IMAGE_SIZE
    )
    cfg = SweepConfig(levels=(1, 3), seeds=(7,), train=same, storage=f"sqlite:///{tmp_path / 'remote-optuna.db'}")
    assert run_sweep(cfg, say=lambda line: None).trained == 0  # the same sweep through the API


def test_report_without_a_sweep_says_so(store, capsys):
    assert main(["report"]) == 2
    assert "no sweep runs in experiment 'freeze-study'" in capsys.readouterr().err


def test_a_cut_image_stops_the_sweep_in_one_line_that_names_it(store, tiny_config, capsys):
    good = Path(tiny_config.data) / "test" / "healthy" / "healthy_0.jpg"
    cut = good.with_name("cut.jpg")
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # passes Image.verify()
    assert main(sweep_args(tiny_config, "0,4", "1,2")) == 2  # data every point shares: the sweep stops
    out, err = capsys.readouterr()
    progress = [line for line in out.splitlines() if line.startswith("[")]
    said = f"cannot decode image {cut}: image file is truncated ("  # "(31 bytes not processed)"
    assert len(progress) == 1 and progress[0].startswith(f"[0/4] freeze=0 seed=1 FAILED: DataError: {said}")
    assert err.splitlines()[-1].startswith(f"freeze-study: error: {said}")
    (parent,) = sweep_parents(store)
    assert parent.info.status == N.FAILED and parent.data.tags[N.ERROR_TAG].startswith(f"DataError: {said}")
    assert "\n" not in parent.data.tags[N.ERROR_TAG]
    (child,) = children(store, parent.info.run_id)  # not four: the other points would fail the same way
    assert child.info.status == N.FAILED and str(cut) in child.data.tags[N.ERROR_TAG]
    assert N.TRAIN_LOSS not in child.data.metrics
