"""What goes to MLflow and where: the only package that chooses the experiment, starts or ends runs,
or turns on autolog (`runs`), checks the store can be used (`store`), the one home of what a training
run records (`record`), a sweep's parent and children and its summary logged on the parent (`sweeps`),
how a worker reaches a shared tracking server (`server`) and the MLflow UI's addresses (`ui`), the model
registry's versions and aliases (`registry`), and logged or registered models read back without leaving a copy
behind (`models`)."""

from freeze_study.tracking import record, registry, sweeps, ui
from freeze_study.tracking.models import downloaded_model, quiet_downloads
from freeze_study.tracking.runs import (
    autolog_safe,
    child_runs,
    claim_launcher_run,
    clear_failure,
    enable_autolog,
    log_metrics,
    mark_failed,
    run,
    set_status,
)
from freeze_study.tracking.server import use_tracking_uri, use_worker_http_defaults
from freeze_study.tracking.store import StoreError, mark_model_training, use_experiment

__all__ = [
    "StoreError",
    "autolog_safe",
    "child_runs",
    "claim_launcher_run",
    "clear_failure",
    "downloaded_model",
    "enable_autolog",
    "log_metrics",
    "mark_failed",
    "mark_model_training",
    "quiet_downloads",
    "record",
    "registry",
    "run",
    "set_status",
    "sweeps",
    "ui",
    "use_experiment",
    "use_tracking_uri",
    "use_worker_http_defaults",
]
