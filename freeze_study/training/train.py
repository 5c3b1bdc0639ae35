"""How one run is trained and what it reports: `train(cfg) -> TrainResult`.

Run it with `freeze-study train --freeze 1` or `mlflow run . -P freeze=1`. What is
recorded, and how, is `tracking.record`'s business; this module says what happened.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial

import numpy as np
from pytorch_lightning.callbacks import EarlyStopping
from pytorch_lightning.loggers import TensorBoardLogger

from freeze_study import tracking
from freeze_study.cache import file_memo
from freeze_study.config import TrainConfig
from freeze_study.data import IMAGENET_MEAN, IMAGENET_STD, file_sha256, load_data, preprocessing
from freeze_study.levels import frozen_stages_param
from freeze_study.model import Device, count_params, export_model, resolve_device, weights_sha256
from freeze_study.names import (
    BEST_EPOCH,
    DATA_CHECK_TIME,
    DATA_DIGEST_TIME,
    EPOCHS_RUN,
    EVALUATED_SPLITS,
    EVIDENCE_LOG_TIME,
    FIT_TIME,
    FROZEN_STAGES_PARAM,
    HPARAM_METRIC_PREFIX,
    IMAGE_SIZE_KEY,
    MODEL_LOG_TIME,
    PREPROCESSING_PARAM,
    RESOLVED_ACCELERATOR_PARAM,
    RESOLVED_MEMORY_FORMAT_PARAM,
    RESOLVED_PRECISION_PARAM,
    RUN_SCRATCH,
    TEST_ACC,
    TEST_LOSS,
    TEST_TIME,
    TOTAL_PARAMS,
    TRAINABLE_PARAMS,
    VAL_ACC,
    VAL_LOSS,
    WEIGHTS_SHA256_PARAM,
    grid_point_name,
)
from freeze_study.scratch import scratch_dir
from freeze_study.training import evaluate
from freeze_study.training.best import BestWeights
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
    best_epoch: int  # 0-based; its weights (lowest val_loss) are the ones tested and logged


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
        params = run_params(cfg, device)  # MLflow's params and TensorBoard's hparams: the same, built once
        tracking.record.params({k: str(v) for k, v in params.items()})
        tracking.record.config(dataclasses.asdict(cfg))  # the first artifact: an unwritable store fails here
        tracking.record.source_commit()
        clock = _Clock()
        memo = file_memo(cfg)
        with clock(DATA_CHECK_TIME):
            data = load_data(cfg.data, memo)
        with clock(DATA_DIGEST_TIME):
            digest = data.digest
        tracking.record.data(data.spec, data.classes, digest)
        with scratch_dir(RUN_SCRATCH) as root, ExitStack() as spill:
            board_dir = os.path.join(root, "tensorboard")
            board = TensorBoardLogger(board_dir, name="", version="", default_hp_metric=False)
            run = prepare(cfg, data, device, spill, memo)
            if weights_digest := weights_sha256(cfg.weights, partial(file_sha256, memo=memo)):  # which, exactly
                params[WEIGHTS_SHA256_PARAM] = weights_digest
                tracking.record.params({WEIGHTS_SHA256_PARAM: weights_digest})
            if memo:
                memo.close()  # everything the run checks and hashes is done
            trainable, total = count_params(run.net)
            tracking.record.metrics({TRAINABLE_PARAMS: trainable, TOTAL_PARAMS: total})
            plan = run.plan
            tracking.record.feature_cache(
                plan.reason, plan.bytes, plan.build_s, plan.spilled_bytes, plan.scope, plan.scope_reason, plan.entry
            )
            best = BestWeights(VAL_LOSS)
            trainer = make_trainer(
                cfg, device, root, [EarlyStopping(VAL_LOSS, patience=cfg.patience, mode="min"), best], logger=board
            )
            start = time.perf_counter()
            trainer.fit(run.module, run.loaders["train"], run.loaders["validation"])
            fit_time = run.plan.build_s + time.perf_counter() - start  # building the cache counts
            best_epoch = best.restore(run.module)
            with clock(TEST_TIME):
                (test,) = trainer.test(run.module, run.loaders["test"], verbose=False)
            if best.val_outputs is None or run.module.test_outputs is None:
                raise RuntimeError("the Trainer kept no validation or test outputs to evaluate")
            outputs = {"validation": best.val_outputs, "test": run.module.test_outputs}
            evidence = [evaluate.split_predictions(outputs[s], data, s) for s in EVALUATED_SPLITS]
            val_acc = run.module.history[best_epoch][VAL_ACC]
            results = {VAL_ACC: val_acc, TEST_ACC: test[TEST_ACC], FIT_TIME: fit_time}
            board.log_hyperparams(params, {HPARAM_METRIC_PREFIX + k: v for k, v in results.items()})
            board.finalize("success")
            tracking.record.tensorboard(board_dir)
        with clock(EVIDENCE_LOG_TIME):
            for pred in evidence:
                tracking.record.evaluation(
                    pred.split,
                    pred.table(data.classes),
                    evaluate.scores(pred, data.classes),
                    evaluate.confusion(pred, data.classes),
                )
        tracking.record.metrics({FIT_TIME: fit_time, BEST_EPOCH: best_epoch, EPOCHS_RUN: trainer.current_epoch})
        with clock(MODEL_LOG_TIME):
            tracking.record.model(
                export_model(run.net),
                np.zeros((1, 3, cfg.image_size, cfg.image_size), dtype=np.float32),
                {
                    "classes": list(data.classes),
                    RESOLVED_PRECISION_PARAM: device.precision,  # what the test split ran in: the served model too
                    "preprocessing": preprocessing(cfg.image_size),
                    IMAGE_SIZE_KEY: cfg.image_size,
                    "normalize_mean": list(IMAGENET_MEAN),
                    "normalize_std": list(IMAGENET_STD),
                },
            )
        tracking.record.metrics(clock.seconds)  # where the time outside the epochs went (cache_build_s above)
        return TrainResult(
            active.info.run_id,
            val_acc,
            test[TEST_ACC],
            test[TEST_LOSS],
            fit_time,
            trainer.current_epoch,
            best_epoch,
        )


class _Clock:
    """Wall seconds of named steps: `with clock(name): ...`, then `clock.seconds`."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - start


def run_params(cfg: TrainConfig, device: Device) -> dict[str, object]:
    """A run's params: the whole config (None values left out) plus what was resolved from it, typed (numbers stay
    numbers in TensorBoard's HParams view; MLflow logs them as text)."""
    return {
        **{k: v for k, v in dataclasses.asdict(cfg).items() if v is not None},
        RESOLVED_ACCELERATOR_PARAM: device.accelerator,
        RESOLVED_PRECISION_PARAM: device.precision,
        RESOLVED_MEMORY_FORMAT_PARAM: device.memory_format,
        PREPROCESSING_PARAM: preprocessing(cfg.image_size),
        FROZEN_STAGES_PARAM: frozen_stages_param(cfg.freeze),
    }
