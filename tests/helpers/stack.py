"""The shared stack (PostgreSQL + `mlflow server`, as `make server` starts it) and worker processes started
together.

`python -m tests.helpers.stack READY_DIR N I ARGS...` runs `freeze-study ARGS...` once N such processes are
ready (imports done), so that they start at the same instant; `--plan` as the first of ARGS only plans
(`freeze_study.sweep.planner.plan`) and prints what it did as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.helpers.data import PROJECT
from tests.helpers.processes import free_port


# The shared stack and its workers.
class Stack:
    """PostgreSQL and an `mlflow server` on it, run by `scripts/stack` (what `make server` runs) in `folder`."""

    def __init__(self, folder: Path):
        self.folder, self.pg_port, self.mlflow_port = folder, free_port(), free_port()
        self.uri = f"http://127.0.0.1:{self.mlflow_port}"
        self.temp = tempfile.gettempdir()  # the session's: a server a test restarts outlives the test's own

    def env(self) -> dict[str, str]:
        """What a worker process on this host needs to reach the stack."""
        return {"MLFLOW_TRACKING_URI": self.uri, "PGPASSFILE": str(self.folder / "pgpass")}

    def script(self, command: str) -> None:
        env = {
            **os.environ,
            "STACK_DIR": str(self.folder),
            "PG_PORT": str(self.pg_port),
            "MLFLOW_PORT": str(self.mlflow_port),
            "MLFLOW": str(Path(sys.executable).parent / "mlflow"),
            "MLFLOW_WORKERS": "1",
            "TMPDIR": self.temp,
        }
        done = subprocess.run(
            [str(PROJECT / "scripts" / "stack"), command], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def kill_mlflow(self) -> None:
        """SIGKILL the mlflow server (its process group), as a crash would."""
        os.killpg(int((self.folder / "mlflow.pid").read_text()), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # gone when the port refuses (a zombie may outlive its pid)
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.mlflow_port)) != 0:
                    return
            time.sleep(0.05)
        raise AssertionError("the mlflow server still answers after SIGKILL")

    def password(self) -> str:
        return (self.folder / "pgpass").read_text().strip().rsplit(":", 1)[1]

    def storage(self, database: str) -> str:
        return f"postgresql://freeze_study@127.0.0.1:{self.pg_port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database on the cluster (PGPASSFILE must point at the stack's); its storage URL."""
        import sqlalchemy

        name = f"optuna_{uuid.uuid4().hex[:8]}"
        engine = sqlalchemy.create_engine(self.storage("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
        engine.dispose()
        return self.storage(name)


def start_together(argvs: list[list[str]], env: dict[str, str], folder: Path) -> list[subprocess.Popen]:
    """One process per argv (`freeze-study` arguments), all released at the same instant once every one
    has imported what it needs; stdout+stderr to folder/worker-<i>.log."""
    ready = folder / "ready"
    ready.mkdir()
    procs = []
    for i, argv in enumerate(argvs):
        log = open(folder / f"worker-{i}.log", "w")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.helpers.stack", str(ready), str(len(argvs)), str(i), *argv],
                cwd=folder,
                env={**os.environ, **env, "PYTHONPATH": str(PROJECT)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return procs


def finish(procs: list[subprocess.Popen], timeout: float = 600) -> list[int]:
    """Wait for every process (killing the rest if one overruns); their exit codes."""
    deadline = time.monotonic() + timeout
    try:
        return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _together(ready: Path, n: int, i: int, argv: list[str]) -> int:
    planning = argv[0] == "--plan"
    if planning:  # planning alone needs no training stack
        from freeze_study.config import SweepConfig
        from freeze_study.sweep import planner
    else:
        import freeze_study.sweep.runner  # noqa: F401 - the heavy imports (torch, Lightning), before the barrier
        from freeze_study.cli import main
    (ready / f"{i}").touch()
    while len(list(ready.iterdir())) < n:
        time.sleep(0.002)
    if not planning:
        return main(argv)
    plan = planner.plan(SweepConfig.from_attrs(json.loads(argv[1]), argv[2], None), say=lambda line: None)
    plan.storage.close()
    print(json.dumps({"parent": plan.parent_id, "created": plan.created, "queued": plan.queued}))
    return 0


if __name__ == "__main__":
    sys.exit(_together(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]))
