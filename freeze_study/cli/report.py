"""`freeze-study report`, `ui` and `tensorboard`: a sweep's report, and the viewers of the tracking store."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import NoReturn

from freeze_study import tracking
from freeze_study.cli.parser import add_experiment
from freeze_study.cli.say import say_ui
from freeze_study.config import experiment_name


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The `report`, `ui` and `tensorboard` sub-commands."""
    p = sub.add_parser("report", help="figures and report.md/html for a sweep, from the tracking store")
    add_experiment(p, sweep=True)
    p.add_argument("--out", default=None, help="output folder (default: reports/<sweep run id>/)")
    p.set_defaults(func=_report)

    p = sub.add_parser("ui", help="the MLflow UI on the local store, with the addresses of the study's pages")
    add_experiment(p)
    p.add_argument("--port", type=int, default=5000, help="the UI's port on 127.0.0.1 (default: 5000)")
    p.add_argument("--no-start", action="store_true", help="print the addresses, do not start the UI")
    p.set_defaults(func=_ui)

    p = sub.add_parser("tensorboard", help="download a sweep's TensorBoard event files and start TensorBoard")
    add_experiment(p, sweep=True)
    p.add_argument("--out", default=None, help="log folder (default: reports/tensorboard/<sweep run id>/)")
    p.add_argument("--port", type=int, default=6006, help="TensorBoard's port on 127.0.0.1 (default: 6006)")
    p.add_argument("--no-start", action="store_true", help="download and print the command, do not start it")
    p.set_defaults(func=_tensorboard)


def _report(args: argparse.Namespace) -> int:
    from freeze_study.sweep import report_sweep

    report_sweep(experiment_name(args.experiment), args.sweep, args.out)
    return 0


def _ui(args: argparse.Namespace) -> int:
    import mlflow

    local = not tracking.ui.is_server()  # a tracking server serves its own UI
    base = f"http://127.0.0.1:{args.port}" if local else None
    pages = tracking.ui.ui_pages(mlflow.MlflowClient(), experiment_name(args.experiment), base)
    command = tracking.ui.serve_command(port=args.port)
    if command is None or args.no_start:
        say_ui(pages, command)
        return 0
    say_ui(pages, command, doing="Ctrl-C stops")
    _serve(command)


def _tensorboard(args: argparse.Namespace) -> int:
    import mlflow

    from freeze_study.report import download_event_files, resolve_sweep, tensorboard_command

    client = mlflow.MlflowClient()
    sweep_id = resolve_sweep(client, experiment_name(args.experiment), args.sweep)
    out = Path(args.out) if args.out else Path("reports") / "tensorboard" / sweep_id
    names = download_event_files(client, sweep_id, out)
    command = tensorboard_command(out, args.port)
    print(f"TensorBoard event files of sweep {sweep_id}: {len(names)} runs in {out}")
    print(f"  {shlex.join(command)}")
    if args.no_start:
        return 0
    print(f"TensorBoard: http://127.0.0.1:{args.port}/ (Ctrl-C stops it)", flush=True)
    _serve(command)


def _serve(command: list[str]) -> NoReturn:
    """Become the server (`os.execv`, `command[0]` an absolute path): Ctrl-C reaches it alone and its exit code is
    this command's (TensorBoard and `mlflow ui` exit 0 after Ctrl-C). Nothing of this process is left to wait or to
    tear down: with `subprocess.run` the interpreter's own exit (torch, MLflow) took 3-4 s after the server's."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
