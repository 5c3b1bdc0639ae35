"""Processes the tests start and talk to: free ports, `mlflow run`, a scoring server, waiting for an address to
answer, stopping a process group, posting JSON."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import freeze_study.names as N
from tests.helpers.data import PROJECT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlflow_run(*params: str, cwd: Path, entry: str = "main") -> subprocess.CompletedProcess:
    """`mlflow run <project> -e entry --env-manager local -P ...` in `cwd`, with this interpreter first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    args = [
        sys.executable,
        "-m",
        "mlflow",
        "run",
        str(PROJECT),
        "-e",
        entry,
        "--env-manager",
        "local",
        "--experiment-name",
        N.DEFAULT_EXPERIMENT,
    ]
    for p in params:
        args += ["-P", p]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@contextlib.contextmanager
def scoring_server(model_uri: str, log: Path) -> Iterator[str]:
    """`mlflow models serve -m model_uri --env-manager local` on 127.0.0.1 and a free port, as the README runs
    it (the venv's bin first on PATH, for uvicorn); yields its URL and stops it (its process group) after."""
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    args = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*args, "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(
            f"{url}/ping", proc, 180, lambda: f"the scoring server did not start: {log.read_text()[-3000:]}"
        )
        yield url
    finally:
        stop_group(proc, signal.SIGTERM, 20)


def wait_until_answers(url: str, proc: subprocess.Popen, seconds: float, failure: Callable[[], str]) -> None:
    """Poll `url` until it answers; RuntimeError(failure()) if `proc` exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(failure()) from None
            time.sleep(0.5)


def stop_group(proc: subprocess.Popen, sig: int, seconds: float) -> None:
    """Send `sig` to the process group of `proc` (started with start_new_session=True); SIGKILL after `seconds`."""
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def post_json(url: str, body: object) -> tuple[int, dict]:
    """POST `body` as JSON; (HTTP status, decoded JSON answer), for error statuses too."""
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
