"""End-to-end sweeps and runs through the command line, each path once: what a user's sweep leaves in the store,
the report, the registry and the caches."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
from PIL import Image

import freeze_study.names as N
import freeze_study.sweep.worker as sweep_module
from freeze_study.cli import main
from freeze_study.config import SweepConfig
from freeze_study.data import (
    load_data,
)
from freeze_study.sweep import run_sweep
from freeze_study.training import train
from tests.helpers import (
    CHAMPION,
    CLASSES,
    REGISTERED_NAME,
    children,
    fragment_query,
    hparams,
    runs_of,
    scalars,
    sweep_args,
    sweep_parents,
)


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


def test_a_sweep_registers_its_choice_and_predict_reproduces_the_runs_logged_test_predictions(
    store, tiny_config, capsys
):
    sweep = sweep_args(tiny_config, "3,4", "1")
    assert main(sweep) == 0
    assert "registered: run " in capsys.readouterr().out
    (version,) = store.search_model_versions(f"name = '{REGISTERED_NAME}'")
    assert store.get_model_version_by_alias(REGISTERED_NAME, N.CHAMPION_ALIAS).version == version.version
    precision = store.get_run(version.run_id).data.params[N.RESOLVED_PRECISION_PARAM]  # 'auto' resolved here
    assert mlflow.models.get_model_info(CHAMPION).metadata[N.RESOLVED_PRECISION_PARAM] == precision  # served in it
    folder = Path(tiny_config.data)
    assert main(["predict", str(folder / "test"), "--json"]) == 0  # through models:/REGISTERED_NAME@champion
    predicted = {Path(r["file"]).relative_to(folder).as_posix(): r for r in json.loads(capsys.readouterr().out)}
    logged = pd.read_json(
        store.download_artifacts(version.run_id, N.predictions_artifact("test")), orient="split", dtype=False
    )
    assert sorted(predicted) == sorted(logged[N.IMAGE_COL]) and len(predicted) == 9
    for row in logged.to_dict("records"):
        mine = predicted[row[N.IMAGE_COL]]
        assert mine["class_name"] == row[N.PREDICTED_COL]
        assert mine["probabilities"] == pytest.approx({c: row[f"{N.PROB_PREFIX}{c}"] for c in CLASSES}, abs=1e-5)
    right = [predicted[row[N.IMAGE_COL]]["class_name"] == row[N.TRUE_COL] for row in logged.to_dict("records")]
    logged_acc = store.get_run(version.run_id).data.metrics[N.TEST_ACC]  # a float32 from Lightning
    assert sum(right) == round(logged_acc * len(right)) and np.mean(right) == pytest.approx(logged_acc, abs=1e-6)
    assert main(sweep) == 0  # the same sweep again: nothing trained, nothing new registered
    assert f"already registered: run {version.run_id} " in capsys.readouterr().out
    assert len(store.search_model_versions(f"name = '{REGISTERED_NAME}'")) == 1


def test_sweep_builds_every_levels_features_once_before_its_runs(store, tiny_config, weights_file, isolated_cache):
    cfg = SweepConfig(
        levels=(0, 1, 3), seeds=(1, 2), train=dataclasses.replace(tiny_config, weights=weights_file, epochs=1)
    )
    result = run_sweep(cfg, say=lambda line: None)
    assert result.finished == 6 and not result.failures
    (parent,) = sweep_parents(store)
    assert len(store.get_metric_history(parent.info.run_id, N.CACHE_BUILD_TIME)) == 1  # the one pass
    runs = children(store, parent.info.run_id)
    first_start = min(r.info.start_time for r in runs) / 1000
    frozen = [r for r in runs if r.data.params[N.FREEZE_PARAM] != "0"]
    assert {r.data.tags[N.FEATURE_CACHE_SCOPE_TAG] for r in frozen} == {N.SHARED_SCOPE}
    assert len({r.data.tags[N.FEATURE_CACHE_ENTRY_TAG] for r in frozen}) == 1  # every seed and level: one group
    entries = sorted((isolated_cache / "features").glob("*.json"))
    assert sorted(p.stem.split("-", 1)[1] for p in entries) == [
        f"L{k}-{s}" for k in (1, 3) for s in ("test", "train", "validation")
    ]
    assert all(json.loads(p.read_text())["created"] < first_start for p in entries)  # before any run
    again = run_sweep(dataclasses.replace(cfg, seeds=(3,)), say=lambda line: None)  # a later sweep reuses them
    assert again.finished == 3
    assert sorted((isolated_cache / "features").glob("*.json")) == entries
    assert all(json.loads(p.read_text())["created"] < first_start for p in entries)


def test_a_sweep_summarizes_its_parent_and_prints_the_addresses_of_its_runs(store, tiny_config, capsys):
    assert main(sweep_args(tiny_config, "0,4", "1")) == 0
    out = capsys.readouterr().out
    (parent,) = sweep_parents(store)
    pid, exp = parent.info.run_id, parent.info.experiment_id
    kids = children(store, pid, N.FINISHED)
    assert parent.data.metrics[N.POINTS_FINISHED] == 2 and parent.data.metrics[N.BEST_LEVEL] in (0, 4)
    assert parent.data.metrics[N.TOTAL_FIT_TIME] == pytest.approx(sum(k.data.metrics[N.FIT_TIME] for k in kids))
    assert "levels 0,4 × seeds 1 (2 grid points)" in parent.data.tags[N.NOTE_TAG]
    urls = re.findall(r"http://\S+", out)
    assert f"serve it with `mlflow ui --backend-store-uri {mlflow.get_tracking_uri()}`" in out
    charts, compare = (fragment_query(u) for u in urls)
    assert charts[0] == f"/experiments/{exp}/runs" and charts[1]["compareRunsMode"] == "CHART"
    assert compare[0] == "/compare-runs" and set(json.loads(compare[1]["runs"])) == {k.info.run_id for k in kids}
    assert all(q["workflowType"] == "machine_learning" for _, q in (charts, compare))


SAMPLING_ENV = "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"


SYSTEM = ("system/cpu_utilization_percentage", "system/system_memory_usage_megabytes")


def test_a_run_writes_tensorboard_logs_and_system_metrics_once(store, tiny_config, monkeypatch, tmp_path):
    monkeypatch.setenv(SAMPLING_ENV, "0.5")  # MLflow samples every 10 s by default: longer than this run
    result = train(dataclasses.replace(tiny_config, freeze=2))
    run = store.get_run(result.run_id)
    logdir = Path(store.download_artifacts(result.run_id, N.TENSORBOARD_ARTIFACT, str(tmp_path)))
    logged = scalars(logdir)
    for name in (N.TRAIN_LOSS, N.TRAIN_ACC, N.VAL_LOSS, N.VAL_ACC):  # one point per epoch, the values MLflow has
        mlflow_values = [m.value for m in sorted(store.get_metric_history(result.run_id, name), key=lambda m: m.step)]
        assert [v for _, v in logged[name]] == pytest.approx(mlflow_values), name
    assert logged[N.TEST_ACC][0][1] == pytest.approx(run.data.metrics[N.TEST_ACC])
    assert logged[N.HPARAM_METRIC_PREFIX + N.TEST_ACC][0][1] == pytest.approx(result.test_acc)
    assert logged[N.HPARAM_METRIC_PREFIX + N.VAL_ACC][0][1] == pytest.approx(result.val_acc)
    given = hparams(logdir)
    assert given["freeze"] == 2 and given["lr"] == pytest.approx(1e-4) and given["data"] == tiny_config.data
    # TensorBoard's hparams are the run's MLflow params (the config and everything resolved from it), typed.
    params = run.data.params
    assert {N.RESOLVED_MEMORY_FORMAT_PARAM, N.PREPROCESSING_PARAM, *tiny_config.params()} <= set(given)
    for key, value in given.items():
        logged = params[key]
        if isinstance(value, str | bool):
            assert logged == str(value), key
        else:
            assert float(logged) == pytest.approx(value), key
    assert given[N.FROZEN_STAGES_PARAM] == "stem,layer1,layer2"
    # Nothing TensorBoard received reached MLflow a second time: no `epoch` or hp/ metrics, no extra points.
    assert not [k for k in run.data.metrics if k == "epoch" or k.startswith(N.HPARAM_METRIC_PREFIX)]
    for name in N.EPOCH_METRICS:
        assert [m.step for m in store.get_metric_history(result.run_id, name)] == [0, 1], name
    for name in SYSTEM:
        assert store.get_metric_history(result.run_id, name), name
    assert run.data.params["system_metrics"] == "on"

    quiet = train(dataclasses.replace(tiny_config, freeze=4, epochs=1, system_metrics="off"))
    metrics = store.get_run(quiet.run_id).data.metrics
    assert N.TEST_ACC in metrics and not [k for k in metrics if k.startswith("system/")]


def test_a_14000_pixel_png_trains_instead_of_a_decompression_bomb(image_folder):
    scan = Image.new("L", (14000, 14000), 0)
    scan.paste(255, (0, 0, 7000, 7000))  # white top-left quarter
    scan.save(image_folder / "train" / "healthy" / "scan.png", compress_level=1)
    del scan
    data = load_data(str(image_folder))  # Pillow alone raises DecompressionBombError here
    pixels = data.splits["train"].decode(data.splits["train"].names.index(str(image_folder / "train/healthy/scan.png")))
    assert pixels[:100, :100].min() == 255 and pixels[124:, 124:].max() == 0
