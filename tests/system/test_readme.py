"""Every command the README shows works exactly as written.

The README's fenced commands run, in README order, in a copy of the project beside a
generated `../shared/beans` (a few images per class), with the tests' environment as `.venv`
and no tracking URI set, as a new user would type them: `.venv/bin/...` and `make` from a
shell whose PATH lacks the venv, bare `mlflow` after `. .venv/bin/activate` (as the README
says). Commands that need the network or conda are listed with the reason they cannot run
here; a command added to the README must be added to `COMMANDS`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import mlflow
import pytest

import freeze_study.names as N
from tests.helpers import PROJECT, make_image_folder, stop_group, wait_until_answers

NETWORK = "downloads Beans from the Hugging Face hub (and ImageNet weights): no network here"
STACK = "starts PostgreSQL and an mlflow server on fixed ports: tests/test_workers.py runs scripts/stack on free ones"
OTHER_HOST = "reaches another host (server.lan) or binds beyond localhost"
PLACEHOLDER = "PARENT_RUN_ID / RUN_ID stand for a run id"
REAL_BEANS_FILE = "names a file of the real Beans test split (the generated folder's files have other names)"
# README command -> None (runs here), a reason it cannot, or the address a server it starts answers on.
COMMANDS: dict[str, str | None] = {
    "make sweep": NETWORK,
    "make test": "the test suite itself (CI runs it)",
    "make help": None,
    "make sweep DATA=../shared/beans WEIGHTS=none EPOCHS=2": None,
    ".venv/bin/freeze-study train --freeze 1": NETWORK,
    ".venv/bin/freeze-study train --freeze 1 --data ../shared/beans --weights none --epochs 2": None,
    "make run FREEZE=1 DATA=../shared/beans WEIGHTS=none EPOCHS=2": None,
    ".venv/bin/mlflow run . -P freeze=1 -P data=../shared/beans -P weights=none -P epochs=2 "
    "--experiment-name freeze-study --env-manager local": None,
    "mlflow run . -P freeze=1 --experiment-name freeze-study": "builds a conda environment (network)",
    "mlflow run . -P freeze=1 --experiment-name freeze-study --env-manager local": NETWORK,
    ".venv/bin/freeze-study ui": "server http://127.0.0.1:5000/health",
    ".venv/bin/freeze-study sweep --levels 0,2,4 --seeds 42,43 --data ../shared/beans --weights none --epochs 2": None,
    ".venv/bin/freeze-study report": None,
    "mlflow run . -e sweep -P levels=0,2,4 -P data=../shared/beans -P weights=none -P epochs=2 "
    "--experiment-name freeze-study --env-manager local": None,
    ".venv/bin/freeze-study tensorboard": "server http://127.0.0.1:6006/data/runs",
    "make bench": None,
    ".venv/bin/freeze-study bench --data ../shared/beans --weights none --limit 100 --levels 0,4": None,
    # Many machines: the stack and its workers run in tests/test_workers.py (scripts/stack on free ports).
    "make server": STACK,
    "make server-stop": STACK,
    "make server BIND=0.0.0.0 ALLOWED_HOSTS=server.lan:5000": OTHER_HOST,
    ".venv/bin/pip install 'mlflow[auth]'": "installs a package from PyPI (network)",
    "export MLFLOW_FLASK_SERVER_SECRET_KEY=$(openssl rand -hex 16) MLFLOW_AUTH_ADMIN_PASSWORD='choose-a-long-one'": (
        "sets the next command's variables (a server with MLflow's basic-auth app)"
    ),
    'MLFLOW_SERVER_ARGS="--app-name basic-auth" make server BIND=0.0.0.0 ALLOWED_HOSTS=server.lan:5000': OTHER_HOST,
    "scp server.lan:freeze_study/.stack/pgpass ~/.pgpass && chmod 600 ~/.pgpass": OTHER_HOST,
    "export MLFLOW_TRACKING_URI=http://server.lan:5000": OTHER_HOST,
    ".venv/bin/freeze-study sweep --levels 0,1,2,3,4 --seeds 42,43,44 --data /data/beans --weights none "
    "--storage postgresql://freeze_study@server.lan:5432/optuna": OTHER_HOST,
    ".venv/bin/freeze-study worker --storage postgresql://freeze_study@server.lan:5432/optuna": OTHER_HOST,
    "make worker": STACK,
    "MLFLOW_TRACKING_URI=http://127.0.0.1:5000 PGPASSFILE=$PWD/.stack/pgpass .venv/bin/python -m "
    "freeze_study.bench.workers --storage postgresql://freeze_study@127.0.0.1:5432/optuna": (
        "needs `make server` on fixed ports and takes about 25 minutes; tests/test_workers.py covers the workers"
    ),
    "make worker STORAGE=postgresql://freeze_study@server.lan:5432/optuna TRACKING=http://server.lan:5000": OTHER_HOST,
    "CUDA_VISIBLE_DEVICES=0 make worker &": "one worker per GPU: needs GPUs and `make server`",
    "CUDA_VISIBLE_DEVICES=1 make worker &": "one worker per GPU: needs GPUs and `make server`",
    # The registered model (the sweeps above registered their choice).
    ".venv/bin/freeze-study register": None,
    ".venv/bin/freeze-study register --sweep PARENT_RUN_ID --model-name beans-classifier": PLACEHOLDER,
    ".venv/bin/freeze-study predict ../shared/beans/test": None,
    ".venv/bin/freeze-study predict ../shared/beans/test/healthy/healthy_test.0.jpg ../shared/beans/test/bean_rust "
    "--json": REAL_BEANS_FILE,
    ".venv/bin/freeze-study predict ../shared/beans/test --model runs:/RUN_ID/model": PLACEHOLDER,
    ". .venv/bin/activate": "activates the venv for the next command (every `mlflow` command here runs activated)",
    "mlflow models serve -m models:/freeze-study-resnet18@champion --env-manager local -p 5001": (
        "server http://127.0.0.1:5001/ping"
    ),
    'printf \'{"inputs": ["%s"]}\' "$(base64 -w0 ../shared/beans/test/healthy/healthy_test.0.jpg)" | '
    "curl -s http://127.0.0.1:5001/invocations -H 'Content-Type: application/json' -d @-": REAL_BEANS_FILE
    + "; tests/test_serve.py sends the same request to a real scoring server",
    ".venv/bin/freeze-study cache list": None,
    ".venv/bin/freeze-study cache clear": None,
    "make bench-sweep": "the whole-sweep benchmark takes many minutes; tests/test_bench.py runs `bench --sweep` small",
    ".venv/bin/freeze-study bench --sweep --data ../shared/beans --weights none --train-per-class 64": (
        "the whole-sweep benchmark takes many minutes; tests/test_bench.py runs `bench --sweep` small"
    ),
    "make gpu-check": None,
}
SERVER = "server "


def readme_commands() -> list[str]:
    """The commands of the README's fenced blocks, in order, without their trailing comments; a line ending in
    `\\` or `|` goes on in the next. Blocks marked ```text (what a command prints) or ```python are not commands."""
    blocks = re.findall(r"^```([^\n]*)\n(.*?)^```", (PROJECT / "README.md").read_text(), re.S | re.M)
    commands, pending = [], ""
    for kind, block in blocks:
        if kind.strip() in ("text", "python"):
            continue
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if not line:
                continue
            pending = f"{pending} {line}" if pending else line
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip()
            elif not pending.endswith("|"):
                commands.append(pending)
                pending = ""
    return commands


def make_targets() -> list[str]:
    phony = re.search(r"^\.PHONY:(.*)$", (PROJECT / "Makefile").read_text(), re.M)
    return phony.group(1).split()


def test_every_readme_command_is_known_here():
    commands = readme_commands()
    assert set(commands) == set(COMMANDS), "add new README commands to COMMANDS (or remove stale ones)"
    assert len(commands) == len(set(commands))


def test_the_readmes_images_are_in_the_repository():
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (PROJECT / "README.md").read_text())
    tracked = subprocess.run(["git", "ls-files", *links], cwd=PROJECT, capture_output=True, text=True).stdout.split()
    assert links and sorted(tracked) == sorted(links), "`make screenshots` makes them; commit them"


def test_make_help_lists_every_target_with_one_line():
    done = subprocess.run(["make", "-s", "help"], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    described = dict(re.findall(r"^\s+make (\S+)\s+(\S.*)$", done.stdout, re.M))
    assert sorted(described) == sorted(make_targets())
    assert len(done.stdout.splitlines()) == len(make_targets())


def test_mlproject_entry_points_run_with_the_projects_python():
    """`mlflow run` runs entry points with `python` from PATH; `scripts/project-python` finds the right one."""
    import yaml

    project = yaml.safe_load((PROJECT / "MLproject").read_text())
    for name, entry in project["entry_points"].items():
        assert entry["command"].startswith("bash scripts/project-python -m freeze_study "), name


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the project's files beside `shared/beans`, with this environment as its `.venv`."""
    if not (Path(sys.prefix) / ".installed").exists():
        pytest.skip(f"{sys.prefix} was not made by `make install`: the README's make commands would reinstall it")
    root = tmp_path / "work"
    repo = root / "freeze_study"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    for name in listed.stdout.splitlines():
        if (PROJECT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT / name, repo / name)
    (repo / ".venv").symlink_to(sys.prefix)
    installed = (Path(sys.prefix) / ".installed").stat().st_mtime
    os.utime(repo / "pyproject.toml", (installed - 1, installed - 1))  # `make install` has nothing to do
    make_image_folder(root / "shared" / "beans")
    return repo


def user_env(activated: bool) -> dict[str, str]:
    """A new user's shell: no tracking URI or run context; the venv on PATH only after activation."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "MLFLOW_EXPERIMENT"))}
    env.pop("MLFLOW_RUN_ID", None)
    env.pop("VIRTUAL_ENV", None)
    path = [
        p for p in env["PATH"].split(os.pathsep) if not Path(p).resolve().is_relative_to(Path(sys.prefix).resolve())
    ]
    env["PATH"] = os.pathsep.join(path)
    return env


def shell_line(command: str) -> tuple[str, bool]:
    activated = command.startswith("mlflow ")  # the README: "`mlflow` is `.venv/bin/mlflow`; activate the venv"
    return (f". .venv/bin/activate && {command}" if activated else command), activated


def port_in_use(url: str) -> bool:
    host, port = re.match(r"http://([^:/]+):(\d+)", url).groups()
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) == 0


def run_server(command: str, url: str, cwd: Path) -> str | None:
    """Start a README command that serves, wait until `url` answers, stop it (Ctrl-C); None, or why it did not."""
    if port_in_use(url):
        return f"not run: {url} is already taken on this machine"
    line, activated = shell_line(command)
    proc = subprocess.Popen(
        ["bash", "-c", line],
        cwd=cwd,
        env=user_env(activated),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_answers(
            url, proc, 240, lambda: f"{command}: {url} did not answer: {proc.stdout.read().decode()[-3000:]}"
        )
        return None
    finally:
        stop_group(proc, signal.SIGINT, 60)
        proc.stdout.close()


def test_readme_commands_run_as_written(checkout: Path):
    not_run = []
    for command in readme_commands():
        reason = COMMANDS[command]
        if reason and reason.startswith(SERVER):
            if why := run_server(command, reason[len(SERVER) :], checkout):
                not_run.append(f"{command}: {why}")
            continue
        if reason:
            continue
        line, activated = shell_line(command)
        done = subprocess.run(
            ["bash", "-c", line], cwd=checkout, env=user_env(activated), capture_output=True, text=True, timeout=1800
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    if not_run:
        warnings.warn("; ".join(not_run), stacklevel=1)

    # What the commands left behind, as a user would find it: the default store in the working directory.
    client = mlflow.MlflowClient(f"sqlite:///{checkout / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(N.DEFAULT_EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    assert runs and all(r.info.status == N.FINISHED for r in runs)
    parents = [r for r in runs if r.data.tags.get(N.ROLE_TAG) == N.SWEEP_ROLE]
    assert sorted(int(p.data.metrics[N.POINTS_FINISHED]) for p in parents) == [3, 5, 6]
    assert experiment.tags[N.EXPERIMENT_KIND_TAG] == N.MODEL_TRAINING_KIND
    assert len([r for r in runs if r.data.tags.get(N.PARENT_RUN_TAG) is None]) == 3 + 3  # 3 single runs
    assert (checkout / "reports" / "bench.json").exists()
    assert len(list((checkout / "reports").glob("*/report.md"))) == 2  # make sweep's and `freeze-study report`'s
    champion = client.get_model_version_by_alias(N.registered_model_name(N.DEFAULT_EXPERIMENT), N.CHAMPION_ALIAS)
    assert client.get_run(champion.run_id).data.tags[N.PARENT_RUN_TAG] in {p.info.run_id for p in parents}
