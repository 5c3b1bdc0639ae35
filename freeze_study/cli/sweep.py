"""`freeze-study sweep` and `freeze-study worker`: create or join a sweep, train its queued grid points, and say
how it stands; the sweep itself writes the report and registers its choice when it ends (`sweep.closing.finish`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from freeze_study import tracking
from freeze_study.cli.parser import MODEL_NAME_HELP, add_fields, fields_of, train_config
from freeze_study.cli.say import say_ui
from freeze_study.config import HOST_SETTINGS, Scope, SweepConfig, TrainConfig, WorkerConfig, model_name, scoped


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The `sweep` and `worker` sub-commands; a worker's flags are its own settings (default: the sweep's)."""
    p = sub.add_parser("sweep", help="train the grid of freeze levels x seeds (resumable) under one parent run")
    add_fields(p, SweepConfig)
    _add_finish_flags(p)
    add_fields(p, TrainConfig, skip=("freeze", "seed"))
    p.set_defaults(func=_sweep)

    p = sub.add_parser("worker", help="join a running sweep and train its queued grid points (config read from it)")
    add_fields(p, WorkerConfig, required=("storage",))
    _add_finish_flags(p)
    add_fields(p, TrainConfig, scope=Scope.HOST, inherit="the sweep's")
    p.set_defaults(func=_worker)


def _add_finish_flags(p: argparse.ArgumentParser) -> None:
    """What the worker that closes a sweep does then (`sweep` and `worker` alike)."""
    p.add_argument("--report", action="store_true", help="then write the report (as `freeze-study report`)")
    p.add_argument(
        "--register",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="when every grid point has finished, register the recommended run (as `freeze-study register`)",
    )
    p.add_argument("--model-name", default=None, help=MODEL_NAME_HELP)


def sweep_config(args: argparse.Namespace) -> SweepConfig:
    """The SweepConfig named by the parsed flags (an empty storage or study name, as `mlflow run` passes a
    parameter left out, is the default)."""
    places = scoped(SweepConfig, Scope.PLACE)
    given: dict[str, Any] = {k: (v or None) if k in places else v for k, v in fields_of(SweepConfig, args).items()}
    return SweepConfig(train=train_config(args), **given)


def worker_config(args: argparse.Namespace) -> WorkerConfig:
    """The WorkerConfig named by the parsed flags: this host's own settings where given."""
    return WorkerConfig(**fields_of(WorkerConfig, args), local={k: getattr(args, k) for k in HOST_SETTINGS})


def _sweep(args: argparse.Namespace) -> int:
    from freeze_study.sweep import run_sweep

    cfg = sweep_config(args)
    name = model_name(args.model_name, cfg.train.experiment_name())  # a bad name stops before training
    tracking.use_worker_http_defaults()
    return _done(run_sweep(cfg, launcher_run_id=args.launcher_run_id), args, name)


def _worker(args: argparse.Namespace) -> int:
    from freeze_study.sweep import run_worker

    cfg = worker_config(args)
    tracking.use_worker_http_defaults()
    result = run_worker(cfg)
    return _done(result, args, model_name(args.model_name, result.experiment))


def _done(result, args: argparse.Namespace, name: str) -> int:
    """Say how the sweep stands; the sweep's end (report, registration) is `sweep.closing.finish`'s."""
    from freeze_study.sweep import finish

    print(
        f"sweep {result.parent_run_id}: {result.finished} grid points finished, "
        f"{result.trained} trained by this worker, {len(result.failures)} failed"
    )
    charts, compare = tracking.ui.sweep_urls(result.parent_run_id)
    say_ui([("its runs as charts", charts), ("compare them", compare)])
    if result.failures:
        print("failed: " + "; ".join(f"{p} ({r})" for p, r in result.failures.items()), file=sys.stderr)
    finish(result, report=args.report, register=args.register, model_name=name)
    return 1 if result.failures else 0
