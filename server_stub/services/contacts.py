"""When each (staff member, device) last pulled the feed: what the server knows of a PC's last contact.

A PC pushes its whole outbox before each pull, so a signature it pushes later cannot have been made
before that pull (give or take ``shared.domain.signatures.SKEW``): ``last_pull`` bounds how far back an
offline signature may claim to be (``MutationContext.last_contact``). ``ContactLog.note`` records a
pull's start; it writes a (staff, device) at most once per ``interval`` seconds in this process, which
only makes the bound older (more lenient), never wrong. A PC pushes one login's mutations at a time
(``LocalStore.next_batch``): a mutation held behind another person's is not bound by a contact made
while it was held (``held_behind_others``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from server_stub.db.engine import Database, DatabaseBusy
from server_stub.db.tables import device_contact, mutation_log

log = logging.getLogger(__name__)


def last_pull(conn: Connection, staff_id: str, device_id: str) -> dt.datetime | None:
    """When ``staff_id`` last pulled from ``device_id`` (None: never, as far as the server knows)."""
    value = conn.execute(
        select(device_contact.c.last_pull_at).where(
            device_contact.c.staff_id == staff_id, device_contact.c.device_id == device_id
        )
    ).scalar_one_or_none()
    return value  # type: ignore[no-any-return]


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
    """Records pulls, at most once per ``interval`` seconds per (staff, device) in this process."""

    def __init__(self, interval: float = 30.0) -> None:
        self.interval = dt.timedelta(seconds=interval)
        self._written: dict[tuple[str, str], dt.datetime] = {}
        self._lock = threading.Lock()

    def due(self, staff_id: str, device_id: str, now: dt.datetime) -> bool:
        with self._lock:
            last = self._written.get((staff_id, device_id))
            return last is None or now - last >= self.interval

    def note(self, db: Database, staff_id: str, device_id: str, now: dt.datetime) -> None:
        """Record a pull that started at ``now`` (blocking: run it in a worker thread)."""
        if not self.due(staff_id, device_id, now):
            return
        try:
            with db.write() as conn:
                changed = conn.execute(
                    update(device_contact)
                    .where(
                        device_contact.c.staff_id == staff_id,
                        device_contact.c.device_id == device_id,
                        device_contact.c.last_pull_at < now,
                    )
                    .values(last_pull_at=now)
                ).rowcount
                if not changed and last_pull(conn, staff_id, device_id) is None:
                    conn.execute(
                        insert(device_contact).values(
                            staff_id=staff_id, device_id=device_id, last_pull_at=now
                        )
                    )
        except (
            IntegrityError,
            OperationalError,
            DatabaseBusy,
        ) as error:  # a race with another process, or busy
            log.info("device contact of %s/%s not recorded: %s", staff_id, device_id, error)
            return
        with self._lock:
            if len(self._written) > 50_000:
                self._written.clear()
            self._written[(staff_id, device_id)] = now
