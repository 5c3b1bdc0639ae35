"""The freeze grid: one MLflow parent run, one nested child per (freeze level, seed), driven by Optuna.

`freeze-study sweep --levels 0,1,2,3,4 --seeds 42` (or `make sweep`). Running the same
command again resumes: MLflow is the record of what is done, so only grid points without
a FINISHED child run are trained, failed points are retried, and the parent run is reused.
One worker per sweep: two processes on the same sweep at once may train a point twice.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import mlflow
import optuna
from optuna.trial import TrialState

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.config import SweepConfig
from freeze_study.tracking import sweep_summary, sweeps
from freeze_study.training import train


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


def run_sweep(cfg: SweepConfig, say: Callable[[str], None] = print, launcher_run_id: str | None = None) -> SweepResult:
    """Train every grid point that has no FINISHED child run yet; failures do not stop the others.

    Under `mlflow run -e sweep`, `launcher_run_id` (the run it created) becomes the parent
    of a new sweep. Progress lines go to `say`.
    """
    storage = cfg.storage or tracking.default_optuna_storage()
    parent_id = sweeps.find_or_create_parent(cfg, launcher_run_id)
    try:
        experiment_id = mlflow.MlflowClient().get_run(parent_id).info.experiment_id
        study_name = cfg.study_name or f"{N.DEFAULT_EXPERIMENT}-{experiment_id}-{cfg.key()}"
        sweeps.describe_parent(parent_id, cfg, study_name, storage)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        space = {N.FREEZE_PARAM: list(cfg.levels), N.SEED_PARAM: list(cfg.seeds)}
        study = optuna.create_study(
            study_name=study_name,
            storage=storage,
            load_if_exists=True,
            direction="maximize",
            sampler=_EnqueuedGrid(space, seed=0),
        )
        study.set_user_attr(N.PARENT_RUN_ATTR, parent_id)
        study.set_user_attr(N.EXPERIMENT_ID_ATTR, experiment_id)
        done = sweeps.finished_points(parent_id)
        todo = [p for p in cfg.grid if N.grid_point_name(*p) not in done]
        say(
            f"sweep {parent_id} (Optuna study {study_name}): {len(cfg.grid)} grid points, "
            f"{len(cfg.grid) - len(todo)} already finished, {len(todo)} to run"
        )
        trained, failures = _run_points(cfg, study, parent_id, todo, say)
    except BaseException as exc:
        tracking.mark_failed(parent_id, exc)
        raise
    sweep_summary.summarize_parent(parent_id)  # metrics and description the MLflow UI shows
    sweeps.end_parent(parent_id, failures, len(todo))
    return SweepResult(parent_id, study_name, len(sweeps.finished_points(parent_id)), trained, failures)


def _run_points(
    cfg: SweepConfig, study: optuna.Study, parent_id: str, todo: list[tuple[int, int]], say: Callable[[str], None]
) -> tuple[int, dict[str, str]]:
    """(points trained, failures by point), one child run per point in `todo`."""
    for freeze, seed in todo:
        study.enqueue_trial({N.FREEZE_PARAM: freeze, N.SEED_PARAM: seed})
    pending = {N.grid_point_name(*p) for p in todo}
    failures: dict[str, str] = {}
    seconds: list[float] = []
    while pending:
        trial = study.ask()  # enqueued points, oldest first (a leftover of an interrupted run comes first)
        point = (
            trial.suggest_categorical(N.FREEZE_PARAM, list(cfg.levels)),
            trial.suggest_categorical(N.SEED_PARAM, list(cfg.seeds)),
        )
        name = N.grid_point_name(*point)
        if name not in pending or name in sweeps.finished_points(parent_id):
            study.tell(trial, state=TrialState.PRUNED)  # already trained: never twice
            pending.discard(name)
            continue
        pending.discard(name)
        start = time.perf_counter()
        step = f"[{len(todo) - len(pending)}/{len(todo)}] {name}"
        try:
            result = train(
                dataclasses.replace(cfg.train, freeze=point[0], seed=point[1]),
                parent_id,
                sweeps.child_tags(name, study.study_name, trial.number),
            )
        except Exception as exc:  # noqa: BLE001 - one failed point must not stop the grid
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            trial.set_user_attr(N.FAIL_REASON_ATTR, reason)
            study.tell(trial, state=TrialState.FAIL)
            failures[name] = reason
            say(f"{step} FAILED: {reason}")
            continue
        except BaseException:  # Ctrl-C, SIGTERM: the trial ends too, the child run is already KILLED
            study.tell(trial, state=TrialState.FAIL)
            raise
        seconds.append(time.perf_counter() - start)
        trial.set_user_attr(N.RUN_ID_ATTR, result.run_id)
        trial.set_user_attr(N.TEST_ACC, result.test_acc)
        study.tell(trial, result.val_acc)
        left = sum(seconds) / len(seconds) * len(pending)
        say(
            f"{step} done: val_acc={result.val_acc:.4f} test_acc={result.test_acc:.4f} "
            f"in {seconds[-1]:.1f}s, about {_duration(left)} left"
        )
    return len(seconds), failures


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
