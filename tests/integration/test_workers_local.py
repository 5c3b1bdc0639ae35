"""A worker and a sweep on one host (SQLite): what is refused in one line, what a study stores, scratch files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

import freeze_study.names as N
from freeze_study.cli import main
from freeze_study.config import ConfigError, SweepConfig
from freeze_study.scratch import remove_orphans
from freeze_study.sweep.storage import Storage
from tests.helpers import runs_of, sweep_args

HOST = socket.gethostname()


def test_a_second_worker_on_sqlite_is_told_in_one_line(store, tracking_uri, tiny_config, tmp_path, capsys):
    held = Storage(f"sqlite:///{tmp_path / 'optuna.db'}", tracking_uri)  # another worker holds it
    try:
        assert main(sweep_args(tiny_config, "4", "1")) == 2
    finally:
        held.close()
    err = capsys.readouterr().err
    assert f"another worker ({HOST}:{os.getpid()}) is running a sweep on the SQLite storage" in err
    assert "SQLite holds one worker at a time; for several workers use --storage postgresql://" in err
    assert len(err.strip().splitlines()) == 1 and runs_of(store) == []


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("{tracking}", "is MLflow's database (the tracking store is sqlite:///"),
        ("mysql://u@h/optuna", "freeze-study runs on SQLite (one worker) or PostgreSQL"),
        ("not a url", "invalid Optuna storage URL 'not a url'"),
    ],
)
def test_unusable_storage_is_named(store, tracking_uri, tiny_config, capsys, storage, message):
    assert main(sweep_args(tiny_config, "4", "1") + ["--storage", storage.format(tracking=tracking_uri)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert runs_of(store) == []


def test_worker_without_a_sweep_is_told(store, tmp_path, capsys):
    assert main(["worker", "--storage", f"sqlite:///{tmp_path / 'empty.db'}"]) == 2
    assert "no sweep in sqlite:///" in capsys.readouterr().err


def test_sweep_config_travels_through_the_study(tiny_config):
    cfg = SweepConfig(levels=(3, 4), seeds=(7,), train=tiny_config, heartbeat_s=2, grace_period_s=9, max_retries=1)
    attrs = json.loads(json.dumps(cfg.to_attrs()))  # as the study stores it
    back = SweepConfig.from_attrs(attrs, "sqlite:///x.db", "s", num_workers=3, cache_dir=None)
    assert back.key() == cfg.key() and back.train.num_workers == 3 and back.train.epochs == tiny_config.epochs
    assert (back.heartbeat_s, back.grace_period_s, back.max_retries, back.study_name) == (2, 9, 1, "s")
    assert back.train.data == os.path.realpath(tiny_config.data)
    with pytest.raises(ConfigError, match="local settings"):
        SweepConfig.from_attrs(attrs, "sqlite:///x.db", "s", epochs=5)  # part of the sweep, not of a host
    with pytest.raises(ConfigError, match="grace_period_s"):
        SweepConfig(heartbeat_s=10, grace_period_s=10)


def test_only_a_dead_process_scratch_is_removed(tmp_path):
    root = tmp_path / "scratch"  # a folder of its own: the test's store lies in tmp_path
    root.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    names = [
        f"{N.FEATURES_SCRATCH}{gone.pid}@{HOST}-abc123_x",  # its process is gone: removed
        f"{N.RUN_SCRATCH}{gone.pid}@{HOST}-q1w2e3r4",
        f"{N.RUN_SCRATCH}{os.getpid()}@{HOST}-q1w2e3r4",  # alive: kept
        f"{N.FEATURES_SCRATCH}{gone.pid}@another-host-q1w2e3r4",  # another host's: kept
        "features-unrelated",
    ]
    for name in names:
        (root / name).mkdir()
    (root / f"{N.FEATURES_SCRATCH}{gone.pid}@{HOST}-zz9x8c7v.npy").write_bytes(b"half")  # a file: removed
    removed = remove_orphans([root, root / "missing"])
    assert sorted(p.name for p in removed) == sorted(
        [*names[:2], f"{N.FEATURES_SCRATCH}{gone.pid}@{HOST}-zz9x8c7v.npy"]
    )
    assert sorted(p.name for p in root.iterdir()) == sorted(names[2:])
