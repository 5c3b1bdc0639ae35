"""The command line: `freeze-study train|sweep|report|tensorboard|bench`. Parse, build the config, call, exit code.

Every flag comes from a config dataclass field, with the field's help text; the
parsed `Namespace` never leaves this module. Expected failures (a bad parameter,
unusable data or weights, nothing to report) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from freeze_study import tracking
from freeze_study.bench import BenchConfig
from freeze_study.config import ConfigError, SweepConfig, TrainConfig, experiment_name


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


_TYPES = {"int": int, "float": float, "tuple[int, ...]": _int_list}


def add_fields(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One --flag per field of the dataclass `cls` (also spelled --snake_case, as `mlflow run -P` passes
    them), typed and defaulted from the field, with the field's help text."""
    for f in dataclasses.fields(cls):
        if f.name in skip or "help" not in f.metadata:
            continue
        names = (f.name, *f.metadata.get("aliases", ()))
        flags = [flag for n in names for flag in dict.fromkeys([f"--{n.replace('_', '-')}", f"--{n}"])]
        shown = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        said = f.default is None or "default" in f.metadata["help"]  # the help text says it already
        parser.add_argument(
            *flags,
            dest=f.name,
            type=_TYPES.get(str(f.type), str),
            default=f.default,
            help=f.metadata["help"] + ("" if said else f" (default: {shown})"),
        )


def _fields_of(cls: type, args: argparse.Namespace) -> dict[str, object]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names}


def train_config(args: argparse.Namespace, **changes: object) -> TrainConfig:
    """The TrainConfig named by the parsed flags."""
    return TrainConfig(**{**_fields_of(TrainConfig, args), **changes})


def _train(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    from freeze_study.training import train

    result = train(train_config(args), launcher_run_id=launcher_run_id)
    print(
        f"run {result.run_id}: test_acc={result.test_acc:.4f} val_acc={result.val_acc:.4f} "
        f"epochs={result.epochs_run} best_epoch={result.best_epoch} fit_time={result.fit_time_s:.1f}s"
    )
    _say_ui([("run", tracking.ui.run_url(result.run_id))])
    return 0


def _say_ui(pages: list[tuple[str, str]], command: list[str] | None = None, doing: str = "serve it with") -> None:
    """Where to see it in the MLflow UI and, for a local store, the command that serves it."""
    command = command or tracking.ui.serve_command()
    print("MLflow UI" + (f" ({doing} `{shlex.join(command)}`):" if command else ":"))
    width = max(len(name) for name, _ in pages)
    for name, url in pages:
        print(f"  {name + ':':<{width + 1}} {url}")


def _sweep(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    from freeze_study.sweep import run_sweep

    given = {k: v or None for k, v in _fields_of(SweepConfig, args).items() if k in ("storage", "study_name")}
    cfg = SweepConfig(levels=args.levels, seeds=args.seeds, train=train_config(args), **given)
    result = run_sweep(cfg, launcher_run_id=launcher_run_id)
    print(
        f"sweep {result.parent_run_id}: {result.finished}/{len(cfg.grid)} grid points finished, "
        f"{result.trained} trained now, {len(result.failures)} failed"
    )
    charts, compare = tracking.ui.sweep_urls(result.parent_run_id)
    _say_ui([("its runs as charts", charts), ("compare them", compare)])
    if result.failures:
        print("failed: " + "; ".join(f"{p} ({r})" for p, r in result.failures.items()), file=sys.stderr)
    if args.report and result.finished:
        report(cfg.train.experiment_name(), result.parent_run_id)
    return 1 if result.failures else 0


def report(experiment: str, sweep_id: str | None = None, out: str | None = None) -> None:
    """Write the report of `sweep_id` (default: the experiment's newest sweep) and say where it is."""
    import mlflow

    from freeze_study.report import resolve_sweep, write_report

    client = mlflow.MlflowClient()
    sweep_id = resolve_sweep(client, experiment, sweep_id)
    folder = write_report(client, sweep_id, Path(out) if out else Path("reports") / sweep_id)
    print(f"report for sweep {sweep_id}: {folder / 'report.md'} (also logged to the run under report/)")


def _report(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    report(experiment_name(args.experiment), args.sweep, args.out)
    return 0


def _ui(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    import mlflow

    from freeze_study.report import ui_command, ui_pages

    local = not tracking.ui.is_server()  # a tracking server serves its own UI
    base = f"http://127.0.0.1:{args.port}" if local else None
    pages = ui_pages(mlflow.MlflowClient(), experiment_name(args.experiment), base)
    command = ui_command(args.port) if local else None
    if command is None or args.no_start:
        _say_ui(pages, command)
        return 0
    _say_ui(pages, command, doing="Ctrl-C stops")
    return _serve(command)


def _tensorboard(args: argparse.Namespace, launcher_run_id: str | None) -> int:
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
    return _serve(command)


def _serve(command: list[str]) -> int:
    """Run a server in the foreground until it exits or Ctrl-C; its exit code (0 after Ctrl-C)."""
    try:
        return subprocess.run(command, check=False).returncode
    except KeyboardInterrupt:
        return 0


def _bench(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    from freeze_study.bench import format_table, run_bench

    bench = BenchConfig(train=train_config(args, freeze=0), **_fields_of(BenchConfig, args))
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
    """The `freeze-study` parser: one sub-command per job, each flag documented."""
    parser = _Parser(prog="freeze-study", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train one run at one freeze level, tracked in MLflow")
    add_fields(p, TrainConfig)
    p.set_defaults(func=_train)

    p = sub.add_parser("sweep", help="train the grid of freeze levels x seeds (resumable) under one parent run")
    add_fields(p, SweepConfig)
    p.add_argument("--report", action="store_true", help="then write the report (as `freeze-study report`)")
    add_fields(p, TrainConfig, skip=("freeze", "seed"))
    p.set_defaults(func=_sweep)

    p = sub.add_parser("bench", help="seconds per epoch with and without the feature cache, per level")
    add_fields(p, BenchConfig)
    add_fields(p, TrainConfig, skip=("freeze", "epochs", "patience", "feature_cache", "experiment"))
    p.set_defaults(func=_bench)

    p = sub.add_parser("report", help="figures and report.md/html for a sweep, from the tracking store")
    p.add_argument("--sweep", default=None, help="parent run id of the sweep (default: the latest)")
    p.add_argument(
        "--experiment", default=None, help="MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else freeze-study)"
    )
    p.add_argument("--out", default=None, help="output folder (default: reports/<sweep run id>/)")
    p.set_defaults(func=_report)

    p = sub.add_parser("ui", help="the MLflow UI on the local store, with the addresses of the study's pages")
    p.add_argument(
        "--experiment", default=None, help="MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else freeze-study)"
    )
    p.add_argument("--port", type=int, default=5000, help="the UI's port on 127.0.0.1 (default: 5000)")
    p.add_argument("--no-start", action="store_true", help="print the addresses, do not start the UI")
    p.set_defaults(func=_ui)

    p = sub.add_parser("tensorboard", help="download a sweep's TensorBoard event files and start TensorBoard")
    p.add_argument("--sweep", default=None, help="parent run id of the sweep (default: the latest)")
    p.add_argument(
        "--experiment", default=None, help="MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else freeze-study)"
    )
    p.add_argument("--out", default=None, help="log folder (default: reports/tensorboard/<sweep run id>/)")
    p.add_argument("--port", type=int, default=6006, help="TensorBoard's port on 127.0.0.1 (default: 6006)")
    p.add_argument("--no-start", action="store_true", help="download and print the command, do not start it")
    p.set_defaults(func=_tensorboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for an expected failure, said in one line)."""
    from freeze_study.data import DataError
    from freeze_study.model import WeightsError
    from freeze_study.report import ReportError

    signal.signal(signal.SIGTERM, _interrupt)
    tracking.ui.print_only_model_training_addresses()
    launcher_run_id = tracking.claim_launcher_run()  # the run `mlflow run` created, if any
    try:
        args = build_parser().parse_args(argv)
        return args.func(args, launcher_run_id)
    except ConfigError as exc:
        if launcher_run_id:
            tracking.mark_failed(launcher_run_id, exc)  # no run started yet: fail the launcher's
        print(f"freeze-study: error: {exc}", file=sys.stderr)
        return 2
    except (DataError, WeightsError, ReportError) as exc:
        print(f"freeze-study: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
