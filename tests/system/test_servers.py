"""The product against real servers: a tracking server, a scoring server, TensorBoard."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import mlflow
import pytest

import freeze_study.names as N
from freeze_study.cli import main
from freeze_study.config import SweepConfig, TrainConfig
from freeze_study.serve import register_run
from freeze_study.serve.predict import load_classifier
from freeze_study.sweep import run_sweep
from tests.helpers import (
    CHAMPION,
    CLASSES,
    REGISTERED_NAME,
    TINY_IMAGE_SIZE,
    aliases,
    children,
    free_port,
    log_model_run,
    md_table,
    post_json,
    runs_of,
    scalars,
    scoring_server,
    sweep_args,
    sweep_parents,
    versions,
)


def test_registering_and_loading_through_a_tracking_server(mlflow_server, image_folder, isolated_temp):
    run_id = log_model_run()
    assert register_run(run_id, REGISTERED_NAME, {N.VAL_ACC: "0.5"}).champion == 1
    assert register_run(run_id, REGISTERED_NAME, {N.VAL_ACC: "0.5"}).created is False
    (version,) = versions(mlflow_server)
    assert version.run_id == run_id and aliases(mlflow_server) == {N.CHAMPION_ALIAS: 1}
    images = sorted((image_folder / "test").rglob("*.*"))
    ours = load_classifier(f"models:/{REGISTERED_NAME}@{N.CHAMPION_ALIAS}")  # what `freeze-study predict` loads
    assert not list(isolated_temp.rglob("MLmodel"))  # registering and loading left no copy of a model behind
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_NAME}@{N.CHAMPION_ALIAS}")  # artifacts proxied by the server
    assert [p.class_name in CLASSES for p in model.predict(images)] == [True] * len(images)
    assert ours.predict(None, images) == model.predict(images)


def test_sweep_and_report_against_a_tracking_server(mlflow_server, tiny_config, tmp_path, capsys):
    args = sweep_args(tiny_config, "1,3", "7") + ["--storage", f"sqlite:///{tmp_path / 'remote-optuna.db'}", "--report"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[2/2] freeze=3 seed=7 done: val_acc=" in out and "left" in out
    (parent,) = sweep_parents(mlflow_server)
    pid = parent.info.run_id
    assert len(children(mlflow_server, pid, N.FINISHED)) == 2
    assert parent.data.tags[N.STORAGE_TAG].endswith("remote-optuna.db")
    report = {a.path for a in mlflow_server.list_artifacts(pid, N.REPORT_ARTIFACT)}
    assert {"report/report.md", "report/report.html", "report/test_results.png"} <= report
    md = (tmp_path / "reports" / pid / "report.md").read_text()
    assert [row[0].split()[0] for row in md_table(md, "Results per freeze level")] == ["1", "3"]  # a row per level
    context = dict(md_table(md, "What was run"))
    assert context["Weights"] == "none (random initialisation)" and "not from ImageNet weights" in md
    assert context["Data"].startswith(f"{tiny_config.data} (content digest ")
    assert context["Device and precision"].startswith("cpu ") and context["Seeds"] == "7"
    same = TrainConfig(
        data=tiny_config.data, weights="none", epochs=1, batch_size=4, num_workers=0, image_size=TINY_IMAGE_SIZE
    )
    cfg = SweepConfig(levels=(1, 3), seeds=(7,), train=same, storage=f"sqlite:///{tmp_path / 'remote-optuna.db'}")
    assert run_sweep(cfg, say=lambda line: None).trained == 0  # the same sweep through the API


TRAIN = ["train", "--weights", "none", "--epochs", "1", "--batch-size", "4", "--num-workers", "0", "--freeze", "4"]
TRAIN += ["--image-size", str(TINY_IMAGE_SIZE)]


def test_a_server_whose_artifact_root_cannot_be_written(mlflow_server, tiny_config, tmp_path, capsys, monkeypatch):
    # MLflow retries a failed upload seven times, waiting 2 s, 4 s, ... 120 s (about 4 minutes); the same retries
    # without the waits reach the same error
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
    root = tmp_path / "server-artifacts"
    shutil.rmtree(root, ignore_errors=True)
    root.write_text("a file where the server's artifact root should be")
    assert main([*TRAIN, "--data", tiny_config.data]) == 2
    err = capsys.readouterr().err.splitlines()[-1]  # after MLflow's "Creating a new experiment"
    assert err.startswith("freeze-study: error: cannot write the artifacts of run") and "mlflow-artifacts:" in err
    (run,) = runs_of(mlflow_server)
    trained = [name for name in run.data.metrics if not name.startswith("system/")]  # MLflow's monitor may sample
    assert run.info.status == N.FAILED and trained == []


def test_scoring_server_answers_jpeg_and_png_and_refuses_a_non_image_with_a_400(registered, image_folder, tmp_path):
    jpeg = next((image_folder / "test").rglob("*.jpg"))
    png = next((image_folder / "test").rglob("*.png"))  # RGBA
    expected = [p.model_dump() for p in mlflow.pyfunc.load_model(CHAMPION).predict([jpeg, png])]
    encoded = [base64.b64encode(p.read_bytes()).decode() for p in (jpeg, png)]
    with scoring_server(CHAMPION, tmp_path / "serve.log") as url:
        status, answer = post_json(f"{url}/invocations", {"inputs": encoded})
        assert status == 200 and [p["class_name"] for p in answer["predictions"]] == [e["class_name"] for e in expected]
        for got, want in zip(answer["predictions"], expected, strict=True):
            assert got["probabilities"] == pytest.approx(want["probabilities"], rel=1e-5, abs=1e-6)
        status, answer = post_json(f"{url}/invocations", {"inputs": [base64.b64encode(b"plain text").decode()]})
        assert status == 400 and "1 of 1 inputs are not images: cannot decode image input 0" in answer["message"]
        status, answer = post_json(f"{url}/invocations", {"inputs": ["not base64!"]})
        assert status == 400 and "input 0 is not base64 text of an image file" in answer["message"]
        status, answer = post_json(f"{url}/invocations", {"inputs": encoded[:1]})  # still serving
        assert status == 200 and answer["predictions"][0]["class_name"] == expected[0]["class_name"]


def test_tensorboard_command_downloads_a_sweeps_event_files_and_serves_them(store, tiny_config, tmp_path, capsys):
    assert main(sweep_args(tiny_config, "0,4", "1")) == 0
    (parent,) = sweep_parents(store)
    out = tmp_path / "tb"
    assert main(["tensorboard", "--no-start", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"--logdir {out} --host 127.0.0.1 --port 6006" in printed
    assert sorted(p.name for p in out.iterdir()) == ["freeze=0_seed=1", "freeze=4_seed=1"]
    for kid in children(store, parent.info.run_id, N.FINISHED):
        folder = out / kid.info.run_name.replace(" ", "_")
        assert [v for _, v in scalars(folder)[N.VAL_ACC]] == pytest.approx([kid.data.metrics[N.VAL_ACC]])

    port = free_port()  # now as a user runs it: it starts TensorBoard on 127.0.0.1
    command = [sys.executable, "-m", "freeze_study", "tensorboard", "--port", str(port), "--out", str(out)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=5) as reply:
                    runs = json.load(reply)
                if len(runs) == 2:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, server.stdout.read().decode()[-3000:]
            time.sleep(1)
        assert sorted(runs) == ["freeze=0_seed=1", "freeze=4_seed=1"]
    finally:
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C, as a user stops it
        try:
            assert server.wait(timeout=30) == 0
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
            server.stdout.close()
