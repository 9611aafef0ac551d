"""Wakes long-polling pulls when the feed moves, without holding a database connection or a thread.

One notifier per server process. Pushes in this process call ``publish`` (from any thread); a single
background task also reads the feed head every ``poll_seconds`` while anyone waits, so changes written
by other server processes behind the same database wake the waiters too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class FeedNotifier:
    def __init__(self, read_head: Callable[[], int], poll_seconds: float) -> None:
        self._read_head = read_head
        self._poll_seconds = poll_seconds
        self._head = 0
        self._changed = asyncio.Event()
        self._waiters = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._head = await asyncio.to_thread(self._read_head)
        self._poller = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._poller:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    def publish(self, head: int) -> None:
        """Record a new feed head; safe to call from worker threads."""
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._advance, head)

    def _advance(self, head: int) -> None:
        if head > self._head:
            self._head = head
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_beyond(self, cursor: int, timeout: float) -> bool:
        """Wait until the feed head passes ``cursor`` or ``timeout`` seconds pass; True if it moved."""
        if self._head > cursor:
            return True
        self._waiters += 1
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while self._head <= cursor:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
            return True
        finally:
            self._waiters -= 1

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            if not self._waiters:
                continue
            try:
                self._advance(await asyncio.to_thread(self._read_head))
            except Exception:  # noqa: BLE001 - a failed poll must not kill the notifier; the next one retries
                log.exception("reading the feed head failed")
