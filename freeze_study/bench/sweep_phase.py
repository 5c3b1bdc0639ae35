"""One phase of the sweep benchmark (`bench.sweep`): what it runs on, the sweep itself in a fresh process with
its own MLflow store, Optuna storage and cache folder, and where the phase's time went, read back from its runs.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from pathlib import Path

import freeze_study.names as N
from freeze_study.bench.fresh import in_fresh_process
from freeze_study.config import BenchConfig, SweepConfig

# What each phase's runs record, summed over its runs; the parent's cache_build_s is the one-pass build.
PHASES = {
    N.DATA_CHECK_TIME: "data check",
    N.DATA_DIGEST_TIME: "data digest",
    "sweep_features": "features, all levels, one pass",
    N.CACHE_BUILD_TIME: "cache in runs",
    N.EPOCH_TIME: "epochs",
    N.TEST_TIME: "test",
    N.EVIDENCE_LOG_TIME: "evidence logging",
    N.MODEL_LOG_TIME: "model logging",
}


def sweep_phase(cfg: SweepConfig) -> dict:
    """Run the sweep and read back where its time went; runs in a fresh process (`run_phase`)."""
    import resource  # Unix only: imported where it is used

    import mlflow

    from freeze_study import tracking
    from freeze_study.sweep import run_sweep

    start = time.perf_counter()
    result = run_sweep(cfg, say=lambda line: print(f"  {line}", flush=True))
    wall = time.perf_counter() - start
    client = mlflow.MlflowClient()
    runs = tracking.child_runs(client, result.parent_run_id, N.FINISHED)
    seconds = dict.fromkeys(PHASES, 0.0)
    epochs: dict[int, list[float]] = {}
    for run in runs:
        for name in PHASES:
            seconds[name] += run.data.metrics.get(name, 0.0) if name != N.EPOCH_TIME else 0.0
        times = [m.value for m in client.get_metric_history(run.info.run_id, N.EPOCH_TIME)]
        seconds[N.EPOCH_TIME] += sum(times)
        epochs.setdefault(int(run.data.params[N.FREEZE_PARAM]), []).extend(times)
    parent = client.get_metric_history(result.parent_run_id, N.CACHE_BUILD_TIME)
    seconds["sweep_features"] = sum(m.value for m in parent)
    seconds["other"] = wall - sum(seconds.values())
    return {
        "wall_s": wall,
        "seconds": seconds,
        "epoch_s_by_level": epochs,
        "runs": len(runs),
        "failures": result.failures,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_phase(cfg: SweepConfig, folder: Path) -> dict:
    """`sweep_phase` in a spawned process working in `folder`: its own MLflow store, Optuna storage and cache."""
    folder.mkdir(parents=True)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, cache_dir=str(folder / "cache")))
    phase = in_fresh_process(sweep_phase, cfg, initializer=_enter, initargs=(str(folder), env))
    phase["epoch_s_by_level"] = {int(k): v for k, v in phase["epoch_s_by_level"].items()}
    return phase


def _enter(folder: str, env: dict[str, str]) -> None:
    """Make the spawned phase process what `freeze-study sweep` is: a spawned child inherits "spawn" as its
    start method, which would make every DataLoader worker import torch anew (seconds each, in both phases)."""
    multiprocessing.set_start_method(None, force=True)  # the platform's default again ("fork" on Linux)
    os.environ.update(env)
    os.chdir(folder)  # MLflow's artifacts (./mlruns) stay in the phase's folder


def bench_data(bench: BenchConfig, out: Path) -> str:
    """The data as an absolute path; with `train_per_class`, a folder of links to that many training
    images per class (evenly spaced in name order) and every validation and test image."""
    from freeze_study.data import SPLITS, list_folder

    root = Path(bench.train.data).resolve()
    if not bench.train_per_class:
        return str(root)
    listing = list_folder(root)  # what a run would read: the same folder rules
    for split in SPLITS:
        for name, files in listing.files[split].items():
            if split == "train" and len(files) > bench.train_per_class:
                step = len(files) / bench.train_per_class
                files = [files[int(i * step)] for i in range(bench.train_per_class)]
            (out / split / name).mkdir(parents=True)
            for i, f in enumerate(files):
                (out / split / name / f"{i:06d}-{f.name}").symlink_to(f.resolve())
    return str(out)


def bench_weights(weights: str, folder: Path) -> str:
    """`weights` as an absolute path; for "none", a seeded random-init ResNet18 state dict saved in `folder`."""
    import torch
    from torchvision.models import resnet18

    if weights == "imagenet":
        return weights
    if weights != "none":
        return str(Path(weights).resolve())
    torch.manual_seed(0)
    path = folder / "resnet18-random-init-seed0.pth"
    torch.save(resnet18().state_dict(), path)
    return str(path)
