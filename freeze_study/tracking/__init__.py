"""What goes to MLflow and where: the only package that chooses the experiment, starts or ends runs,
or turns on autolog (`runs`), the one home of what a training run records (`record`), what a sweep's
parent shows (`sweeps`, `sweep_summary`) and the MLflow UI's addresses (`ui`)."""

from freeze_study.tracking import record, ui
from freeze_study.tracking.runs import (
    child_runs,
    claim_launcher_run,
    clear_failure,
    default_optuna_storage,
    enable_autolog,
    mark_failed,
    mark_model_training,
    redact,
    run,
    set_status,
    use_experiment,
)

__all__ = [
    "child_runs",
    "claim_launcher_run",
    "clear_failure",
    "default_optuna_storage",
    "enable_autolog",
    "mark_failed",
    "mark_model_training",
    "record",
    "redact",
    "run",
    "set_status",
    "ui",
    "use_experiment",
]
