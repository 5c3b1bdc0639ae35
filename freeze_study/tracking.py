"""What goes to MLflow and where: the only module that chooses the experiment or turns on autolog.

The store is `MLFLOW_TRACKING_URI` when set, else MLflow's embedded default
(SQLite `mlflow.db` with artifacts under `mlruns/`, both in the working directory).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import mlflow
from mlflow.entities import RunStatus

ERROR_TAG = "error"  # the reason a run FAILED, set on the run itself


def use_experiment(name: str) -> None:
    """Select the experiment, unless `mlflow run` already created the run (MLFLOW_RUN_ID)."""
    if not os.environ.get("MLFLOW_RUN_ID"):
        mlflow.set_experiment(name)


def enable_autolog() -> None:
    """MLflow's Lightning autolog; the best model is logged by `train`, not by autolog."""
    mlflow.pytorch.autolog(log_models=False, checkpoint=False, silent=True)


def disable_autolog() -> None:
    mlflow.pytorch.autolog(disable=True)


@contextlib.contextmanager
def run(run_name: str | None = None, nested: bool = False,
        tags: dict[str, str] | None = None) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run that ends FINISHED, or FAILED (KILLED on Ctrl-C) with the reason in the `error` tag.

    Inside `mlflow run` it continues the run that `mlflow run` created, so one
    training makes one run.
    """
    resume = bool(os.environ.get("MLFLOW_RUN_ID")) and not nested
    active = mlflow.start_run(run_name=None if resume else run_name, nested=nested, tags=tags)
    try:
        yield active
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        mark_failed(active.info.run_id, exc, RunStatus.KILLED if interrupted else RunStatus.FAILED)
        raise
    else:
        mlflow.end_run()


def log_new_params(params: dict[str, str]) -> None:
    """Log params to the active run, skipping keys it already has (`mlflow run` logs its -P values as typed)."""
    run_id = mlflow.active_run().info.run_id
    existing = mlflow.MlflowClient().get_run(run_id).data.params
    mlflow.log_params({k: v for k, v in params.items() if k not in existing})


def mark_failed(run_id: str, exc: BaseException, status: int = RunStatus.FAILED) -> None:
    """Record why a run failed and end it (if it is the active run) with that status."""
    client = mlflow.MlflowClient()
    client.set_tag(run_id, ERROR_TAG, f"{type(exc).__name__}: {exc}"[:5000])
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(RunStatus.to_string(status))
    else:
        client.set_terminated(run_id, RunStatus.to_string(status))


def fail_launcher_run(exc: BaseException) -> None:
    """Under `mlflow run`, record an error raised before training on the run it created."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if run_id:
        mark_failed(run_id, exc)
