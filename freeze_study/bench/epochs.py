"""Benchmark of the feature cache: seconds per epoch with and without it, per freeze level.

`freeze-study bench --data ../shared/beans` (or `make bench`). Each (level, mode) runs
in a fresh process so its peak memory is its own; the uncached baseline is the same
code with `--feature-cache off`. Prints a table and writes JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import freeze_study.names as N
from freeze_study.bench.fresh import in_fresh_process
from freeze_study.config import BenchConfig, TrainConfig


def measure(cfg: TrainConfig, epochs: int, limit: int) -> dict:
    """Prepare as `train` does and fit `epochs` epochs without checkpoints or tracking; runs in a child process."""
    import resource  # Unix only: imported where it is used

    from freeze_study.data import load_data, subset
    from freeze_study.model import count_params, resolve_device
    from freeze_study.training import make_trainer, prepare

    data = load_data(cfg.data)
    data = subset(data, limit) if limit else data
    device = resolve_device(cfg)
    with ExitStack() as spill, tempfile.TemporaryDirectory() as root:
        run = prepare(cfg, data, device, spill)
        trainer = make_trainer(dataclasses.replace(cfg, epochs=epochs), device, root, [], quiet=True)
        trainer.fit(run.module, run.loaders["train"], run.loaders["validation"])
    epoch_s = [row[N.EPOCH_TIME] for row in run.module.history]
    steady = statistics.median(epoch_s[1:] or epoch_s)
    images = len(data.splits["train"]) + len(data.splits["validation"])
    return {
        "freeze": cfg.freeze,
        "cache": cfg.feature_cache,
        "features_cached": run.plan.features,
        "trainable_params": count_params(run.net)[0],
        "build_s": run.plan.build_s if cfg.feature_cache == "on" else 0.0,
        "epoch_s": epoch_s,
        "steady_epoch_s": steady,
        "images_per_s": images / steady,
        "cache_bytes": run.plan.bytes,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "precision": device.precision,
        "accelerator": device.accelerator,
    }


def run_bench(bench: BenchConfig, say=print) -> dict:
    """Uncached then cached, per level; the decoded-image cache is built cold once, first, in a
    temporary folder (so --cache-dir is not used: a warm cache would hide the decoding cost)."""
    from freeze_study.cache import decoded_images, store_of
    from freeze_study.data import load_data, subset, worker_count

    with tempfile.TemporaryDirectory(prefix="freeze-study-bench-") as cache_dir, ExitStack() as hold:
        base = dataclasses.replace(bench.train, cache_dir=cache_dir)
        data = load_data(base.data)
        data = subset(data, bench.limit) if bench.limit else data
        start = time.perf_counter()
        for split in data.splits.values():
            decoded_images(split, data, store_of(base), worker_count(base.num_workers), hold)
        decode_s = time.perf_counter() - start
        say(f"decoded {sum(len(s) for s in data.splits.values())} images once in {decode_s:.1f}s")
        rows = []
        for level in bench.levels:
            for mode in ("off", "on"):
                cfg = dataclasses.replace(base, freeze=level, feature_cache=mode)
                rows.append(in_fresh_process(measure, cfg, bench.epochs_per_mode, bench.limit))
                say(f"freeze={level} cache={mode}: {rows[-1]['steady_epoch_s']:.2f} s/epoch")
    result = {
        "data": bench.train.data,
        "limit": bench.limit,
        "epochs": bench.epochs_per_mode,
        "train_images": len(data.splits["train"]),
        "validation_images": len(data.splits["validation"]),
        "decode_once_s": decode_s,
        "cpu_count": os.cpu_count(),
        "levels": _compare(rows, decode_s),
    }
    Path(bench.out_file).parent.mkdir(parents=True, exist_ok=True)
    Path(bench.out_file).write_text(json.dumps(result, indent=2))
    return result


def _compare(rows: list[dict], decode_s: float) -> list[dict]:
    out = []
    for off, on in zip(rows[::2], rows[1::2], strict=False):
        out.append(
            {
                "freeze": off["freeze"],
                "trainable_params": off["trainable_params"],
                "uncached_epoch_s": off["steady_epoch_s"],
                "cached_epoch_s": on["steady_epoch_s"],
                "speedup": off["steady_epoch_s"] / on["steady_epoch_s"],
                "build_s": on["build_s"],
                "build_with_decode_s": on["build_s"] + decode_s,
                "build_vs_uncached_epoch": (on["build_s"] + decode_s) / off["steady_epoch_s"],
                "uncached_images_per_s": off["images_per_s"],
                "cached_images_per_s": on["images_per_s"],
                "uncached_peak_rss_mb": off["peak_rss_mb"],
                "cached_peak_rss_mb": on["peak_rss_mb"],
                "cache_bytes": on["cache_bytes"],
                "features_cached": on["features_cached"],
                "uncached": off,
                "cached": on,
            }
        )
    return out


def format_table(result: dict) -> str:
    """The benchmark as a fixed-width table."""
    head = (
        f"{'freeze':>6} {'trainable':>10} {'uncached s/ep':>13} {'cached s/ep':>11} {'speed-up':>8} "
        f"{'build s':>8} {'build/ep':>8} {'img/s off':>9} {'img/s on':>9} {'peak MB off':>11} "
        f"{'peak MB on':>10} {'cache MB':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in result["levels"]:
        lines.append(
            f"{r['freeze']:>6} {r['trainable_params']:>10,} {r['uncached_epoch_s']:>13.2f} "
            f"{r['cached_epoch_s']:>11.2f} {r['speedup']:>7.2f}x {r['build_with_decode_s']:>8.1f} "
            f"{r['build_vs_uncached_epoch']:>8.2f} {r['uncached_images_per_s']:>9.1f} "
            f"{r['cached_images_per_s']:>9.1f} {r['uncached_peak_rss_mb']:>11.0f} "
            f"{r['cached_peak_rss_mb']:>10.0f} {r['cache_bytes'] / 2**20:>8.0f}"
        )
    lines.append(
        f"s/ep: steady-state seconds per epoch (training {result['train_images']} + validation "
        f"{result['validation_images']} images); build: decoding all images once "
        f"({result['decode_once_s']:.1f}s, shared by every level and run) + the frozen prefix once."
    )
    return "\n".join(lines)
