"""Before a sweep trains its grid points: every level's shared frozen-prefix outputs, in one pass.

A sweep over levels 1..4 would otherwise compute the stem and layer1 four times (once per
level's first run): here each batch goes through the stages once and the output after
each stage needed is stored (`cache.shared`), so every run of every seed finds its
features ready. Nothing happens when runs would not read shared features (cache off,
random init, augmentation, or only level 0).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass

from freeze_study.cache import file_memo, prefix_problem, shared_features, shared_problem, store_of
from freeze_study.config import TrainConfig
from freeze_study.data import load_data, worker_count
from freeze_study.model import freeze_prefix, make_deterministic, resolve_device
from freeze_study.training.prepare import build_network


@dataclass(frozen=True)
class Warmed:
    """What `share_features` did: the levels, its wall seconds, whether it computed anything, and
    whether everything fitted the disk budget (else runs compute what is missing for themselves)."""

    levels: tuple[int, ...]
    seconds: float
    built: bool
    stored: bool


def share_features(cfg: TrainConfig, levels: Iterable[int]) -> Warmed | None:
    """Store the frozen-prefix outputs that runs of `cfg` at `levels` will read, all levels in one pass
    per split; None when those runs read no shared features.

    Raises DataError or WeightsError as the runs would, before any of them starts.
    """
    frozen = sorted({k for k in levels if k > 0})
    probe = dataclasses.replace(cfg, freeze=max(frozen)) if frozen else None
    if probe is None or prefix_problem(probe) or shared_problem(probe):
        return None
    start = time.perf_counter()
    device = resolve_device(cfg)
    memo = file_memo(cfg)
    data = load_data(cfg.data, memo)
    net = build_network(len(data.classes), cfg.weights, device)
    freeze_prefix(net)  # eval mode: the prefix as every run freezes it (the head is not used)
    make_deterministic()
    with ExitStack() as hold:
        workers = worker_count(cfg.num_workers)
        store = store_of(cfg)
        found = shared_features(
            net, cfg.weights, frozen, data, device, cfg.batch_size, store, hold, workers, memo, cfg.image_size
        )
    if memo:
        memo.close()
    return Warmed(tuple(frozen), time.perf_counter() - start, found.built, found.stored)
