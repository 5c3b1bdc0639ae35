"""A worker: take a queued grid point, train it with a heartbeat, tell Optuna, settle the parent; until none is left.

A worker only takes WAITING trials (what `Study.ask` does first, without its fallback of
creating a new trial when the queue is empty): on PostgreSQL the trial's row is locked
while it turns RUNNING, so two workers never take the same one. While nothing is queued
but other workers still train, it waits, printing which points run where, and takes over
the point of a worker that stops sending heartbeats. It leaves when nothing is queued or
running; whoever settles the parent last (under the study's lock) closes it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.data import DataError
from freeze_study.errors import reason
from freeze_study.sweep.heartbeat import Heartbeat, beat_age, finished_late, lost_reason, was_lost, worker_id
from freeze_study.sweep.planner import Plan, end_lost_runs, enqueue, point_of
from freeze_study.sweep.summary import summarize_parent
from freeze_study.tracking import StoreError, sweeps
from freeze_study.training import TrainResult, share_features, train

ACTIVE = (TrialState.WAITING, TrialState.RUNNING)
STOPS_THE_SWEEP = (DataError, StoreError)  # failures of what every grid point shares: the data, the store


@dataclass
class Progress:
    """The sweep as one worker last saw it."""

    finished: int = 0  # grid points with a FINISHED child
    waiting: int = 0
    running: int = 0
    failures: dict[str, str] = dataclasses.field(default_factory=dict)  # grid point -> reason (not queued again)
    closed: bool = False  # this worker ended the parent run
    found_done: bool = False  # nothing was queued or running when this worker first looked (a rerun)
    trained: int = 0  # grid points this worker trained (and finished)


def work(plan: Plan, say: Callable[[str], None] = print) -> Progress:
    """Train queued points until none is queued or running anywhere; returns the sweep's state at the end."""
    progress, seconds, seen = Progress(), [], None
    try:
        _share_features(plan, say)
        first = True
        while True:
            noticed = plan.lost.fail(plan.study, plan.rdb, plan.cfg.grace_period_s, all_running=False)
            if noticed:
                with plan.storage.exclusive(plan.study.study_name):
                    end_lost_runs(plan.study, plan.parent_id, plan.cfg, say, noticed)
            taken = take(plan.study, plan.rdb)
            if taken is None:
                running = plan.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if not running:
                    progress.found_done = first
                    break
                first = False
                seen = _say_waiting(plan, running, seen, say)
                time.sleep(plan.cfg.heartbeat_s)
                continue
            seen, first = None, False
            start = time.perf_counter()
            done = _run_point(plan, *taken, say, progress.finished)
            progress = _settle(plan, progress)
            if done is None:
                continue
            name, result = done
            progress.trained += 1
            seconds.append(time.perf_counter() - start)
            left = sum(seconds) / len(seconds) * (progress.waiting + progress.running) / (progress.running + 1)
            say(
                f"[{progress.finished}/{len(plan.cfg.grid)}] {name} done: val_acc={result.val_acc:.4f} "
                f"test_acc={result.test_acc:.4f} in {seconds[-1]:.1f}s, about {_duration(left)} left"
            )
        return _settle(plan, progress)
    except BaseException as exc:
        _abandon(plan, exc)
        raise


def _share_features(plan: Plan, say: Callable[[str], None]) -> None:
    """The shared frozen-prefix outputs of every level left to train, in one pass before any point trains
    (into this host's cache; a worker on the same host waits for them); its time on the parent."""
    done = sweeps.finished_points(plan.parent_id)
    warmed = share_features(plan.cfg.train, [k for k, s in plan.cfg.grid if N.grid_point_name(k, s) not in done])
    if warmed is not None:
        levels = ",".join(map(str, warmed.levels))
        how = "computed" if warmed.built else "found in the cache"
        say(f"frozen-prefix outputs of levels {levels} {how} in {warmed.seconds:.1f}s, shared by every seed")
        tracking.log_metrics(plan.parent_id, {N.CACHE_BUILD_TIME: warmed.seconds})


def take(study: optuna.Study, rdb: optuna.storages.RDBStorage) -> tuple[optuna.trial.Trial, int] | None:
    """The oldest queued trial (and its id), now RUNNING for this worker, or None when nothing is queued."""
    study_id = rdb.get_study_id_from_name(study.study_name)
    for waiting in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = rdb.get_trial_id_from_study_id_trial_number(study_id, waiting.number)
        try:
            if rdb.set_trial_state_values(trial_id, TrialState.RUNNING):  # False: another worker took it first
                return optuna.trial.Trial(study, trial_id), trial_id
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def _run_point(
    plan: Plan, trial: optuna.trial.Trial, trial_id: int, say: Callable[[str], None], finished: int
) -> tuple[str, TrainResult] | None:
    """Train the trial's grid point in a child run and tell Optuna how it went: (point, result) if it finished.
    `finished`: the grid points with a FINISHED child so far (for the progress line)."""
    cfg, study = plan.cfg, plan.study
    point = (
        trial.suggest_categorical(N.FREEZE_PARAM, list(cfg.levels)),
        trial.suggest_categorical(N.SEED_PARAM, list(cfg.seeds)),
    )
    name = N.grid_point_name(*point)
    if name in sweeps.finished_points(plan.parent_id):  # e.g. the retry of a worker lost just after it finished
        _tell(trial, study, TrialState.PRUNED, {N.FAIL_REASON_ATTR: "the grid point has a FINISHED run already"})
        return None
    try:
        with Heartbeat(plan.rdb, trial_id, trial.number, cfg.heartbeat_s):
            result = train(
                dataclasses.replace(cfg.train, freeze=point[0], seed=point[1]),
                plan.parent_id,
                sweeps.child_tags(name, study.study_name, trial.number, worker_id()),
            )
    except Exception as exc:  # noqa: BLE001 - one failed point must not stop the grid
        why = reason(exc)  # one line, naming the file, parameter or URI
        _tell(trial, study, TrialState.FAIL, {N.FAIL_REASON_ATTR: why})
        say(f"[{finished}/{len(cfg.grid)}] {name} FAILED: {why}")
        if isinstance(exc, STOPS_THE_SWEEP):
            raise  # every other point would fail the same way, after the same wait
        return None
    except BaseException as exc:  # Ctrl-C, SIGTERM: the child run is KILLED already; the point goes back in the queue
        _tell(trial, study, TrialState.FAIL, {N.FAIL_REASON_ATTR: f"interrupted on {worker_id()}: {exc!r}"})
        enqueue(study, *point)
        raise
    if not _tell(trial, study, None, {N.RUN_ID_ATTR: result.run_id, N.TEST_ACC: result.test_acc}, result.val_acc):
        finished_late(plan.study, trial.number, name, result.run_id, say)
        return None
    return name, result


def _tell(trial, study, state: TrialState | None, attrs: dict, value: float | None = None) -> bool:
    """Record `attrs` and end the trial; False if it had already been ended (declared lost meanwhile)."""
    try:
        for key, v in attrs.items():
            trial.set_user_attr(key, v)
        study.tell(trial, value, state=state)
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
        return False
    return True


def _settle(plan: Plan, progress: Progress) -> Progress:
    """Under the study's lock: the parent's status from the trials and runs, as `sweeps.settle_parent` sets it."""
    with plan.storage.exclusive(plan.study.study_name):
        trials = plan.study.get_trials(deepcopy=False)
        done = sweeps.finished_points(plan.parent_id)
        latest = {}
        for t in trials:  # in number order: the last trial of each point wins
            latest[point_of(t)] = t
        failures = {}
        for freeze, seed in plan.cfg.grid:
            name = N.grid_point_name(freeze, seed)
            last = latest.get(name)
            if name in done or last is None or last.state in ACTIVE:
                continue
            reason = (
                lost_reason(last, trials, plan.cfg.max_retries)
                if was_lost(last)
                else last.user_attrs.get(N.FAIL_REASON_ATTR)
            )
            failures[name] = reason or f"trial {last.number} ended {last.state.name} without a FINISHED run"
        waiting = sum(t.state == TrialState.WAITING for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if not (waiting or running):
            summarize_parent(plan.parent_id)  # metrics and description the MLflow UI shows
        closed = sweeps.settle_parent(plan.parent_id, bool(waiting or running), failures, len(plan.cfg.grid))
    return dataclasses.replace(
        progress,
        finished=len(done),
        waiting=waiting,
        running=running,
        failures=failures,
        closed=progress.closed or closed,
    )


def _abandon(plan: Plan, exc: BaseException) -> None:
    """This worker stops early: unless other workers still train, end the parent KILLED (Ctrl-C, SIGTERM) or
    FAILED, saying how many points are left in the queue."""
    try:
        with plan.storage.exclusive(plan.study.study_name):
            if plan.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return  # they will settle it
            left = len(plan.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
            note = f"{left} grid points left in the queue for the next worker"
            cause: BaseException
            if isinstance(exc, STOPS_THE_SWEEP):
                cause = exc  # what the user must fix, as every point would fail on it
            elif isinstance(exc, KeyboardInterrupt) or isinstance(exc.__context__, KeyboardInterrupt):
                cause = KeyboardInterrupt(f"the worker was interrupted (Ctrl-C or SIGTERM); {note}")
            else:
                cause = RuntimeError(f"the worker stopped on {reason(exc)}; {note}")
            tracking.mark_failed(plan.parent_id, cause)
    except Exception:  # noqa: BLE001 - the original error matters more
        pass


def _say_waiting(plan: Plan, running: list, seen: frozenset | None, say: Callable[[str], None]) -> frozenset:
    """Say which points run where, once each time that changes."""
    held = frozenset(t.number for t in running)
    if held != seen:
        where = []
        for t in running:
            age = beat_age(t)
            last = "none yet" if age is None else f"{age:.0f}s ago"
            where.append(f"{point_of(t)} on {t.system_attrs.get(N.WORKER_ATTR, '?')} (last heartbeat {last})")
        say(
            f"waiting: nothing queued; {len(running)} grid point(s) running on other workers: {'; '.join(where)}. "
            f"A point whose worker sends no heartbeat for {plan.cfg.grace_period_s}s is retried here."
        )
    return held


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
