"""The command line: `freeze-study train|sweep|worker|report|ui|tensorboard|bench|cache|register|predict`.

Every flag comes from a config dataclass field, with the field's help text; the
parsed `Namespace` never leaves this module. Expected failures (a bad parameter,
unusable data or weights, a store that cannot be used, nothing to report) print one line
and exit 2; an interrupt exits 130; a bug prints one line and exits 1, its traceback in
the run's `error` tag and, with `--debug` (or FREEZE_STUDY_DEBUG=1), on the terminal.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import NoReturn

from freeze_study import exits, tracking
from freeze_study.bench import BenchConfig
from freeze_study.config import HOST_SETTINGS, ConfigError, SweepConfig, TrainConfig, experiment_name, model_name

# says that MLflow does not validate the classifier's `list[bytes | str | Path]` input (the classifier does)
TYPE_HINT_LOGGER = "mlflow.types.type_hints"
# says at INFO when it starts and stops sampling, four lines per run; what it samples goes to the run
SYSTEM_METRICS_LOGGER = "mlflow.system_metrics"


MODEL_NAME_HELP = "registered model name (default: <experiment>-resnet18, e.g. freeze-study-resnet18)"


def _number(text: str) -> float:
    """Any spelling of a number ('1e-4', '0.0001', ' 1E-04'): the config checks its range and records it once."""
    return float(text)


def _whole(text: str) -> int | float:
    """'2', '2.0', '2e0', '+2' -> 2; a fraction is passed on for the config to refuse by name."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
        return int(value) if value.is_integer() else value


_number.__name__, _whole.__name__ = "float", "int"  # argparse says "invalid int value: 'two'"


def _int_list(text: str) -> tuple[int | float, ...]:
    try:
        return tuple(_whole(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


_TYPES = {"int": _whole, "float": _number, "tuple[int, ...]": _int_list}


def add_fields(
    parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (), only: tuple[str, ...] | None = None
) -> None:
    """One --flag per field of the dataclass `cls` (also spelled --snake_case, as `mlflow run -P` passes
    them), typed and defaulted from the field, with the field's help text; a bool field is a switch.
    `skip` leaves fields out; `only`, when given, keeps just those."""
    for f in dataclasses.fields(cls):
        if f.name in skip or "help" not in f.metadata or (only is not None and f.name not in only):
            continue
        names = (f.name, *f.metadata.get("aliases", ()))
        flags = [flag for n in names for flag in dict.fromkeys([f"--{n.replace('_', '-')}", f"--{n}"])]
        shown = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        said = f.default is None or "default" in f.metadata["help"]  # the help text says it already
        if str(f.type) == "bool":
            parser.add_argument(*flags, dest=f.name, action="store_true", help=f.metadata["help"])
            continue
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
    coordination = {k: v for k, v in _fields_of(SweepConfig, args).items() if k not in ("storage", "study_name")}
    cfg = SweepConfig(train=train_config(args), **{**coordination, **given})
    name = model_name(args.model_name, cfg.train.experiment_name())  # a bad name stops before training
    tracking.use_worker_http_defaults()
    return _finish(run_sweep(cfg, launcher_run_id=launcher_run_id), args, name)


def _worker(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    from freeze_study.sweep import run_worker

    tracking.use_worker_http_defaults()
    result = run_worker(args.storage, args.study, {k: getattr(args, k) for k in HOST_SETTINGS})
    return _finish(result, args, model_name(args.model_name, result.experiment))


def _finish(result, args: argparse.Namespace, name: str) -> int:
    """Say how the sweep stands; the worker that closed it (or found it done) writes the report and registers
    the recommended run if asked."""
    print(
        f"sweep {result.parent_run_id}: {result.finished} grid points finished, "
        f"{result.trained} trained by this worker, {len(result.failures)} failed"
    )
    charts, compare = tracking.ui.sweep_urls(result.parent_run_id)
    _say_ui([("its runs as charts", charts), ("compare them", compare)])
    if result.failures:
        print("failed: " + "; ".join(f"{p} ({r})" for p, r in result.failures.items()), file=sys.stderr)
    if result.reports and result.finished and args.report:
        report(result.experiment, result.parent_run_id)
    if result.reports and not result.failures and args.register:
        register(result.experiment, result.parent_run_id, name, quiet_refusal=True)
    return 1 if result.failures else 0


def report(experiment: str, sweep_id: str | None = None, out: str | None = None) -> None:
    """Write the report of `sweep_id` (default: the experiment's newest sweep) and say where it is."""
    import mlflow

    from freeze_study.report import resolve_sweep, write_report

    client = mlflow.MlflowClient()
    sweep_id = resolve_sweep(client, experiment, sweep_id)
    folder = write_report(client, sweep_id, Path(out) if out else Path("reports") / sweep_id)
    print(f"report for sweep {sweep_id}: {folder / 'report.md'} (also logged to the run under report/)")


def register(
    experiment: str, sweep_id: str | None, name: str, promote: bool = False, quiet_refusal: bool = False
) -> None:
    """Register the recommended run of `sweep_id` (default: the experiment's newest sweep) as `name` and say what
    happened. A sweep that recommends nothing raises RegistrationError, or with `quiet_refusal` only says so."""
    from freeze_study.serve import RegistrationError, register_sweep

    try:
        print(register_sweep(experiment, sweep_id, name, promote))
    except RegistrationError as exc:
        if not quiet_refusal:
            raise
        print(f"not registered: {exc}", file=sys.stderr)


def _register(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    experiment = experiment_name(args.experiment)
    register(experiment, args.sweep, model_name(args.model_name, experiment), args.promote)
    return 0


def _report(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    report(experiment_name(args.experiment), args.sweep, args.out)
    return 0


def _ui(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    import mlflow

    local = not tracking.ui.is_server()  # a tracking server serves its own UI
    base = f"http://127.0.0.1:{args.port}" if local else None
    pages = tracking.ui.ui_pages(mlflow.MlflowClient(), experiment_name(args.experiment), base)
    command = tracking.ui.serve_command(port=args.port)
    if command is None or args.no_start:
        _say_ui(pages, command)
        return 0
    _say_ui(pages, command, doing="Ctrl-C stops")
    _serve(command)


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
    _serve(command)


def _serve(command: list[str]) -> NoReturn:
    """Become the server (`os.execv`, `command[0]` an absolute path): Ctrl-C reaches it alone and its exit code is
    this command's (TensorBoard and `mlflow ui` exit 0 after Ctrl-C). Nothing of this process is left to wait or to
    tear down: with `subprocess.run` the interpreter's own exit (torch, MLflow) took 3-4 s after the server's."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)


def _bench(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    from freeze_study.bench import format_sweep, format_table, run_bench, run_sweep_bench

    bench = BenchConfig(train=train_config(args, freeze=0), **_fields_of(BenchConfig, args))
    if bench.sweep:
        print(format_sweep(run_sweep_bench(bench)))
    else:
        print(format_table(run_bench(bench)))
    print(f"written to {bench.out_file}")
    return 0


def _cache(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    from freeze_study.cache import store_of
    from freeze_study.cache.listing import clear, describe

    store = store_of(train_config(args))
    print(describe(store) if args.action == "list" else clear(store))
    return 0


def _predict(args: argparse.Namespace, launcher_run_id: str | None) -> int:
    from freeze_study.names import CHAMPION_ALIAS
    from freeze_study.serve.predict import format_table, image_files, load_classifier, predict_files, summary, to_json

    uri = args.model or f"models:/{model_name(None, experiment_name(args.experiment))}@{CHAMPION_ALIAS}"
    files, skipped = image_files(args.inputs)
    if skipped:
        print(f"skipped {len(skipped)} files that are not images by extension (e.g. {skipped[0]})", file=sys.stderr)
    predictions = predict_files(load_classifier(uri), files)
    print(to_json(predictions) if args.json else format_table(predictions))
    for failed in predictions.failed:
        print(f"freeze-study: error: {failed.error}", file=sys.stderr)
    print(summary(predictions, uri), file=sys.stderr)
    return 1 if predictions.failed else 0


class _Parser(argparse.ArgumentParser):
    """Usage errors become ConfigError, so `main` reports them like any invalid parameter."""

    def error(self, message: str):
        raise ConfigError(f"{self.prog}: {message}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # runs end KILLED, not left RUNNING


def _add_experiment(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    """--experiment, and with `sweep` --sweep: which experiment, and which of its sweeps."""
    if sweep:
        p.add_argument("--sweep", default=None, help="parent run id of the sweep (default: the latest)")
    p.add_argument(
        "--experiment", default=None, help="MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else freeze-study)"
    )


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


def build_parser() -> argparse.ArgumentParser:
    """The `freeze-study` parser: one sub-command per job, each flag documented."""
    parser = _Parser(prog="freeze-study", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train one run at one freeze level, tracked in MLflow")
    add_fields(p, TrainConfig)
    p.set_defaults(func=_train)

    p = sub.add_parser("sweep", help="train the grid of freeze levels x seeds (resumable) under one parent run")
    add_fields(p, SweepConfig)
    _add_finish_flags(p)
    add_fields(p, TrainConfig, skip=("freeze", "seed"))
    p.set_defaults(func=_sweep)

    p = sub.add_parser("worker", help="join a running sweep and train its queued grid points (config read from it)")
    p.add_argument(
        "--storage", required=True, help="the sweep's Optuna storage URL, e.g. postgresql://USER@HOST/optuna"
    )
    p.add_argument("--study", default=None, help="the sweep's Optuna study name (default: the storage's only study)")
    _add_finish_flags(p)
    for f in dataclasses.fields(TrainConfig):
        if f.name in HOST_SETTINGS:  # a host's own settings; the rest is the sweep's
            flag = f"--{f.name.replace('_', '-')}"
            p.add_argument(
                flag,
                dest=f.name,
                type=type(f.default) if f.default is not None else str,
                default=None,
                help=f"{f.metadata['help']} (default: the sweep's)",
            )
    p.set_defaults(func=_worker)

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

    p = sub.add_parser("report", help="figures and report.md/html for a sweep, from the tracking store")
    _add_experiment(p, sweep=True)
    p.add_argument("--out", default=None, help="output folder (default: reports/<sweep run id>/)")
    p.set_defaults(func=_report)

    p = sub.add_parser("ui", help="the MLflow UI on the local store, with the addresses of the study's pages")
    _add_experiment(p)
    p.add_argument("--port", type=int, default=5000, help="the UI's port on 127.0.0.1 (default: 5000)")
    p.add_argument("--no-start", action="store_true", help="print the addresses, do not start the UI")
    p.set_defaults(func=_ui)

    p = sub.add_parser("tensorboard", help="download a sweep's TensorBoard event files and start TensorBoard")
    _add_experiment(p, sweep=True)
    p.add_argument("--out", default=None, help="log folder (default: reports/tensorboard/<sweep run id>/)")
    p.add_argument("--port", type=int, default=6006, help="TensorBoard's port on 127.0.0.1 (default: 6006)")
    p.add_argument("--no-start", action="store_true", help="download and print the command, do not start it")
    p.set_defaults(func=_tensorboard)

    p = sub.add_parser("register", help="register a sweep's recommended run in the Model Registry as the champion")
    _add_experiment(p, sweep=True)
    p.add_argument("--model-name", default=None, help=MODEL_NAME_HELP)
    p.add_argument(
        "--promote",
        action="store_true",
        help="move the champion alias to it even when the champion's validation accuracy is as high or higher",
    )
    p.set_defaults(func=_register)

    p = sub.add_parser("predict", help="classify image files and folders with the registered (or a logged) model")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files, or folders searched recursively")
    p.add_argument(
        "--model",
        default=None,
        help="models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/model "
        "(default: models:/<experiment>-resnet18@champion)",
    )
    _add_experiment(p)
    p.add_argument("--json", action="store_true", help="print JSON (class probabilities too) instead of a table")
    p.set_defaults(func=_predict)
    for p in sub.choices.values():
        p.add_argument("--debug", action="store_true", help=f"print a bug's traceback (also: {exits.DEBUG_ENV}=1)")
    return parser


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
            args = build_parser().parse_args(argv)
            debug = debug or args.debug
            return args.func(args, launcher_run_id)
        except BaseException as exc:  # noqa: BLE001 - every failure ends as one line and an exit code
            return exits.failed(exc, launcher_run_id, debug)


if __name__ == "__main__":
    sys.exit(main())
