"""Plan once, then every worker takes: the study, the parent run and the queue of grid points.

`plan(cfg)` (`freeze-study sweep`) creates the sweep or joins it; `join(storage, study)`
(`freeze-study worker`) joins an existing one, with the config stored in the study. Both
run under the study's lock (`Storage.exclusive`): the first process creates the study
(`optuna.create_study` without `load_if_exists`: the database's unique study name decides,
the others get DuplicatedStudyError and load it) and the one parent run, and stores the
parent's id and the config in the study's user attributes. Then each process in turn fails
the trials of lost workers (their child runs end KILLED with the reason) and queues every
grid point that has no FINISHED child and is neither queued nor running: however many
processes start at once, a point is queued once, and a resumed sweep queues its leftovers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import mlflow
import optuna
from mlflow.exceptions import MlflowException
from optuna.trial import FrozenTrial, TrialState

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.config import HOST_SETTINGS, SweepConfig
from freeze_study.scratch import remove_orphans, scratch_roots
from freeze_study.sweep.heartbeat import LostTrials, lost_reason, was_lost
from freeze_study.sweep.storage import Storage, StorageError, default_optuna_storage, redact
from freeze_study.tracking import sweeps


@dataclass
class Plan:
    """A worker's handle on the sweep it joined."""

    cfg: SweepConfig  # as the study stores it, with this host's own settings
    parent_id: str
    study: optuna.Study  # on `rdb`
    rdb: optuna.storages.RDBStorage  # with heartbeats and the lost-trial callback
    storage: Storage
    lost: LostTrials
    created: bool  # this process created the sweep's study
    queued: int  # grid points this process queued


class EnqueuedGrid(optuna.samplers.GridSampler):
    """The grid as Optuna's GridSampler. Workers only take queued trials, so the sampler neither picks
    points nor stops the study."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def plan(cfg: SweepConfig, launcher_run_id: str | None = None, say: Callable[[str], None] = print) -> Plan:
    """Create the sweep of `cfg` or join it (same grid and shared config, same study), and queue what is left.

    Raises StorageError (one line) for an unusable storage or a study that holds another sweep.
    """
    url = cfg.storage or default_optuna_storage()
    storage = Storage(url, mlflow.get_tracking_uri())
    try:
        experiment_id = sweeps.experiment_of(cfg, launcher_run_id)
        name = cfg.study_name or f"{N.DEFAULT_EXPERIMENT}-{experiment_id}-{cfg.key()}"
        with storage.exclusive(name):
            plain = storage.rdb()
            try:
                study, created = optuna.create_study(storage=plain, study_name=name, direction="maximize"), True
            except optuna.exceptions.DuplicatedStudyError:
                study, created = optuna.load_study(study_name=name, storage=plain), False
            stored = study.user_attrs.get(N.SWEEP_CONFIG_ATTR)
            if stored and SweepConfig.from_attrs(stored, url, name).key() != cfg.key():
                raise StorageError(f"study {name!r} in {redact(url)} holds another sweep: choose another name")
            parent_id: str | None = study.user_attrs.get(N.PARENT_RUN_ATTR)
            new = parent_id is None
            if parent_id is None:
                parent_id = sweeps.find_or_create_parent(cfg, launcher_run_id)
            else:
                sweeps.joined(launcher_run_id, parent_id)
            if not stored:  # a new study, or one from before the config was stored
                _describe_study(study, cfg, parent_id, experiment_id)
            local = {k: getattr(cfg.train, k) for k in HOST_SETTINGS}
            shared = SweepConfig.from_attrs(study.user_attrs[N.SWEEP_CONFIG_ATTR], url, name, **local)
            if new or N.STUDY_NAME_TAG not in mlflow.MlflowClient().get_run(parent_id).data.tags:
                try:  # the config every worker trains with; StoreError when the artifacts cannot be written
                    sweeps.describe_parent(parent_id, shared, name, redact(url))
                except BaseException as exc:
                    tracking.mark_failed(parent_id, exc, quiet=True)
                    raise
            return _ready(storage, shared, parent_id, created, say)
    except BaseException:
        storage.close()
        raise


def join(url: str, name: str | None, local: dict, say: Callable[[str], None] = print) -> Plan:
    """Join the sweep `name` (default: the storage's only study) with the config it stores.

    `local`: this host's own settings (config.HOST_SETTINGS), None for the study's. Raises StorageError
    when there is no such sweep, or its parent run is not in the tracking store.
    """
    storage = Storage(url, mlflow.get_tracking_uri())
    try:
        names = optuna.get_all_study_names(storage.rdb())
        where = redact(url)
        if not names:
            raise StorageError(f"no sweep in {where}: start one with `freeze-study sweep ... --storage {where}`")
        if name is None and len(names) > 1:
            raise StorageError(f"several sweeps in {where} ({', '.join(names)}): choose one with --study")
        name = name or names[0]
        if name not in names:
            raise StorageError(f"no sweep {name!r} in {where} (studies there: {', '.join(names)})")
        with storage.exclusive(name):
            study = optuna.load_study(study_name=name, storage=storage.rdb())
            if N.SWEEP_CONFIG_ATTR not in study.user_attrs:
                raise StorageError(f"study {name!r} was not made by `freeze-study sweep`: start it with that command")
            tracking.use_tracking_uri(study.user_attrs.get(N.TRACKING_URI_ATTR))
            parent_id = study.user_attrs[N.PARENT_RUN_ATTR]
            try:
                mlflow.MlflowClient().get_run(parent_id)
            except MlflowException:
                raise StorageError(
                    f"the sweep's parent run {parent_id} is not in the tracking store {mlflow.get_tracking_uri()}: "
                    "set MLFLOW_TRACKING_URI to the sweep's tracking server"
                ) from None
            cfg = SweepConfig.from_attrs(study.user_attrs[N.SWEEP_CONFIG_ATTR], url, name, **local)
            return _ready(storage, cfg, parent_id, False, say)
    except BaseException:
        storage.close()
        raise


def _describe_study(study: optuna.Study, cfg: SweepConfig, parent_id: str, experiment_id: str) -> None:
    study.set_user_attr(N.SWEEP_CONFIG_ATTR, cfg.to_attrs())
    study.set_user_attr(N.PARENT_RUN_ATTR, parent_id)
    study.set_user_attr(N.EXPERIMENT_ID_ATTR, experiment_id)
    uri = mlflow.get_tracking_uri()
    if urlparse(uri).scheme in ("http", "https") and not urlparse(uri).password:
        study.set_user_attr(N.TRACKING_URI_ATTR, uri)  # where `freeze-study worker` finds the runs


def _ready(storage: Storage, cfg: SweepConfig, parent_id: str, created: bool, say: Callable[[str], None]) -> Plan:
    """Under the study's lock: end what lost workers left, queue the points left, set the parent RUNNING."""
    lost = LostTrials(cfg.max_retries)
    rdb = storage.rdb(cfg.heartbeat_s, cfg.grace_period_s, lost)
    storage.retire(keep=rdb)  # the planning connections
    study = optuna.load_study(study_name=cfg.study_name, storage=rdb, sampler=grid_sampler(cfg))
    noticed = lost.fail(study, rdb, cfg.grace_period_s, all_running=storage.dialect == "sqlite")
    end_lost_runs(study, parent_id, cfg, say, noticed)
    done = sweeps.finished_points(parent_id)
    busy = {point_of(t) for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))}
    queued = 0
    for freeze, seed in cfg.grid:
        name = N.grid_point_name(freeze, seed)
        if name not in done and name not in busy:
            enqueue(study, freeze, seed)
            queued += 1
    sweeps.settle_parent(parent_id, True, {}, len(cfg.grid))
    say(
        f"sweep {parent_id} (Optuna study {cfg.study_name}): {len(cfg.grid)} grid points, "
        f"{len(done)} already finished, {queued} queued now, {len(busy)} queued or running before"
    )
    return Plan(cfg, parent_id, study, rdb, storage, lost, created, queued)


def end_lost_runs(
    study: optuna.Study, parent_id: str, cfg: SweepConfig, say: Callable[[str], None], noticed: list[FrozenTrial]
) -> None:
    """End KILLED, with the reason, every RUNNING child whose trial is no longer running; clean up after the dead.

    Whoever notices does it: `noticed` are the trials this process just failed (said on
    `say`); children of trials failed by a process that died before it got here are ended too.
    """
    trials = study.get_trials(deepcopy=False)
    for lost in noticed:
        say(f"{point_of(lost)} (trial {lost.number}) {lost_reason(lost, trials, cfg.max_retries)}")
    by_number = {t.number: t for t in trials}
    for number, run_id in sweeps.running_children(parent_id).items():
        trial = by_number.get(number)
        if trial is None or trial.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        if was_lost(trial):
            reason = lost_reason(trial, trials, cfg.max_retries)
        else:
            reason = f"its Optuna trial {number} ended {trial.state.name} while the run was still open"
        sweeps.end_child(run_id, N.KILLED, reason)
    remove_orphans(scratch_roots(cfg.train.cache_root()))


def enqueue(study: optuna.Study, freeze: int, seed: int) -> None:
    """Queue the grid point (freeze, seed) as a trial, named by its grid-point attribute from the start."""
    study.enqueue_trial(
        {N.FREEZE_PARAM: freeze, N.SEED_PARAM: seed}, user_attrs={N.GRID_POINT_ATTR: N.grid_point_name(freeze, seed)}
    )


def point_of(trial: FrozenTrial) -> str | None:
    """The grid point a trial is for: its attribute, else its params, else its queued params (older studies)."""
    if N.GRID_POINT_ATTR in trial.user_attrs:
        return trial.user_attrs[N.GRID_POINT_ATTR]
    params = trial.params or trial.system_attrs.get("fixed_params", {})
    if N.FREEZE_PARAM in params and N.SEED_PARAM in params:
        return N.grid_point_name(params[N.FREEZE_PARAM], params[N.SEED_PARAM])
    return None


def grid_sampler(cfg: SweepConfig) -> EnqueuedGrid:
    """The study's sampler: the grid of freeze levels x seeds."""
    return EnqueuedGrid({N.FREEZE_PARAM: list(cfg.levels), N.SEED_PARAM: list(cfg.seeds)}, seed=0)
