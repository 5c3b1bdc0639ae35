"""`freeze-study bench` and `cache`: this machine's seconds per epoch (or per sweep) with and without the
feature cache, and the cache folder's entries."""

from __future__ import annotations

import argparse

from freeze_study.cli.parser import add_fields, fields_of, train_config
from freeze_study.config import BenchConfig, TrainConfig


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The `bench` and `cache` sub-commands."""
    p = sub.add_parser(
        "bench",
        help="seconds per epoch with and without the feature cache, per level; "
        "with --sweep, a whole sweep with and without the caches against the compute limit",
    )
    add_fields(p, BenchConfig)
    add_fields(p, TrainConfig, skip=("freeze", "epochs", "patience", "feature_cache", "experiment"))
    p.set_defaults(func=_bench)

    p = sub.add_parser("cache", help="list or clear the cache folder (decoded images, shared frozen-prefix outputs)")
    p.add_argument(
        "action",
        nargs="?",
        choices=("list", "clear"),
        default="list",
        help="list: the entries, next to be evicted first (default); clear: remove every entry not in use "
        "and forget remembered file checks and digests",
    )
    add_fields(p, TrainConfig, only=("cache_dir", "cache_disk_gib"))
    p.set_defaults(func=_cache)


def _bench(args: argparse.Namespace) -> int:
    from freeze_study.bench import format_sweep, format_table, run_bench, run_sweep_bench

    bench = BenchConfig(train=train_config(args, freeze=0), **fields_of(BenchConfig, args))
    if bench.sweep:
        print(format_sweep(run_sweep_bench(bench)))
    else:
        print(format_table(run_bench(bench)))
    print(f"written to {bench.out_file}")
    return 0


def _cache(args: argparse.Namespace) -> int:
    from freeze_study.cache import listing, store_of

    store = store_of(train_config(args))
    print(listing.describe(store) if args.action == "list" else listing.clear(store))
    return 0
