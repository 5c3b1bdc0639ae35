"""The ways a user starts a run: `mlflow run .` and a remote `mlflow server`."""

from __future__ import annotations

import dataclasses

import mlflow
import pytest
import torch
from mlflow.utils.mlflow_tags import MLFLOW_PROJECT_ENTRY_POINT

import freeze_study.names as N
from freeze_study.training import train
from tests.helpers import assert_complete_run, mlflow_run, runs_of


@pytest.mark.slow
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


@pytest.mark.slow
def test_mlflow_run_with_invalid_parameter_fails_with_reason(store, tiny_config, tmp_path):
    done = mlflow_run("freeze=7", f"data={tiny_config.data}", "weights=none", cwd=tmp_path)
    assert done.returncode != 0
    assert "invalid freeze=7" in done.stderr
    (run,) = runs_of(store)
    assert run.info.status == N.FAILED and "invalid freeze=7" in run.data.tags[N.ERROR_TAG]


@pytest.mark.slow
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


@pytest.mark.slow
def test_training_against_a_tracking_server(mlflow_server, tiny_config):
    result = train(tiny_config)
    assert_complete_run(mlflow_server, result.run_id, tiny_config, epochs=2)
    artifacts = {a.path for a in mlflow_server.list_artifacts(result.run_id)}
    assert "model_summary.txt" in artifacts
    model = mlflow.pytorch.load_model(f"runs:/{result.run_id}/{N.MODEL_ARTIFACT}")
    assert model(torch.zeros(2, 3, tiny_config.image_size, tiny_config.image_size)).shape == (2, 3)
