"""Fixtures: a tiny generated image folder, a fresh MLflow store for every test, a real `mlflow server`,
and the shared stack (PostgreSQL + `mlflow server` on it, started once per session as `make server` does).

Every test runs with its own SQLite tracking store, feature cache and temporary folder; afterwards
no MLflow run may be active or left RUNNING. Autolog runs in MLflow's test mode, so its
errors raise instead of being swallowed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest

import freeze_study.names as N
from freeze_study.config import TrainConfig
from freeze_study.tracking.server import WORKER_HTTP_DEFAULTS
from tests.helpers import (
    REGISTERED_NAME,
    TINY_IMAGE_SIZE,
    Stack,
    assert_no_leaked_runs,
    free_port,
    log_model_run,
    make_image_folder,
    stop_group,
    wait_until_answers,
)

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # tests never touch the network
os.environ["MLFLOW_AUTOLOGGING_TESTING"] = "true"  # autolog errors raise (MLflow's own test mode)
_MLFLOW_CONTEXT = ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID")


# The tiers, one folder each: what a test in a tier may ask for is checked when the tests are collected.
TIERS = ("unit", "integration", "system")
NOT_IN = {  # fixtures a tier's tests may not use
    "unit": {"store", "mlflow_server", "stack", "shared", "page", "registered"},
    "integration": {"mlflow_server", "stack", "shared", "page"},
    "system": set(),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test is marked with its tier (its folder), and a test that uses what its tier may not (a store in a
    unit test, a server in an integration test) stops the collection by name. Tests marked `cuda` are skipped,
    with the reason, on machines without a CUDA device."""
    import torch

    wrong = []
    for item in items:
        tier = next((t for t in TIERS if f"{os.sep}tests{os.sep}{t}{os.sep}" in str(item.path)), None)
        if tier is None:
            wrong.append(f"{item.nodeid}: not in a tier's folder (tests/unit, tests/integration, tests/system)")
            continue
        item.add_marker(getattr(pytest.mark, tier))
        if used := sorted(NOT_IN[tier] & set(item.fixturenames)):
            wrong.append(f"{item.nodeid}: a {tier} test uses {', '.join(used)}")
    if wrong:
        raise pytest.UsageError("tests outside their tier:\n" + "\n".join(wrong))
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run them with `make gpu-check` on a GPU machine)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test has its own feature/decoded-image cache folder."""
    monkeypatch.setenv("FREEZE_STUDY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def isolated_temp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test's temporary files go into a folder of its own, removed when the test ends: this process's
    (`tempfile`) and its child processes' (`TMPDIR`). MLflow downloads every `load_model(uri)` the tests
    make into a `mkdtemp()` folder it never removes (45 MB a model). The folder is a short one in the
    system's temporary folder, not under `tmp_path`: UNIX socket paths (Chromium's `SingletonSocket`)
    must stay under 108 bytes. The session's `stack` is set up before this (higher scope first)."""
    temp = Path(tempfile.mkdtemp(prefix="freeze-study-test-"))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("TMPDIR", str(temp))
    yield temp
    shutil.rmtree(temp, ignore_errors=True)  # after the test's servers and workers stopped (set up later)


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store, made once: every test's store starts as a copy of it (MLflow builds a new
    store's schema in 1.5-3 s on 2 cores; a copy takes milliseconds)."""
    db = tmp_path_factory.mktemp("store-template") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


def fresh_store(template: Path, db: Path, default_artifacts: str) -> None:
    """`db`: a copy of the empty store `template` whose Default experiment keeps its artifacts at
    `default_artifacts` (where a store made there would have put them), not where the template was made."""
    shutil.copyfile(template, db)
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", (default_artifacts,))


@pytest.fixture(autouse=True)
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_template: Path):
    """Every test's default store is a fresh `sqlite:///<tmp>/mlflow.db`; if the test wrote to it, no run
    may be active or left RUNNING afterwards."""
    db = tmp_path / "mlflow.db"
    fresh_store(store_template, db, str(tmp_path / "mlruns" / "0"))
    untouched = db.stat()
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for var in (*_MLFLOW_CONTEXT, *WORKER_HTTP_DEFAULTS):  # what a test's sweep sets goes with the test
        monkeypatch.delenv(var, raising=False)
    mlflow.set_tracking_uri(uri)
    yield uri
    try:
        now = db.stat()
        if (now.st_mtime_ns, now.st_size) != (untouched.st_mtime_ns, untouched.st_size):
            assert_no_leaked_runs(mlflow.MlflowClient(uri))
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.pytorch.autolog(disable=True)
        mlflow.set_tracking_uri(None)


@pytest.fixture
def store(tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> mlflow.MlflowClient:
    """A client of the test's SQLite store; the working directory is the test's folder (./mlruns)."""
    monkeypatch.chdir(tmp_path)
    return mlflow.MlflowClient(tracking_uri)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "beans")


@pytest.fixture
def tiny_config(image_folder: Path) -> TrainConfig:
    return TrainConfig(
        data=str(image_folder),
        weights="none",
        batch_size=4,
        image_size=TINY_IMAGE_SIZE,
        epochs=2,
        num_workers=0,
        log_every_n_steps=1,
        accelerator="cpu",
        precision="32-true",
    )  # the same on any host


@pytest.fixture
def weights_file(tmp_path: Path) -> str:
    """A seeded random-init ResNet18 state dict: weights that do not depend on the run's seed (shared cache)."""
    import torch

    from freeze_study.model import build_resnet18

    torch.manual_seed(0)
    path = tmp_path / "weights.pth"
    torch.save(build_resnet18(1000, "none").state_dict(), path)
    return str(path)


@pytest.fixture
def registered(store: mlflow.MlflowClient) -> str:
    """The id of a run whose classifier is registered as the default experiment's champion."""
    from freeze_study.serve import register_run

    run_id = log_model_run()
    register_run(run_id, REGISTERED_NAME, {N.VAL_ACC: "0.5"})
    return run_id


@pytest.fixture
def mlflow_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_template: Path):
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, proxied artifacts); yields its client."""
    port = free_port()
    fresh_store(store_template, tmp_path / "server.db", "mlflow-artifacts:/0")  # the server serves the artifacts
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # no GenAI job runner: 7 processes
    )
    uri = f"http://127.0.0.1:{port}"
    try:  # a shared, loaded machine can take minutes to start it
        wait_until_answers(
            f"{uri}/health", proc, 240, lambda: f"mlflow server did not start: {(tmp_path / 'server.log').read_text()}"
        )
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.chdir(tmp_path)
        mlflow.set_tracking_uri(uri)
        client = mlflow.MlflowClient(uri)
        yield client
        assert_no_leaked_runs(client)  # while the server still runs
    finally:
        mlflow.set_tracking_uri(None)
        stop_group(proc, signal.SIGTERM, 20)
        log.close()


@pytest.fixture(scope="session")
def stack():
    """PostgreSQL (Debian's package) and an `mlflow server` on it, started by `scripts/stack` as `make server`
    starts them, in a temporary folder the postgres user can reach (pytest's tmp_path is not: mode 700);
    stopped at the end of the session."""
    folder = Path(tempfile.mkdtemp(prefix="freeze-study-stack-"))
    folder.chmod(0o755)
    stack = Stack(folder)
    try:
        stack.script("start")
        yield stack
    finally:
        stack.script("stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def shared(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """This test's share of the stack: a fresh Optuna database (`shared.storage`), its own experiment, this
    process pointed at the server (`shared.env` for worker processes); afterwards no run may be RUNNING."""
    experiment = f"test-{tmp_path.name}"
    env = {**stack.env(), "MLFLOW_EXPERIMENT_NAME": experiment}
    env["OMP_NUM_THREADS"] = "1"  # several workers share the CPU cores: no thread oversubscription
    for name, value in env.items():
        if name != "OMP_NUM_THREADS":
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(stack.uri)
    client = mlflow.MlflowClient(stack.uri)
    yield SimpleNamespace(client=client, storage=stack.new_database(), experiment=experiment, env=env, stack=stack)
    assert_no_leaked_runs(client)
    mlflow.set_tracking_uri(None)


# Chromium's flags for a headless browser on a machine without a display or network (Debian's `chromium`).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
BROWSER_TIMEOUT_MS = 180_000  # pages render slowly on 2 busy cores


@pytest.fixture
def page(tmp_path: Path):
    """A headless Chromium page (Debian's `chromium`, driven by Playwright; no browser is ever downloaded) with a
    fresh profile under the test's folder; skips, saying why, where there is no `chromium`."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no `chromium` on PATH: `apt-get install chromium` (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium,
            headless=True,  # Playwright passes --headless
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(BROWSER_TIMEOUT_MS)
            yield page
        finally:
            context.close()
