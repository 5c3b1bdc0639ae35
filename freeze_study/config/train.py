"""What one training run is configured with: the study's recipe, and this host's own settings beside it.

The CLI and the MLproject build a `TrainConfig` (one `--flag` per field, its help text taken
from the field's metadata); `train(cfg)` logs every field as an MLflow param, flat, so a run
is reproducible from its params alone. A field's scope says what it is: the study's settings
change the results; a host's (workers, cache folder, memory, system metrics) and the
experiment (a place) do not, so they are not part of a sweep's identity.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Literal, get_args

from freeze_study.config.fields import (
    INT_MAX,
    MAX_EXPERIMENT_NAME,
    SEED_MAX,
    Scope,
    check,
    one_of,
    option,
    real_field,
    scoped,
    text_field,
    whole_field,
)
from freeze_study.names import DEFAULT_DATA, DEFAULT_EXPERIMENT, IMAGE_SIZE, MAX_FREEZE, registered_model_name

Precision = Literal["32-true", "16-mixed", "bf16-mixed"]  # what the study's Trainer runs in, "auto" resolved
PRECISIONS = ("auto", *get_args(Precision))
AUGMENTATIONS = ("none", "flip")
SWITCH = ("on", "off")
ACCELERATORS = ("auto", "cpu", "cuda")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
CACHE_ENV = "FREEZE_STUDY_CACHE"  # the cache folder when --cache-dir is not given
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"  # MLflow's own variable for the experiment's name
SAMPLING_ENV = "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"  # MLflow's own variable: seconds between samples
HOST = Scope.HOST
# ResNet18 divides the image by 32 (stem, max-pool, layer2-4): 64 pixels leave layer4 2 x 2, so BatchNorm
# still has more than one value per channel in a last training batch of one image (32 would fail there).
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 64, 1024
# Study settings added after sweeps were recorded: at these defaults they stay out of the sweep key, so a sweep
# started before the setting existed resumes after it.
KEYED_ONLY_OFF_DEFAULT = {"image_size": IMAGE_SIZE}


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
        4,
        "DataLoader workers for decoding images (capped at the CPUs available and what /dev/shm holds)",
        scope=HOST,
    )
    seed: int = option(42, "seeds Python, NumPy, torch and the data order; training is deterministic")
    precision: Literal["auto"] | Precision = option(
        "auto",
        f"auto: 16-mixed on CUDA, bf16-mixed on CPUs with AMX, else 32-true; or one of {', '.join(PRECISIONS[1:])}",
    )
    accelerator: str = option("auto", "auto (CUDA when available), cpu or cuda")
    memory_format: str = option(
        "auto",
        "convolution layout: auto (channels_last on CPU and CUDA, where it measured faster), channels_last "
        "or contiguous (NCHW)",
    )
    log_every_n_steps: int = option(10, "Lightning's logging interval, in training steps", scope=HOST)
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
        scope=HOST,
    )
    cache_disk_gib: float = option(
        10.0,
        "GiB of disk the cache folder may use (decoded images, shared frozen-prefix outputs); "
        "the least recently used entries go first",
        scope=HOST,
    )
    cache_dir: str | None = option(
        None, f"cache folder (default: ${CACHE_ENV}, else ~/.cache/freeze_study)", scope=HOST
    )
    system_metrics: str = option(
        "on",
        "'on': MLflow logs CPU, memory, disk and network use (and GPU where nvidia-ml-py finds one) "
        f"every 10 s (${SAMPLING_ENV}) as system/* metrics; 'off'",
        scope=HOST,
    )
    experiment: str | None = option(
        None, f"MLflow experiment (default: ${EXPERIMENT_ENV}, else {DEFAULT_EXPERIMENT})", scope=Scope.PLACE
    )

    def __post_init__(self) -> None:
        whole_field(self, "freeze", 0, MAX_FREEZE)
        whole_field(self, "image_size", MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
        for name in ("batch_size", "epochs", "patience", "log_every_n_steps"):
            whole_field(self, name, 1, INT_MAX)
        whole_field(self, "num_workers", 0, INT_MAX)
        whole_field(self, "seed", 0, SEED_MAX)
        real_field(self, "lr", "a finite number greater than 0", lambda v: v > 0)
        real_field(self, "cache_memory_gib", "a finite number of GiB, 0 or more", lambda v: v >= 0)
        one_of("precision", self.precision, PRECISIONS)
        one_of("accelerator", self.accelerator, ACCELERATORS)
        one_of("augment", self.augment, AUGMENTATIONS)
        check(self.feature_cache in SWITCH, "feature_cache", self.feature_cache, "on or off")
        real_field(self, "cache_disk_gib", "a finite number of GiB, 0 or more", lambda v: v >= 0)
        check(self.system_metrics in SWITCH, "system_metrics", self.system_metrics, "on or off")
        one_of("memory_format", self.memory_format, MEMORY_FORMATS)
        text_field("data", self.data, "a dataset id or a folder")
        text_field("weights", self.weights, "'imagenet', 'none' or a file")
        text_field("cache_dir", self.cache_dir, "a folder", optional=True)
        text_field("experiment", self.experiment, "an experiment name", optional=True, limit=MAX_EXPERIMENT_NAME)

    def params(self) -> dict[str, str]:
        """The config as MLflow params, flat, one per field (None values left out)."""
        return {k: str(v) for k, v in dataclasses.asdict(self).items() if v is not None}

    def data_identity(self) -> str:
        """The data as a sweep knows it: a local folder as its real path (./beans and beans are one dataset)."""
        return os.path.realpath(self.data) if os.path.isdir(self.data) else self.data

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


# A host's own settings (derived from the fields' scope): each worker may set its own; not in the sweep key.
HOST_SETTINGS = scoped(TrainConfig, Scope.HOST)


def experiment_name(given: str | None = None) -> str:
    """`given`, else $MLFLOW_EXPERIMENT_NAME, else the project's default experiment."""
    return given or os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT


def model_name(given: str | None, experiment: str) -> str:
    """The registered model's name: `given`, else `<experiment>-resnet18`. Raises ConfigError for a name the
    Model Registry refuses (empty, or with '/' or ':')."""
    name = given if given is not None else registered_model_name(experiment)
    check(bool(name.strip()) and not set(name) & set("/:"), "model_name", name, "a name without '/' or ':'")
    return name
