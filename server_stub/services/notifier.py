"""Keeps the process's in-memory feed tail current and wakes long-polling pulls when the feed moves,
without holding a database connection or a thread for any waiter.

One notifier per server process. Its group committer hands it the changes of each commit
(``absorb``); other writers in this process call ``publish`` (from any thread); a background task
reads the feed after the tail's head every ``poll_seconds``, so changes written by other server
processes or tools behind the same database reach this process's tail and waiters too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from server_stub.db.engine import Database
from server_stub.services import feed
from server_stub.services.feed_tail import FeedTail, TailBatch, fetch_after

log = logging.getLogger(__name__)


class FeedNotifier:
    def __init__(self, db: Database, tail: FeedTail, poll_seconds: float, *, preload: int = 2000) -> None:
        self.db = db
        self.tail = tail
        self._poll_seconds = poll_seconds
        self._preload = preload
        self._changed = asyncio.Event()
        self._urgent = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._started = 0  # refreshes started
        self._finished = 0  # highest start number finished
        self._announced = 0
        self._kicks: set[asyncio.Task[None]] = set()
        self.stopping = False  # the server is stopping: waiters return at once (``stop_waiters``)

    @property
    def head(self) -> int:
        return self.tail.head

    @property
    def behind(self) -> bool:
        """A writer in this process announced a head the tail has not loaded yet."""
        return self._announced > self.tail.head

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

        def initial() -> TailBatch:
            with self.db.read() as conn:
                top = feed.head(conn)
            return fetch_after(self.db, max(0, top - self._preload))

        self.tail.reset(await asyncio.to_thread(initial))
        self._poller = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        for task in [self._poller, *self._kicks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def stop_waiters(self) -> None:
        """The server is stopping: wake every waiting long-poll now and keep new waits from waiting
        (event loop only). The pulls answer ``server_stopping`` instead of being cut off."""
        self.stopping = True
        self._wake()
        self._urgent.set()
        self._urgent = asyncio.Event()

    def publish(self, head: int) -> None:
        """Announce a new feed head written by this process; safe to call from worker threads. Pulls
        that arrive after this call first bring the tail up to it."""
        if self._loop is None:
            return
        self._announced = max(self._announced, head)
        self._loop.call_soon_threadsafe(self._kick)

    def _kick(self) -> None:
        if self.behind:
            task = asyncio.ensure_future(self._refresh_logged())
            self._kicks.add(task)
            task.add_done_callback(self._kicks.discard)

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except Exception:  # noqa: BLE001 - the poller retries; pulls fall back to the database
            log.exception("refreshing the feed tail failed")

    def absorb(self, batch: TailBatch) -> None:
        """Add changes read right after a commit (event loop only) and wake the waiters."""
        urgent = self.tail.last_urgent
        if self.tail.apply(batch):
            self._wake()
            if self.tail.last_urgent > urgent:
                self._urgent.set()
                self._urgent = asyncio.Event()

    async def refresh(self) -> None:
        """Bring the tail up to everything committed before this call (one read shared by callers)."""
        wanted = self._started + 1
        while self._finished < wanted:
            if self._inflight is None:
                self._started += 1
                self._inflight = asyncio.ensure_future(self._refresh_once(self._started))
            await asyncio.shield(self._inflight)

    async def _refresh_once(self, number: int) -> None:
        try:
            batch = await asyncio.to_thread(fetch_after, self.db, self.tail.head)
            self.absorb(batch)
        finally:
            self._finished = max(self._finished, number)
            self._inflight = None

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_beyond(self, cursor: int, timeout: float) -> bool:
        """Wait until the feed head passes ``cursor`` or ``timeout`` seconds pass; True if it moved."""
        if self.tail.head > cursor:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.tail.head <= cursor and not self.stopping:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.tail.head > cursor

    async def wait_urgent_beyond(self, cursor: int, timeout: float) -> bool:
        """Wait until a change of an urgent kind (``tail.urgent_kinds``) lands after ``cursor`` or
        ``timeout`` seconds pass; True if one did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.tail.last_urgent <= cursor and not self.stopping:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._urgent.wait(), remaining)
        return self.tail.last_urgent > cursor

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            await self._refresh_logged()
