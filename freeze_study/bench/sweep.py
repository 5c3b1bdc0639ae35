"""Benchmark of a whole sweep: the original recipe against every cache, side by side, against the compute limit.

`freeze-study bench --sweep --data ../shared/beans --weights none` runs the same sweep
(levels x `--seeds`, `--epochs-per-mode` epochs a run) twice, each in a fresh process
with its own MLflow store, Optuna storage and empty cache folder: `original` (the study's
plain recipe: `--feature-cache off`, NCHW convolutions) and `cached` (every cache, the
layout chosen per device). Each phase's wall time is split into what its runs recorded
(data check, digest, cache, epochs, test, model logging), the sweep's one-pass feature
build, and the rest (MLflow, Optuna, set-up). The headline ratio: the original recipe's
epochs alone against the cached sweep's whole wall time. With `--weights none`, a seeded
random-init ResNet18 is saved as the weights file (not ImageNet weights): the shared
cache needs weights that do not depend on the seed.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import freeze_study.names as N
from freeze_study.bench.limits import layout_seconds, level_flops, matmul_rate
from freeze_study.config import BenchConfig, SweepConfig

MODES = {"original": {"feature_cache": "off", "memory_format": "contiguous"}, "cached": {"feature_cache": "on"}}
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


def run_sweep_bench(bench: BenchConfig, say=print) -> dict:
    """Both phases of the sweep benchmark, the physical reference, a JSON file; returns what it wrote."""
    from freeze_study.data import load_data
    from freeze_study.model import resolve_device

    with tempfile.TemporaryDirectory(prefix="freeze-study-bench-sweep-") as tmp:
        folder = Path(tmp)
        data_dir = _data_folder(bench, folder / "data")
        weights = _weights_file(bench.train.weights, folder)
        data = load_data(data_dir)
        data.digest  # noqa: B018 - reads every file once, so both phases start with the same warm page cache
        sizes = {s: len(split) for s, split in data.splits.items()}
        base = dataclasses.replace(bench.train, data=data_dir, weights=weights, epochs=bench.epochs_per_mode)
        say(f"sweep benchmark: levels {_csv(bench.levels)} x seeds {_csv(bench.seeds)}, images {sizes}")
        phases = {}
        for mode, changes in MODES.items():
            cfg = SweepConfig(levels=bench.levels, seeds=bench.seeds, train=dataclasses.replace(base, **changes))
            say(f"phase {mode}: {changes}")
            phases[mode] = _in_fresh_process(cfg, folder / mode)
    device = resolve_device(bench.train)
    rate = matmul_rate(device.accelerator, device.autocast or _float32())
    layouts = layout_seconds(device.accelerator, size=bench.train.image_size)
    result = {
        "data": bench.train.data,
        "train_per_class": bench.train_per_class,
        "images": sizes,
        "weights": bench.train.weights if bench.train.weights != "none" else "seeded random init (not ImageNet)",
        "levels": list(bench.levels),
        "seeds": list(bench.seeds),
        "epochs": bench.epochs_per_mode,
        "device": device._asdict(),
        "cpu_count": os.cpu_count(),
        "matmul_flops_per_s": rate,
        "layout_s": layouts,  # ResNet18 at batch 16, fp32: training step and evaluation pass per layout
        "phases": phases,
        "per_level": _per_level(bench, data, sizes, phases, rate),
    }
    original, cached = phases["original"], phases["cached"]
    epochs_at_limit = sum(r["cached_limit_s"] * r["cached_epochs"] for r in result["per_level"])
    frozen = [k for k in bench.levels if k > 0]  # the one pass runs every image up to the deepest level
    size = bench.train.image_size
    build_flops = (
        sum(sizes.values()) * level_flops(max(frozen), len(data.classes), size=size).prefix_eval if frozen else 0.0
    )
    tests = sum(r["test_gflop"] * 1e9 for r in result["per_level"]) * len(bench.seeds)
    arithmetic_at_limit = epochs_at_limit + (tests + build_flops) / rate
    result["cached_arithmetic_at_limit_s"] = {
        "epochs": epochs_at_limit,
        "tests": tests / rate,
        "one_pass": build_flops / rate,
    }
    result["ratios"] = {
        "original_epochs_vs_cached_sweep": original["seconds"][N.EPOCH_TIME] / cached["wall_s"],
        "original_sweep_vs_cached_sweep": original["wall_s"] / cached["wall_s"],
        "original_epochs_vs_cached_epochs_at_limit": original["seconds"][N.EPOCH_TIME] / epochs_at_limit,
        "original_epochs_vs_cached_arithmetic_at_limit": original["seconds"][N.EPOCH_TIME] / arithmetic_at_limit,
    }
    Path(bench.out_file).parent.mkdir(parents=True, exist_ok=True)
    Path(bench.out_file).write_text(json.dumps(result, indent=2))
    return result


def sweep_phase(cfg: SweepConfig) -> dict:
    """Run the sweep and read back where its time went; runs in a fresh process (`_in_fresh_process`)."""
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


def _in_fresh_process(cfg: SweepConfig, folder: Path) -> dict:
    """`sweep_phase` in a spawned process working in `folder`: its own MLflow store, Optuna storage and cache."""
    folder.mkdir(parents=True)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, cache_dir=str(folder / "cache")))
    context = get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=_enter, initargs=(str(folder), env)) as pool:
        phase = pool.submit(sweep_phase, cfg).result()
    phase["epoch_s_by_level"] = {int(k): v for k, v in phase["epoch_s_by_level"].items()}
    return phase


def _enter(folder: str, env: dict[str, str]) -> None:
    """Make the spawned phase process what `freeze-study sweep` is: a spawned child inherits "spawn" as its
    start method, which would make every DataLoader worker import torch anew (seconds each, in both phases)."""
    multiprocessing.set_start_method(None, force=True)  # the platform's default again ("fork" on Linux)
    os.environ.update(env)
    os.chdir(folder)  # MLflow's artifacts (./mlruns) stay in the phase's folder


def _data_folder(bench: BenchConfig, out: Path) -> str:
    """The data as an absolute path; with `train_per_class`, a folder of links to that many training
    images per class (evenly spaced in name order) and every validation and test image."""
    from freeze_study.data.folder import SPLITS, list_folder

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


def _weights_file(weights: str, folder: Path) -> str:
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


def _per_level(bench: BenchConfig, data, sizes: dict, phases: dict, rate: float) -> list[dict]:
    rows = []
    for level in bench.levels:
        flops = level_flops(level, len(data.classes), size=bench.train.image_size)
        row = {"freeze": level, "test_gflop": sizes["test"] * flops.cached_eval / 1e9}  # a run's test pass
        for mode, cached in (("original", False), ("cached", True)):
            epoch_flops = flops.epoch(sizes["train"], sizes["validation"], cached)
            measured = phases[mode]["epoch_s_by_level"].get(level, [])
            median = statistics.median(measured) if measured else float("nan")
            row |= {
                f"{mode}_gflop_per_epoch": epoch_flops / 1e9,
                f"{mode}_limit_s": epoch_flops / rate,
                f"{mode}_epoch_s": median,
                f"{mode}_of_limit": epoch_flops / rate / median if measured else float("nan"),
                f"{mode}_epochs": len(measured),
            }
        rows.append(row)
    return rows


def format_sweep(result: dict) -> str:
    """The sweep benchmark as text: time per phase and mode, the ratios, each level against the compute limit."""
    original, cached = result["phases"]["original"], result["phases"]["cached"]
    limits = result["cached_arithmetic_at_limit_s"]
    lines = [
        f"Sweep: levels {_csv(result['levels'])} x seeds {_csv(result['seeds'])}, {result['epochs']} epochs a run, "
        f"images {result['images']}, weights: {result['weights']}, {result['device']['accelerator']} "
        f"{result['device']['precision']}, {result['cpu_count']} CPUs",
        f"{'phase (s, all runs)':<34} {'original':>9} {'cached':>9}",
    ]
    for key, name in [*PHASES.items(), ("other", "other: MLflow, Optuna, set-up")]:
        lines.append(f"{name:<34} {original['seconds'][key]:>9.1f} {cached['seconds'][key]:>9.1f}")
    lines += [
        f"{'sweep wall time':<34} {original['wall_s']:>9.1f} {cached['wall_s']:>9.1f}",
        f"{'peak memory (MiB)':<34} {original['peak_rss_mb']:>9.0f} {cached['peak_rss_mb']:>9.0f}",
        "",
        f"original epochs alone / cached sweep: {result['ratios']['original_epochs_vs_cached_sweep']:.2f}x",
        f"original sweep / cached sweep:        {result['ratios']['original_sweep_vs_cached_sweep']:.2f}x",
        "original epochs alone / cached epochs at the matrix-multiply limit, nothing else: "
        f"{result['ratios']['original_epochs_vs_cached_epochs_at_limit']:.2f}x",
        "original epochs alone / all of the cached sweep's arithmetic at that limit (epochs, test passes "
        f"{limits['tests']:.1f} s, one-pass build {limits['one_pass']:.1f} s), nothing else: "
        f"{result['ratios']['original_epochs_vs_cached_arithmetic_at_limit']:.2f}x",
        "",
        f"matrix multiply: {result['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s measured; per level, an epoch "
        f"(training + validation) against that limit:",
        f"{'freeze':>6} {'GFLOP orig':>10} {'limit s':>8} {'orig s':>8} {'of limit':>8} "
        f"{'GFLOP cached':>12} {'limit s':>8} {'cached s':>8} {'of limit':>8}",
    ]
    for r in result["per_level"]:
        lines.append(
            f"{r['freeze']:>6} {r['original_gflop_per_epoch']:>10.0f} {r['original_limit_s']:>8.2f} "
            f"{r['original_epoch_s']:>8.2f} {r['original_of_limit']:>8.0%} {r['cached_gflop_per_epoch']:>12.1f} "
            f"{r['cached_limit_s']:>8.3f} {r['cached_epoch_s']:>8.2f} {r['cached_of_limit']:>8.1%}"
        )
    nchw, cl = result["layout_s"]["contiguous"], result["layout_s"]["channels_last"]
    lines.append(
        f"layout (ResNet18, batch 16, fp32): training step {nchw['train_step']:.3f} s NCHW vs "
        f"{cl['train_step']:.3f} s channels-last ({nchw['train_step'] / cl['train_step']:.2f}x); evaluation "
        f"{nchw['eval']:.3f} s vs {cl['eval']:.3f} s ({nchw['eval'] / cl['eval']:.2f}x)"
    )
    failed = {**original["failures"], **cached["failures"]}
    if failed:
        lines.append(f"FAILED grid points: {failed}")
    return "\n".join(lines)


def _csv(values) -> str:
    return ",".join(map(str, values))


def _float32():
    import torch

    return torch.float32
