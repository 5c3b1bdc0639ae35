"""The benchmark runs end to end on tiny data and reports both modes per level."""

from __future__ import annotations

import json

import pytest

import freeze_study.names as N
from freeze_study.bench import format_sweep, format_table, run_bench, run_sweep_bench
from freeze_study.cli import main
from freeze_study.config import BenchConfig, TrainConfig
from tests.helpers import TINY_IMAGE_SIZE


def test_bench_compares_cached_and_uncached(image_folder, tmp_path):
    out = tmp_path / "bench.json"
    train = TrainConfig(data=str(image_folder), weights="none", batch_size=4, num_workers=0, image_size=TINY_IMAGE_SIZE)
    result = run_bench(BenchConfig(train=train, levels=(0, 4), epochs_per_mode=2, out=str(out)), say=lambda line: None)
    assert json.loads(out.read_text()) == result
    low, high = result["levels"]
    assert (low["freeze"], high["freeze"]) == (0, 4)
    assert not low["features_cached"] and high["features_cached"]
    assert low["uncached"]["cache_bytes"] == 0 and high["cache_bytes"] > 0
    for row in result["levels"]:
        assert row["uncached_epoch_s"] > 0 and row["cached_epoch_s"] > 0
        assert row["speedup"] == pytest.approx(row["uncached_epoch_s"] / row["cached_epoch_s"])
        assert row["uncached_peak_rss_mb"] > 100
    table = format_table(result)
    assert "speed-up" in table and len(table.splitlines()) == 5


def test_sweep_bench_compares_whole_sweeps_against_the_compute_limit(image_folder, tmp_path):
    out = tmp_path / "sweep.json"
    train = TrainConfig(data=str(image_folder), weights="none", batch_size=4, num_workers=0, image_size=TINY_IMAGE_SIZE)
    bench = BenchConfig(
        train=train, levels=(0, 3), seeds=(1, 2), epochs_per_mode=1, sweep=True, train_per_class=2, out=str(out)
    )
    result = run_sweep_bench(bench, say=lambda line: None)
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert result["images"] == {"train": 6, "validation": 9, "test": 9}  # 2 per class; the others whole
    assert result["weights"] == "seeded random init (not ImageNet)"
    original, cached = result["phases"]["original"], result["phases"]["cached"]
    assert original["runs"] == cached["runs"] == 4 and not original["failures"] and not cached["failures"]
    assert original["seconds"]["sweep_features"] == 0 < cached["seconds"]["sweep_features"]  # the one pass
    for phase in (original, cached):
        assert sum(phase["seconds"].values()) == pytest.approx(phase["wall_s"])  # every second accounted for
        assert all(phase["seconds"][k] > 0 for k in (N.EPOCH_TIME, N.TEST_TIME, N.MODEL_LOG_TIME))
        assert sorted(phase["epoch_s_by_level"]) == [0, 3]
    ratios = result["ratios"]
    assert ratios["original_epochs_vs_cached_sweep"] == pytest.approx(
        original["seconds"][N.EPOCH_TIME] / cached["wall_s"]
    )
    low, high = result["per_level"]
    assert low["original_gflop_per_epoch"] == pytest.approx(low["cached_gflop_per_epoch"])  # nothing frozen
    assert high["cached_gflop_per_epoch"] < high["original_gflop_per_epoch"] / 2
    assert high["cached_limit_s"] == pytest.approx(high["cached_gflop_per_epoch"] * 1e9 / result["matmul_flops_per_s"])
    assert all(v > 0 for layout in result["layout_s"].values() for v in layout.values())
    table = format_sweep(result)
    assert "original epochs alone / cached sweep" in table and "GFLOP/s measured" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "--limit", "5"], "invalid limit=5 with --sweep"),
        (["--train-per-class", "5"], "invalid train_per_class=5"),
        (["--sweep", "--seeds", "1,1"], "invalid seeds"),
    ],
)
def test_bench_rejects_flags_that_do_not_fit(image_folder, capsys, args, message):
    assert main(["bench", "--data", str(image_folder), "--weights", "none", *args]) == 2
    assert message in capsys.readouterr().err
