"""What a run logs besides its MLflow metrics: TensorBoard event files (as the original study had) and
MLflow's system metrics; and `freeze-study tensorboard`, which brings a sweep's event files to TensorBoard."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import freeze_study.names as N
from freeze_study.cli import main
from freeze_study.config import ConfigError, SweepConfig, TrainConfig
from freeze_study.training import train
from tests.helpers import children, free_port, sweep_args, sweep_parents

SAMPLING_ENV = "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"
SYSTEM = ("system/cpu_utilization_percentage", "system/system_memory_usage_megabytes")


def scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """(step, value) per scalar tag of a TensorBoard log folder, as TensorBoard reads it."""
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(s.step, s.value) for s in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def hparams(logdir: Path) -> dict[str, object]:
    """The hparams of a TensorBoard log folder (its HParams view's session start info)."""
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()}


@pytest.mark.slow
def test_a_run_writes_tensorboard_logs_and_system_metrics_once(store, tiny_config, monkeypatch, tmp_path):
    monkeypatch.setenv(SAMPLING_ENV, "0.5")  # MLflow samples every 10 s by default: longer than this run
    result = train(dataclasses.replace(tiny_config, freeze=2))
    run = store.get_run(result.run_id)
    logdir = Path(store.download_artifacts(result.run_id, N.TENSORBOARD_ARTIFACT, str(tmp_path)))
    logged = scalars(logdir)
    for name in (N.TRAIN_LOSS, N.TRAIN_ACC, N.VAL_LOSS, N.VAL_ACC):  # one point per epoch, the values MLflow has
        mlflow_values = [m.value for m in sorted(store.get_metric_history(result.run_id, name), key=lambda m: m.step)]
        assert [v for _, v in logged[name]] == pytest.approx(mlflow_values), name
    assert logged[N.TEST_ACC][0][1] == pytest.approx(run.data.metrics[N.TEST_ACC])
    assert logged[N.HPARAM_METRIC_PREFIX + N.TEST_ACC][0][1] == pytest.approx(result.test_acc)
    assert logged[N.HPARAM_METRIC_PREFIX + N.VAL_ACC][0][1] == pytest.approx(result.val_acc)
    given = hparams(logdir)
    assert given["freeze"] == 2 and given["lr"] == pytest.approx(1e-4) and given["data"] == tiny_config.data
    # TensorBoard's hparams are the run's MLflow params (the config and everything resolved from it), typed.
    params = run.data.params
    assert {N.RESOLVED_MEMORY_FORMAT_PARAM, N.PREPROCESSING_PARAM, *tiny_config.params()} <= set(given)
    for key, value in given.items():
        logged = params[key]
        if isinstance(value, str | bool):
            assert logged == str(value), key
        else:
            assert float(logged) == pytest.approx(value), key
    assert given[N.FROZEN_STAGES_PARAM] == "stem,layer1,layer2"
    # Nothing TensorBoard received reached MLflow a second time: no `epoch` or hp/ metrics, no extra points.
    assert not [k for k in run.data.metrics if k == "epoch" or k.startswith(N.HPARAM_METRIC_PREFIX)]
    for name in N.EPOCH_METRICS:
        assert [m.step for m in store.get_metric_history(result.run_id, name)] == [0, 1], name
    for name in SYSTEM:
        assert store.get_metric_history(result.run_id, name), name
    assert run.data.params["system_metrics"] == "on"

    quiet = train(dataclasses.replace(tiny_config, freeze=4, epochs=1, system_metrics="off"))
    metrics = store.get_run(quiet.run_id).data.metrics
    assert N.TEST_ACC in metrics and not [k for k in metrics if k.startswith("system/")]


def test_system_metrics_switch_is_checked_and_does_not_change_the_sweep():
    with pytest.raises(ConfigError, match="invalid system_metrics='maybe'"):
        TrainConfig(system_metrics="maybe")
    on, off = (SweepConfig(train=TrainConfig(system_metrics=v)) for v in ("on", "off"))
    assert on.key() == off.key()  # watching the machine changes neither the results nor what is measured
    assert main(["train", "--system-metrics", "nope"]) == 2


@pytest.mark.slow
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
