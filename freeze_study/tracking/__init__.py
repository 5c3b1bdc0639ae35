"""What goes to MLflow and where: the only package that chooses the experiment, starts or ends runs,
or turns on autolog (`runs`), checks the store can be used (`store`), the one home of what a training
run records (`record`), a sweep's parent and children (`sweeps`), and how a worker reaches a shared
tracking server (`server`)."""

from freeze_study.tracking import record
from freeze_study.tracking.runs import (
    autolog_safe,
    child_runs,
    claim_launcher_run,
    clear_failure,
    default_optuna_storage,
    enable_autolog,
    log_metrics,
    mark_failed,
    redact,
    run,
    set_status,
)
from freeze_study.tracking.server import use_tracking_uri, use_worker_http_defaults
from freeze_study.tracking.store import StoreError, use_experiment

__all__ = [
    "StoreError",
    "autolog_safe",
    "child_runs",
    "claim_launcher_run",
    "clear_failure",
    "default_optuna_storage",
    "enable_autolog",
    "log_metrics",
    "mark_failed",
    "record",
    "redact",
    "run",
    "set_status",
    "use_experiment",
    "use_tracking_uri",
    "use_worker_http_defaults",
]
