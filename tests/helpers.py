"""Helpers shared by the tests: generated data, reading the store back, and runs logged by hand."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.entities import Metric, Param
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
from PIL import Image

import freeze_study.names as N
from freeze_study.config import TrainConfig
from freeze_study.data import load_data
from freeze_study.model import frozen_stages_param

PROJECT = Path(__file__).resolve().parents[1]
CLASSES = ("angular_leaf_spot", "bean_rust", "healthy")


def make_image_folder(root: Path, per_class: int = 3, classes: tuple[str, ...] = CLASSES) -> Path:
    """DIR/{train,validation,test}/<class>/*: mixed sizes, one PNG, one grayscale, one RGBA."""
    rng = np.random.default_rng(0)
    for split in ("train", "validation", "test"):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                size = (40 + 8 * i, 32 + 4 * c)
                pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
                pixels[..., c] = 200  # a class signal a network can pick up
                img = Image.fromarray(pixels)
                if i == 1 and c == 0:
                    img.convert("L").save(folder / f"{name}_{i}.jpg")
                elif i == 2 and c == 1:
                    img.convert("RGBA").save(folder / f"{name}_{i}.png")
                else:
                    img.save(folder / f"{name}_{i}.jpg")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def runs_of(client: mlflow.MlflowClient, experiment: str = N.DEFAULT_EXPERIMENT) -> list:
    """Every run of the experiment (none if it does not exist)."""
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def sweep_parents(client: mlflow.MlflowClient) -> list:
    return [r for r in runs_of(client) if r.data.tags.get(N.ROLE_TAG) == N.SWEEP_ROLE]


def children(client: mlflow.MlflowClient, parent_id: str, status: str | None = None) -> list:
    runs = [r for r in runs_of(client) if r.data.tags.get(N.PARENT_RUN_TAG) == parent_id]
    return [r for r in runs if status is None or r.info.status == status]


def assert_no_leaked_runs(client: mlflow.MlflowClient) -> None:
    """Fail if a run is still active in this process or left RUNNING in the store; end them, autolog off."""
    leaked = mlflow.active_run()
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.pytorch.autolog(disable=True)
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, f"attributes.status = '{N.RUNNING}'") if experiments else []
    assert leaked is None, f"an MLflow run leaked: {leaked.info.run_id}"
    assert not running, f"runs left RUNNING: {[r.info.run_name for r in running]}"


def assert_complete_run(client: mlflow.MlflowClient, run_id: str, cfg: TrainConfig, epochs: int) -> None:
    """Every param and metric of the contract is in the store, per-epoch ones once per epoch."""
    run = client.get_run(run_id)
    assert run.info.status == N.FINISHED
    params = run.data.params
    for f in dataclasses.fields(cfg):
        if getattr(cfg, f.name) is not None:
            assert params[f.name] == str(getattr(cfg, f.name)), f.name
    assert params[N.RESOLVED_PRECISION_PARAM] == "32-true" and params[N.RESOLVED_ACCELERATOR_PARAM] == "cpu"
    layout = "channels_last" if cfg.memory_format == "auto" else cfg.memory_format  # auto: channels-last on CPUs
    assert params[N.RESOLVED_MEMORY_FORMAT_PARAM] == layout
    assert params[N.FROZEN_STAGES_PARAM] == (",".join(N.STAGES[: cfg.freeze + 1]) if cfg.freeze else "none")
    assert params[N.CLASSES_PARAM] == ",".join(CLASSES)
    for name in N.EPOCH_METRICS:
        history = client.get_metric_history(run_id, name)
        assert [m.step for m in history] == list(range(epochs)), name
    for name in (*N.ONCE_METRICS, *N.FIXED_TIME_METRICS):
        assert len(client.get_metric_history(run_id, name)) == 1, name
    metrics = run.data.metrics
    assert metrics[N.EPOCHS_RUN] == epochs and 0 <= metrics[N.BEST_EPOCH] < epochs
    assert 0 <= metrics[N.TEST_ACC] <= 1 and metrics[N.FIT_TIME] > 0
    assert all(metrics[name] >= 0 for name in N.FIXED_TIME_METRICS)
    assert metrics[N.TEST_TIME] > 0 and metrics[N.MODEL_LOG_TIME] > 0 and metrics[N.DATA_CHECK_TIME] > 0
    assert all(m.value > 0 for m in client.get_metric_history(run_id, N.EPOCH_TIME))
    inputs = run.inputs.dataset_inputs
    digest = load_data(cfg.data).digest[:16]
    contexts = sorted(t.value for i in inputs for t in i.tags if t.key == MLFLOW_DATASET_CONTEXT)
    assert contexts == ["testing", "training", "validation"]
    assert [i.dataset.digest for i in inputs] == [digest] * 3  # the data's content, the same for each split


def history(client: mlflow.MlflowClient, run_id: str, name: str) -> list[float]:
    """A metric's values in step order."""
    return [m.value for m in client.get_metric_history(run_id, name)]


def assert_same_numbers(client: mlflow.MlflowClient, a: str, b: str) -> None:
    """The prefix's outputs are the same numbers either way, so the runs match to float precision."""
    for name in (N.TRAIN_LOSS, N.VAL_LOSS, N.VAL_ACC, N.TRAIN_ACC):
        assert history(client, a, name) == pytest.approx(history(client, b, name), rel=1e-6, abs=1e-7), name
    test_a, test_b = (client.get_run(r).data.metrics for r in (a, b))
    assert test_a[N.TEST_LOSS] == pytest.approx(test_b[N.TEST_LOSS], rel=1e-6)
    assert test_a[N.TEST_ACC] == test_b[N.TEST_ACC]


def mlflow_run(*params: str, cwd: Path, entry: str = "main") -> subprocess.CompletedProcess:
    """`mlflow run <project> -e entry --env-manager local -P ...` in `cwd`, with this interpreter first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    args = [
        sys.executable,
        "-m",
        "mlflow",
        "run",
        str(PROJECT),
        "-e",
        entry,
        "--env-manager",
        "local",
        "--experiment-name",
        N.DEFAULT_EXPERIMENT,
    ]
    for p in params:
        args += ["-P", p]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def sweep_args(cfg: TrainConfig, levels: str, seeds: str) -> list[str]:
    """`freeze-study sweep` arguments for a quick sweep on `cfg`'s data (random init, one epoch)."""
    return [
        "sweep",
        "--levels",
        levels,
        "--seeds",
        seeds,
        "--data",
        cfg.data,
        "--weights",
        "none",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--num-workers",
        "0",
    ]


# Runs logged by hand with known values, for the report's tests.
EPOCHS = 5
TOTAL = 11_178_051
TRAINABLE = {0: TOTAL, 1: 11_020_547, 2: 10_494_979, 3: 8_395_267, 4: 1_539}


def curve(key: str, epoch: int, v0: float) -> float:
    """The per-epoch value logged for `key` (val_acc peaks after best_epoch, so 'at best_epoch' != max)."""
    return {
        N.TRAIN_LOSS: 1.0 - 0.15 * epoch,
        N.VAL_LOSS: 1.1 - 0.1 * epoch,
        N.TRAIN_ACC: v0 + 0.08 * epoch,
        N.VAL_ACC: v0 + 0.05 * epoch,
        N.EPOCH_TIME: 4.0 + epoch,
    }[key]


def new_parent(client: mlflow.MlflowClient, exp_id: str, start: int, name: str = "sweep") -> str:
    """A FINISHED sweep parent run started at `start` (ms)."""
    run = client.create_run(exp_id, start_time=start, run_name=name, tags={N.ROLE_TAG: N.SWEEP_ROLE})
    client.set_terminated(run.info.run_id, N.FINISHED)
    return run.info.run_id


def log_child(
    client: mlflow.MlflowClient,
    exp_id: str,
    parent: str,
    freeze: int,
    seed: int,
    test_acc: float,
    fit: float,
    best: int,
    v0: float,
    status: str = N.FINISHED,
    epochs: int = EPOCHS,
) -> str:
    """A child run as `freeze-study sweep` leaves it: params, tags, per-epoch histories, once-logged results."""
    name = N.grid_point_name(freeze, seed)
    run = client.create_run(
        exp_id, run_name=name, tags={N.PARENT_RUN_TAG: parent, N.ROLE_TAG: N.TRIAL_ROLE, N.GRID_POINT_TAG: name}
    )
    params = {
        **TrainConfig(freeze=freeze, seed=seed).params(),
        N.FROZEN_STAGES_PARAM: frozen_stages_param(freeze),
        N.CLASSES_PARAM: ",".join(CLASSES),
    }
    now = int(time.time() * 1000)
    metrics = [Metric(key, curve(key, e, v0), now + e, e) for key in N.EPOCH_METRICS for e in range(epochs)]
    once = {
        N.TRAINABLE_PARAMS: TRAINABLE[freeze],
        N.TOTAL_PARAMS: TOTAL,
        N.TEST_ACC: test_acc,
        N.TEST_LOSS: 1 - test_acc,
        N.FIT_TIME: fit,
        N.BEST_EPOCH: best,
        N.EPOCHS_RUN: epochs,
    }
    metrics += [Metric(key, value, now, 0) for key, value in once.items()]
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id
