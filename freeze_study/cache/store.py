"""The persistent cache folder: entries under a disk budget, least recently used out first, safe for many processes.

An entry is one array `<root>/<kind>/<key>.npy` (kind `decoded`: images; `features`: a
frozen prefix's outputs) with what it holds in `<key>.json` beside it; its last use is
the array's modification time. Entries are written to a temporary file and renamed into
place, so nobody reads half an entry. Locks (`cache.locks`, under `<root>/locks/`): a process
building entries holds its group's build lock, so two workers never build the same entries at
once (the second waits, then reads them); a reader holds a shared lock on each entry it uses
until its run ends, and eviction takes an entry only when it can lock it exclusively, so an
entry in use is never removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from freeze_study.cache.locks import Locks, release
from freeze_study.names import FEATURES_SCRATCH
from freeze_study.scratch import scratch_dir

KINDS = ("decoded", "features")


@dataclass(frozen=True)
class Entry:
    """One stored array: its kind, key, file, size in bytes, last use (epoch seconds) and description."""

    kind: str
    key: str
    path: Path
    bytes: int
    last_used: float
    meta: dict = field(default_factory=dict)


@dataclass
class Writer:
    """A new entry being written: `array` is a writable memmap of the entry's final shape and dtype.

    `shared` is False when the budget had no room: the file is then the run's own, deleted
    when the run's stack closes, and never seen by other runs.
    """

    kind: str
    key: str
    array: np.memmap  # open_memmap's: written, flushed, then renamed into place
    tmp: Path
    shared: bool
    meta: dict


class Store:
    """The cache folder `root`, holding at most `budget` bytes of entries."""

    def __init__(self, root: Path, budget: int):
        self.root, self.budget = Path(root), int(budget)
        self.locks = Locks(self.root / "locks")

    def path(self, kind: str, key: str) -> Path:
        """Where the entry's array lives."""
        return self.root / kind / f"{key}.npy"

    def open(self, kind: str, key: str, hold: ExitStack) -> np.ndarray | None:
        """The entry as a read-only memmap, kept from eviction until `hold` closes; None when absent."""
        fd = self.locks.take(f"{kind}-{key}", shared=True)
        path = self.path(kind, key)
        try:
            array = np.load(path, mmap_mode="r")
            os.utime(path)  # its last use, for least-recently-used eviction
        except (FileNotFoundError, ValueError, OSError):
            release(fd)
            return None
        hold.callback(release, fd)
        return array

    @contextlib.contextmanager
    def build_lock(self, kind: str, group: str) -> Iterator[None]:
        """Held while building entries of `group`: a second builder waits, then finds them built."""
        with self.locks.exclusive(f"{kind}-{group}.build"):
            yield

    def writer(self, kind: str, group: str, key: str, shape: tuple, dtype, meta: dict, spill: ExitStack) -> Writer:
        """A new entry's writable array, to be filled under `group`'s build lock: in the store when the
        budget has room (least recently used entries not in use are evicted to make it), else a file of
        this run's, removed when `spill` closes."""
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        with self.locks.exclusive("store"):
            shared = self.make_room(nbytes)
            if shared:  # created under the lock, so other writers count it
                fd, name = tempfile.mkstemp(dir=folder, prefix=f"{group}~{key}~", suffix=".tmp")
                os.close(fd)
                tmp = Path(name)
                spill.callback(_remove, tmp)  # if the build fails; a no-op after the rename
        if not shared:
            tmp = Path(spill.enter_context(scratch_dir(FEATURES_SCRATCH, self.root))) / "a.npy"  # orphans: `scratch`
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        return Writer(kind, key, array, tmp, shared, meta)

    def commit(self, writer: Writer, hold: ExitStack) -> np.ndarray:
        """Put the finished entry in place (its description first, then the array, atomically) and
        return it read-only, kept from eviction until `hold` closes."""
        writer.array.flush()
        del writer.array
        if not writer.shared:
            return np.load(writer.tmp, mmap_mode="r")
        path = self.path(writer.kind, writer.key)
        fd = self.locks.take(f"{writer.kind}-{writer.key}", shared=True)  # before it is visible: never evicted unused
        hold.callback(release, fd)
        meta = {**writer.meta, "created": time.time()}
        _write_atomic(path.with_suffix(".json"), json.dumps(meta, indent=1, default=str).encode())
        os.replace(writer.tmp, path)
        return np.load(path, mmap_mode="r")

    def entries(self) -> list[Entry]:
        """Every complete entry, least recently used first."""
        found = []
        for kind in KINDS:
            for path in (self.root / kind).glob("*.npy"):
                try:
                    st = path.stat()
                except FileNotFoundError:  # evicted meanwhile
                    continue
                found.append(Entry(kind, path.stem, path, st.st_size, st.st_mtime, _read_meta(path)))
        return sorted(found, key=lambda e: e.last_used)

    def usage(self) -> int:
        """Bytes used by entries and by entries being written."""
        return sum(e.bytes for e in self.entries()) + sum(_size(p) for p in self._temporaries())

    def make_room(self, nbytes: int) -> bool:
        """Evict least recently used entries not in use until `nbytes` more fit the budget; whether they fit.

        Call under the global lock. Leftovers of builders that died are removed first.
        """
        for tmp in self._temporaries():
            fd = self.locks.try_exclusive(f"{tmp.parent.name}-{tmp.name.split('~')[0]}.build")
            if fd is not None:  # nobody builds that group: a crashed builder's file
                _remove(tmp)
                release(fd)
        used = self.usage()
        for entry in self.entries():
            if used + nbytes <= self.budget:
                break
            if self.remove(entry):
                used -= entry.bytes
        return used + nbytes <= self.budget

    def remove(self, entry: Entry) -> bool:
        """Delete the entry unless a run uses it; whether it was deleted."""
        fd = self.locks.try_exclusive(f"{entry.kind}-{entry.key}")
        if fd is None:
            return False
        try:
            _remove(entry.path)
            _remove(entry.path.with_suffix(".json"))
        finally:
            release(fd)
        return True

    def clear(self) -> tuple[int, int, int]:
        """Delete every entry not in use: (entries removed, bytes freed, entries kept because in use)."""
        removed = freed = kept = 0
        with self.locks.exclusive("store"):
            for entry in self.entries():
                if self.remove(entry):
                    removed, freed = removed + 1, freed + entry.bytes
                else:
                    kept += 1
        return removed, freed, kept

    def _temporaries(self) -> list[Path]:
        return [p for kind in KINDS for p in (self.root / kind).glob("*~*.tmp")]


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_meta(path: Path) -> dict:
    try:
        return json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json-tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
