"""What is already known about a data file, remembered by the file's identity (path, size, modification time).

Verifying every image and hashing every file costs seconds per run (Beans: 1,295 files,
180 MB); a sweep pays it once. A check that passed and a file's SHA-256 are kept in a
small SQLite file in the cache folder and trusted while the file's real path, size and
modification time (ns) are unchanged. A file modified in the last two seconds, or during
the work, is not remembered: a second write within one timestamp tick would go unseen
(git's "racy" files). A memo that cannot be read or written is no memo: the work is done
again, never skipped.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

RACY_NS = 2_000_000_000  # files younger than this are not remembered (FAT timestamps tick every 2 s)
# A path is kept as its bytes (`os.fsencode`): a file name need not be UTF-8, and SQLite text must be. Rows of
# older memos (paths as text) never equal bytes: they are not trusted, only left until `freeze-study cache clear`.
_SCHEMA = """CREATE TABLE IF NOT EXISTS known (
    path BLOB NOT NULL, what TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (path, what))"""
DIGEST = "sha256"  # what a remembered digest is


class FileMemo:
    """Remembered checks and SHA-256 digests of files, in the SQLite file `db` (created on first write).

    Safe to share between processes (SQLite locking) and threads (one lock around the
    connection; the checks themselves run outside it); pickles without its connection.
    """

    def __init__(self, db: Path):
        self.db = Path(db)
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple] = []
        self._broken = False
        self._lock = threading.RLock()

    def __getstate__(self) -> dict:
        return {"db": self.db, "_conn": None, "_pending": [], "_broken": self._broken}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.RLock())

    def remembered(self, check: Callable[[Path], None], name: str) -> Callable[[Path], None]:
        """`check(path)`, skipped for a file that passed the check called `name` before, unchanged since.

        `name` stands for what the check verifies: change it when the check changes, so that
        passes of the old check are not trusted. A failing check raises as `check` does.
        """

        def checked(path: Path) -> None:
            key = self._identity(path)
            if key is not None and self._lookup(key, name) is not None:
                return
            check(path)
            self._remember(path, key, name, b"ok")

        return checked

    def sha256(self, path: Path) -> bytes:
        """The file's SHA-256 (32 bytes), remembered by its identity."""
        key = self._identity(path)
        known = self._lookup(key, DIGEST) if key is not None else None
        if known is not None:
            return known
        digest = file_sha256(path)
        self._remember(path, key, DIGEST, digest)
        return digest

    def flush(self) -> None:
        """Write what was learnt since the last flush (one transaction)."""
        with self._lock:
            rows, self._pending = self._pending, []
            if not rows or self._broken:
                return
            try:
                conn = self._connect()
                with conn:
                    conn.executemany("INSERT OR REPLACE INTO known VALUES (?, ?, ?, ?, ?)", rows)
            except (sqlite3.Error, OSError) as exc:
                self._give_up(exc)

    def close(self) -> None:
        """Flush and close the connection."""
        with self._lock:
            self.flush()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _identity(self, path: Path) -> tuple[bytes, int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None  # the check itself will say what is wrong with the file
        return os.fsencode(os.path.realpath(path)), st.st_size, st.st_mtime_ns

    def _lookup(self, key: tuple[bytes, int, int], what: str) -> bytes | None:
        with self._lock:
            if self._broken or not self.db.exists():
                return None
            try:
                row = (
                    self._connect()
                    .execute("SELECT size, mtime_ns, value FROM known WHERE path = ? AND what = ?", (key[0], what))
                    .fetchone()
                )
            except (sqlite3.Error, OSError) as exc:
                self._give_up(exc)
                return None
        return row[2] if row is not None and (row[0], row[1]) == key[1:] else None

    def _remember(self, path: Path, before: tuple[bytes, int, int] | None, what: str, value: bytes) -> None:
        after = self._identity(path)
        if before is None or after != before or time.time_ns() - after[2] < RACY_NS:
            return  # changed while we looked at it, or too young to trust its timestamp
        with self._lock:
            self._pending.append((after[0], what, after[1], after[2], value))
            if len(self._pending) >= 512:
                self.flush()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.db.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.db, timeout=30, check_same_thread=False)  # used under self._lock
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._conn = conn
        return self._conn

    def _give_up(self, exc: Exception) -> None:
        self._broken = True
        warnings.warn(f"file memo {self.db} unusable ({exc}); checking and hashing every file", stacklevel=3)


def forget_all(db: Path) -> int:
    """Remove every remembered check and digest in `db`; the number of rows removed (0 when there is none)."""
    if not Path(db).exists():
        return 0
    with closing(sqlite3.connect(db, timeout=30)) as conn, conn:
        conn.execute(_SCHEMA)
        return conn.execute("DELETE FROM known").rowcount


def file_sha256(path: Path, memo: FileMemo | None = None) -> bytes:
    """The SHA-256 (32 bytes) of the file at `path`: remembered by file identity in `memo` when given, else read
    whole. Raises OSError when the file cannot be read."""
    return memo.sha256(path) if memo else hashlib.sha256(Path(path).read_bytes()).digest()
