"""A sweep in MLflow: one parent run per sweep key, one nested child run per grid point.

The parent carries the grid and the shared training config as params, and the Optuna
study's name and storage as tags; MLflow is the record of which points are done.
"""

from __future__ import annotations

import mlflow
from mlflow.entities import Param
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

import freeze_study.names as N
from freeze_study.config import SweepConfig
from freeze_study.errors import ExpectedError, reason
from freeze_study.text import fits
from freeze_study.tracking.runs import child_runs, clear_failure, mark_failed, redact, set_status, use_experiment
from freeze_study.tracking.store import StoreError

MAX_RUN_NAME = 250  # MLflow's runs table keeps run names up to 250 characters


def sweep_run_name(cfg: SweepConfig) -> str:
    """'sweep levels=0,1,2,3,4 seeds=42': the parent run's name, cut to MLflow's 250 characters."""
    name = f"sweep levels={','.join(map(str, cfg.levels))} seeds={','.join(map(str, cfg.seeds))}"
    return fits(name, MAX_RUN_NAME, f"… ({len(cfg.seeds)} seeds)")


def find_or_create_parent(cfg: SweepConfig, launcher_run_id: str | None = None) -> str:
    """The sweep's parent run id, set RUNNING: the oldest parent with the same key, else a new one.

    Under `mlflow run -e sweep` the run it created (`launcher_run_id`) becomes the parent
    of a new sweep, or is tagged with the older parent it resumed.
    """
    client = mlflow.MlflowClient()
    if launcher_run_id:
        experiment_id = client.get_run(launcher_run_id).info.experiment_id
    else:
        use_experiment(cfg.train.experiment_name())
        experiment_id = client.get_experiment_by_name(cfg.train.experiment_name()).experiment_id
    found = client.search_runs(
        [experiment_id],
        f"tags.`{N.SWEEP_KEY_TAG}` = '{cfg.key()}' and tags.`{N.ROLE_TAG}` = '{N.SWEEP_ROLE}'",
        order_by=["start_time ASC"],
    )
    if found:
        parent_id = found[0].info.run_id
        set_status(parent_id, N.RUNNING)
        if launcher_run_id:
            client.set_tag(launcher_run_id, N.RESUMED_TAG, parent_id)
        return parent_id
    name = sweep_run_name(cfg)
    parent_id = launcher_run_id or client.create_run(experiment_id, run_name=name).info.run_id
    client.set_tag(parent_id, N.RUN_NAME_TAG, name)
    client.set_tag(parent_id, N.SWEEP_KEY_TAG, cfg.key())
    client.set_tag(parent_id, N.ROLE_TAG, N.SWEEP_ROLE)
    return parent_id


def describe_parent(parent_id: str, cfg: SweepConfig, study_name: str, storage: str) -> None:
    """The grid and shared config as params within MLflow's limits (those `mlflow run` logged already are kept)
    and the whole grid as an artifact, written first: StoreError when this client cannot write the parent's
    artifacts, before any point trains. The study's name and storage as tags."""
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
    client.set_tag(parent_id, N.STORAGE_TAG, redact(storage))
    existing = client.get_run(parent_id).data.params
    params = {
        N.LEVELS_PARAM: ",".join(map(str, cfg.levels)),
        N.SEEDS_PARAM: fits(",".join(map(str, cfg.seeds)), MAX_PARAM_VAL_LENGTH, f"… ({len(cfg.seeds)} seeds)"),
        N.GRID_SIZE_PARAM: str(len(cfg.grid)),
        **cfg.shared_params(),
    }
    client.log_batch(parent_id, params=[Param(k, v) for k, v in params.items() if k not in existing])


def child_tags(point_name: str, study_name: str, trial_number: int) -> dict[str, str]:
    """The tags that make a run a sweep's child for grid point `point_name`."""
    return {
        N.ROLE_TAG: N.TRIAL_ROLE,
        N.GRID_POINT_TAG: point_name,
        N.STUDY_NAME_TAG: study_name,
        N.TRIAL_NUMBER_TAG: str(trial_number),
    }


def finished_points(parent_id: str) -> set[str]:
    """Grid-point names that have a FINISHED child run under the parent."""
    client = mlflow.MlflowClient()
    return {r.data.tags.get(N.GRID_POINT_TAG) for r in child_runs(client, parent_id, N.FINISHED)}


class SweepFailed(ExpectedError):
    """Grid points failed; each one's reason is in its child run's `error` tag."""


def end_parent(parent_id: str, failures: dict[str, str], attempted: int) -> None:
    """FINISHED (an earlier failure's reason removed) or, when points failed, FAILED with their reasons."""
    if failures:
        why = "; ".join(f"{p}: {r}" for p, r in failures.items())
        mark_failed(parent_id, SweepFailed(f"{len(failures)} of {attempted} grid points failed: {why}"))
    else:
        clear_failure(parent_id)
        set_status(parent_id, N.FINISHED)
