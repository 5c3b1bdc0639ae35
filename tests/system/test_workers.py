"""Many workers, one sweep: each grid point trained once, nothing lost to kill -9 or a tracking-server restart.

The tests that need the stack run real worker processes against the session's stack (PostgreSQL and an
`mlflow server` on it, as `make server` starts them); each test has its own Optuna database
and experiment.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

import freeze_study.names as N
from freeze_study.cli import main
from freeze_study.config import SweepConfig, TrainConfig
from tests.helpers import TINY_IMAGE_SIZE, children, finish, runs_of, start_together, sweep_args, sweep_parents

HOST = socket.gethostname()
FAST = ["--heartbeat-s", "1", "--grace-period-s", "5"]  # a lost worker is noticed within seconds


def logs(folder: Path, n: int) -> list[str]:
    return [(folder / f"worker-{i}.log").read_text() for i in range(n)]


def study_of(parent, storage: str) -> optuna.Study:
    return optuna.load_study(study_name=parent.data.tags[N.STUDY_NAME_TAG], storage=storage)


def kill_when_training(
    procs: list[subprocess.Popen], cache: Path, sig: int = signal.SIGKILL, timeout: float = 300
) -> subprocess.Popen:
    """Send `sig` to the first worker seen training (its spilled features exist: `--cache-memory-gib 0`)
    and wait for it to end."""
    by_pid = {p.pid: p for p in procs}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in cache.glob(f"{N.FEATURES_SCRATCH}*@{HOST}-*"):
            pid = int(folder.name.removeprefix(N.FEATURES_SCRATCH).split("@")[0])
            if pid in by_pid:
                by_pid[pid].send_signal(sig)
                by_pid[pid].wait(timeout=120)  # reaped: its pid is gone
                return by_pid[pid]
        assert all(p.poll() is None for p in procs), "a worker ended before it could be killed"
        time.sleep(0.02)
    raise AssertionError("no worker started training")


def test_three_workers_started_together_train_each_point_once(shared, tiny_config, tmp_path):
    argv = sweep_args(tiny_config, "3,4", "1,2,3") + ["--storage", shared.storage, *FAST]
    procs = start_together([argv] * 3, shared.env, tmp_path)
    codes = finish(procs)
    out = logs(tmp_path, 3)
    assert codes == [0, 0, 0], out
    (parent,) = sweep_parents(shared.client, shared.experiment)
    pid = parent.info.run_id
    assert parent.info.status == N.FINISHED and N.ERROR_TAG not in parent.data.tags
    finished = children(shared.client, pid, N.FINISHED, shared.experiment)
    grid = [(k, s) for k in (3, 4) for s in (1, 2, 3)]
    assert sorted(r.info.run_name for r in finished) == sorted(N.grid_point_name(*p) for p in grid)
    assert len(children(shared.client, pid, experiment=shared.experiment)) == 6  # no second child for any point
    workers = {r.data.tags[N.WORKER_TAG] for r in finished}
    assert {w.rsplit(":", 1)[1] for w in workers} <= {str(p.pid) for p in procs}
    assert parent.data.metrics[N.WORKERS_METRIC] == len(workers)
    trials = study_of(parent, shared.storage).trials
    assert len(trials) == 6  # queued once: no trial besides one per point
    complete = sorted((t.params[N.FREEZE_PARAM], t.params[N.SEED_PARAM]) for t in trials if t.state.is_finished())
    assert complete == grid and all(t.state == TrialState.COMPLETE for t in trials)
    assert {t.user_attrs[N.RUN_ID_ATTR] for t in trials} == {r.info.run_id for r in finished}
    assert sorted(int(re.search(r"(\d+) queued now", log)[1]) for log in out) == [0, 0, 6]
    secret = shared.stack.password()  # the generated password is in no log, param, tag or study attribute
    texts = [*out, *(p.read_text() for p in shared.stack.folder.rglob("*.log") if p.is_file())]
    texts += [json.dumps([r.data.params, r.data.tags]) for r in runs_of(shared.client, shared.experiment)]
    texts.append(json.dumps(study_of(parent, shared.storage).user_attrs))
    assert not [t for t in texts if secret in t]


def test_a_worker_killed_mid_trial_is_taken_over(shared, tiny_config, tmp_path, isolated_cache, isolated_temp):
    argv = sweep_args(tiny_config, "4", "1") + ["--storage", shared.storage, *FAST, "--cache-memory-gib", "0"]
    procs = start_together([argv] * 2, shared.env, tmp_path)
    killed = kill_when_training(procs, isolated_cache)
    (survivor,) = [p for p in procs if p is not killed]
    assert finish([survivor]) == [0]
    out = (tmp_path / f"worker-{procs.index(survivor)}.log").read_text()
    lost = f"lost: worker {HOST}:{killed.pid} stopped sending heartbeats (last heartbeat: 20"
    assert f"freeze=4 seed=1 on {HOST}:{killed.pid} (last heartbeat" in out  # what it printed while waiting
    assert f"freeze=4 seed=1 (trial 0) {lost}" in out
    (parent,) = sweep_parents(shared.client, shared.experiment)
    assert parent.info.status == N.FINISHED
    runs = children(shared.client, parent.info.run_id, experiment=shared.experiment)
    (done,) = [r for r in runs if r.info.status == N.FINISHED]
    (dead,) = [r for r in runs if r.info.status == N.KILLED]
    assert len(runs) == 2 and done.info.run_name == dead.info.run_name == "freeze=4 seed=1"
    assert dead.data.tags[N.ERROR_TAG].startswith(lost) and "queued again as trial 1 (retry 1 of 2)" in out
    assert dead.data.tags[N.WORKER_TAG] == f"{HOST}:{killed.pid}" != done.data.tags[N.WORKER_TAG]
    first, retry = study_of(parent, shared.storage).trials
    assert (first.state, retry.state) == (TrialState.FAIL, TrialState.COMPLETE)
    assert retry.system_attrs["retry_history"] == [0] and retry.user_attrs[N.RUN_ID_ATTR] == done.info.run_id
    leftovers = [p.name for root in (isolated_cache, isolated_temp) for p in root.glob(f"*{killed.pid}@{HOST}-*")]
    assert leftovers == []  # its spilled features and run folder were removed by the survivor


def epoch_logged(client, experiment: str) -> bool:
    """Whether a run of `experiment` has logged its first epoch's validation loss."""
    found = client.get_experiment_by_name(experiment)
    return bool(found and client.search_runs([found.experiment_id], f"metrics.{N.VAL_LOSS} >= 0", max_results=1))


def test_a_worker_rides_out_a_tracking_server_restart(shared, tiny_config, tmp_path):
    epochs = 8
    argv = sweep_args(tiny_config, "3", "1") + ["--storage", shared.storage, "--epochs", str(epochs)]
    (proc,) = start_together([argv + ["--patience", "100"]], shared.env, tmp_path)
    deadline = time.monotonic() + 300
    while not epoch_logged(shared.client, shared.experiment):
        assert proc.poll() is None and time.monotonic() < deadline, logs(tmp_path, 1)
        time.sleep(0.05)
    down = time.time()
    shared.stack.kill_mlflow()
    time.sleep(3)
    shared.stack.script("start")  # PostgreSQL still runs: starts the mlflow server again
    up = time.time()
    assert finish([proc]) == [0], logs(tmp_path, 1)
    (parent,) = sweep_parents(shared.client, shared.experiment)
    (child,) = children(shared.client, parent.info.run_id, experiment=shared.experiment)
    assert parent.info.status == child.info.status == N.FINISHED
    during = []
    for name in N.EPOCH_METRICS:
        history = shared.client.get_metric_history(child.info.run_id, name)
        assert sorted(m.step for m in history) == list(range(epochs)), name
        during += [m.step for m in history if down * 1000 < m.timestamp < up * 1000]
    assert during  # epochs recorded while the server was down arrived after it came back
    for name in (N.TEST_ACC, N.FIT_TIME, N.EPOCHS_RUN):
        assert len(shared.client.get_metric_history(child.info.run_id, name)) == 1, name


def test_planners_racing_queue_each_point_once(shared, tiny_config, tmp_path):
    cfg = SweepConfig(
        levels=(4,),
        seeds=(1, 2),
        train=TrainConfig(data=tiny_config.data, weights="none", epochs=1, image_size=TINY_IMAGE_SIZE),
    )
    plan = ["--plan", json.dumps(cfg.to_attrs()), shared.storage]

    def race(folder: Path) -> list[dict]:
        folder.mkdir()
        procs = start_together([plan] * 3, shared.env, folder)
        assert finish(procs) == [0] * 3, logs(folder, 3)
        return [json.loads(log.strip().splitlines()[-1]) for log in logs(folder, 3)]

    first = race(tmp_path / "new")
    (parent,) = sweep_parents(shared.client, shared.experiment)
    assert {p["parent"] for p in first} == {parent.info.run_id}
    assert sorted(p["created"] for p in first) == [False, False, True]
    assert sum(p["queued"] for p in first) == 2
    study = study_of(parent, shared.storage)
    assert sorted(t.user_attrs[N.GRID_POINT_ATTR] for t in study.trials) == ["freeze=4 seed=1", "freeze=4 seed=2"]
    assert all(t.state == TrialState.WAITING for t in study.trials)

    storage = optuna.storages.RDBStorage(shared.storage)  # the queued points fail before anyone trains them
    study_id = storage.get_study_id_from_name(study.study_name)
    for t in study.trials:
        storage.set_trial_state_values(
            storage.get_trial_id_from_study_id_trial_number(study_id, t.number), TrialState.FAIL
        )
    storage.engine.dispose()
    second = race(tmp_path / "resumed")  # the study exists: its leftovers are queued once, by one of them
    assert {p["parent"] for p in second} == {parent.info.run_id} and not any(p["created"] for p in second)
    assert sum(p["queued"] for p in second) == 2
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert sorted(t.user_attrs[N.GRID_POINT_ATTR] for t in waiting) == ["freeze=4 seed=1", "freeze=4 seed=2"]

    assert main(["worker", "--storage", shared.storage]) == 0  # its only study; the config read back from it
    assert len(sweep_parents(shared.client, shared.experiment)) == 1
    parent = shared.client.get_run(parent.info.run_id)
    assert parent.info.status == N.FINISHED and parent.data.metrics[N.WORKERS_METRIC] == 1
    finished = children(shared.client, parent.info.run_id, N.FINISHED, shared.experiment)
    assert sorted(r.info.run_name for r in finished) == ["freeze=4 seed=1", "freeze=4 seed=2"]
    assert finished[0].data.params["data"] == os.path.realpath(tiny_config.data)


def test_optuna_in_mlflow_database_is_refused(shared, tiny_config, capsys):
    args = sweep_args(tiny_config, "4", "1") + ["--storage", shared.stack.storage("mlflow")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is MLflow's database (it holds MLflow's tables)" in err and "alembic_version" in err
    assert len(err.strip().splitlines()) == 1 and shared.stack.password() not in err
    assert runs_of(shared.client, shared.experiment) == []


def test_a_sweep_stopped_then_killed_mid_trial_and_run_again(
    store, tiny_config, tmp_path, isolated_cache, isolated_temp
):
    """SQLite, one worker at a time: SIGTERM puts the point back and ends the runs KILLED; after a SIGKILL
    the next run ends the lost point's run KILLED with the reason; the rerun trains each point once."""
    args = sweep_args(tiny_config, "4", "1,2") + ["--cache-memory-gib", "0"]
    env = {"OMP_NUM_THREADS": "1"}  # TMPDIR: the test's own (isolated_temp), where both look for checkpoints
    (tmp_path / "a").mkdir()
    stopped = kill_when_training(start_together([args], env, tmp_path / "a"), isolated_cache, signal.SIGTERM)
    assert stopped.returncode != 0
    (parent,) = sweep_parents(store)
    assert parent.info.status == N.KILLED and "grid points left in the queue" in parent.data.tags[N.ERROR_TAG]
    (first,) = children(store, parent.info.run_id)
    assert first.info.status == N.KILLED and "signal 15" in first.data.tags[N.ERROR_TAG]

    (tmp_path / "b").mkdir()
    killed = kill_when_training(start_together([args], env, tmp_path / "b"), isolated_cache)
    assert main(args) == 0
    parent = store.get_run(parent.info.run_id)
    assert parent.info.status == N.FINISHED and N.ERROR_TAG not in parent.data.tags
    runs = children(store, parent.info.run_id)
    finished = sorted(r.info.run_name for r in runs if r.info.status == N.FINISHED)
    assert finished == ["freeze=4 seed=1", "freeze=4 seed=2"]
    (dead,) = [r for r in runs if r.info.status == N.KILLED and r.info.run_id != first.info.run_id]
    assert dead.data.tags[N.ERROR_TAG].startswith(f"lost: worker {HOST}:{killed.pid} stopped sending heartbeats")
    for pid in (stopped.pid, killed.pid):
        assert list(isolated_cache.glob(f"*{pid}@*")) == list(isolated_temp.glob(f"*{pid}@*")) == []
