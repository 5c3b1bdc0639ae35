"""The freeze grid: one MLflow parent run, one nested child per (freeze level, seed), driven by Optuna.

`freeze-study sweep --levels 0,1,2,3,4 --seeds 42` (or `make sweep`). Running the same
command again resumes: MLflow is the record of what is done, so only grid points without
a FINISHED child run are trained, failed points are retried, and the parent run is reused.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import mlflow
import optuna
from mlflow.entities import RunStatus
from optuna.trial import TrialState

import freeze_study.config as C
from freeze_study import tracking
from freeze_study.config import SweepConfig
from freeze_study.train import train


@dataclass(frozen=True)
class SweepResult:
    """How a sweep invocation ended."""

    parent_run_id: str
    study_name: str
    finished: int  # grid points with a FINISHED child, this time or before
    trained: int  # grid points trained by this invocation
    failures: dict[str, str]  # grid point -> reason


def run_sweep(cfg: SweepConfig, say: Callable[[str], None] = print) -> SweepResult:
    """Train every grid point that has no FINISHED child run yet; failures do not stop the others."""
    client = mlflow.MlflowClient()
    study_name = cfg.study_name or f"{C.DEFAULT_EXPERIMENT}-{cfg.key()}"
    storage = cfg.storage or tracking.default_optuna_storage()
    parent_id = _open_parent(client, cfg, study_name, storage)
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        space = {"freeze": list(cfg.levels), "seed": list(cfg.seeds)}
        study = optuna.create_study(study_name=study_name, storage=storage, load_if_exists=True,
                                    direction="maximize", sampler=optuna.samplers.GridSampler(space, seed=0))
        study.set_user_attr("mlflow_parent_run_id", parent_id)
        study.set_user_attr("mlflow_experiment_id", client.get_run(parent_id).info.experiment_id)
        done = finished_points(client, parent_id)
        todo = [p for p in cfg.grid if C.grid_point_name(*p) not in done]
        say(f"sweep {parent_id} (Optuna study {study_name}): {len(cfg.grid)} grid points, "
            f"{len(cfg.grid) - len(todo)} already finished, {len(todo)} to run")
        failures = _run_points(client, cfg, study, parent_id, todo, say)
    except BaseException as exc:
        tracking.mark_failed(parent_id, exc)
        raise
    finished = len(finished_points(client, parent_id))
    if failures:
        reason = "; ".join(f"{p}: {r}" for p, r in failures.items())
        tracking.mark_failed(parent_id, RuntimeError(f"{len(failures)} of {len(todo)} grid points failed: {reason}"))
    else:
        if tracking.ERROR_TAG in client.get_run(parent_id).data.tags:
            client.delete_tag(parent_id, tracking.ERROR_TAG)  # an earlier failure has been retried
        client.set_terminated(parent_id, "FINISHED")
    return SweepResult(parent_id, study_name, finished, len(todo) - len(failures), failures)


def _run_points(client: mlflow.MlflowClient, cfg: SweepConfig, study: optuna.Study, parent_id: str,
                todo: list[tuple[int, int]], say: Callable[[str], None]) -> dict[str, str]:
    for freeze, seed in todo:
        study.enqueue_trial({"freeze": freeze, "seed": seed})
    pending = {C.grid_point_name(*p) for p in todo}
    failures: dict[str, str] = {}
    seconds: list[float] = []
    while pending:
        trial = study.ask()  # enqueued points first (GridSampler validates them against the grid)
        point = (trial.suggest_categorical("freeze", list(cfg.levels)),
                 trial.suggest_categorical("seed", list(cfg.seeds)))
        name = C.grid_point_name(*point)
        if name not in pending or name in finished_points(client, parent_id):
            study.tell(trial, state=TrialState.PRUNED)  # left over from an interrupted run, or done elsewhere
            pending.discard(name)
            continue
        pending.discard(name)
        start = time.perf_counter()
        try:
            result = train(dataclasses.replace(cfg.train, freeze=point[0], seed=point[1]), parent_id, tags={
                C.ROLE_TAG: C.TRIAL_ROLE, C.GRID_POINT_TAG: name, C.STUDY_NAME_TAG: study.study_name,
                C.TRIAL_NUMBER_TAG: str(trial.number)})
        except Exception as exc:  # noqa: BLE001 - one failed point must not stop the grid
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            trial.set_user_attr("fail_reason", reason)
            study.tell(trial, state=TrialState.FAIL)
            failures[name] = reason
            say(f"[{len(todo) - len(pending)}/{len(todo)}] {name} FAILED: {reason}")
            continue
        seconds.append(time.perf_counter() - start)
        trial.set_user_attr("mlflow_run_id", result.run_id)
        trial.set_user_attr(C.TEST_ACC, result.test_acc)
        study.tell(trial, result.val_acc)
        left = sum(seconds) / len(seconds) * len(pending)
        say(f"[{len(todo) - len(pending)}/{len(todo)}] {name} done: val_acc={result.val_acc:.4f} "
            f"test_acc={result.test_acc:.4f} in {seconds[-1]:.1f}s, about {_duration(left)} left")
    return failures


def _open_parent(client: mlflow.MlflowClient, cfg: SweepConfig, study_name: str, storage: str) -> str:
    """The sweep's parent run: reused if one with the same key exists, else created; set RUNNING."""
    key = cfg.key()
    launcher = tracking.take_launcher_run()  # `mlflow run -e sweep` created one
    tracking.use_experiment(cfg.train.experiment_name())
    experiment_id = (client.get_run(launcher).info.experiment_id if launcher
                     else mlflow.get_experiment_by_name(cfg.train.experiment_name()).experiment_id)
    found = client.search_runs([experiment_id], f"tags.`{C.SWEEP_KEY_TAG}` = '{key}' "
                               f"and tags.`{C.ROLE_TAG}` = '{C.SWEEP_ROLE}'", order_by=["start_time ASC"])
    if found:
        parent_id = found[0].info.run_id
        client.update_run(parent_id, status="RUNNING")
        if launcher and launcher != parent_id:
            client.set_tag(launcher, "freeze_study.resumed_sweep", parent_id)
    else:
        run_name = f"sweep levels={','.join(map(str, cfg.levels))} seeds={','.join(map(str, cfg.seeds))}"
        parent_id = launcher or client.create_run(experiment_id, run_name=run_name).info.run_id
        client.set_tag(parent_id, "mlflow.runName", run_name)
    client.set_tag(parent_id, C.ROLE_TAG, C.SWEEP_ROLE)
    client.set_tag(parent_id, C.SWEEP_KEY_TAG, key)
    client.set_tag(parent_id, C.STUDY_NAME_TAG, study_name)
    client.set_tag(parent_id, "optuna.storage", tracking.redact(storage))
    existing = client.get_run(parent_id).data.params
    params = {"levels": ",".join(map(str, cfg.levels)), "seeds": ",".join(map(str, cfg.seeds)),
              "grid_size": str(len(cfg.grid)), **cfg.shared_params()}
    client.log_batch(parent_id, params=[mlflow.entities.Param(k, v) for k, v in params.items()
                                        if k not in existing])
    return parent_id


def finished_points(client: mlflow.MlflowClient, parent_id: str) -> set[str]:
    """Grid-point names that have a FINISHED child run under the parent."""
    experiment_id = client.get_run(parent_id).info.experiment_id
    runs = client.search_runs([experiment_id], f"tags.`{C.PARENT_RUN_TAG}` = '{parent_id}' "
                              f"and attributes.status = '{RunStatus.to_string(RunStatus.FINISHED)}'")
    return {r.data.tags.get(C.GRID_POINT_TAG) for r in runs}


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
