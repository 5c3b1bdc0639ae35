"""Everything a run or a sweep can be configured with, its defaults and its help: the one source of truth.

The CLI and the MLproject build a `TrainConfig` (one `--flag` per field, its help text
taken from the field's metadata); the sweep derives each grid point's config with
`dataclasses.replace`; `train(cfg)` logs every field as an MLflow param, so a run is
reproducible from its params alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field

from freeze_study.names import DEFAULT_DATA, DEFAULT_EXPERIMENT, EXPERIMENT_FIELD, FREEZE_PARAM, MAX_FREEZE, SEED_PARAM

PRECISIONS = ("auto", "32-true", "16-mixed", "bf16-mixed")
AUGMENTATIONS = ("none", "flip")
SWITCH = ("on", "off")
ACCELERATORS = ("auto", "cpu", "cuda")
CACHE_ENV = "FREEZE_STUDY_CACHE"  # the cache folder when --cache-dir is not given
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"  # MLflow's own variable for the experiment's name
SAMPLING_ENV = "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"  # MLflow's own variable: seconds between samples


def option(default: object, help: str, aliases: tuple[str, ...] = ()) -> dataclasses.Field:
    """A config field with its command-line help (and older flag spellings that still work)."""
    return field(default=default, metadata={"help": help, "aliases": aliases})


@dataclass(frozen=True)
class TrainConfig:
    """One training run: the study's recipe, every value a parameter."""

    freeze: int = option(0, "freeze the stem and the first K residual stages (0..4; 0 trains everything)")
    data: str = option(
        DEFAULT_DATA, "Hugging Face dataset id, or a local image folder DIR/{train,validation,test}/<class>/*"
    )
    weights: str = option(
        "imagenet", "'imagenet' (torchvision IMAGENET1K_V1), 'none' (random init) or a resnet18 state-dict file"
    )
    batch_size: int = option(16, "images per training batch")
    lr: float = option(1e-4, "Adam learning rate (trainable parameters only)")
    epochs: int = option(30, "maximum epochs; early stopping on val_loss usually ends sooner")
    patience: int = option(10, "early-stopping patience on val_loss, in epochs")
    num_workers: int = option(4, "DataLoader workers for decoding images (capped at the CPU count)")
    seed: int = option(42, "seeds Python, NumPy, torch and the data order; training is deterministic")
    precision: str = option(
        "auto",
        f"auto: 16-mixed on CUDA, bf16-mixed on CPUs with AMX, else 32-true; or one of {', '.join(PRECISIONS[1:])}",
    )
    accelerator: str = option("auto", "auto (CUDA when available), cpu or cuda")
    log_every_n_steps: int = option(10, "Lightning's logging interval, in training steps")
    augment: str = option("none", "'flip': random horizontal flips of training images; 'none'")
    feature_cache: str = option(
        "on", "'on': decode each image once and run the frozen prefix once where valid; 'off': the original pipeline"
    )
    cache_memory_gib: float = option(
        4.0,
        "GiB of cached features kept in RAM (at most half the free memory); the rest is memory-mapped on disk",
        aliases=("cache_memory_gb",),
    )
    cache_dir: str | None = option(None, f"cache folder (default: ${CACHE_ENV}, else ~/.cache/freeze_study)")
    system_metrics: str = option(
        "on",
        "'on': MLflow logs CPU, memory, disk and network use (and GPU where nvidia-ml-py finds one) "
        f"every 10 s (${SAMPLING_ENV}) as system/* metrics; 'off'",
    )
    experiment: str | None = option(None, f"MLflow experiment (default: ${EXPERIMENT_ENV}, else {DEFAULT_EXPERIMENT})")

    def __post_init__(self) -> None:
        _check(
            isinstance(self.freeze, int) and 0 <= self.freeze <= MAX_FREEZE,
            "freeze",
            self.freeze,
            f"an integer in 0..{MAX_FREEZE}",
        )
        _check(self.batch_size >= 1, "batch_size", self.batch_size, "at least 1")
        _check(self.lr > 0, "lr", self.lr, "greater than 0")
        _check(self.epochs >= 1, "epochs", self.epochs, "at least 1")
        _check(self.patience >= 1, "patience", self.patience, "at least 1")
        _check(self.num_workers >= 0, "num_workers", self.num_workers, "0 or more")
        _check(self.seed >= 0, "seed", self.seed, "0 or more")
        _check(self.log_every_n_steps >= 1, "log_every_n_steps", self.log_every_n_steps, "at least 1")
        _check(self.precision in PRECISIONS, "precision", self.precision, f"one of {', '.join(PRECISIONS)}")
        _check(self.accelerator in ACCELERATORS, "accelerator", self.accelerator, f"one of {', '.join(ACCELERATORS)}")
        _check(self.augment in AUGMENTATIONS, "augment", self.augment, f"one of {', '.join(AUGMENTATIONS)}")
        _check(self.feature_cache in SWITCH, "feature_cache", self.feature_cache, "on or off")
        _check(self.system_metrics in SWITCH, "system_metrics", self.system_metrics, "on or off")
        _check(
            0 <= self.cache_memory_gib < float("inf"),
            "cache_memory_gib",
            self.cache_memory_gib,
            "a finite number of GiB, 0 or more",
        )
        _check(bool(self.data), "data", self.data, "a dataset id or a folder")
        _check(bool(self.weights), "weights", self.weights, "'imagenet', 'none' or a file")

    def params(self) -> dict[str, str]:
        """The config as MLflow params (None values left out)."""
        return {k: str(v) for k, v in dataclasses.asdict(self).items() if v is not None}

    def cache_root(self) -> str:
        """Where decoded images (and features over the memory budget) are cached."""
        return (
            self.cache_dir
            or os.environ.get(CACHE_ENV)
            or os.path.join(os.path.expanduser("~"), ".cache", "freeze_study")
        )

    def experiment_name(self) -> str:
        """--experiment, else $MLFLOW_EXPERIMENT_NAME, else the project's default."""
        return experiment_name(self.experiment)


def experiment_name(given: str | None = None) -> str:
    """`given`, else $MLFLOW_EXPERIMENT_NAME, else the project's default experiment."""
    return given or os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT


class ConfigError(ValueError):
    """An invalid parameter value; the message names the parameter and the value."""


def _check(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise ConfigError(f"invalid {name}={value!r}: must be {expected}")


@dataclass(frozen=True)
class SweepConfig:
    """A grid of (freeze level, seed) over one shared training config."""

    levels: tuple[int, ...] = option(tuple(range(MAX_FREEZE + 1)), "freeze levels, comma-separated")
    seeds: tuple[int, ...] = option((42,), "seeds, comma-separated")
    train: TrainConfig = TrainConfig()  # its freeze and seed are replaced per grid point
    storage: str | None = option(
        None,
        "Optuna storage URL (default: optuna.db beside the SQLite MLflow store; "
        "SQLite is for one writer: use PostgreSQL or MySQL for many workers)",
    )
    study_name: str | None = option(None, "Optuna study name (default: freeze-study-<experiment id>-<sweep key>)")

    def __post_init__(self) -> None:
        _check(
            bool(self.levels) and all(0 <= k <= MAX_FREEZE for k in self.levels),
            "levels",
            ",".join(map(str, self.levels)),
            f"a comma-separated list of integers in 0..{MAX_FREEZE}",
        )
        _check(len(set(self.levels)) == len(self.levels), "levels", self.levels, "without repeats")
        _check(
            bool(self.seeds) and all(s >= 0 for s in self.seeds),
            "seeds",
            self.seeds,
            "a comma-separated list of integers >= 0",
        )
        _check(len(set(self.seeds)) == len(self.seeds), "seeds", self.seeds, "without repeats")

    @property
    def grid(self) -> list[tuple[int, int]]:
        """(freeze, seed) points in run order."""
        return [(k, s) for k in self.levels for s in self.seeds]

    def shared_params(self) -> dict[str, str]:
        """The training config every grid point shares (freeze and seed vary, experiment is a place)."""
        return {k: v for k, v in self.train.params().items() if k not in (FREEZE_PARAM, SEED_PARAM, EXPERIMENT_FIELD)}

    def key(self) -> str:
        """Same grid and shared config, same key: running it again resumes that sweep.

        Knobs that change neither the results nor what is measured are left out.
        """
        shared = {k: v for k, v in self.shared_params().items() if k not in _NOT_IN_SWEEP_KEY}
        if os.path.isdir(self.train.data):
            shared["data"] = os.path.realpath(self.train.data)  # ./beans and beans are one dataset
        text = repr((sorted(self.levels), sorted(self.seeds), sorted(shared.items())))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


_NOT_IN_SWEEP_KEY = ("num_workers", "log_every_n_steps", "cache_dir", "cache_memory_gib", "system_metrics")
