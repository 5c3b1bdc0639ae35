"""Runs logged by hand with known values (for the report, selection and registry tests), tiny networks and models
logged as training logs them, and a bare Lightning trainer."""

from __future__ import annotations

import time

import mlflow
import numpy as np
import pytorch_lightning as pl
import torch
from mlflow.entities import Metric, Param

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.config import TrainConfig
from freeze_study.levels import frozen_stages_param
from freeze_study.tracking import record
from freeze_study.training.evaluate import Predictions, confusion, scores
from tests.helpers.data import CLASSES

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


N_VAL, N_TEST = 200, 500  # images per split in the runs logged by hand


def first_right(n: int, accuracy: float) -> np.ndarray:
    """A right/wrong mask of n images: the first round(accuracy * n) right."""
    return np.arange(n) < round(accuracy * n)


def known_predictions(split: str, correct: np.ndarray | list[bool]) -> Predictions:
    """Predictions on len(correct) images cycling through CLASSES: a right one is its class (p=0.8), a wrong
    one the next class; image ids look like training's ('test/healthy/img_0002.jpg')."""
    correct = np.asarray(correct, dtype=bool)
    labels = np.arange(len(correct)) % len(CLASSES)
    predicted = np.where(correct, labels, (labels + 1) % len(CLASSES))
    probs = np.full((len(correct), len(CLASSES)), 0.1, dtype=np.float32)
    probs[np.arange(len(correct)), predicted] = 0.8
    images = [f"{split}/{CLASSES[c]}/img_{i:04d}.jpg" for i, c in enumerate(labels)]
    return Predictions(split, images, labels, probs)


def log_evidence(run_id: str, *predictions: Predictions) -> None:
    """Record predictions on a run exactly as training does (`tracking.record.evaluation`)."""
    with mlflow.start_run(run_id=run_id):
        for pred in predictions:
            tracking.record.evaluation(pred.split, pred.table(CLASSES), scores(pred, CLASSES), confusion(pred, CLASSES))


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
    val_correct: np.ndarray | None = None,
    test_correct: np.ndarray | None = None,
    evidence: bool = True,
    once: dict[str, float | None] | None = None,
    params: dict[str, str] | None = None,
) -> str:
    """A child run as `freeze-study sweep` leaves it: params, tags, per-epoch histories, once-logged results
    and (`evidence`) the validation and test predictions: by default the first images right, as many as the
    accuracies say (val_acc at `best`, `test_acc`), of N_VAL and N_TEST. `once` overrides once-logged
    metrics (None leaves one out), `params` the logged params."""
    name = N.grid_point_name(freeze, seed)
    run = client.create_run(
        exp_id, run_name=name, tags={N.PARENT_RUN_TAG: parent, N.ROLE_TAG: N.TRIAL_ROLE, N.GRID_POINT_TAG: name}
    )
    params = {
        **TrainConfig(freeze=freeze, seed=seed).params(),
        N.FROZEN_STAGES_PARAM: frozen_stages_param(freeze),
        N.CLASSES_PARAM: ",".join(CLASSES),
        **(params or {}),
    }
    now = int(time.time() * 1000)
    metrics = [Metric(key, curve(key, e, v0), now + e, e) for key in N.EPOCH_METRICS for e in range(epochs)]
    values = {
        N.TRAINABLE_PARAMS: TRAINABLE[freeze],
        N.TOTAL_PARAMS: TOTAL,
        N.TEST_ACC: test_acc,
        N.TEST_LOSS: 1 - test_acc,
        N.FIT_TIME: fit,
        N.BEST_EPOCH: best,
        N.EPOCHS_RUN: epochs,
        **(once or {}),
    }
    metrics += [Metric(key, value, now, 0) for key, value in values.items() if value is not None]
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
    if evidence:
        val = first_right(N_VAL, curve(N.VAL_ACC, best, v0)) if val_correct is None else val_correct
        test = first_right(N_TEST, test_acc) if test_correct is None else test_correct
        log_evidence(run.info.run_id, known_predictions("validation", val), known_predictions("test", test))
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def bare_trainer(**limits) -> pl.Trainer:
    """A CPU Trainer with nothing besides the loop: no logger, checkpoints, progress bar or model summary."""
    return pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **limits,
    )


def tiny_network(classes: int = len(CLASSES), seed: int = 0) -> torch.nn.Module:
    """A small stand-in for ResNet18 (N x 3 x 224 x 224 -> N x classes logits): quick to log and export."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(1),
        torch.nn.Linear(8, classes),
    )
    return net.eval()


def log_model(run_id: str, seed: int = 0, precision: str | None = None) -> None:
    """Log a `model` into the run as training logs it: a tiny network, the class names in its metadata, and the
    precision the run evaluated in (None: none recorded, as models were logged before it was)."""
    metadata = {N.CLASSES_PARAM: list(CLASSES)} | ({N.RESOLVED_PRECISION_PARAM: precision} if precision else {})
    with mlflow.start_run(run_id=run_id):
        record.model(tiny_network(seed=seed), np.zeros((1, 3, 224, 224), np.float32), metadata)


def log_model_run(experiment: str = N.DEFAULT_EXPERIMENT, seed: int = 0, precision: str | None = None) -> str:
    """A FINISHED run holding only a `model` (`log_model`); returns its id."""
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"model seed={seed}") as run:
        pass
    log_model(run.info.run_id, seed, precision)
    return run.info.run_id
