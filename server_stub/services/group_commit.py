"""Group commit: pushes that arrive while the database is busy with earlier ones are applied together
in ONE write transaction, so they share one commit (one fsync on SQLite with ``synchronous=FULL``,
one WAL flush on PostgreSQL) instead of paying one each.

Nothing is weakened: every push still runs the same handlers with the same checks, and a rejection or
a failure undoes only its own mutation; the audit chain still gets one entry per mutation, in the order
they were applied (written together just before the commit, ``audit.defer``); and a push is answered
only after its transaction is durably committed. Every group first runs without savepoints
(``WITHOUT_SAVEPOINTS``): nearly always nothing fails after writing, and a savepoint costs two
statements per mutation. A job that does fail in a way a savepoint would have undone raises
``RunAgainWithSavepoints``, and the group runs again in a fresh transaction with one SAVEPOINT per
mutation (``push.apply_batch_in``). A group PostgreSQL stops for a deadlock runs again. If the group's
transaction itself fails (anything but a busy or unreachable database), each push in it is retried
alone, so one poisonous push cannot fail its neighbours.

One committer per server process: a single writer thread works through the queue; requests wait on
the event loop (no thread, no connection held while queued).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from server_stub.db.engine import Database, DatabaseBusy, transaction_state

log = logging.getLogger(__name__)

T = TypeVar("T")

# Failures of the whole transaction that retrying each push alone would only repeat (and wait for again).
_WHOLE_DATABASE = (DatabaseBusy, OperationalError, SQLAlchemyTimeoutError)


# SQLSTATEs of a transaction PostgreSQL stopped because it raced another one (deadlock detected,
# serialization failure): nothing of it stands, and running it again normally succeeds.
_RACE_STATES = frozenset({"40P01", "40001"})
_RACE_ATTEMPTS = 3


def lost_a_race(error: BaseException) -> bool:
    return getattr(getattr(error, "orig", None), "sqlstate", None) in _RACE_STATES


# Key in the transaction state (``engine.transaction_state``): True in a group's first run, in which
# jobs skip their per-mutation savepoints and raise ``RunAgainWithSavepoints`` where one was needed.
WITHOUT_SAVEPOINTS = "group_commit_without_savepoints"


class RunAgainWithSavepoints(Exception):
    """Raised by a job that ran without savepoints (``WITHOUT_SAVEPOINTS``) and failed: the committer
    rolls the transaction back and runs the group again, this time with savepoints."""


@dataclass
class _Job(Generic[T]):
    work: Callable[[Connection], T]
    size: int
    keys: Any
    future: asyncio.Future[T]
    value: Any = None
    error: BaseException | None = None
    done: bool = field(default=False)


@dataclass
class GroupStats:
    """Counters for the benchmark and the logs."""

    transactions: int = 0
    jobs: int = 0
    largest: int = 0
    retried_alone: int = 0
    rerun_with_savepoints: int = 0
    lost_races: int = 0


class GroupCommitter:
    """Runs write jobs in shared transactions. ``begin(conn, keys)`` runs first in every transaction
    with the ``keys`` of its jobs (taking the locks the jobs need in one fixed order, reading what they
    will look up); ``after_commit(states)`` runs in the writer thread after each group with the
    ``engine.transaction_state`` of each transaction that committed for it (normally one), and its
    result is handed to ``on_committed`` on the event loop before any job is answered (the server
    loads the new changes into its feed tail there, so a pull sent after a push's answer sees the
    push)."""

    def __init__(
        self,
        db: Database,
        *,
        begin: Callable[[Connection, list[Any]], None] | None = None,
        after_commit: Callable[[list[dict[str, Any]]], Any] | None = None,
        on_committed: Callable[[Any], None] | None = None,
        max_group: int = 1000,
    ) -> None:
        self.db = db
        self.begin = begin
        self.after_commit = after_commit
        self.on_committed = on_committed
        self.max_group = max_group
        self.stats = GroupStats()
        self._queue: deque[_Job[Any]] = deque()
        self._wakeup: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="group-commit")

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for job in self._queue:
            if not job.future.done():
                job.future.set_exception(DatabaseBusy("the server is shutting down"))
        self._queue.clear()
        self._thread.shutdown(wait=True)

    async def run(self, work: Callable[[Connection], T], *, size: int = 1, keys: Any = None) -> T:
        """Queue ``work`` (called with the group's connection in the writer thread) and return its
        result once the group it ran in has committed, or raise what it raised. ``size`` (mutations)
        bounds how much goes into one group; ``keys`` is handed to ``begin``."""
        future = self.submit(work, size=size, keys=keys)
        # If the caller goes away, the job still runs (it is already queued); a retried push then gets
        # its stored outcome.
        return await asyncio.shield(future)

    def submit(
        self, work: Callable[[Connection], T], *, size: int = 1, keys: Any = None
    ) -> asyncio.Future[T]:
        """Queue ``work`` now, behind everything queued before (``run`` without the wait): its future
        is resolved once the group it ran in has committed."""
        if self._wakeup is None:
            raise RuntimeError("GroupCommitter.run before start")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(work, max(1, size), keys, future))
        self._wakeup.set()
        return future

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                group = [self._queue.popleft()]
                size = group[0].size
                while self._queue and size + self._queue[0].size <= self.max_group:
                    job = self._queue.popleft()
                    group.append(job)
                    size += job.size
                try:
                    committed = await loop.run_in_executor(self._thread, self._apply_group, group)
                except BaseException as error:  # noqa: BLE001 - answered to every job of the group
                    for job in group:
                        job.error, job.done = error, True
                    committed = None
                if committed is not None and self.on_committed is not None:
                    try:
                        self.on_committed(committed)
                    except Exception:  # noqa: BLE001 - the commit stands; pulls fall back to the database
                        log.exception("after-commit hook failed")
                for job in group:
                    if job.future.done():
                        continue
                    if job.error is not None:
                        job.future.set_exception(job.error)
                    else:
                        job.future.set_result(job.value)

    def _apply_group(self, group: list[_Job[Any]]) -> Any:
        """Writer thread: one transaction for the group; falls back to one per job if it fails."""
        committed: list[dict[str, Any]] = []  # the state of each transaction that committed
        try:
            for attempt in range(1, _RACE_ATTEMPTS + 1):
                try:
                    committed.append(self._transaction(group))
                    break
                except OperationalError as error:
                    if attempt == _RACE_ATTEMPTS or not lost_a_race(error):
                        raise
                    self.stats.lost_races += 1
                    log.info("group of %d lost a race to another server process; again", len(group))
        except _WHOLE_DATABASE as error:
            for job in group:
                job.value, job.error = None, error
            return None
        except Exception as error:  # noqa: BLE001 - find the job that broke it by running each alone
            if len(group) == 1:
                group[0].value, group[0].error = None, error
                return None
            log.warning("group of %d pushes failed (%s); retrying each alone", len(group), error)
            self.stats.retried_alone += len(group)
            for job in group:
                try:
                    committed.append(self._transaction([job]))
                except Exception as alone:  # noqa: BLE001 - this job's own failure
                    job.value, job.error = None, alone
        self.stats.transactions += 1
        self.stats.jobs += len(group)
        self.stats.largest = max(self.stats.largest, len(group))
        if self.after_commit is None:
            return None
        try:
            return self.after_commit(committed)
        except Exception:  # noqa: BLE001 - the commit stands; the poller catches up
            log.exception("reading the feed after a commit failed")
            return None

    def _transaction(self, group: list[_Job[Any]]) -> dict[str, Any]:
        try:
            return self._transaction_once(group, savepoints=False)
        except RunAgainWithSavepoints:
            self.stats.rerun_with_savepoints += 1
            return self._transaction_once(group, savepoints=True)

    def _transaction_once(self, group: list[_Job[Any]], *, savepoints: bool) -> dict[str, Any]:
        """One transaction for ``group``; returns its ``engine.transaction_state`` once committed."""
        with self.db.write() as conn:
            if self.begin is not None:
                self.begin(conn, [job.keys for job in group])
            state = transaction_state(conn)
            if not savepoints and state is not None:
                state[WITHOUT_SAVEPOINTS] = True
            for job in group:
                job.value, job.error = None, None
                try:
                    job.value = job.work(conn)
                except RunAgainWithSavepoints:
                    raise
                except Exception as error:  # noqa: BLE001 - the job's savepoints undid its failed part
                    if lost_a_race(error):
                        raise  # PostgreSQL ended the whole transaction: the group runs again
                    job.error = error
                    # A job must leave the transaction usable (its failed part rolled back to a
                    # savepoint). If it did not (PostgreSQL: "current transaction is aborted"), fail the
                    # group, so the jobs are retried alone, rather than commit a half-dead transaction.
                    conn.exec_driver_sql("SELECT 1")
        return state if state is not None else {}
