"""How the command line ends when something fails: one line on the terminal, an exit code, the run recorded.

- An expected failure (`ExpectedError`: a parameter, the data, the weights, the store; an
  MLflow store error; a file system error naming its file): one line, exit code 2.
- An interrupt (Ctrl-C, SIGTERM): one line, exit code 130; runs end KILLED.
- DataLoader workers that died (too little shared memory) or stalled: one line with what to do, exit 2.
- Anything else is a bug: one line, exit code 1; its traceback is in the run's `error` tag
  and, with `--debug` or FREEZE_STUDY_DEBUG=1, on the terminal.
In every case the run `mlflow run` created ends FAILED (or KILLED) with the reason, unless
the run context already ended it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
import warnings
from collections.abc import Iterator

import mlflow

from freeze_study import errors, tracking
from freeze_study.errors import reason
from freeze_study.names import RUNNING
from freeze_study.text import one_line, shown

DEBUG_ENV = "FREEZE_STUDY_DEBUG"  # =1: a bug's traceback on the terminal (e.g. under `mlflow run`)
EXPECTED, INTERRUPTED, BUG = 2, 130, 1


def debug_from_env() -> bool:
    """Whether FREEZE_STUDY_DEBUG asks for tracebacks."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def failed(exc: BaseException, launcher_run_id: str | None, debug: bool) -> int:
    """Say what went wrong in one line on stderr, end the launcher's run, return the exit code.

    SystemExit (argparse's --help) propagates unchanged, except Lightning's exit after an interrupt, which is
    the interrupt.
    """
    if isinstance(exc, SystemExit):
        if not isinstance(exc.__context__, KeyboardInterrupt):
            raise exc
        exc = exc.__context__  # Lightning exits with 1 after shutting down gracefully on Ctrl-C or SIGTERM
    _fail_launcher(launcher_run_id, exc)
    if isinstance(exc, KeyboardInterrupt):
        print(f"freeze-study: interrupted ({one_line(exc) or 'Ctrl-C'})", file=sys.stderr)
        return INTERRUPTED
    if errors.is_expected(exc):
        store = f"the tracking store {mlflow.get_tracking_uri()}: " if errors.from_store(exc) else ""
        hint = errors.LOADER_HINT if errors.is_loader_failure(exc) else ""
        print(f"freeze-study: error: {store}{errors.message_of(exc)}{hint}", file=sys.stderr)
        return EXPECTED
    if debug:
        traceback.print_exception(exc)
    print(
        f"freeze-study: internal error: {reason(exc)} (a bug: its traceback is in the run's `error` tag, "
        "or run again with --debug)",
        file=sys.stderr,
    )
    return BUG


def _fail_launcher(run_id: str | None, exc: BaseException) -> None:
    if not run_id:
        return
    with contextlib.suppress(Exception):  # the store may be what failed: the exit code still says so
        if mlflow.MlflowClient().get_run(run_id).info.status == RUNNING:
            tracking.mark_failed(run_id, exc, quiet=True)


@contextlib.contextmanager
def warnings_on_one_line() -> Iterator[None]:
    """Warnings printed as 'warning: <message>', without the file, line number and source line."""
    original = warnings.formatwarning

    def one_line_warning(message, category, filename, lineno, line=None) -> str:
        kind = "warning" if category is UserWarning else category.__name__
        return f"{kind}: {shown(message)}\n"

    warnings.formatwarning = one_line_warning
    try:
        yield
    finally:
        warnings.formatwarning = original
