"""The login verifiers a clinic hub may hold: for offline logins at the hub while its link is down.

A verifier is what the central API itself checks a password against (the Argon2id hash in
``staff_credential``), with the username, staff id and the last successful online login. A hub gets
those of staff assigned to its campus, active and not retired, who logged in online (anywhere: at the
central API, through this hub or another) within the window it asks for, capped at ``MAX_DAYS``.
Nothing else about staff, never for another campus; every fetch is audited (hub id, how many)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select

from server_stub.db.tables import ENTITY_TABLES, staff_credential
from server_stub.services import audit
from server_stub.services.hubs import HubPrincipal
from shared.domain.entities import Staff, works_at
from shared.protocol.models import HubVerifier, HubVerifiers

MAX_DAYS = 30.0


def for_hub(conn: Connection, *, hub: HubPrincipal, days: float, now: dt.datetime) -> HubVerifiers:
    """The verifiers ``hub`` may hold now (see the module docstring), audited as ``hub.verifiers``."""
    days = min(max(days, 0.0), MAX_DAYS)
    staff_table = ENTITY_TABLES[Staff.KIND]
    rows = conn.execute(
        select(staff_table, staff_credential.c.password_hash, staff_credential.c.last_login_at)
        .join(staff_credential, staff_credential.c.staff_id == staff_table.c.id)
        .where(
            staff_credential.c.last_login_at >= now - dt.timedelta(days=days),
            staff_table.c.active.is_(True),
            staff_table.c.voided.is_(False),
        )
        .order_by(staff_table.c.username)
    ).all()
    verifiers = []
    for row in rows:
        staff = Staff.model_validate({column.name: row._mapping[column] for column in staff_table.c})
        if works_at(staff, hub.campus_id):
            verifiers.append(
                HubVerifier(
                    staff_id=staff.id,
                    username=staff.username,
                    password_hash=row.password_hash,
                    last_login_at=row.last_login_at,
                )
            )
    audit.append(
        conn,
        at=now,
        action="hub.verifiers",
        outcome="ok",
        target=hub.hub_id,
        detail={"hub_id": hub.hub_id, "campus_id": hub.campus_id, "days": days, "count": len(verifiers)},
    )
    return HubVerifiers(campus_id=hub.campus_id, days=days, server_time=now, verifiers=verifiers)
