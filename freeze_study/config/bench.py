"""What a benchmark runs: which levels, how many epochs, on how much data, per level or as a whole sweep
(`freeze-study bench`)."""

from __future__ import annotations

from dataclasses import dataclass

import freeze_study.names as N
from freeze_study.config.fields import INT_MAX, SEED_MAX, ConfigError, option, whole_field, whole_list
from freeze_study.config.train import TrainConfig


@dataclass(frozen=True)
class BenchConfig:
    """Which levels, how many epochs each, on how much data; with `sweep`, the whole sweep benchmark."""

    train: TrainConfig
    levels: tuple[int, ...] = option(tuple(range(N.MAX_FREEZE + 1)), "freeze levels, comma-separated")
    epochs_per_mode: int = option(2, "epochs per level and mode (per grid point with --sweep); the first is warm-up")
    limit: int = option(0, "images per split, evenly spaced so every class stays (0: all; not with --sweep)")
    sweep: bool = option(
        False,
        "benchmark a whole sweep (levels x --seeds) with and without the caches, side by side, "
        "against this machine's matrix-multiply rate",
    )
    seeds: tuple[int, ...] = option((42, 43), "seeds of the --sweep benchmark, comma-separated")
    train_per_class: int = option(
        0, "with --sweep: training images per class, evenly spaced (0: all); validation and test stay whole"
    )
    out: str | None = option(
        None, "JSON output file (default: reports/bench.json; reports/bench-sweep.json with --sweep)"
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", whole_list("levels", self.levels, 0, N.MAX_FREEZE))
        object.__setattr__(self, "seeds", whole_list("seeds", self.seeds, 0, SEED_MAX))
        whole_field(self, "epochs_per_mode", 1, INT_MAX)
        whole_field(self, "limit", 0, INT_MAX)
        whole_field(self, "train_per_class", 0, INT_MAX)
        if self.sweep and self.limit:
            raise ConfigError(f"invalid limit={self.limit} with --sweep: use --train-per-class")
        if not self.sweep and self.train_per_class:
            raise ConfigError(f"invalid train_per_class={self.train_per_class}: it is for --sweep (else --limit)")

    @property
    def out_file(self) -> str:
        """Where the JSON goes."""
        return self.out or ("reports/bench-sweep.json" if self.sweep else "reports/bench.json")
