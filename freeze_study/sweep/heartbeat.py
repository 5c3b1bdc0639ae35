"""Is the worker that holds a grid point still alive? Heartbeats, lost trials, and why they were lost.

Optuna records heartbeats only inside `Study.optimize`; a worker that takes queued trials
itself runs `Heartbeat` around each point: Optuna's own record (`record_heartbeat`, which
`fail_stale_trials` reads) and the beat's time as a trial system attribute, so whoever
notices a lost trial can say which worker held it and when it was last heard of. Unlike
Optuna's thread, a beat that fails (the database restarting) is tried again at the next
interval instead of ending the thread. Lost trials are failed and queued again by Optuna's
`RetryHeartbeatStaleTrialCallback`, a bounded number of times.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import threading
import warnings
from collections.abc import Callable

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from freeze_study.names import FAIL_REASON_ATTR, HEARTBEAT_ATTR, KILLED, WORKER_ATTR
from freeze_study.tracking import sweeps

_log = logging.getLogger(__name__)
BEAT_FORMAT = "%Y-%m-%d %H:%M:%S"  # UTC


def beat_age(trial: FrozenTrial) -> float | None:
    """Seconds since the trial's last heartbeat (None before its first)."""
    beat = trial.system_attrs.get(HEARTBEAT_ATTR)
    if not beat or beat[0] != trial.number:
        return None
    then = datetime.datetime.strptime(beat[1], BEAT_FORMAT).replace(tzinfo=datetime.UTC)
    return (datetime.datetime.now(datetime.UTC) - then).total_seconds()


def worker_id() -> str:
    """'host:pid': the worker, as its children's tag and its trials' attributes name it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Beats for trial `trial_id` every `interval` seconds while the `with` block runs (the first one at once)."""

    def __init__(self, storage: optuna.storages.RDBStorage, trial_id: int, number: int, interval: float):
        self.storage, self.trial_id, self.number, self.interval = storage, trial_id, number, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{number}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.storage.set_trial_system_attr(self.trial_id, WORKER_ATTR, worker_id())
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def beat(self) -> None:
        """Optuna's heartbeat record, and [trial number, UTC time] for the people reading why a trial was lost."""
        self.storage.record_heartbeat(self.trial_id)
        now = datetime.datetime.now(datetime.UTC).strftime(BEAT_FORMAT)
        self.storage.set_trial_system_attr(self.trial_id, HEARTBEAT_ATTR, [self.number, now])

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except optuna.exceptions.UpdateFinishedTrialError:
                return  # told (or declared lost) meanwhile
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not silence the worker for good
                _log.warning("heartbeat for trial %d failed, trying again in %ss: %s", self.number, self.interval, exc)


class LostTrials:
    """The storage's stale-trial callback: queue the trial again (at most `max_retries` times) and remember it."""

    def __init__(self, max_retries: int):
        self.max_retries = max_retries
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retries)
        self.noticed: list[FrozenTrial] = []

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._retry(study, trial)
        self.noticed.append(trial)

    def fail(self, study: optuna.Study, storage: optuna.storages.RDBStorage, grace_s: int, all_running: bool) -> list:
        """Fail the trials whose worker is gone, queue their retries and return them.

        `all_running`: every RUNNING trial is lost (SQLite: holding its lock proves no other
        worker lives). Else those without a heartbeat for `grace_s` (Optuna's
        `fail_stale_trials`), and those whose worker died before its first beat.
        """
        if not all_running:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
        now = datetime.datetime.now()  # Optuna's datetime_start: the worker's local time, naive
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            beat = trial.system_attrs.get(HEARTBEAT_ATTR)
            never_beat = not beat or beat[0] != trial.number
            started = trial.datetime_start or now
            if all_running or (never_beat and (now - started).total_seconds() > grace_s):
                trial_id = storage.get_trial_id_from_study_id_trial_number(
                    storage.get_study_id_from_name(study.study_name), trial.number
                )
                try:
                    if storage.set_trial_state_values(trial_id, TrialState.FAIL):
                        self(study, storage.get_trial(trial_id))
                except optuna.exceptions.UpdateFinishedTrialError:
                    pass  # someone else noticed first
        noticed, self.noticed = self.noticed, []
        return noticed


def was_lost(trial: FrozenTrial) -> bool:
    """Whether the trial was failed for its worker (its heartbeats stopped), not by it: FAIL without a reason."""
    return trial.state == TrialState.FAIL and FAIL_REASON_ATTR not in trial.user_attrs


def lost_reason(trial: FrozenTrial, trials: list[FrozenTrial], max_retries: int) -> str:
    """Why `trial` (FAIL without an exception) was lost: whose it was, its last beat, whether it is queued again."""
    worker = trial.system_attrs.get(WORKER_ATTR, "unknown")
    beat = trial.system_attrs.get(HEARTBEAT_ATTR)
    last = f"{beat[1]} UTC" if beat and beat[0] == trial.number else "none"
    retry = next((t for t in trials if trial.number in retry_history(t)), None)
    if retry is not None:
        then = f"queued again as trial {retry.number} (retry {len(retry_history(retry))} of {max_retries})"
    else:
        then = f"not queued again: {max_retries} retries used up"
    return f"lost: worker {worker} stopped sending heartbeats (last heartbeat: {last}); {then}"


def retry_history(trial: FrozenTrial) -> list[int]:
    """The numbers of the lost trials `trial` retries, oldest first (Optuna's record; empty for a first try)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback.retry_history(trial)


def finished_late(study: optuna.Study, number: int, name: str, run_id: str, say: Callable[[str], None]) -> None:
    """A worker finished grid point `name` (run `run_id`) after others declared its trial `number` lost.

    If the retry is training or has finished, the retry's run counts and this one ends
    KILLED; if it is still queued, this run counts (the retry is pruned when taken, its point
    being done); if the retry failed or none was queued, this run counts.
    """
    trials = study.get_trials(deepcopy=False)
    active = (TrialState.RUNNING, TrialState.COMPLETE)
    retry = next((t for t in trials if number in retry_history(t) and t.state in active), None)
    if retry is None:
        say(f"{name}: trial {number} was declared lost, but its run {run_id} finished and counts")
        return
    reason = f"finished after trial {number} was declared lost; trial {retry.number} trains the point again"
    sweeps.end_child(run_id, KILLED, reason)
    say(f"{name}: run {run_id} {reason}")
