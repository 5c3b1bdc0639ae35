"""Where a sweep's Optuna study lives, and who may change its plan: SQLite for one worker, PostgreSQL for many.

PostgreSQL (through psycopg 3): any number of workers on any number of hosts. Whatever
changes the plan (creating the study and the parent run, queueing grid points, closing the
parent) runs under a PostgreSQL advisory lock keyed by the study's name, so processes that
start at the same instant queue each point once; Optuna's tables are created on an empty
database under another lock (unguarded, three of four processes starting together fail
in `CREATE TABLE`).
SQLite: one worker at a time, held with a lock file beside the database (`<file>.lock`);
a second worker is told so in one line, before anything runs.
Optuna and MLflow must not share a database: both keep Alembic's `alembic_version` table.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import optuna
import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from freeze_study.errors import ExpectedError

MANY_WORKERS_HINT = "for several workers use --storage postgresql://USER@HOST/optuna (README: Many machines)"
_MLFLOW_TABLES = {"experiments", "runs", "metrics", "alembic_version"}


def default_optuna_storage() -> str:
    """`optuna.db` beside a SQLite MLflow store, else in the working directory (one writer at a time)."""
    uri = mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///"):
        return f"sqlite:///{os.path.join(os.path.dirname(uri[len('sqlite:///') :]), 'optuna.db')}"
    return "sqlite:///optuna.db"


def redact(url: str) -> str:
    """A storage URL without its password, fit for a tag or a message."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL (e.g. a journal file)
        return url


class StorageError(ExpectedError, ValueError):
    """A storage that cannot be used as given; the message says why in one line."""


class Storage:
    """One worker's hold on the Optuna storage at `url`: its locks, and the RDBStorage it trains from.

    Raises StorageError when the URL is not SQLite or PostgreSQL, when it is MLflow's own
    database, when it cannot be opened, or (SQLite) when another worker holds it.
    """

    def __init__(self, url: str, tracking_uri: str):
        self.url = url
        try:
            parsed = make_url(url)
        except sqlalchemy.exc.ArgumentError:
            raise StorageError(f"invalid Optuna storage URL {url!r}: {MANY_WORKERS_HINT}") from None
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StorageError(f"storage {redact(url)}: freeze-study runs on SQLite (one worker) or PostgreSQL")
        if _same_database(url, tracking_uri):
            raise StorageError(_shared_database(url, f"the tracking store is {redact(tracking_uri)}"))
        self._file = _hold_sqlite(parsed.database) if self.dialect == "sqlite" else None
        self._engine = sqlalchemy.create_engine(url, poolclass=NullPool) if self.dialect == "postgresql" else None
        self._rdb: list[optuna.storages.RDBStorage] = []
        try:
            self._check_not_mlflow()
        except BaseException:
            self.close()
            raise

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold the lock named `name` (PostgreSQL advisory lock; SQLite's one worker needs none)."""
        if self._engine is None:
            yield
            return
        key = int.from_bytes(hashlib.sha256(f"freeze_study:{name}".encode()).digest()[:8], "big", signed=True)
        with self._connect() as conn, conn.begin():
            conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield  # released when the transaction ends

    def rdb(
        self,
        heartbeat_s: int | None = None,
        grace_period_s: int | None = None,
        on_stale: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
    ) -> optuna.storages.RDBStorage:
        """Optuna's RDBStorage on `url` (its tables created if missing), with heartbeats when `heartbeat_s` is set."""
        with self.exclusive("optuna-schema"), warnings.catch_warnings(), _opening(self.url):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats are "experimental"
            storage = optuna.storages.RDBStorage(
                self.url,
                heartbeat_interval=heartbeat_s,
                grace_period=grace_period_s,
                heartbeat_stale_trial_callback=on_stale,
                skip_table_creation=bool(self._rdb),
            )
        self._rdb.append(storage)
        return storage

    def retire(self, keep: optuna.storages.RDBStorage) -> None:
        """Close the connections of every RDBStorage opened here but `keep`."""
        for storage in self._rdb:
            if storage is not keep:
                storage.engine.dispose()
        self._rdb = [keep]

    def close(self) -> None:
        """Release the locks and close every connection this worker opened."""
        for storage in self._rdb:
            storage.engine.dispose()
        self._rdb.clear()
        if self._engine is not None:
            self._engine.dispose()
        if self._file is not None:
            self._file.close()  # releases the SQLite worker lock
            self._file = None

    def _connect(self) -> sqlalchemy.engine.Connection:
        if self._engine is None:  # only PostgreSQL has one: SQLite's lock is a file beside it
            raise StorageError(f"storage {redact(self.url)}: no database server to connect to")
        with _opening(self.url):
            return self._engine.connect()

    def _check_not_mlflow(self) -> None:
        if self._engine is None:
            return
        with self._connect() as conn:
            tables = set(sqlalchemy.inspect(conn).get_table_names())
        if _MLFLOW_TABLES <= tables:
            raise StorageError(_shared_database(self.url, "it holds MLflow's tables"))


def _shared_database(url: str, why: str) -> str:
    return (
        f"the Optuna storage {redact(url)} is MLflow's database ({why}): Optuna and MLflow both keep Alembic's "
        "`alembic_version` table, so one database breaks the other's migrations; give Optuna its own database"
    )


def _same_database(a: str, b: str) -> bool:
    """Whether two database URLs name the same database (SQLite: the same file); False for other URIs."""
    try:
        x, y = make_url(a), make_url(b)
    except sqlalchemy.exc.ArgumentError:  # e.g. an http:// tracking server
        return False
    if x.get_backend_name() != y.get_backend_name():
        return False
    if x.get_backend_name() == "sqlite":
        return bool(x.database and y.database and os.path.realpath(x.database) == os.path.realpath(y.database))
    return (x.host or "localhost", x.port, x.database) == (y.host or "localhost", y.port, y.database)


def _hold_sqlite(database: str | None):
    """The lock file beside a SQLite database, held until closed; StorageError if another worker holds it."""
    if not database or database == ":memory:":
        return None
    path = Path(database).with_name(Path(database).name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # held open for the worker's life: closing it releases the lock
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StorageError(
            f"another worker ({holder}) is running a sweep on the SQLite storage sqlite:///{database}: "
            f"SQLite holds one worker at a time; {MANY_WORKERS_HINT}"
        ) from None
    handle.truncate(0)
    handle.write(f"{socket.gethostname()}:{os.getpid()}\n")
    handle.flush()
    return handle


@contextlib.contextmanager
def _opening(url: str) -> Iterator[None]:
    """Connection failures (server down, wrong password, no such database) as one StorageError line."""
    try:
        yield
    except sqlalchemy.exc.OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise StorageError(f"cannot open the Optuna storage {redact(url)}: {reason}") from None
