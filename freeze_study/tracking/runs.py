"""MLflow runs: where they go, how they end, and which runs belong to a sweep.

The store is `MLFLOW_TRACKING_URI` when set, else MLflow's embedded default
(SQLite `mlflow.db` with artifacts under `mlruns/`, both in the working directory).
`mlflow run` hands this process a run it created (`MLFLOW_RUN_ID`); the command line
claims it once with `claim_launcher_run` and passes its id on explicitly.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator

import mlflow
from mlflow.entities import Metric, Run, RunStatus
from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

from freeze_study import errors
from freeze_study.names import ERROR_TAG, FAILED, FINISHED, KILLED, PARENT_RUN_TAG
from freeze_study.text import fits
from freeze_study.tracking.store import check_launcher_store, mark_model_training, use_experiment

LAUNCHER_RUN_ENV = "MLFLOW_RUN_ID"  # set by `mlflow run` for the entry point's process


def claim_launcher_run() -> str | None:
    """The id of the run `mlflow run` created for this process, or None; claimed once.

    The variable is removed, so neither MLflow nor a later run of this process resumes
    that run implicitly: whoever needs it is given the id. Raises StoreError when that run
    is in another store than this process's (a relative URI seen from another folder).
    """
    run_id = os.environ.pop(LAUNCHER_RUN_ENV, None)
    if run_id:
        check_launcher_store(run_id)
    return run_id


def enable_autolog() -> None:
    """MLflow's Lightning autolog: per-epoch metrics (from `LightningModule.log`), optimizer and early-stopping
    params. The best model is logged by `record.model`, not by autolog; TensorBoard's scalars are not copied to
    MLflow (`log_every_n_step=None`), so the Lightning TensorBoard logger adds nothing to the run's metrics.
    Not silent: an autolog failure is a warning (an error in MLflow's autologging test mode, as the tests run)."""
    mlflow.pytorch.autolog(log_models=False, checkpoint=False, log_every_n_step=None, silent=False)


def autolog_safe(optimizer):
    """`optimizer`, with the learning rate left out of what autolog logs from its `defaults`.

    The learning rate is the run's `lr` param already, possibly as `mlflow run -P lr=1e-4`
    recorded it; autolog would log '0.0001' under the same key, and the store would reject its
    whole batch (optimizer name, betas, eps, weight decay with it). `defaults` only serve
    param groups added later, which this study never adds.
    """
    optimizer.defaults.pop("lr", None)
    return optimizer


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
        use_experiment(experiment)
        active = mlflow.start_run(run_name=run_name, tags=tags, log_system_metrics=system_metrics)
    mark_model_training(active.info.experiment_id)
    try:
        yield active
    except BaseException as exc:
        mark_failed(active.info.run_id, exc, quiet=True)
        raise
    else:
        mlflow.end_run(FINISHED)


def log_metrics(run_id: str, values: dict[str, float]) -> None:
    """Log metrics to a run that need not be active (e.g. a sweep's parent)."""
    mlflow.MlflowClient().log_batch(
        run_id, metrics=[Metric(k, float(v), int(time.time() * 1000), 0) for k, v in values.items()]
    )


def mark_failed(run_id: str, exc: BaseException, quiet: bool = False) -> None:
    """Record why a run failed (`error` tag: one line, and a bug's traceback) and end it FAILED, or KILLED
    for Ctrl-C or SIGTERM. `quiet`: a store that cannot record it is a warning, so `exc` is what propagates."""
    try:
        _mark_failed(run_id, exc)
    except Exception as failure:
        if not quiet:
            raise
        warnings.warn(f"could not record why run {run_id} failed: {errors.reason(failure)}", stacklevel=3)
        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            with contextlib.suppress(Exception):  # end_run leaves the run inactive here before it writes
                mlflow.end_run(FAILED)


def error_tag(exc: BaseException) -> str:
    """What a run's `error` tag holds for `exc` (`errors.record`), within MLflow's 8,000 characters per tag."""
    return fits(errors.record(exc), MAX_TAG_VAL_LENGTH, "…")


def _mark_failed(run_id: str, exc: BaseException) -> None:
    if isinstance(exc, SystemExit) and isinstance(exc.__context__, KeyboardInterrupt):
        exc = exc.__context__  # Lightning turns an interrupt into exit(1) after shutting down gracefully
    status = KILLED if isinstance(exc, KeyboardInterrupt) else FAILED
    client = mlflow.MlflowClient()
    client.set_tag(run_id, ERROR_TAG, error_tag(exc))
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


def child_runs(client: mlflow.MlflowClient, parent_id: str, status: str | None = None) -> list[Run]:
    """The runs nested under `parent_id` (optionally only those with `status`), all pages.

    The one definition of "a sweep's child": MLflow's parent tag, in the parent's experiment.
    """
    experiment_id = client.get_run(parent_id).info.experiment_id
    query = f"tags.`{PARENT_RUN_TAG}` = '{parent_id}'"
    if status:
        query += f" and attributes.status = '{status}'"
    runs: list[Run] = []
    token: str | None = None
    while True:  # search_runs pages at 1000 runs
        page = client.search_runs([experiment_id], query, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs
