"""Retention: purge rows voided long ago and move the oldest valid cursor, so old clients get 410."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import delete, select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES, change_index, sync_counter
from server_stub.services import audit
from server_stub.services.clock import utcnow
from server_stub.services.entities import lock_feed
from server_stub.services.feed import head


def compact(url: str, *, days: int, settle_seconds: float = 0.0) -> tuple[int, int]:
    """Delete entity rows voided more than ``days`` ago. A client that has not pulled since before now
    could miss those deletions, so every cursor older than the current head is expired (410 → the
    client pushes its outbox, then re-bootstraps). Returns (rows purged, new minimum cursor).

    Two steps: first the minimum cursor moves (one transaction), then, ``settle_seconds`` later, the
    rows are purged (a second one). Running server processes answer pulls near the head from an
    in-memory tail of the feed that learns the new minimum within their poll interval; waiting longer
    than that before returning makes every older cursor get 410 from every process once this returns.
    Data stays safe even for a process that lags: until it learns the minimum its tail still holds every
    change after its floor, the voids of the purged rows included, and older cursors always read the
    database, which enforces the minimum in the same transaction as the page."""
    db = Database.open(url, pool_size=1)
    now = utcnow()
    cutoff = now - dt.timedelta(days=days)
    purged = 0
    try:
        with db.write() as conn:
            min_cursor = head(conn)
            conn.execute(
                sync_counter.update().where(sync_counter.c.name == "min_cursor").values(value=min_cursor)
            )
        if settle_seconds > 0:
            time.sleep(settle_seconds)
        with db.write() as conn:
            # the feed counter, then the audit head: the order a push group's end takes them in
            lock_feed(conn)
            audit.lock_head(conn)
            # Only rows whose last change is at or below min_cursor can be old enough to purge: a row
            # changed since has a recent updated_at. Every cursor left valid has seen their voids.
            for kind, table in ENTITY_TABLES.items():
                ids = [
                    r.id
                    for r in conn.execute(
                        select(table.c.id).where(table.c.voided.is_(True), table.c.updated_at < cutoff)
                    )
                ]
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    conn.execute(delete(table).where(table.c.id.in_(chunk)))
                    conn.execute(
                        delete(change_index).where(
                            change_index.c.kind == kind, change_index.c.entity_id.in_(chunk)
                        )
                    )
                purged += len(ids)
            audit.append(
                conn,
                at=now,
                action="sync.compact",
                outcome="ok",
                detail={"purged": purged, "min_cursor": min_cursor},
            )
    finally:
        db.dispose()
    return purged, min_cursor
