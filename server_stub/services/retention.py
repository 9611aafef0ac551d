"""Retention: purge rows voided long ago and move the oldest valid cursor, so old clients get 410."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES, change_index, sync_counter
from server_stub.services import audit
from server_stub.services.clock import utcnow
from server_stub.services.feed import head


def compact(url: str, *, days: int) -> tuple[int, int]:
    """Delete entity rows voided more than ``days`` ago. A client that has not pulled since before now
    could miss those deletions, so every cursor older than the current head is expired (410 → the
    client pushes its outbox, then re-bootstraps). Returns (rows purged, new minimum cursor)."""
    db = Database.open(url, pool_size=1)
    now = utcnow()
    cutoff = now - dt.timedelta(days=days)
    purged = 0
    try:
        with db.write() as conn:
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
            min_cursor = head(conn)
            conn.execute(
                sync_counter.update().where(sync_counter.c.name == "min_cursor").values(value=min_cursor)
            )
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
