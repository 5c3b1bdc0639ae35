"""What a failure looks like to the user: an expected one (bad parameter, data, weights or store) in one line,
a bug with its traceback kept where it can be read.

Every error a user can fix derives from `ExpectedError`; the command line prints those as
one line and exits 2, and a run that ends on one records that line in its `error` tag.
Anything else is a bug: one line too, with the traceback in the run's `error` tag and on
the terminal with `--debug`.
"""

from __future__ import annotations

import traceback

from mlflow.exceptions import MlflowException

from freeze_study.text import one_line, shown

TRACEBACK_CHARS = 6000  # of a bug's traceback kept in a run's `error` tag (MLflow keeps 8000 per tag)


class ExpectedError(Exception):
    """A failure the user can fix; the message is one line that names the parameter, file or URI."""


def reason(exc: BaseException) -> str:
    """'DataError: cannot decode image x.jpg: …': the exception's type and its message's first line (for an
    error re-raised from a DataLoader worker, the worker's own last line)."""
    message = message_of(exc) + (LOADER_HINT if is_loader_failure(exc) else "")
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# How torch's DataLoader says its workers died (a bus error: too little shared memory) or stalled (its timeout).
LOADER_FAILURES = ("DataLoader worker (pid", "DataLoader timed out after")
LOADER_HINT = "; try --num-workers 0, or give the machine more shared memory (e.g. docker run --shm-size=1g)"


def is_expected(exc: BaseException) -> bool:
    """An error the user can fix, as opposed to a bug (whose traceback matters): ours (`ExpectedError`), an
    interrupt, the machine's (DataLoader workers), the tracking store's (an MLflow error), a file system error
    that names its file. The one definition behind both the exit code (2) and the run's `error` tag (no traceback)."""
    if isinstance(exc, ExpectedError | KeyboardInterrupt):
        return True
    if isinstance(exc, OSError):
        return bool(exc.filename)
    return is_loader_failure(exc) or from_store(exc)


def from_store(exc: BaseException) -> bool:
    """An MLflow error (the tracking store refused or could not be reached), not one of ours."""
    return isinstance(exc, MlflowException) and not isinstance(exc, ExpectedError)


def is_loader_failure(exc: BaseException) -> bool:
    """DataLoader workers that died, stalled or found no shared memory: the machine's limits, not a bug."""
    text = str(exc)
    return isinstance(exc, RuntimeError) and (text.startswith(LOADER_FAILURES) or "shared memory" in message_of(exc))


def message_of(exc: BaseException) -> str:
    """The message's first line; for "Caught X in DataLoader worker process N" with the worker's traceback,
    that traceback's last line (what went wrong in the worker)."""
    text = str(exc)
    if text.startswith("Caught ") and "in DataLoader worker process" in text and "Traceback" in text:
        return one_line([line for line in text.splitlines() if line.strip()][-1])
    return one_line(text)


def record(exc: BaseException) -> str:
    """What a run's `error` tag holds: the reason, and for a bug its traceback's end too."""
    if is_expected(exc):
        return reason(exc)
    trace = shown("".join(traceback.format_exception(exc)))
    return f"{reason(exc)}\n\n{trace[-TRACEBACK_CHARS:]}"
