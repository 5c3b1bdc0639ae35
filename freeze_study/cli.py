"""The command line: `freeze-study train|sweep|report|bench`. Parse, build the config, call, exit code."""

from __future__ import annotations

import argparse
import dataclasses
import sys

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
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=f.default,
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
                      storage=args.storage, study_name=args.study_name)
    result = run_sweep(cfg)
    print(f"sweep {result.parent_run_id}: {result.finished}/{len(cfg.grid)} grid points finished, "
          f"{result.trained} trained now, {len(result.failures)} failed")
    if result.failures:
        print("failed: " + "; ".join(f"{p} ({r})" for p, r in result.failures.items()), file=sys.stderr)
    return 1 if result.failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freeze-study", description=__doc__)
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
    p.add_argument("--study-name", default=None, help="Optuna study name (default: freeze-study-<sweep key>)")
    add_config_args(p, skip=("freeze", "seed"))
    p.set_defaults(func=_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from freeze_study.data import DataError
    from freeze_study.model import WeightsError

    try:
        return args.func(args)
    except ConfigError as exc:
        from freeze_study import tracking

        tracking.fail_launcher_run(exc)
        print(f"freeze-study: error: {exc}", file=sys.stderr)
        return 2
    except (DataError, WeightsError) as exc:
        print(f"freeze-study: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
