"""Temporary folders a run writes (spilled features, the Trainer's folder): whose are they, and which are
orphans? (Half-written cache entries are the cache store's: it removes those whose build lock is free.)

Each is named `<prefix><pid>@<host>-<random>`, so when a worker is killed (`kill -9`
leaves its `TemporaryDirectory` behind) whoever runs on the same host later can tell
that the process that made it is gone and remove it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable
from pathlib import Path

from freeze_study.names import FEATURES_SCRATCH, RUN_SCRATCH

SCRATCH_PREFIXES = (FEATURES_SCRATCH, RUN_SCRATCH)


def owned_prefix(prefix: str) -> str:
    """`prefix` followed by this process's id and host: the start of a scratch file's or folder's name."""
    return f"{prefix}{os.getpid()}@{socket.gethostname()}-"


def scratch_dir(prefix: str, root: str | Path | None = None) -> tempfile.TemporaryDirectory:
    """A temporary folder under `root` (default: the system's) named after this process and host."""
    return tempfile.TemporaryDirectory(prefix=owned_prefix(prefix), dir=root)


def scratch_roots(cache_root: str | Path) -> list[Path]:
    """Where a run's scratch goes: the cache folder (spilled features), the system's temp (the Trainer's)."""
    return [Path(cache_root), Path(tempfile.gettempdir())]


def remove_orphans(roots: Iterable[str | Path], pid: int | None = None) -> list[Path]:
    """Remove this host's scratch whose process is gone (only `pid`'s, if given); returns what was removed."""
    pattern = re.compile(rf"^({'|'.join(map(re.escape, SCRATCH_PREFIXES))})(\d+)@(.+)-[^-]+$")
    host, removed = socket.gethostname(), []
    for root in roots:
        try:
            entries = list(Path(root).iterdir())
        except OSError:  # not there (yet)
            continue
        for path in entries:
            match = pattern.match(path.name)
            if not match or match[3] != host:
                continue
            owner = int(match[2])
            if (pid is None or owner == pid) and not _alive(owner):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    """Whether process `pid` runs on this host (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (not Linux)
        return True
