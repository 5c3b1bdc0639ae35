"""The freeze grid: one MLflow parent run, one nested child per (freeze level, seed), trained by any number of workers.

`freeze-study sweep --levels 0,1,2,3,4 --seeds 42` (or `make sweep`) creates the sweep, or
joins it when the same command runs elsewhere; `freeze-study worker --storage URL` joins
an existing sweep with the config its study stores; the worker that closes it writes the report and
registers the choice (`closing.finish`). Running either again resumes: MLflow
is the record of what is done, so only grid points without a FINISHED child are queued,
failed points are retried, and the parent run is reused. Several workers need a
PostgreSQL storage (`planner`, `storage`); each point is trained once (`worker`), and a
worker that dies is noticed by its heartbeats (`heartbeat`) and its point retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mlflow

from freeze_study.config import ConfigError, SweepConfig, WorkerConfig
from freeze_study.sweep import planner
from freeze_study.sweep.worker import Progress, work


@dataclass(frozen=True)
class SweepResult:
    """How a sweep looked when this worker left it."""

    parent_run_id: str
    study_name: str
    finished: int  # grid points with a FINISHED child, by any worker, this time or before
    trained: int  # grid points trained (and finished) by this worker
    failures: dict[str, str]  # grid point -> reason, for points that will not be retried
    closed: bool  # this worker ended the parent run (the others had left, or none was needed)
    experiment: str  # the MLflow experiment of the parent run
    complete: bool  # nothing was queued or running when this worker left
    found_done: bool  # nothing was queued or running when this worker came (a rerun of a finished sweep)

    @property
    def reports(self) -> bool:
        """Whether this worker writes the report and registers the choice: it closed the sweep, or found it
        complete (a rerun); not a worker that only waited for the others."""
        return self.complete and (self.closed or self.found_done)


def run_sweep(cfg: SweepConfig, say: Callable[[str], None] = print, launcher_run_id: str | None = None) -> SweepResult:
    """Create or join the sweep of `cfg` and train queued grid points until none is left; a failed point does
    not stop the others, except a failure of the data or the store every point shares
    (`worker.STOPS_THE_SWEEP`), which ends the sweep FAILED and propagates.

    Under `mlflow run -e sweep`, `launcher_run_id` (the run it created) becomes the parent
    of a new sweep. Progress lines go to `say`. Raises StorageError (one line) for a
    storage that cannot hold this worker.
    """
    return _result(planner.plan(cfg, launcher_run_id, say), say)


def run_worker(cfg: WorkerConfig, say: Callable[[str], None] = print) -> SweepResult:
    """Join the sweep `cfg.study` in `cfg.storage` (default: its only study) and train queued points until none
    is left, with this host's own settings (`cfg.local`) where given, else the study's."""
    if cfg.storage is None:  # WorkerConfig refuses it already; a worker has no default storage
        raise ConfigError("a worker needs the sweep's storage (--storage URL)")
    return _result(planner.join(cfg.storage, cfg.study, cfg.local, say), say)


def _result(plan: planner.Plan, say: Callable[[str], None]) -> SweepResult:
    try:
        progress: Progress = work(plan, say)
    finally:
        plan.storage.close()
    return SweepResult(
        plan.parent_id,
        plan.study.study_name,  # plan.cfg.study_name, which a plan always has
        progress.finished,
        progress.trained,
        progress.failures,
        progress.closed,
        _experiment_of(plan.parent_id),
        not (progress.waiting or progress.running),
        progress.found_done,
    )


def _experiment_of(run_id: str) -> str:
    client = mlflow.MlflowClient()
    return client.get_experiment(client.get_run(run_id).info.experiment_id).name
