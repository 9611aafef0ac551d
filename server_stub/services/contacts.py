"""When each (staff member, device) last pulled the feed: what the server knows of a PC's last contact.

A PC pushes its whole outbox before each pull, so a signature it pushes later cannot have been made
before that pull (give or take ``shared.domain.signatures.SKEW``): ``last_pull`` bounds how far back an
offline signature may claim to be (``MutationContext.last_contact``). A PC pushes one login's mutations
at a time (``LocalStore.next_batch``): a mutation held behind another person's is not bound by a contact
made while it was held (``held_behind_others``).

``ContactLog.note`` records a pull's start in memory (no I/O on the event loop), at most once per
``interval`` seconds per (staff, device); ``run`` writes what was noted every ``flush_seconds`` in one
transaction. Until then this process's own pushes see it (``last_pull`` reads both); another process
behind the same database sees it after the flush. Both only make the bound older (more lenient) for a
moment, never wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from server_stub.db.engine import Database, DatabaseBusy
from server_stub.db.tables import device_contact, mutation_log

log = logging.getLogger(__name__)

# noted pulls of this process not yet written: (staff id, device id) -> time
_PENDING: dict[tuple[str, str], dt.datetime] = {}
_PENDING_LOCK = threading.Lock()


def _pending(staff_id: str, device_id: str) -> dt.datetime | None:
    with _PENDING_LOCK:
        return _PENDING.get((staff_id, device_id))


def last_pull(conn: Connection, staff_id: str, device_id: str) -> dt.datetime | None:
    """When ``staff_id`` last pulled from ``device_id`` (None: never, as far as the server knows)."""
    stored = conn.execute(
        select(device_contact.c.last_pull_at).where(
            device_contact.c.staff_id == staff_id, device_contact.c.device_id == device_id
        )
    ).scalar_one_or_none()
    noted = _pending(staff_id, device_id)
    if stored is None or (noted is not None and noted > stored):
        return noted
    return stored  # type: ignore[no-any-return]


def held_behind_others(
    conn: Connection, *, client_id: str, before_seq: int, staff_id: str, since: dt.datetime
) -> bool:
    """Whether another staff member's mutations, earlier in ``client_id``'s queue than ``before_seq``,
    arrived at or after ``since``: a mutation queued behind them could not be pushed before then."""
    row = conn.execute(
        select(mutation_log.c.client_seq)
        .where(
            mutation_log.c.client_id == client_id,
            mutation_log.c.client_seq < before_seq,
            mutation_log.c.staff_id != staff_id,
            mutation_log.c.received_at >= since,
        )
        .limit(1)
    ).first()
    return row is not None


class ContactLog:
    """Notes pulls (at most once per ``interval`` seconds per staff and device) and writes them."""

    def __init__(self, interval: float = 30.0, flush_seconds: float = 5.0) -> None:
        self.interval = dt.timedelta(seconds=interval)
        self.flush_seconds = flush_seconds
        self._noted: dict[tuple[str, str], dt.datetime] = {}
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    def note(self, staff_id: str, device_id: str, now: dt.datetime) -> None:
        """A pull by ``staff_id`` from ``device_id`` started at ``now`` (cheap: memory only)."""
        key = (staff_id, device_id)
        with self._lock:
            last = self._noted.get(key)
            if last is not None and now - last < self.interval:
                return
            if len(self._noted) > 100_000:
                self._noted.clear()
            self._noted[key] = now
        with _PENDING_LOCK:
            if key not in _PENDING or _PENDING[key] < now:
                _PENDING[key] = now

    def flush(self, db: Database) -> int:
        """Write the noted pulls in one transaction (blocking); returns how many were written."""
        with _PENDING_LOCK:
            batch = dict(_PENDING)
        if not batch:
            return 0
        try:
            with db.write() as conn:
                for (staff_id, device_id), at in batch.items():
                    changed = conn.execute(
                        update(device_contact)
                        .where(
                            device_contact.c.staff_id == staff_id,
                            device_contact.c.device_id == device_id,
                        )
                        .values(last_pull_at=at)
                    ).rowcount
                    if not changed:
                        conn.execute(
                            insert(device_contact).values(
                                staff_id=staff_id, device_id=device_id, last_pull_at=at
                            )
                        )
        except (IntegrityError, OperationalError, DatabaseBusy) as error:  # a race or a busy database
            log.info("device contacts not written yet (%d): %s", len(batch), error)
            return 0
        with _PENDING_LOCK:
            for key, at in batch.items():
                if _PENDING.get(key) == at:
                    del _PENDING[key]
        return len(batch)

    async def _run(self, db: Database) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            await asyncio.to_thread(self.flush, db)

    def start(self, db: Database) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(db))

    async def stop(self, db: Database) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self.flush, db)
