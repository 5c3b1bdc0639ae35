"""What goes to MLflow and where: the only package that chooses the experiment, starts or ends runs,
or turns on autolog (`runs`), and the one home of what a training run records (`record`)."""

from freeze_study.tracking import record
from freeze_study.tracking.runs import (
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
    use_experiment,
)

__all__ = [
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
]
