"""The one error for data that cannot be used, and how it keeps its one-line message through DataLoader workers."""

from __future__ import annotations

from freeze_study.errors import ExpectedError

_WORKER_PREFIX = "Caught "  # torch.utils.data's ExceptionWrapper: "Caught DataError in DataLoader worker process 0."


class DataError(ExpectedError, ValueError):
    """The data cannot be used; the message (one line) names the folder, split, class or file and says what to do.

    A DataLoader worker re-raises an error in the main process as `DataError(text)` where
    `text` is "Caught DataError in DataLoader worker process N" and the worker's whole
    traceback; the message is then taken from the traceback's last line, and the
    traceback kept in `worker_traceback`.
    """

    def __init__(self, message: object = "", *args: object):
        text = str(message)
        self.worker_traceback: str | None = None
        if text.startswith(_WORKER_PREFIX) and "Traceback" in text:
            self.worker_traceback = text
            last = [line for line in text.splitlines() if line.strip()][-1]
            text = last.split(f"{type(self).__name__}: ", 1)[-1].strip()
        super().__init__(text, *args)
