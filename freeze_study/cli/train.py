"""`freeze-study train`: one run at one freeze level, tracked in MLflow."""

from __future__ import annotations

import argparse

from freeze_study import tracking
from freeze_study.cli.parser import add_fields, train_config
from freeze_study.cli.say import say_ui
from freeze_study.config import TrainConfig


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The `train` sub-command."""
    p = sub.add_parser("train", help="train one run at one freeze level, tracked in MLflow")
    add_fields(p, TrainConfig)
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from freeze_study.training import train

    result = train(train_config(args), launcher_run_id=args.launcher_run_id)
    print(
        f"run {result.run_id}: test_acc={result.test_acc:.4f} val_acc={result.val_acc:.4f} "
        f"epochs={result.epochs_run} best_epoch={result.best_epoch} fit_time={result.fit_time_s:.1f}s"
    )
    say_ui([("run", tracking.ui.run_url(result.run_id))])
    return 0
