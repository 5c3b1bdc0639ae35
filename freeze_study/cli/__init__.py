"""The command line: `freeze-study train|sweep|worker|report|ui|tensorboard|bench|cache|register|predict`.

One small module per command group (`train`, `sweep`, `bench`, `report`, `serve`): parse, build
the config, call, exit code. Every flag comes from a config dataclass field, with the field's help
text (`parser`); the parsed `Namespace` never leaves this package. Expected failures (a bad parameter,
unusable data or weights, a store that cannot be used, nothing to report) print one line and exit 2;
an interrupt exits 130; a bug prints one line and exits 1, its traceback in the run's `error` tag and,
with `--debug` (or FREEZE_STUDY_DEBUG=1), on the terminal (`exits`).
"""

from __future__ import annotations

import argparse
import logging
import signal

from freeze_study import tracking
from freeze_study.cli import bench, exits, report, serve, sweep, train
from freeze_study.cli.parser import Parser, train_config
from freeze_study.cli.sweep import sweep_config, worker_config

__all__ = ["build_parser", "main", "sweep_config", "train_config", "worker_config"]

# says that MLflow does not validate the classifier's `list[bytes | str | Path]` input (the classifier does)
TYPE_HINT_LOGGER = "mlflow.types.type_hints"
# says at INFO when it starts and stops sampling, four lines per run; what it samples goes to the run
SYSTEM_METRICS_LOGGER = "mlflow.system_metrics"
GROUPS = (train, sweep, bench, report, serve)  # each adds its sub-commands, in this order


def build_parser() -> argparse.ArgumentParser:
    """The `freeze-study` parser: one sub-command per job, each flag documented."""
    parser = Parser(prog="freeze-study", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_commands(sub)
    for p in sub.choices.values():
        p.add_argument("--debug", action="store_true", help=f"print a bug's traceback (also: {exits.DEBUG_ENV}=1)")
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # runs end KILLED, not left RUNNING


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code: 2 for an expected failure (said in one line), 130 for
    an interrupt, 1 for a bug (one line; the traceback with --debug and in the run's `error` tag)."""
    logging.getLogger(TYPE_HINT_LOGGER).setLevel(logging.ERROR)
    logging.getLogger(SYSTEM_METRICS_LOGGER).setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _interrupt)
    tracking.ui.print_only_model_training_addresses()
    launcher_run_id = None
    debug = exits.debug_from_env()
    with exits.warnings_on_one_line():
        try:
            launcher_run_id = tracking.claim_launcher_run()  # the run `mlflow run` created, if any
            # the launcher's run goes in with the flags: only `train` and `sweep` use it
            args = build_parser().parse_args(argv, argparse.Namespace(launcher_run_id=launcher_run_id))
            debug = debug or args.debug
            return args.func(args)
        except BaseException as exc:  # noqa: BLE001 - every failure ends as one line and an exit code
            return exits.failed(exc, launcher_run_id, debug)
