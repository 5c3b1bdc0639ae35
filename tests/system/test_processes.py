"""Runs in processes of their own, as a user starts them: signals, a small /dev/shm, the child processes of a
test, the terminal's lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

import freeze_study.names as N
from tests.helpers import (
    log_model_run,
    runs_of,
)


def _small_shm_works() -> bool:
    import shutil
    import subprocess

    if not shutil.which("unshare"):
        return False
    probe = ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=2m tmpfs /dev/shm"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def test_sigterm_ends_the_run_killed(store, tiny_config):
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "freeze_study",
            "train",
            "--data",
            tiny_config.data,
            "--weights",
            "none",
            "--epochs",
            "500",
            "--patience",
            "500",
            "--num-workers",
            "0",
            "--image-size",
            str(tiny_config.image_size),
        ],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not [r for r in runs_of(store) if store.get_metric_history(r.info.run_id, N.TRAIN_LOSS)]:
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) != 0
    finally:
        proc.kill()
    (run,) = runs_of(store)
    assert run.info.status == N.KILLED and "signal" in run.data.tags[N.ERROR_TAG]


def test_a_run_in_a_small_dev_shm_finishes_with_fewer_workers_and_a_warning(store, tiny_config):
    """Docker's small /dev/shm, for real: a private 2 MB /dev/shm in a mount namespace (needs CAP_SYS_ADMIN)."""
    import os
    import shlex
    import subprocess
    import sys

    if not _small_shm_works():
        pytest.skip("cannot mount a small /dev/shm here (unshare -m needs CAP_SYS_ADMIN)")
    args = [sys.executable, "-m", "freeze_study", "train", "--data", tiny_config.data, "--weights", "none"]
    args += ["--epochs", "1", "--num-workers", "2", "--feature-cache", "off", "--batch-size", "16"]
    script = f"mount -t tmpfs -o size=2m tmpfs /dev/shm && exec {shlex.join(args)}"
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], env=os.environ.copy(), capture_output=True, text=True, timeout=600
    )  # before: "unable to allocate shared memory(shm)" in a worker, a 17-line traceback, exit 1
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning: only 2 MB of shared memory free (/dev/shm); 2 DataLoader workers need about 55 MB: " in (
        done.stderr
    )
    (run,) = runs_of(store)
    assert run.info.status == N.FINISHED and run.data.metrics[N.EPOCHS_RUN] == 1


def test_a_test_s_own_mlflow_loads_and_child_processes_write_under_its_folder(store, isolated_temp):
    """The tests' own `load_model(uri)` calls leave MLflow's copy in the test's own temporary folder (isolated_temp,
    removed when the test ends); so do the servers and workers the tests start."""
    run_id = log_model_run()
    mlflow.pytorch.load_model(f"runs:/{run_id}/{N.MODEL_ARTIFACT}")
    assert len(list(isolated_temp.rglob("MLmodel"))) == 1
    child = "import tempfile; print(tempfile.gettempdir())"
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(isolated_temp)


def test_warnings_and_errors_are_one_line_each_on_the_terminal(store, tiny_config):
    import os
    import subprocess
    import sys

    (Path(tiny_config.data) / "train" / "notes.txt").write_text("x")
    (Path(tiny_config.data) / "test" / "healthy" / "empty.jpg").write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-m", "freeze_study", "train", "--data", tiny_config.data, "--weights", "none"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    ours = [line for line in done.stderr.splitlines() if " INFO mlflow" not in line]
    assert ours[0].startswith("warning: skipped 1 entries in ") and ours[0].endswith("train/notes.txt)")
    assert ours[1].startswith("freeze-study: error: cannot decode image ") and len(ours) == 2
