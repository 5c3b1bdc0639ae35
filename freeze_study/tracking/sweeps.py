"""A sweep in MLflow: one parent run per sweep key, one nested child run per grid point and attempt.

The parent carries the grid and the shared training config as params, the Optuna study's
name and storage as tags, and how many workers took part; its status follows its children
(RUNNING while points are queued or running, then FINISHED, or FAILED with the reasons).
MLflow is the record of which points are done. Each child names the worker that trained it.
"""

from __future__ import annotations

import time

import mlflow
from mlflow.entities import Metric, Param
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH

import freeze_study.names as N
from freeze_study.config import SweepConfig
from freeze_study.errors import ExpectedError, reason
from freeze_study.text import fits
from freeze_study.tracking.runs import (
    child_runs,
    clear_failure,
    error_tag,
    mark_failed,
    set_status,
)
from freeze_study.tracking.store import StoreError, use_experiment

MAX_RUN_NAME = 250  # MLflow's runs table keeps run names up to 250 characters


def sweep_run_name(cfg: SweepConfig) -> str:
    """'sweep levels=0,1,2,3,4 seeds=42': the parent run's name, cut to MLflow's 250 characters."""
    name = f"sweep levels={','.join(map(str, cfg.levels))} seeds={','.join(map(str, cfg.seeds))}"
    return fits(name, MAX_RUN_NAME, f"… ({len(cfg.seeds)} seeds)")


def experiment_of(cfg: SweepConfig, launcher_run_id: str | None = None) -> str:
    """The id of the sweep's experiment: that of the run `mlflow run -e sweep` made (`launcher_run_id`), else
    `cfg`'s, created (and tagged as model training) when it does not exist yet."""
    client = mlflow.MlflowClient()
    if launcher_run_id:
        return client.get_run(launcher_run_id).info.experiment_id
    return use_experiment(cfg.train.experiment_name())


def find_or_create_parent(cfg: SweepConfig, launcher_run_id: str | None = None) -> str:
    """The sweep's parent run id: the oldest parent with the same key, else a new one.

    Call it from one process at a time (the planner, under the study's lock). Under
    `mlflow run -e sweep` the run it created (`launcher_run_id`) becomes the parent of a new
    sweep, or is tagged with the parent it joined. A new parent is created with its tags in
    one call, so a crash never leaves a parent that cannot be found again.
    """
    client = mlflow.MlflowClient()
    experiment_id = experiment_of(cfg, launcher_run_id)
    found = client.search_runs(
        [experiment_id],
        f"tags.`{N.SWEEP_KEY_TAG}` = '{cfg.key()}' and tags.`{N.ROLE_TAG}` = '{N.SWEEP_ROLE}'",
        order_by=["start_time ASC"],
    )
    if found:
        if launcher_run_id:
            client.set_tag(launcher_run_id, N.RESUMED_TAG, found[0].info.run_id)
        return found[0].info.run_id
    name = sweep_run_name(cfg)
    tags = {N.RUN_NAME_TAG: name, N.SWEEP_KEY_TAG: cfg.key(), N.ROLE_TAG: N.SWEEP_ROLE}
    if not launcher_run_id:
        return client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    for key, value in tags.items():
        client.set_tag(launcher_run_id, key, value)
    return launcher_run_id


def joined(launcher_run_id: str | None, parent_id: str) -> None:
    """Tag the run `mlflow run -e sweep` made for a worker that joined the sweep of `parent_id`."""
    if launcher_run_id and launcher_run_id != parent_id:
        mlflow.MlflowClient().set_tag(launcher_run_id, N.RESUMED_TAG, parent_id)


def describe_parent(parent_id: str, cfg: SweepConfig, study_name: str, storage_shown: str) -> None:
    """The grid and shared config as params within MLflow's limits (those `mlflow run` logged already are kept)
    and the whole grid as an artifact, written first: StoreError when this client cannot write the parent's
    artifacts, before any point trains. The study's name and storage (`storage_shown`: its URL without the
    password) as tags."""
    client = mlflow.MlflowClient()
    try:
        client.log_dict(parent_id, {"levels": list(cfg.levels), "seeds": list(cfg.seeds)}, N.GRID_ARTIFACT)
    except Exception as exc:  # noqa: BLE001 - OSError, HTTP errors, boto errors: all mean "cannot write here"
        where = client.get_run(parent_id).info.artifact_uri
        raise StoreError(
            f"cannot write the artifacts of sweep run {parent_id} to {where} ({reason(exc)}); make that location "
            "writable for this user, or point the experiment at one that is (a tracking server: "
            "mlflow server --artifacts-destination DIR serves them for its clients)"
        ) from None
    client.set_tag(parent_id, N.STUDY_NAME_TAG, study_name)
    client.set_tag(parent_id, N.STORAGE_TAG, storage_shown)
    existing = client.get_run(parent_id).data.params
    params = {
        N.LEVELS_PARAM: ",".join(map(str, cfg.levels)),
        N.SEEDS_PARAM: fits(",".join(map(str, cfg.seeds)), MAX_PARAM_VAL_LENGTH, f"… ({len(cfg.seeds)} seeds)"),
        N.GRID_SIZE_PARAM: str(len(cfg.grid)),
        **cfg.shared_params(),
    }
    client.log_batch(parent_id, params=[Param(k, v) for k, v in params.items() if k not in existing])


def child_tags(point_name: str, study_name: str, trial_number: int, worker: str) -> dict[str, str]:
    """The tags that make a run a sweep's child for grid point `point_name`, trained by `worker` (host:pid)."""
    return {
        N.ROLE_TAG: N.TRIAL_ROLE,
        N.GRID_POINT_TAG: point_name,
        N.STUDY_NAME_TAG: study_name,
        N.TRIAL_NUMBER_TAG: str(trial_number),
        N.WORKER_TAG: worker,
    }


def grid_point(run) -> tuple[int, int]:
    """(freeze, seed) of a child run (an MLflow `Run`), read from its params: the one place they are parsed."""
    params = run.data.params
    return int(float(params[N.FREEZE_PARAM])), int(float(params[N.SEED_PARAM]))


def log_summary(parent_id: str, metrics: dict[str, float], note: str) -> None:
    """Log a sweep's summary metrics on its parent at step 0 (the UI's chart view draws them as bars with their
    values) and set its description (Markdown)."""
    client = mlflow.MlflowClient()
    now = int(time.time() * 1000)
    client.log_batch(parent_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
    client.set_tag(parent_id, N.NOTE_TAG, note)


def latest_sweep(client: mlflow.MlflowClient, experiment_name: str) -> str | None:
    """The id of the newest sweep parent run (by start time) in the experiment, or None."""
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        f"tags.`{N.ROLE_TAG}` = '{N.SWEEP_ROLE}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def finished_points(parent_id: str) -> set[str | None]:
    """Grid-point names that have a FINISHED child run under the parent (None: a child without the tag)."""
    client = mlflow.MlflowClient()
    return {r.data.tags.get(N.GRID_POINT_TAG) for r in child_runs(client, parent_id, N.FINISHED)}


class SweepFailed(ExpectedError):
    """Grid points failed; each one's reason is in its child run's `error` tag."""


def running_children(parent_id: str) -> dict[int, str]:
    """Optuna trial number -> run id of the parent's children that are RUNNING."""
    runs = child_runs(mlflow.MlflowClient(), parent_id, N.RUNNING)
    return {int(r.data.tags[N.TRIAL_NUMBER_TAG]): r.info.run_id for r in runs if N.TRIAL_NUMBER_TAG in r.data.tags}


def end_child(run_id: str, status: str, why: str) -> None:
    """End a child run another process left behind (its worker lost), with the reason in its `error` tag."""
    client = mlflow.MlflowClient()
    client.set_tag(run_id, N.ERROR_TAG, fits(why, MAX_TAG_VAL_LENGTH, "…"))
    client.set_terminated(run_id, status)


def settle_parent(parent_id: str, busy: bool, failures: dict[str, str], grid_size: int) -> bool:
    """Set the parent's status from its points and record how many workers took part.

    RUNNING while points are queued or running (`busy`); else FINISHED (an earlier
    failure's reason removed) or, when points failed, FAILED with their reasons. Returns
    True when this call ended the run (it was not already ended with that status).
    """
    client = mlflow.MlflowClient()
    run = client.get_run(parent_id)
    workers = {r.data.tags.get(N.WORKER_TAG) for r in child_runs(client, parent_id)} - {None}
    if workers and run.data.metrics.get(N.WORKERS_METRIC) != len(workers):
        client.log_metric(parent_id, N.WORKERS_METRIC, len(workers))
    if busy:
        if run.info.status != N.RUNNING:
            set_status(parent_id, N.RUNNING)
        return False
    if failures:
        why = "; ".join(f"{p}: {r}" for p, r in failures.items())
        failed = SweepFailed(f"{len(failures)} of {grid_size} grid points failed: {why}")
        if run.info.status == N.FAILED and run.data.tags.get(N.ERROR_TAG) == error_tag(failed):
            return False
        mark_failed(parent_id, failed)
        return True
    if run.info.status == N.FINISHED and N.ERROR_TAG not in run.data.tags:
        return False
    clear_failure(parent_id)
    set_status(parent_id, N.FINISHED)
    return True
