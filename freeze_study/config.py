"""Everything a run can be configured with, and its defaults: the one source of truth.

The CLI, the MLproject and the sweep all build a `TrainConfig`; `train(cfg)` logs
every field as an MLflow param, so a run is reproducible from its params alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass

# Names shared by training, sweep and analysis (defined once, imported everywhere).
STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
MAX_FREEZE = len(STAGES) - 1
DEFAULT_EXPERIMENT = "freeze-study"
DEFAULT_DATA = "AI-Lab-Makerere/beans"

# Param names the sweep and the report read back (besides every TrainConfig field).
FREEZE_PARAM, SEED_PARAM, FROZEN_STAGES_PARAM = "freeze", "seed", "frozen_stages"

# Metric names (a contract with the sweep, the report and users' saved queries).
TRAIN_LOSS, TRAIN_ACC = "train_loss", "train_acc"
VAL_LOSS, VAL_ACC = "val_loss", "val_acc"
TEST_LOSS, TEST_ACC = "test_loss", "test_acc"
EPOCH_TIME = "epoch_time_s"
FIT_TIME = "fit_time_s"
TRAINABLE_PARAMS, TOTAL_PARAMS = "trainable_params", "total_params"
BEST_EPOCH, EPOCHS_RUN = "best_epoch", "epochs_run"
EPOCH_METRICS = (TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, EPOCH_TIME)
ONCE_METRICS = (TRAINABLE_PARAMS, TOTAL_PARAMS, TEST_LOSS, TEST_ACC, FIT_TIME, BEST_EPOCH, EPOCHS_RUN)

# Tags that tie a sweep together in MLflow.
ROLE_TAG = "freeze_study.role"  # "sweep" on a sweep's parent run, "trial" on each child run
SWEEP_ROLE, TRIAL_ROLE = "sweep", "trial"
GRID_POINT_TAG = "freeze_study.grid_point"  # "freeze=2 seed=42" on each child
SWEEP_KEY_TAG = "freeze_study.sweep_key"  # hash of the grid and the shared training config
STUDY_NAME_TAG = "optuna.study_name"  # on the parent and each child
TRIAL_NUMBER_TAG = "optuna.trial_number"  # on each child
PARENT_RUN_TAG = "mlflow.parentRunId"  # set by MLflow on nested runs


def grid_point_name(freeze: int, seed: int) -> str:
    """The name of a grid point, used as the child run's name and its grid-point tag."""
    return f"freeze={freeze} seed={seed}"


# Names of what the feature cache records on a run.
CACHE_BYTES, CACHE_BUILD_TIME, CACHE_SPILLED = "cache_bytes", "cache_build_s", "cache_spilled_bytes"
FEATURE_CACHE_TAG, FEATURE_CACHE_REASON_TAG = "feature_cache", "feature_cache_reason"

PRECISIONS = ("auto", "32-true", "16-mixed", "bf16-mixed")
AUGMENTATIONS = ("none", "flip")
SWITCH = ("on", "off")
ACCELERATORS = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: the study's recipe, every value a parameter."""

    freeze: int = 0  # stem + first `freeze` residual stages frozen; 0 trains everything
    data: str = DEFAULT_DATA  # Hugging Face dataset id, or a local DIR/{train,validation,test}/<class>/*
    weights: str = "imagenet"  # "imagenet" (torchvision IMAGENET1K_V1), "none", or a state-dict file
    batch_size: int = 16
    lr: float = 1e-4
    epochs: int = 30  # maximum; early stopping usually ends sooner
    patience: int = 10  # early-stopping patience on val_loss, in epochs
    num_workers: int = 4  # capped at the CPU count when the loaders are built
    seed: int = 42
    precision: str = "auto"  # 16-mixed on CUDA, bf16-mixed on CPUs with native bf16, else 32-true
    accelerator: str = "auto"
    log_every_n_steps: int = 10
    augment: str = "none"  # "flip": random horizontal flips of training images
    feature_cache: str = "on"  # decode each image once and run the frozen prefix once, where valid
    cache_memory_gb: float = 4.0  # beyond this (or half the free RAM), cached features go to disk
    cache_dir: str | None = None  # else $FREEZE_STUDY_CACHE, else ~/.cache/freeze_study
    experiment: str | None = None  # else $MLFLOW_EXPERIMENT_NAME, else DEFAULT_EXPERIMENT

    def __post_init__(self) -> None:
        _check(isinstance(self.freeze, int) and 0 <= self.freeze <= MAX_FREEZE,
               "freeze", self.freeze, f"an integer in 0..{MAX_FREEZE}")
        _check(self.batch_size >= 1, "batch_size", self.batch_size, "at least 1")
        _check(self.lr > 0, "lr", self.lr, "greater than 0")
        _check(self.epochs >= 1, "epochs", self.epochs, "at least 1")
        _check(self.patience >= 1, "patience", self.patience, "at least 1")
        _check(self.num_workers >= 0, "num_workers", self.num_workers, "0 or more")
        _check(self.seed >= 0, "seed", self.seed, "0 or more")
        _check(self.log_every_n_steps >= 1, "log_every_n_steps", self.log_every_n_steps, "at least 1")
        _check(self.precision in PRECISIONS, "precision", self.precision, f"one of {', '.join(PRECISIONS)}")
        _check(self.accelerator in ACCELERATORS, "accelerator", self.accelerator,
               f"one of {', '.join(ACCELERATORS)}")
        _check(self.augment in AUGMENTATIONS, "augment", self.augment, f"one of {', '.join(AUGMENTATIONS)}")
        _check(self.feature_cache in SWITCH, "feature_cache", self.feature_cache, "on or off")
        _check(0 <= self.cache_memory_gb < float("inf"), "cache_memory_gb", self.cache_memory_gb,
               "a finite number of GB, 0 or more")
        _check(bool(self.data), "data", self.data, "a dataset id or a folder")
        _check(bool(self.weights), "weights", self.weights, "'imagenet', 'none' or a file")

    @property
    def frozen_stages(self) -> tuple[str, ...]:
        """Stage names frozen at this level: the stem and layer1..layerK."""
        return STAGES[: self.freeze + 1] if self.freeze else ()

    def params(self) -> dict[str, str]:
        """The config as MLflow params (None values left out)."""
        return {k: str(v) for k, v in dataclasses.asdict(self).items() if v is not None}

    def cache_root(self) -> str:
        """Where decoded images (and features over the memory budget) are cached."""
        return (self.cache_dir or os.environ.get("FREEZE_STUDY_CACHE")
                or os.path.join(os.path.expanduser("~"), ".cache", "freeze_study"))

    def experiment_name(self) -> str:
        """--experiment, else $MLFLOW_EXPERIMENT_NAME, else the project's default."""
        return self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT


class ConfigError(ValueError):
    """An invalid parameter value; the message names the parameter and the value."""


def _check(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise ConfigError(f"invalid {name}={value!r}: must be {expected}")


@dataclass(frozen=True)
class SweepConfig:
    """A grid of (freeze level, seed) over one shared training config."""

    levels: tuple[int, ...] = tuple(range(MAX_FREEZE + 1))
    seeds: tuple[int, ...] = (42,)
    train: TrainConfig = TrainConfig()  # its freeze and seed are replaced per grid point
    storage: str | None = None  # Optuna storage URL; default: optuna.db beside the SQLite MLflow store
    study_name: str | None = None  # default: freeze-study-<experiment id>-<sweep key>

    def __post_init__(self) -> None:
        _check(bool(self.levels) and all(0 <= k <= MAX_FREEZE for k in self.levels), "levels",
               ",".join(map(str, self.levels)), f"a comma-separated list of integers in 0..{MAX_FREEZE}")
        _check(len(set(self.levels)) == len(self.levels), "levels", self.levels, "without repeats")
        _check(bool(self.seeds) and all(s >= 0 for s in self.seeds), "seeds", self.seeds,
               "a comma-separated list of integers >= 0")
        _check(len(set(self.seeds)) == len(self.seeds), "seeds", self.seeds, "without repeats")

    @property
    def grid(self) -> list[tuple[int, int]]:
        """(freeze, seed) points in run order."""
        return [(k, s) for k in self.levels for s in self.seeds]

    def shared_params(self) -> dict[str, str]:
        """The training config every grid point shares (freeze and seed vary, experiment is a place)."""
        return {k: v for k, v in self.train.params().items() if k not in (FREEZE_PARAM, SEED_PARAM, "experiment")}

    def key(self) -> str:
        """Same grid and shared config, same key: running it again resumes that sweep.

        Knobs that change neither the results nor what is measured are left out.
        """
        shared = {k: v for k, v in self.shared_params().items() if k not in _NOT_IN_SWEEP_KEY}
        if os.path.isdir(self.train.data):
            shared["data"] = os.path.realpath(self.train.data)  # ./beans and beans are one dataset
        text = repr((sorted(self.levels), sorted(self.seeds), sorted(shared.items())))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


_NOT_IN_SWEEP_KEY = ("num_workers", "log_every_n_steps", "cache_dir", "cache_memory_gb")
