"""How one run is trained and what it reports: `train(cfg) -> TrainResult`.

Run it with `freeze-study train --freeze 1` or `mlflow run . -P freeze=1`. What is
recorded, and how, is `tracking.record`'s business; this module says what happened.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger

from freeze_study import tracking
from freeze_study.config import TrainConfig
from freeze_study.data import IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD, PREPROCESSING, load_data
from freeze_study.model import count_params, export_model, frozen_stages_param
from freeze_study.names import (
    BEST_EPOCH,
    EPOCHS_RUN,
    FIT_TIME,
    FROZEN_STAGES_PARAM,
    HPARAM_METRIC_PREFIX,
    PREPROCESSING_PARAM,
    RESOLVED_ACCELERATOR_PARAM,
    RESOLVED_PRECISION_PARAM,
    TEST_ACC,
    TEST_LOSS,
    TOTAL_PARAMS,
    TRAINABLE_PARAMS,
    VAL_ACC,
    VAL_LOSS,
    grid_point_name,
)
from freeze_study.training.device import Device, resolve_device
from freeze_study.training.prepare import make_trainer, prepare


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports back (the same numbers are in MLflow)."""

    run_id: str
    val_acc: float  # at the best epoch
    test_acc: float
    test_loss: float
    fit_time_s: float  # building the cache + fitting, seconds
    epochs_run: int
    best_epoch: int  # 0-based; its checkpoint (lowest val_loss) is the one tested and logged


def train(
    cfg: TrainConfig,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    launcher_run_id: str | None = None,
) -> TrainResult:
    """Fine-tune ResNet18 at `cfg.freeze` in one MLflow run and return its results.

    The run is a child of `parent_run_id` (a sweep's grid point), continues `launcher_run_id`
    (the run `mlflow run` created), or is new in `cfg`'s experiment. A failure ends the run
    FAILED with the reason (DataError, WeightsError and others propagate).
    """
    device = resolve_device(cfg)
    tracking.enable_autolog()
    with tracking.run(
        grid_point_name(cfg.freeze, cfg.seed),
        cfg.experiment_name(),
        parent_run_id,
        launcher_run_id,
        tags,
        system_metrics=cfg.system_metrics == "on",
    ) as active:
        tracking.record.params(
            {
                **cfg.params(),
                RESOLVED_ACCELERATOR_PARAM: device.accelerator,
                RESOLVED_PRECISION_PARAM: device.precision,
                PREPROCESSING_PARAM: PREPROCESSING,
                FROZEN_STAGES_PARAM: frozen_stages_param(cfg.freeze),
            }
        )
        data = load_data(cfg.data)
        tracking.record.data(data.spec, data.classes, data.digest)
        with ExitStack() as spill:
            ckpt_dir = spill.enter_context(tempfile.TemporaryDirectory(prefix="freeze-study-ckpt-"))
            board_dir = spill.enter_context(tempfile.TemporaryDirectory(prefix="freeze-study-tensorboard-"))
            board = TensorBoardLogger(board_dir, name="", version="", default_hp_metric=False)
            run = prepare(cfg, data, device, spill)
            trainable, total = count_params(run.net)
            tracking.record.metrics({TRAINABLE_PARAMS: trainable, TOTAL_PARAMS: total})
            tracking.record.feature_cache(
                run.plan.features, run.plan.reason, run.plan.bytes, run.plan.build_s, run.plan.spilled_bytes
            )
            best = ModelCheckpoint(dirpath=ckpt_dir, monitor=VAL_LOSS, mode="min", save_top_k=1, save_weights_only=True)
            trainer = make_trainer(
                cfg, device, ckpt_dir, [EarlyStopping(VAL_LOSS, patience=cfg.patience, mode="min"), best], logger=board
            )
            start = time.perf_counter()
            trainer.fit(run.module, run.loaders["train"], run.loaders["validation"])
            fit_time = run.plan.build_s + time.perf_counter() - start  # building the cache counts
            checkpoint = torch.load(best.best_model_path, map_location="cpu", weights_only=False)
            run.module.load_state_dict(checkpoint["state_dict"])
            best_epoch = int(checkpoint["epoch"])
            (test,) = trainer.test(run.module, run.loaders["test"], verbose=False)
            val_acc = run.module.history[best_epoch][VAL_ACC]
            results = {VAL_ACC: val_acc, TEST_ACC: test[TEST_ACC], FIT_TIME: fit_time}
            board.log_hyperparams(_hparams(cfg, device), {HPARAM_METRIC_PREFIX + k: v for k, v in results.items()})
            board.finalize("success")
            tracking.record.tensorboard(board_dir)
        tracking.record.metrics({FIT_TIME: fit_time, BEST_EPOCH: best_epoch, EPOCHS_RUN: trainer.current_epoch})
        tracking.record.model(
            export_model(run.net),
            np.zeros((1, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32),
            {
                "classes": list(data.classes),
                "preprocessing": PREPROCESSING,
                "normalize_mean": list(IMAGENET_MEAN),
                "normalize_std": list(IMAGENET_STD),
            },
        )
        return TrainResult(
            active.info.run_id,
            val_acc,
            test[TEST_ACC],
            test[TEST_LOSS],
            fit_time,
            trainer.current_epoch,
            best_epoch,
        )


def _hparams(cfg: TrainConfig, device: Device) -> dict[str, object]:
    """The config as TensorBoard hparams (typed, so numbers are numbers in its HParams view), plus what was resolved."""
    values = {k: v for k, v in dataclasses.asdict(cfg).items() if v is not None}
    return {
        **values,
        RESOLVED_ACCELERATOR_PARAM: device.accelerator,
        RESOLVED_PRECISION_PARAM: device.precision,
        FROZEN_STAGES_PARAM: frozen_stages_param(cfg.freeze),
    }
