"""The ticket-number slot of each triage desk and kiosk, per campus: assigned by the server at an online
login (``shared.domain.queue_numbers.assign_desk_slot``), kept here, and checked on every pushed number.

A device keeps its slot for good (the same slot at every login, so what it numbered offline stays its
own); IT frees a retired or replaced PC's slot with ``clinic desk-slots --release DEVICE_ID``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select
from sqlalchemy.exc import IntegrityError

from server_stub.db.tables import ENTITY_TABLES, desk_slot
from server_stub.services import audit
from shared.domain.queue_numbers import assign_desk_slot, desk_slot_limit

_TRIES = 3


def assigned(conn: Connection, *, campus_id: str, device_id: str) -> int | None:
    """The slot ``device_id`` numbers from at ``campus_id``, or ``None``."""
    row = conn.execute(
        select(desk_slot.c.slot).where(desk_slot.c.campus_id == campus_id, desk_slot.c.device_id == device_id)
    ).first()
    return None if row is None else int(row.slot)


def assign(
    conn: Connection,
    *,
    campus_id: str,
    device_id: str,
    staff_id: str,
    requested: int,
    now: dt.datetime,
) -> int | None:
    """The device's slot at the campus: the one it holds, else ``requested`` when free, else the lowest
    free desk slot (``None`` when all are held). A new assignment is stored and audited inside the
    caller's transaction; two devices asking at once never get the same slot (the primary key)."""
    queues = ENTITY_TABLES["queue"]
    limit = desk_slot_limit(
        int(n)
        for n in conn.execute(
            select(queues.c.number_slots).where(queues.c.campus_id == campus_id, queues.c.active.is_(True))
        ).scalars()
    )
    for _ in range(_TRIES):
        held = {
            int(row.slot): str(row.device_id)
            for row in conn.execute(
                select(desk_slot.c.slot, desk_slot.c.device_id).where(desk_slot.c.campus_id == campus_id)
            )
        }
        slot = assign_desk_slot(held, device_id, requested, limit)
        if slot is None or held.get(slot) == device_id:
            return slot
        try:
            with conn.begin_nested():
                # a slot it held that is no desk slot any more (the campus's queues got fewer slots)
                conn.execute(
                    delete(desk_slot).where(
                        desk_slot.c.campus_id == campus_id, desk_slot.c.device_id == device_id
                    )
                )
                conn.execute(
                    insert(desk_slot).values(
                        campus_id=campus_id,
                        slot=slot,
                        device_id=device_id,
                        staff_id=staff_id,
                        assigned_at=now,
                    )
                )
        except IntegrityError:
            continue  # another device took it at the same moment: choose again
        audit.append(
            conn,
            at=now,
            action="queue.desk_slot",
            outcome="assigned",
            staff_id=staff_id,
            device_id=device_id,
            target=campus_id,
            detail={"slot": slot, "requested": requested},
        )
        return slot
    return None


def release(conn: Connection, *, device_id: str, campus_id: str | None = None) -> int:
    """Free the device's slot (at ``campus_id``, or at every campus): the PC is retired or replaced.
    Only for a PC that numbers no more: its slot goes to the next desk that asks. How many were freed."""
    query = delete(desk_slot).where(desk_slot.c.device_id == device_id)
    if campus_id is not None:
        query = query.where(desk_slot.c.campus_id == campus_id)
    return int(conn.execute(query).rowcount or 0)


def listing(conn: Connection, *, campus_id: str | None = None) -> list[Row[Any]]:
    """Every assignment (of ``campus_id``), by campus and slot."""
    query = select(desk_slot).order_by(desk_slot.c.campus_id, desk_slot.c.slot)
    if campus_id is not None:
        query = query.where(desk_slot.c.campus_id == campus_id)
    return list(conn.execute(query))
