"""The ways a user starts a run: `mlflow run .` (every spelling of a param, a relative store) and a remote
`mlflow server`."""

from __future__ import annotations

import dataclasses

import mlflow
import pytest
import torch
from mlflow.utils.mlflow_tags import MLFLOW_PROJECT_ENTRY_POINT

import freeze_study.names as N
from freeze_study.cli import main
from freeze_study.training import train
from tests.helpers import (
    PROJECT,
    TINY_IMAGE_SIZE,
    assert_complete_run,
    mlflow_run,
    runs_of,
)

TRAIN = ["train", "--weights", "none", "--epochs", "1", "--batch-size", "4", "--num-workers", "0", "--freeze", "4"]
TRAIN += ["--image-size", str(TINY_IMAGE_SIZE)]


# 8. mlflow run -P lr=1e-4
def test_mlflow_run_records_every_param_whatever_the_spelling(store, tiny_config, tmp_path):
    args = ("freeze=4", f"data={tiny_config.data}", "weights=none", "epochs=1", "batch_size=4", "num_workers=0")
    args += (f"image_size={tiny_config.image_size}",)
    done = mlflow_run(*args, "lr=1e-4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (launched,) = runs_of(store)
    params = launched.data.params
    assert params["lr"] == "1e-4"  # as `mlflow run` recorded it: MLflow cannot change a param
    assert params["optimizer_name"] == "Adam" and params["betas"] == "(0.9, 0.999)"  # autolog's batch went in
    assert params["eps"] == "1e-08" and params["weight_decay"] == "0" and params["patience"] == "10"

    assert main([*TRAIN, "--data", tiny_config.data, "--lr", "0.0001"]) == 0  # the other spelling, no launcher
    (direct,) = [r for r in runs_of(store) if r.info.run_id != launched.info.run_id]
    assert set(direct.data.params) == set(params)
    assert {k for k in params if params[k] != direct.data.params[k]} == {"lr"}  # only the typed spelling
    for name in (N.TRAIN_LOSS, N.VAL_LOSS, N.TEST_ACC):
        assert direct.data.metrics[name] == pytest.approx(launched.data.metrics[name], rel=1e-6)


def test_mlflow_run_with_an_integer_spelled_as_a_float_is_refused_before_training(store, tiny_config, tmp_path):
    done = mlflow_run("freeze=4", f"data={tiny_config.data}", "weights=none", "epochs=1.0", cwd=tmp_path)
    assert done.returncode != 0
    assert "`mlflow run` recorded epochs='1.0' as typed" in done.stderr and "pass -P epochs=1" in done.stderr
    (run,) = runs_of(store)
    assert run.info.status == N.FAILED and "pass -P epochs=1" in run.data.tags[N.ERROR_TAG]
    assert N.TRAIN_LOSS not in run.data.metrics


# 11. `mlflow run` from another folder with a relative store
def test_mlflow_run_from_another_folder_with_a_relative_store(store, tiny_config, tmp_path, monkeypatch):
    stray = PROJECT / "mlflow.db"  # the project's own default store, if a user made one: left as it was
    before = stray.stat().st_mtime_ns if stray.exists() else None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")  # relative: tmp_path/mlflow.db for the launcher
    done = mlflow_run("freeze=4", f"data={tiny_config.data}", "weights=none", cwd=tmp_path)
    assert done.returncode != 0
    assert "relative to the folder it was started from" in done.stderr
    assert "export MLFLOW_TRACKING_URI=sqlite:///$PWD/mlflow.db" in done.stderr
    after = stray.stat().st_mtime_ns if stray.exists() else None
    assert "Traceback" not in done.stderr and after == before  # no second, empty store in the project
    (run,) = runs_of(store)  # the launcher's run, in the store it was started with
    assert run.info.status == N.FAILED


def test_mlflow_run_makes_exactly_one_complete_run(store, tiny_config, tmp_path):
    done = mlflow_run(
        "freeze=1",
        f"data={tiny_config.data}",
        "weights=none",
        "epochs=2",
        "batch_size=4",
        "num_workers=0",
        "precision=32-true",
        f"image_size={tiny_config.image_size}",
        "accelerator=cpu",
        "log_every_n_steps=1",
        cwd=tmp_path,
    )  # the last two are not MLproject parameters: passed through as flags
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = runs_of(store)
    assert run.data.tags[MLFLOW_PROJECT_ENTRY_POINT] == "main"
    assert_complete_run(store, run.info.run_id, dataclasses.replace(tiny_config, freeze=1), epochs=2)


def test_mlflow_run_with_invalid_parameter_fails_with_reason(store, tiny_config, tmp_path):
    done = mlflow_run("freeze=7", f"data={tiny_config.data}", "weights=none", cwd=tmp_path)
    assert done.returncode != 0
    assert "invalid freeze=7" in done.stderr
    (run,) = runs_of(store)
    assert run.info.status == N.FAILED and "invalid freeze=7" in run.data.tags[N.ERROR_TAG]


def test_mlflow_run_sweep_entry_point_uses_its_run_as_the_parent(store, tiny_config, tmp_path):
    done = mlflow_run(
        "levels=0,4",
        "seeds=3",
        f"data={tiny_config.data}",
        "weights=none",
        "epochs=1",
        "batch_size=4",
        "num_workers=0",
        f"image_size={tiny_config.image_size}",
        cwd=tmp_path,
        entry="sweep",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = runs_of(store)
    (parent,) = [r for r in runs if r.data.tags.get(N.ROLE_TAG) == N.SWEEP_ROLE]
    assert parent.data.tags[MLFLOW_PROJECT_ENTRY_POINT] == "sweep" and parent.info.status == N.FINISHED
    kids = [r for r in runs if r.data.tags.get(N.PARENT_RUN_TAG) == parent.info.run_id]
    assert sorted(r.info.run_name for r in kids) == ["freeze=0 seed=3", "freeze=4 seed=3"]
    assert len(runs) == 3 and all(r.info.status == N.FINISHED for r in kids)


def test_training_against_a_tracking_server(mlflow_server, tiny_config):
    result = train(tiny_config)
    assert_complete_run(mlflow_server, result.run_id, tiny_config, epochs=2)
    artifacts = {a.path for a in mlflow_server.list_artifacts(result.run_id)}
    assert "model_summary.txt" in artifacts
    model = mlflow.pytorch.load_model(f"runs:/{result.run_id}/{N.MODEL_ARTIFACT}")
    assert model(torch.zeros(2, 3, tiny_config.image_size, tiny_config.image_size)).shape == (2, 3)
