"""Everything a run or a sweep can be configured with, its defaults and its help: the one source of truth.

The CLI and the MLproject build a `TrainConfig` (one `--flag` per field, its help text
taken from the field's metadata); the sweep derives each grid point's config with
`dataclasses.replace`; `train(cfg)` logs every field as an MLflow param, so a run is
reproducible from its params alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from freeze_study.errors import ExpectedError
from freeze_study.names import (
    DEFAULT_DATA,
    DEFAULT_EXPERIMENT,
    EXPERIMENT_FIELD,
    FREEZE_PARAM,
    IMAGE_SIZE,
    MAX_FREEZE,
    SEED_PARAM,
    registered_model_name,
)
from freeze_study.text import fits, shown

# ResNet18 divides the image by 32 (stem, max-pool, layer2-4): 64 pixels leave layer4 2 x 2, so BatchNorm
# still has more than one value per channel in a last training batch of one image (32 would fail there).
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 64, 1024
# Study settings added after sweeps were recorded: at these defaults they stay out of the sweep key, so a sweep
# started before the setting existed resumes after it.
KEYED_ONLY_OFF_DEFAULT = {"image_size": IMAGE_SIZE}
PRECISIONS = ("auto", "32-true", "16-mixed", "bf16-mixed")
AUGMENTATIONS = ("none", "flip")
SWITCH = ("on", "off")
ACCELERATORS = ("auto", "cpu", "cuda")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
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
    image_size: int = option(
        IMAGE_SIZE,
        f"pixels of the square every image is resized to ({IMAGE_SIZE}: the ImageNet size the weights were trained "
        f"at; smaller is faster and less accurate, {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE})",
    )
    lr: float = option(1e-4, "Adam learning rate (trainable parameters only)")
    epochs: int = option(30, "maximum epochs; early stopping on val_loss usually ends sooner")
    patience: int = option(10, "early-stopping patience on val_loss, in epochs")
    num_workers: int = option(
        4, "DataLoader workers for decoding images (capped at the CPUs available and what /dev/shm holds)"
    )
    seed: int = option(42, "seeds Python, NumPy, torch and the data order; training is deterministic")
    precision: str = option(
        "auto",
        f"auto: 16-mixed on CUDA, bf16-mixed on CPUs with AMX, else 32-true; or one of {', '.join(PRECISIONS[1:])}",
    )
    accelerator: str = option("auto", "auto (CUDA when available), cpu or cuda")
    memory_format: str = option(
        "auto",
        "convolution layout: auto (channels_last on CPU and CUDA, where it measured faster), channels_last "
        "or contiguous (NCHW)",
    )
    log_every_n_steps: int = option(10, "Lightning's logging interval, in training steps")
    augment: str = option("none", "'flip': random horizontal flips of training images; 'none'")
    feature_cache: str = option(
        "on",
        "'on': check and hash each image file once, decode it once, run the frozen prefix once where valid "
        "(shared by every run when the weights do not depend on the seed); 'off': the original pipeline",
    )
    cache_memory_gib: float = option(
        4.0,
        "GiB of cached features kept in RAM (at most half the free memory); the rest is memory-mapped on disk",
        aliases=("cache_memory_gb",),
    )
    cache_disk_gib: float = option(
        10.0,
        "GiB of disk the cache folder may use (decoded images, shared frozen-prefix outputs); "
        "the least recently used entries go first",
    )
    cache_dir: str | None = option(None, f"cache folder (default: ${CACHE_ENV}, else ~/.cache/freeze_study)")
    system_metrics: str = option(
        "on",
        "'on': MLflow logs CPU, memory, disk and network use (and GPU where nvidia-ml-py finds one) "
        f"every 10 s (${SAMPLING_ENV}) as system/* metrics; 'off'",
    )
    experiment: str | None = option(None, f"MLflow experiment (default: ${EXPERIMENT_ENV}, else {DEFAULT_EXPERIMENT})")

    def __post_init__(self) -> None:
        whole_field(self, "freeze", 0, MAX_FREEZE)
        whole_field(self, "image_size", MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
        for name in ("batch_size", "epochs", "patience", "log_every_n_steps"):
            whole_field(self, name, 1, INT_MAX)
        whole_field(self, "num_workers", 0, INT_MAX)
        whole_field(self, "seed", 0, SEED_MAX)
        _real(self, "lr", "a finite number greater than 0", lambda v: v > 0)
        _real(self, "cache_memory_gib", "a finite number of GiB, 0 or more", lambda v: v >= 0)
        _check(self.precision in PRECISIONS, "precision", self.precision, f"one of {', '.join(PRECISIONS)}")
        _check(self.accelerator in ACCELERATORS, "accelerator", self.accelerator, f"one of {', '.join(ACCELERATORS)}")
        _check(self.augment in AUGMENTATIONS, "augment", self.augment, f"one of {', '.join(AUGMENTATIONS)}")
        _check(self.feature_cache in SWITCH, "feature_cache", self.feature_cache, "on or off")
        _real(self, "cache_disk_gib", "a finite number of GiB, 0 or more", lambda v: v >= 0)
        _check(self.system_metrics in SWITCH, "system_metrics", self.system_metrics, "on or off")
        _check(
            self.memory_format in MEMORY_FORMATS,
            "memory_format",
            self.memory_format,
            f"one of {', '.join(MEMORY_FORMATS)}",
        )
        _text("data", self.data, "a dataset id or a folder")
        _text("weights", self.weights, "'imagenet', 'none' or a file")
        _text("cache_dir", self.cache_dir, "a folder", optional=True)
        _text("experiment", self.experiment, "an experiment name", optional=True, limit=MAX_EXPERIMENT_NAME)

    def params(self) -> dict[str, str]:
        """The config as MLflow params (None values left out)."""
        return {k: str(v) for k, v in dataclasses.asdict(self).items() if v is not None}

    def cache_root(self) -> str:
        """The cache folder: decoded images, shared frozen-prefix outputs, file checks and digests, spilled features."""
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


def model_name(given: str | None, experiment: str) -> str:
    """The registered model's name: `given`, else `<experiment>-resnet18`. Raises ConfigError for a name the
    Model Registry refuses (empty, or with '/' or ':')."""
    name = given if given is not None else registered_model_name(experiment)
    _check(bool(name.strip()) and not set(name) & set("/:"), "model_name", name, "a name without '/' or ':'")
    return name


class ConfigError(ExpectedError, ValueError):
    """An invalid parameter value; the message names the parameter and the value."""


def _check(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise ConfigError(f"invalid {name}={fits(shown(repr(value)), 80, '…')}: must be {expected}")


# What the libraries underneath accept: NumPy seeds are 0..2**32-1 (Lightning's seed_everything refuses
# others), torch stores integers as int64; MLflow's experiments table holds names up to 256 characters.
SEED_MAX = 2**32 - 1
INT_MAX = 2**63 - 1
MAX_EXPERIMENT_NAME = 256
MAX_STUDY_NAME = 512  # Optuna's RDB storage (MAX_INDEXED_STRING_LENGTH)


def whole_field(cfg: object, name: str, low: int, high: int) -> None:
    """Field `name` of `cfg` is a whole number in low..high (2.0 counts, True does not); stored as int."""
    value = getattr(cfg, name)
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and float(value).is_integer() and low <= value <= high
    high_text = "" if high == INT_MAX else f"..{high}"
    _check(ok, name, value, f"a whole number in {low}{high_text}" if high_text else f"a whole number, {low} or more")
    object.__setattr__(cfg, name, int(value))


def _real(cfg: object, name: str, expected: str, ok: Callable[[float], bool]) -> None:
    """Field `name` of `cfg` is a finite number meeting `ok`; stored as float (1 and 1.0 record alike)."""
    value = getattr(cfg, name)
    number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    _check(number and ok(float(value)), name, value, expected)
    object.__setattr__(cfg, name, float(value))


def _text(name: str, value: str | None, expected: str, optional: bool = False, limit: int = 4096) -> None:
    """A non-empty string without NUL (which no file system or database takes), at most `limit` characters."""
    if value is None and optional:
        return
    ok = isinstance(value, str) and bool(value) and "\0" not in value and len(value) <= limit
    _check(ok, name, value, f"{expected} (non-empty, at most {limit} characters, no NUL)")


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
    heartbeat_s: int = option(10, "seconds between a worker's heartbeats for the grid point it trains (PostgreSQL)")
    grace_period_s: int = option(
        60, "seconds without a heartbeat after which a grid point's worker counts as lost and the point is retried"
    )
    max_retries: int = option(2, "times a lost grid point is queued again before the sweep reports it FAILED")

    def __post_init__(self) -> None:
        levels = whole_list("levels", self.levels, 0, MAX_FREEZE)
        seeds = whole_list("seeds", self.seeds, 0, SEED_MAX)
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "seeds", seeds)
        _text("storage", self.storage, "a storage URL", optional=True)
        _text("study_name", self.study_name, "a study name", optional=True, limit=MAX_STUDY_NAME)
        whole_field(self, "heartbeat_s", 1, INT_MAX)
        whole_field(self, "grace_period_s", 1, INT_MAX)
        _check(
            self.grace_period_s > self.heartbeat_s,
            "grace_period_s",
            self.grace_period_s,
            f"more than heartbeat_s ({self.heartbeat_s})",
        )
        whole_field(self, "max_retries", 0, INT_MAX)

    @property
    def grid(self) -> list[tuple[int, int]]:
        """(freeze, seed) points in run order."""
        return [(k, s) for k in self.levels for s in self.seeds]

    def shared_params(self) -> dict[str, str]:
        """The training config every grid point shares (freeze and seed vary, experiment is a place)."""
        return {k: v for k, v in self.train.params().items() if k not in (FREEZE_PARAM, SEED_PARAM, EXPERIMENT_FIELD)}

    def to_attrs(self) -> dict[str, object]:
        """What every worker of the sweep trains with, as JSON for the Optuna study's user attributes.

        A local data folder is stored as its real path (as in the sweep key), so a worker started
        elsewhere finds the same folder; the storage and the study name are where it is read from.
        """
        train = dataclasses.asdict(self.train)
        if os.path.isdir(self.train.data):
            train["data"] = os.path.realpath(self.train.data)
        return {
            "levels": list(self.levels),
            "seeds": list(self.seeds),
            "train": train,
            **{k: getattr(self, k) for k in _COORDINATION},
        }

    @classmethod
    def from_attrs(cls, attrs: dict, storage: str, study_name: str, **local: object) -> SweepConfig:
        """The config `to_attrs` stored, with this host's values of the settings that are not in the sweep key.

        Raises ConfigError if a `local` name is not such a setting.
        """
        wrong = sorted(set(local) - set(HOST_SETTINGS))
        _check(not wrong, "local settings", wrong, f"among {', '.join(HOST_SETTINGS)}")
        train = TrainConfig(**{**attrs["train"], **{k: v for k, v in local.items() if v is not None}})
        coordination = {k: attrs[k] for k in _COORDINATION if k in attrs}
        return cls(tuple(attrs["levels"]), tuple(attrs["seeds"]), train, storage, study_name, **coordination)

    def key(self) -> str:
        """Same grid and shared config, same key: running it again resumes that sweep.

        Knobs that change neither the results nor what is measured are left out.
        """
        shared = {k: v for k, v in self.shared_params().items() if k not in HOST_SETTINGS}
        for name, default in KEYED_ONLY_OFF_DEFAULT.items():
            if getattr(self.train, name) == default:
                del shared[name]
        if os.path.isdir(self.train.data):
            shared["data"] = os.path.realpath(self.train.data)  # ./beans and beans are one dataset
        text = repr((sorted(self.levels), sorted(self.seeds), sorted(shared.items())))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def whole_list(name: str, values: tuple, low: int, high: int) -> tuple[int, ...]:
    """`values` as a non-empty tuple of ints in low..high without repeats (ConfigError naming the first bad one)."""
    shown = ",".join(map(str, values))
    _check(bool(values), name, shown, f"a comma-separated list of integers in {low}..{high}")
    ints = []
    for v in values:
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and float(v).is_integer()
        _check(ok and low <= v <= high, name, shown, f"a comma-separated list of integers in {low}..{high}")
        ints.append(int(v))
    _check(len(set(ints)) == len(ints), name, shown, "without repeats")
    return tuple(ints)


# A host's own settings: they change neither the results nor what is measured, so not the sweep key either.
HOST_SETTINGS = (
    "num_workers",
    "log_every_n_steps",
    "cache_dir",
    "cache_memory_gib",
    "cache_disk_gib",
    "system_metrics",
)
_COORDINATION = ("heartbeat_s", "grace_period_s", "max_retries")  # how workers coordinate, not what they train
