"""The benchmark runs end to end on tiny data and reports both modes per level."""

from __future__ import annotations

import json

import pytest

from freeze_study.bench import BenchConfig, format_table, run_bench
from freeze_study.config import TrainConfig


@pytest.mark.slow
def test_bench_compares_cached_and_uncached(image_folder, tmp_path):
    out = tmp_path / "bench.json"
    train = TrainConfig(data=str(image_folder), weights="none", batch_size=4, num_workers=0)
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
