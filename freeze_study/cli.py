"""The command line: `freeze-study train|sweep|report|bench`. Parse, build the config, call, exit code."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from pathlib import Path

from freeze_study.bench import BenchConfig
from freeze_study.config import ConfigError, SweepConfig, TrainConfig

_HELP = {
    "freeze": "freeze the stem and the first K residual stages (0..4; 0 trains everything)",
    "data": "Hugging Face dataset id or local folder DIR/{train,validation,test}/<class>/*",
    "weights": "'imagenet' (torchvision IMAGENET1K_V1), 'none' (random init) or a state-dict file",
    "epochs": "maximum epochs (early stopping on val_loss)",
    "patience": "early-stopping patience in epochs",
    "num_workers": "DataLoader workers (capped at the CPU count)",
    "precision": "auto: 16-mixed on CUDA, fp32 on CPUs without native bf16",
    "experiment": "MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else freeze-study)",
}


def add_config_args(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One --flag per TrainConfig field, typed and defaulted from the dataclass."""
    for f in dataclasses.fields(TrainConfig):
        if f.name in skip:
            continue
        kind = {"int": int, "float": float}.get(str(f.type), str)
        flags = [f"--{f.name.replace('_', '-')}"] + ([f"--{f.name}"] if "_" in f.name else [])  # mlflow run -P
        parser.add_argument(*flags, dest=f.name, type=kind, default=f.default,
                            help=f"{_HELP.get(f.name, '')} (default: {f.default})".strip())


def config_from(args: argparse.Namespace, **changes: object) -> TrainConfig:
    """The TrainConfig named by the parsed flags."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names}, **changes)


def _train(args: argparse.Namespace) -> int:
    from freeze_study.train import train

    result = train(config_from(args))
    print(f"run {result.run_id}: test_acc={result.test_acc:.4f} val_acc={result.val_acc:.4f} "
          f"epochs={result.epochs_run} best_epoch={result.best_epoch} fit_time={result.fit_time_s:.1f}s")
    return 0


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _sweep(args: argparse.Namespace) -> int:
    from freeze_study.sweep import run_sweep

    cfg = SweepConfig(levels=args.levels, seeds=args.seeds, train=config_from(args),
                      storage=args.storage or None, study_name=args.study_name or None)
    result = run_sweep(cfg)
    print(f"sweep {result.parent_run_id}: {result.finished}/{len(cfg.grid)} grid points finished, "
          f"{result.trained} trained now, {len(result.failures)} failed")
    if result.failures:
        print("failed: " + "; ".join(f"{p} ({r})" for p, r in result.failures.items()), file=sys.stderr)
    if args.report and result.finished:
        args.sweep, args.out = result.parent_run_id, None
        _report(args)
    return 1 if result.failures else 0


def _report(args: argparse.Namespace) -> int:
    import mlflow

    from freeze_study.analysis import resolve_sweep, write_report

    client = mlflow.MlflowClient()
    sweep_id = resolve_sweep(client, args.experiment or TrainConfig().experiment_name(), args.sweep)
    out = write_report(client, sweep_id, Path(args.out) if args.out else Path("reports") / sweep_id)
    print(f"report for sweep {sweep_id}: {out / 'report.md'} (also logged to the run under report/)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from freeze_study.bench import BenchConfig, format_table, run_bench

    if args.epochs_per_mode < 1 or args.limit < 0:
        raise ConfigError(f"invalid epochs_per_mode={args.epochs_per_mode} or limit={args.limit}: "
                          "need epochs >= 1 and limit >= 0")
    bench = BenchConfig(train=config_from(args, freeze=0), levels=args.levels, epochs=args.epochs_per_mode,
                        limit=args.limit, out=args.out)
    result = run_bench(bench)
    print(format_table(result))
    print(f"written to {bench.out}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors become ConfigError, so `main` reports them like any invalid parameter."""

    def error(self, message: str):
        raise ConfigError(f"{self.prog}: {message}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # runs end KILLED, not left RUNNING


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="freeze-study", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train one run at one freeze level, tracked in MLflow")
    add_config_args(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("sweep", help="train the grid of freeze levels x seeds (resumable) under one parent run")
    p.add_argument("--levels", type=_int_list, default=SweepConfig.levels, help="freeze levels (default: 0,1,2,3,4)")
    p.add_argument("--seeds", type=_int_list, default=SweepConfig.seeds, help="seeds (default: 42)")
    p.add_argument("--storage", default=None,
                   help="Optuna storage URL (default: optuna.db beside the SQLite MLflow store; SQLite is "
                        "for one writer: use PostgreSQL or MySQL for many workers)")
    p.add_argument("--study-name", "--study_name", default=None,
                   help="Optuna study name (default: freeze-study-<experiment id>-<sweep key>)")
    p.add_argument("--report", action="store_true", help="then write the report (as `freeze-study report`)")
    add_config_args(p, skip=("freeze", "seed"))
    p.set_defaults(func=_sweep)

    p = sub.add_parser("bench", help="seconds per epoch with and without the feature cache, per level")
    p.add_argument("--levels", type=_int_list, default=BenchConfig.levels, help="freeze levels (default: 0..4)")
    p.add_argument("--epochs-per-mode", type=int, default=BenchConfig.epochs,
                   help="epochs per level and mode; the first is warm-up (default: 2)")
    p.add_argument("--limit", type=int, default=0, help="images per split (default: all)")
    p.add_argument("--out", default=BenchConfig.out, help="JSON output (default: reports/bench.json)")
    add_config_args(p, skip=("freeze", "epochs", "patience", "feature_cache", "experiment"))
    p.set_defaults(func=_bench)

    p = sub.add_parser("report", help="figures and report.md/html for a sweep, from the tracking store")
    p.add_argument("--sweep", default=None, help="parent run id of the sweep (default: the latest)")
    p.add_argument("--experiment", default=None, help="MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, "
                                                      "else freeze-study)")
    p.add_argument("--out", default=None, help="output folder (default: reports/<sweep run id>/)")
    p.set_defaults(func=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    from freeze_study.analysis import ReportError
    from freeze_study.data import DataError
    from freeze_study.model import WeightsError

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except ConfigError as exc:
        from freeze_study import tracking

        tracking.fail_launcher_run(exc)
        print(f"freeze-study: error: {exc}", file=sys.stderr)
        return 2
    except (DataError, WeightsError, ReportError) as exc:
        print(f"freeze-study: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
