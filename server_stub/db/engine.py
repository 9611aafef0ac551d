"""Engines for the server database: SQLite (WAL, FULL sync, busy timeout, immediate writes) or PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from shared.errors import TransientError

try:
    import fcntl
except ImportError:  # Windows: SQLite's busy timeout alone
    fcntl = None  # type: ignore[assignment]

SQLITE_BUSY_TIMEOUT_MS = 15000

# Key in ``Connection.info`` of the per-transaction state ``Database.write`` keeps (see ``before_commit``).
_TXN_STATE = "clinic_write_transaction"
_BEFORE_COMMIT = "before_commit"
_PENDING_KEYS = "pending_keys"


class DatabaseBusy(TransientError):
    """A write could not start in time; nothing was applied and the client should retry."""

    code = "database_busy"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out (a
# restarted database or a dropped connection is then replaced, not met by a request). One used more
# recently is handed out as it is: a ping on every checkout was an extra round trip for each group of
# pushes and each read under load, and a connection that did die meanwhile fails its statement, which
# invalidates the whole pool and is answered 503 (retried by the client).
PING_IF_IDLE_SECONDS = 5.0
_LAST_USED = "clinic_last_used"


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _used(_dbapi_conn: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_LAST_USED, 0.0) < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:  # noqa: BLE001 - any failure: the pool replaces this connection
            raise DisconnectionError(f"pooled connection is dead: {error}") from error


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int, busy_ms: int) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_ms / 1000},
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front, so two writers never deadlock upgrading a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def transaction_state(conn: Connection) -> dict[str, Any] | None:
    """A dict that lives exactly as long as the ``Database.write`` transaction ``conn`` is in (None
    outside one), for work a transaction collects and writes once at its end (see ``pending``)."""
    state = conn.info.get(_TXN_STATE)
    return state if isinstance(state, dict) else None


def before_commit(conn: Connection, hook: Callable[[Connection], object], *, order: int = 0) -> bool:
    """Run ``hook(conn)`` once, after the body of the ``Database.write`` transaction ``conn`` is in
    and just before its commit: hooks of a lower ``order`` first, equal ones in the order added (a hook
    that raises rolls everything back). Returns False, running nothing, when ``conn`` is not in such a
    transaction."""
    state = transaction_state(conn)
    if state is None:
        return False
    hooks = state.setdefault(_BEFORE_COMMIT, [])
    hooks.append((order, len(hooks), hook))
    return True


def pending(
    conn: Connection, key: str, flush: Callable[[Connection, list[Any]], object], *, order: int
) -> list[Any] | None:
    """The list of rows the ``Database.write`` transaction ``conn`` is in collects under ``key``,
    written by ``flush(conn, rows)`` just before the commit (``before_commit`` with ``order``), or
    None outside such a transaction (the caller then writes at once). A savepoint that rolls back
    must drop what was collected after it began (``pending_mark`` / ``drop_pending``)."""
    state = transaction_state(conn)
    if state is None:
        return None
    rows = state.get(key)
    if rows is None:
        rows = state[key] = []
        state.setdefault(_PENDING_KEYS, []).append(key)
        before_commit(conn, lambda c: flush(c, state[key]), order=order)
    return rows  # type: ignore[no-any-return]


def pending_mark(conn: Connection) -> dict[str, int]:
    """How many rows each ``pending`` list of the caller's transaction holds now."""
    state = transaction_state(conn)
    if state is None:
        return {}
    return {key: len(state[key]) for key in state.get(_PENDING_KEYS, ())}


def drop_pending(conn: Connection, mark: dict[str, int]) -> None:
    """Forget the rows collected since ``pending_mark`` returned ``mark`` (their savepoint was rolled
    back)."""
    state = transaction_state(conn)
    if state is None:
        return
    for key in state.get(_PENDING_KEYS, ()):
        del state[key][mark.get(key, 0) :]


@contextlib.contextmanager
def _tracked(conn: Connection) -> Iterator[Connection]:
    conn.info[_TXN_STATE] = {}
    try:
        yield conn
        state = conn.info[_TXN_STATE]
        hooks = state.get(_BEFORE_COMMIT, [])
        # A hook may add another hook; run until none is left, lowest order first.
        while hooks:
            hooks.sort(key=lambda item: item[:2])
            hooks.pop(0)[2](conn)
    finally:
        conn.info.pop(_TXN_STATE, None)


class _WriterFileLock:
    """Server processes sharing one SQLite file take turns on a kernel lock of ``<file>-writer.lock``
    before they begin writing: the next writer is woken the moment the lock is released, where
    SQLite's own busy handler would have it sleep and retry for up to 100 ms at a time. The kernel
    drops the lock of a process that dies. Without the file (a read-only folder, an in-memory
    database, Windows), SQLite's busy timeout alone decides, as before. Used under the process's own
    write lock, so one open file per database serves all its threads."""

    def __init__(self, url: str) -> None:
        database = make_url(url).database
        self.path = f"{database}-writer.lock" if database and database != ":memory:" else None
        self._handle: Any = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if fcntl is None or self.path is None:
            yield
            return
        if self._handle is None:
            try:
                self._handle = open(self.path, "a+b")  # noqa: SIM115 - kept open, closed by close()
            except OSError:
                self.path = None
                yield
                return
        fcntl.flock(self._handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._handle, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


@dataclass
class Database:
    """The server's database: a writer engine and a reader engine (the same one on PostgreSQL)."""

    url: str
    writer: Engine
    reader: Engine
    # SQLite has one writer at a time: queue this process's writers on a fair in-process lock instead of
    # letting them spin in SQLite's busy handler (other processes still meet the busy timeout).
    write_lock: threading.Lock | None = None
    busy_ms: int = SQLITE_BUSY_TIMEOUT_MS
    file_lock: _WriterFileLock | None = None

    @classmethod
    def open(
        cls, url: str, *, pool_size: int = 20, max_overflow: int = 20, busy_ms: int = SQLITE_BUSY_TIMEOUT_MS
    ) -> Database:
        if is_sqlite(url):
            writer = _sqlite_engine(url, immediate=True, pool_size=pool_size, busy_ms=busy_ms)
            reader = _sqlite_engine(url, immediate=False, pool_size=pool_size, busy_ms=busy_ms)
            return cls(
                url=url,
                writer=writer,
                reader=reader,
                write_lock=threading.Lock(),
                busy_ms=busy_ms,
                file_lock=_WriterFileLock(url),
            )
        engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        _ping_when_idle(engine, PING_IF_IDLE_SECONDS)
        return cls(url=url, writer=engine, reader=engine)

    @property
    def backend(self) -> str:
        return self.writer.dialect.name

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: commits on success, rolls back on any exception. Raises
        ``DatabaseBusy`` if this process's SQLite write lock is not free within the busy timeout."""
        if self.write_lock is None:
            with self.writer.begin() as conn, _tracked(conn):
                yield conn
            return
        if not self.write_lock.acquire(timeout=self.busy_ms / 1000):
            raise DatabaseBusy("database is busy (write lock wait timed out)")
        try:
            between_processes = self.file_lock.held() if self.file_lock else contextlib.nullcontext()
            with between_processes, self.writer.begin() as conn, _tracked(conn):
                yield conn
        finally:
            self.write_lock.release()

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        if self.file_lock is not None:
            self.file_lock.close()
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
