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

from freeze_study.config import PARENT_RUN_TAG

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
def run(run_name: str | None = None, parent_run_id: str | None = None,
        tags: dict[str, str] | None = None) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run that ends FINISHED, or FAILED (KILLED on Ctrl-C) with the reason in the `error` tag.

    Inside `mlflow run` it continues the run that `mlflow run` created, so one
    training makes one run. A child run goes into its parent's experiment.
    """
    if parent_run_id:
        experiment_id = mlflow.MlflowClient().get_run(parent_run_id).info.experiment_id
        active = mlflow.start_run(run_name=run_name, experiment_id=experiment_id,
                                  parent_run_id=parent_run_id, tags=tags)
    else:
        resume = bool(os.environ.get("MLFLOW_RUN_ID"))
        active = mlflow.start_run(run_name=None if resume else run_name, tags=tags)
    try:
        yield active
    except BaseException as exc:
        mark_failed(active.info.run_id, exc)
        raise
    else:
        mlflow.end_run()


def log_new_params(params: dict[str, str]) -> None:
    """Log params to the active run, skipping keys it already has (`mlflow run` logs its -P values as typed)."""
    run_id = mlflow.active_run().info.run_id
    existing = mlflow.MlflowClient().get_run(run_id).data.params
    mlflow.log_params({k: v for k, v in params.items() if k not in existing})


def mark_failed(run_id: str, exc: BaseException) -> None:
    """Record why a run failed and end it FAILED (KILLED for Ctrl-C or SIGTERM)."""
    if isinstance(exc, SystemExit) and isinstance(exc.__context__, KeyboardInterrupt):
        exc = exc.__context__  # Lightning turns an interrupt into exit(1) after shutting down gracefully
    status = RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
    client = mlflow.MlflowClient()
    client.set_tag(run_id, ERROR_TAG, f"{type(exc).__name__}: {exc}"[:5000])
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(RunStatus.to_string(status))
    else:
        client.set_terminated(run_id, RunStatus.to_string(status))


def fail_launcher_run(exc: BaseException) -> None:
    """Under `mlflow run`, record an error raised before any run started on the run it created."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if run_id:
        mark_failed(run_id, exc)


def take_launcher_run() -> str | None:
    """The run `mlflow run` created for this process, claimed once (later runs do not resume it)."""
    return os.environ.pop("MLFLOW_RUN_ID", None)


def child_runs(client: mlflow.MlflowClient, parent_id: str, status: str | None = None) -> list:
    """The runs nested under `parent_id` (optionally only those with `status`), all pages."""
    experiment_id = client.get_run(parent_id).info.experiment_id
    query = f"tags.`{PARENT_RUN_TAG}` = '{parent_id}'"
    if status:
        query += f" and attributes.status = '{status}'"
    runs, token = [], None
    while True:  # search_runs pages at 1000 runs
        page = client.search_runs([experiment_id], query, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def default_optuna_storage() -> str:
    """`optuna.db` beside a SQLite MLflow store, else in the working directory (one writer at a time)."""
    uri = mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///"):
        return f"sqlite:///{os.path.join(os.path.dirname(uri[len('sqlite:///'):]), 'optuna.db')}"
    return "sqlite:///optuna.db"


def redact(url: str) -> str:
    """A storage URL without its password, fit for a tag."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL (e.g. a journal file)
        return url
