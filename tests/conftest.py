"""Shared fixtures: a tiny generated image folder and a fresh MLflow store per test."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import numpy as np
import pytest
from PIL import Image

from freeze_study.config import TrainConfig

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # tests never touch the network

CLASSES = ("angular_leaf_spot", "bean_rust", "healthy")


def make_image_folder(root: Path, per_class: int = 3, classes: tuple[str, ...] = CLASSES) -> Path:
    """DIR/{train,validation,test}/<class>/*: mixed sizes, one PNG, one grayscale, one RGBA."""
    rng = np.random.default_rng(0)
    for split in ("train", "validation", "test"):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                size = (40 + 8 * i, 32 + 4 * c)
                pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
                pixels[..., c] = 200  # a class signal a network can pick up
                img = Image.fromarray(pixels)
                if i == 1 and c == 0:
                    img.convert("L").save(folder / f"{name}_{i}.jpg")
                elif i == 2 and c == 1:
                    img.convert("RGBA").save(folder / f"{name}_{i}.png")
                else:
                    img.save(folder / f"{name}_{i}.jpg")
    return root


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test has its own feature/decoded-image cache folder."""
    monkeypatch.setenv("FREEZE_STUDY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "beans")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh SQLite tracking store; fails the test if a run leaked; autolog off afterwards."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # artifacts (./mlruns) stay in the test's folder
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    yield client
    _check_and_reset(client)


def _check_and_reset(client: mlflow.MlflowClient) -> None:
    """Fail if a run is still active or left RUNNING in the store; end them, autolog off."""
    leaked = mlflow.active_run()
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.pytorch.autolog(disable=True)
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, "attributes.status = 'RUNNING'") if experiments else []
    mlflow.set_tracking_uri(None)
    assert leaked is None, f"an MLflow run leaked: {leaked.info.run_id}"
    assert not running, f"runs left RUNNING: {[r.info.run_name for r in running]}"


@pytest.fixture
def tiny_config(image_folder: Path) -> TrainConfig:
    return TrainConfig(data=str(image_folder), weights="none", batch_size=4, epochs=2, num_workers=0,
                       log_every_n_steps=1, accelerator="cpu", precision="32-true")  # the same on any host


def runs_of(client: mlflow.MlflowClient, experiment: str = "freeze-study") -> list:
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, proxied artifacts); yields its client."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()}")
                time.sleep(0.5)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.chdir(tmp_path)
        mlflow.set_tracking_uri(uri)
        client = mlflow.MlflowClient(uri)
        yield client
        _check_and_reset(client)
    finally:
        mlflow.set_tracking_uri(None)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
