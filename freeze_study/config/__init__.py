"""Everything a run, a sweep or a benchmark can be configured with, its defaults and its help: the one source
of truth. Frozen dataclasses (`train`, `sweep`, `bench`) whose fields declare their flag's help and their scope
(`fields`): the study's settings apart from a host's, so a worker's own settings are not part of a sweep's
identity."""

from freeze_study.config.bench import BenchConfig
from freeze_study.config.fields import (
    INT_MAX,
    MAX_EXPERIMENT_NAME,
    MAX_STUDY_NAME,
    SEED_MAX,
    ConfigError,
    Scope,
    option,
    scoped,
    whole_field,
    whole_list,
)
from freeze_study.config.sweep import SweepConfig, WorkerConfig
from freeze_study.config.train import (
    ACCELERATORS,
    AUGMENTATIONS,
    CACHE_ENV,
    EXPERIMENT_ENV,
    HOST_SETTINGS,
    MEMORY_FORMATS,
    PRECISIONS,
    SAMPLING_ENV,
    SWITCH,
    Precision,
    TrainConfig,
    experiment_name,
    model_name,
)

__all__ = [
    "ACCELERATORS",
    "AUGMENTATIONS",
    "CACHE_ENV",
    "EXPERIMENT_ENV",
    "HOST_SETTINGS",
    "INT_MAX",
    "MAX_EXPERIMENT_NAME",
    "MAX_STUDY_NAME",
    "MEMORY_FORMATS",
    "PRECISIONS",
    "SAMPLING_ENV",
    "SEED_MAX",
    "SWITCH",
    "BenchConfig",
    "ConfigError",
    "Precision",
    "Scope",
    "SweepConfig",
    "TrainConfig",
    "WorkerConfig",
    "experiment_name",
    "model_name",
    "option",
    "scoped",
    "whole_field",
    "whole_list",
]
