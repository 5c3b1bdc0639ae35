"""The cache folder's advisory locks: one `flock`ed file per name under `<root>/locks/`, shared or exclusive.

POSIX only: without `fcntl` (Windows) no lock is taken and only the store's atomic renames protect
readers. Lock files are never deleted (a waiter could otherwise lock a stale file); closing a descriptor
releases its lock (`release`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the atomic rename still protects readers
    fcntl = None


class Locks:
    """The named locks under `folder`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def take(self, name: str, shared: bool) -> int | None:
        """The lock `name`, waiting for it; its descriptor for `release` (None without `fcntl`)."""
        if fcntl is None:
            return None
        fd = self._open(name)
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        return fd

    def try_exclusive(self, name: str) -> int | None:
        """An exclusive lock if free at once, else None."""
        if fcntl is None:
            return -1  # nothing tells an entry in use apart
        fd = self._open(name)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Held exclusively for the `with` block."""
        fd = self.take(name, shared=False)
        try:
            yield
        finally:
            release(fd)

    def _open(self, name: str) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        return os.open(self.folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o666)


def release(fd: int | None) -> None:
    """Release a lock from `Locks.take` or `Locks.try_exclusive`."""
    if fd is not None and fd >= 0:
        os.close(fd)  # closing the descriptor releases its flock
