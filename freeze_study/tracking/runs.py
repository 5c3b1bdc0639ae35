"""MLflow runs: where they go, how they end, and which runs belong to a sweep.

The store is `MLFLOW_TRACKING_URI` when set, else MLflow's embedded default
(SQLite `mlflow.db` with artifacts under `mlruns/`, both in the working directory).
`mlflow run` hands this process a run it created (`MLFLOW_RUN_ID`); the command line
claims it once with `claim_launcher_run` and passes its id on explicitly.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import mlflow
from mlflow.entities import RunStatus

from freeze_study.names import (
    ERROR_TAG,
    EXPERIMENT_KIND_TAG,
    FAILED,
    FINISHED,
    KILLED,
    MODEL_TRAINING_KIND,
    PARENT_RUN_TAG,
)

LAUNCHER_RUN_ENV = "MLFLOW_RUN_ID"  # set by `mlflow run` for the entry point's process


def claim_launcher_run() -> str | None:
    """The id of the run `mlflow run` created for this process, or None; claimed once.

    The variable is removed, so neither MLflow nor a later run of this process resumes
    that run implicitly: whoever needs it is given the id.
    """
    return os.environ.pop(LAUNCHER_RUN_ENV, None)


def use_experiment(name: str) -> None:
    """Make `name` the active experiment (created if missing), tagged as model training."""
    mark_model_training(mlflow.set_experiment(name).experiment_id)


def mark_model_training(experiment_id: str) -> None:
    """Tag the experiment as model development (`mlflow.experimentKind`) unless someone chose its kind.

    The MLflow 3 UI also remembers a per-browser "GenAI / Model training" switch that wins
    over this tag: the addresses in `tracking.ui` carry `workflowType=machine_learning`.
    """
    client = mlflow.MlflowClient()
    kind = client.get_experiment(experiment_id).tags.get(EXPERIMENT_KIND_TAG, "")
    if not kind or kind.endswith("_inferred"):  # unset, or the UI's own guess
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)


def enable_autolog() -> None:
    """MLflow's Lightning autolog: per-epoch metrics (from `LightningModule.log`), optimizer and early-stopping
    params. The best model is logged by `record.model`, not by autolog; TensorBoard's scalars are not copied to
    MLflow (`log_every_n_step=None`), so the Lightning TensorBoard logger adds nothing to the run's metrics."""
    mlflow.pytorch.autolog(log_models=False, checkpoint=False, log_every_n_step=None, silent=True)


@contextlib.contextmanager
def run(
    run_name: str,
    experiment: str,
    parent_run_id: str | None = None,
    launcher_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    system_metrics: bool = True,
) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run that ends FINISHED, or FAILED (KILLED on Ctrl-C or SIGTERM) with the reason in `error`.

    A child run (`parent_run_id`) goes into its parent's experiment; `launcher_run_id`
    (from `mlflow run`) is continued, keeping its name and experiment, so one training
    makes one run; otherwise a new run named `run_name` starts in `experiment`.
    With `system_metrics`, MLflow's monitor logs `system/*` metrics while the run is active.
    """
    if parent_run_id:
        experiment_id = mlflow.MlflowClient().get_run(parent_run_id).info.experiment_id
        active = mlflow.start_run(
            run_name=run_name,
            experiment_id=experiment_id,
            parent_run_id=parent_run_id,
            tags=tags,
            log_system_metrics=system_metrics,
        )
    elif launcher_run_id:
        active = mlflow.start_run(run_id=launcher_run_id, tags=tags, log_system_metrics=system_metrics)
    else:
        mlflow.set_experiment(experiment)
        active = mlflow.start_run(run_name=run_name, tags=tags, log_system_metrics=system_metrics)
    mark_model_training(active.info.experiment_id)
    try:
        yield active
    except BaseException as exc:
        mark_failed(active.info.run_id, exc)
        raise
    else:
        mlflow.end_run(FINISHED)


def mark_failed(run_id: str, exc: BaseException) -> None:
    """Record why a run failed (`error` tag) and end it FAILED, or KILLED for Ctrl-C or SIGTERM."""
    if isinstance(exc, SystemExit) and isinstance(exc.__context__, KeyboardInterrupt):
        exc = exc.__context__  # Lightning turns an interrupt into exit(1) after shutting down gracefully
    status = KILLED if isinstance(exc, KeyboardInterrupt) else FAILED
    client = mlflow.MlflowClient()
    client.set_tag(run_id, ERROR_TAG, f"{type(exc).__name__}: {exc}"[:5000])
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(status)
    else:
        client.set_terminated(run_id, status)


def clear_failure(run_id: str) -> None:
    """Remove the `error` tag of an earlier failure that has since been retried."""
    client = mlflow.MlflowClient()
    if ERROR_TAG in client.get_run(run_id).data.tags:
        client.delete_tag(run_id, ERROR_TAG)


def set_status(run_id: str, status: str) -> None:
    """Set a run's status: RUNNING again (`update_run`) or a terminal status (`set_terminated`)."""
    client = mlflow.MlflowClient()
    if RunStatus.is_terminated(RunStatus.from_string(status)):
        client.set_terminated(run_id, status)
    else:
        client.update_run(run_id, status=status)


def child_runs(client: mlflow.MlflowClient, parent_id: str, status: str | None = None) -> list:
    """The runs nested under `parent_id` (optionally only those with `status`), all pages.

    The one definition of "a sweep's child": MLflow's parent tag, in the parent's experiment.
    """
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
        return f"sqlite:///{os.path.join(os.path.dirname(uri[len('sqlite:///') :]), 'optuna.db')}"
    return "sqlite:///optuna.db"


def redact(url: str) -> str:
    """A storage URL without its password, fit for a tag."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL (e.g. a journal file)
        return url
