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
cache needs weights that do not depend on the seed. Running one phase: `bench.sweep_phase`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import freeze_study.names as N
from freeze_study.bench.limits import layout_seconds, level_flops, matmul_rate
from freeze_study.bench.sweep_phase import PHASES, bench_data, bench_weights, run_phase
from freeze_study.config import BenchConfig, SweepConfig

# The two phases: the original recipe (no cache, NCHW) and the cached one; each a change of the benchmark's config.
MODES: dict[str, dict[str, Any]] = {
    "original": {"feature_cache": "off", "memory_format": "contiguous"},
    "cached": {"feature_cache": "on"},
}


def run_sweep_bench(bench: BenchConfig, say=print) -> dict:
    """Both phases of the sweep benchmark, the physical reference, a JSON file; returns what it wrote."""
    from freeze_study.data import load_data
    from freeze_study.model import resolve_device

    with tempfile.TemporaryDirectory(prefix="freeze-study-bench-sweep-") as tmp:
        folder = Path(tmp)
        data_dir = bench_data(bench, folder / "data")
        weights = bench_weights(bench.train.weights, folder)
        data = load_data(data_dir)
        data.digest  # noqa: B018 - reads every file once, so both phases start with the same warm page cache
        sizes = {s: len(split) for s, split in data.splits.items()}
        base = dataclasses.replace(bench.train, data=data_dir, weights=weights, epochs=bench.epochs_per_mode)
        say(f"sweep benchmark: levels {_csv(bench.levels)} x seeds {_csv(bench.seeds)}, images {sizes}")
        phases = {}
        for mode, changes in MODES.items():
            cfg = SweepConfig(levels=bench.levels, seeds=bench.seeds, train=dataclasses.replace(base, **changes))
            say(f"phase {mode}: {changes}")
            phases[mode] = run_phase(cfg, folder / mode)
    device = resolve_device(bench.train)
    rate = matmul_rate(device.accelerator, device.autocast or _float32())
    layouts = layout_seconds(device.accelerator, size=bench.train.image_size)
    result: dict[str, Any] = {
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
