"""The freeze grid: one MLflow parent run, one nested child per (freeze level, seed), driven by Optuna.

`freeze-study sweep --levels 0,1,2,3,4 --seeds 42` (or `make sweep`). Running the same
command again resumes: MLflow is the record of what is done, so only grid points without
a FINISHED child run are trained, failed points are retried, and the parent run is reused.
One worker per sweep: two processes on the same sweep at once may train a point twice.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import mlflow
import optuna
from mlflow.entities import Param, RunStatus
from optuna.trial import TrialState

import freeze_study.config as C
from freeze_study import tracking
from freeze_study.config import SweepConfig
from freeze_study.train import train

FINISHED, RUNNING = RunStatus.to_string(RunStatus.FINISHED), RunStatus.to_string(RunStatus.RUNNING)
STORAGE_TAG = "optuna.storage"  # on the parent: where the study lives (password hidden)
RESUMED_TAG = "freeze_study.resumed_sweep"  # on an `mlflow run -e sweep` run that resumed an older parent


@dataclass(frozen=True)
class SweepResult:
    """How a sweep invocation ended."""

    parent_run_id: str
    study_name: str
    finished: int  # grid points with a FINISHED child, this time or before
    trained: int  # grid points trained (and finished) by this invocation
    failures: dict[str, str]  # grid point -> reason


class _EnqueuedGrid(optuna.samplers.GridSampler):
    """The grid as Optuna's GridSampler; which points are left is decided from MLflow and enqueued,
    so the sampler must not stop the study or look up grid ids that enqueued trials do not have."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def run_sweep(cfg: SweepConfig, say: Callable[[str], None] = print) -> SweepResult:
    """Train every grid point that has no FINISHED child run yet; failures do not stop the others."""
    client = mlflow.MlflowClient()
    storage = cfg.storage or tracking.default_optuna_storage()
    parent_id = _find_or_create_parent(client, cfg)
    try:
        experiment_id = client.get_run(parent_id).info.experiment_id
        study_name = cfg.study_name or f"{C.DEFAULT_EXPERIMENT}-{experiment_id}-{cfg.key()}"
        _describe_parent(client, parent_id, cfg, study_name, storage)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        space = {C.FREEZE_PARAM: list(cfg.levels), C.SEED_PARAM: list(cfg.seeds)}
        study = optuna.create_study(study_name=study_name, storage=storage, load_if_exists=True,
                                    direction="maximize", sampler=_EnqueuedGrid(space, seed=0))
        study.set_user_attr("mlflow_parent_run_id", parent_id)
        study.set_user_attr("mlflow_experiment_id", experiment_id)
        done = finished_points(client, parent_id)
        todo = [p for p in cfg.grid if C.grid_point_name(*p) not in done]
        say(f"sweep {parent_id} (Optuna study {study_name}): {len(cfg.grid)} grid points, "
            f"{len(cfg.grid) - len(todo)} already finished, {len(todo)} to run")
        trained, failures = _run_points(client, cfg, study, parent_id, todo, say)
        if not failures:
            if tracking.ERROR_TAG in client.get_run(parent_id).data.tags:
                client.delete_tag(parent_id, tracking.ERROR_TAG)  # an earlier failure has been retried
            client.set_terminated(parent_id, FINISHED)
    except BaseException as exc:
        tracking.mark_failed(parent_id, exc)
        raise
    if failures:
        reason = "; ".join(f"{p}: {r}" for p, r in failures.items())
        tracking.mark_failed(parent_id, RuntimeError(f"{len(failures)} of {len(todo)} grid points failed: {reason}"))
    return SweepResult(parent_id, study_name, len(finished_points(client, parent_id)), trained, failures)


def _run_points(client: mlflow.MlflowClient, cfg: SweepConfig, study: optuna.Study, parent_id: str,
                todo: list[tuple[int, int]], say: Callable[[str], None]) -> tuple[int, dict[str, str]]:
    """(points trained, failures by point), one child run per point in `todo`."""
    for freeze, seed in todo:
        study.enqueue_trial({C.FREEZE_PARAM: freeze, C.SEED_PARAM: seed})
    pending = {C.grid_point_name(*p) for p in todo}
    failures: dict[str, str] = {}
    seconds: list[float] = []
    while pending:
        trial = study.ask()  # enqueued points, oldest first (a leftover of an interrupted run comes first)
        point = (trial.suggest_categorical(C.FREEZE_PARAM, list(cfg.levels)),
                 trial.suggest_categorical(C.SEED_PARAM, list(cfg.seeds)))
        name = C.grid_point_name(*point)
        if name not in pending or name in finished_points(client, parent_id):
            study.tell(trial, state=TrialState.PRUNED)  # already trained: never twice
            pending.discard(name)
            continue
        pending.discard(name)
        start = time.perf_counter()
        step = f"[{len(todo) - len(pending)}/{len(todo)}] {name}"
        try:
            result = train(dataclasses.replace(cfg.train, freeze=point[0], seed=point[1]), parent_id, tags={
                C.ROLE_TAG: C.TRIAL_ROLE, C.GRID_POINT_TAG: name, C.STUDY_NAME_TAG: study.study_name,
                C.TRIAL_NUMBER_TAG: str(trial.number)})
        except Exception as exc:  # noqa: BLE001 - one failed point must not stop the grid
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            trial.set_user_attr("fail_reason", reason)
            study.tell(trial, state=TrialState.FAIL)
            failures[name] = reason
            say(f"{step} FAILED: {reason}")
            continue
        except BaseException:  # Ctrl-C, SIGTERM: the trial ends too, the child run is already KILLED
            study.tell(trial, state=TrialState.FAIL)
            raise
        seconds.append(time.perf_counter() - start)
        trial.set_user_attr("mlflow_run_id", result.run_id)
        trial.set_user_attr(C.TEST_ACC, result.test_acc)
        study.tell(trial, result.val_acc)
        left = sum(seconds) / len(seconds) * len(pending)
        say(f"{step} done: val_acc={result.val_acc:.4f} test_acc={result.test_acc:.4f} "
            f"in {seconds[-1]:.1f}s, about {_duration(left)} left")
    return len(seconds), failures


def _find_or_create_parent(client: mlflow.MlflowClient, cfg: SweepConfig) -> str:
    """The sweep's parent run, set RUNNING: the oldest with the same key, else a new one.

    Under `mlflow run -e sweep` the run it created becomes the parent of a new sweep.
    """
    launcher = tracking.take_launcher_run()
    if launcher:
        experiment_id = client.get_run(launcher).info.experiment_id
    else:
        tracking.use_experiment(cfg.train.experiment_name())
        experiment_id = mlflow.get_experiment_by_name(cfg.train.experiment_name()).experiment_id
    found = client.search_runs([experiment_id], f"tags.`{C.SWEEP_KEY_TAG}` = '{cfg.key()}' "
                               f"and tags.`{C.ROLE_TAG}` = '{C.SWEEP_ROLE}'", order_by=["start_time ASC"])
    if found:
        parent_id = found[0].info.run_id
        client.update_run(parent_id, status=RUNNING)
        if launcher:
            client.set_tag(launcher, RESUMED_TAG, parent_id)
        return parent_id
    run_name = f"sweep levels={','.join(map(str, cfg.levels))} seeds={','.join(map(str, cfg.seeds))}"
    parent_id = launcher or client.create_run(experiment_id, run_name=run_name).info.run_id
    client.set_tag(parent_id, "mlflow.runName", run_name)
    client.set_tag(parent_id, C.SWEEP_KEY_TAG, cfg.key())
    client.set_tag(parent_id, C.ROLE_TAG, C.SWEEP_ROLE)
    return parent_id


def _describe_parent(client: mlflow.MlflowClient, parent_id: str, cfg: SweepConfig, study_name: str,
                     storage: str) -> None:
    client.set_tag(parent_id, C.STUDY_NAME_TAG, study_name)
    client.set_tag(parent_id, STORAGE_TAG, tracking.redact(storage))
    existing = client.get_run(parent_id).data.params  # `mlflow run` logged its -P values already
    params = {"levels": ",".join(map(str, cfg.levels)), "seeds": ",".join(map(str, cfg.seeds)),
              "grid_size": str(len(cfg.grid)), **cfg.shared_params()}
    client.log_batch(parent_id, params=[Param(k, v) for k, v in params.items() if k not in existing])


def finished_points(client: mlflow.MlflowClient, parent_id: str) -> set[str]:
    """Grid-point names that have a FINISHED child run under the parent."""
    return {r.data.tags.get(C.GRID_POINT_TAG) for r in tracking.child_runs(client, parent_id, FINISHED)}


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
