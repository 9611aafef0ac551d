"""Online look-ups of patients a PC does not hold (need-to-know): search and open a patient's record,
each audited; opening a record ties the patient to the caller's campus, so the campus's PCs receive it
(and its later changes) through the change feed like the patients they already need."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import Connection, or_, select

from server_stub.db.tables import ENTITY_TABLES
from server_stub.services import audit
from server_stub.services.auth import Principal
from server_stub.services.entities import publish, to_entity
from server_stub.services.feed_views import restrict, restricted_kinds
from shared.domain.entities import Patient
from shared.i18n import register

register(
    "patient.not_found",
    {"zh_CN": "没有该患者：{id}", "en": "No such patient: {id}", "zh_TW": "沒有該患者：{id}"},
)

SEARCH_LIMIT = 20
_ID_NUMBER = re.compile(r"^\d{17}[\dXx]$")
_PHONE = re.compile(r"^1\d{10}$")
_TAIL = re.compile(r"^\d{3}[\dXx]$")


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(conn: Connection, query: str, *, limit: int = SEARCH_LIMIT) -> list[Patient]:
    """Patients by full ID number, phone, MRN, last 4 of the ID number, or the start of the name or its
    pinyin initials; at most ``limit``."""
    table = ENTITY_TABLES["patient"]
    q = query.strip()
    if _ID_NUMBER.match(q):
        condition = table.c.id_number == q.upper()
    elif _PHONE.match(q):
        condition = table.c.phone == q
    elif _TAIL.match(q):
        condition = or_(table.c.id_number_tail == q.upper(), table.c.mrn == q)
    else:
        prefix = _escape_like(q) + "%"
        condition = or_(
            table.c.mrn == q,
            table.c.name.like(prefix, escape="\\"),
            table.c.name_pinyin.like(_escape_like(q.lower()) + "%", escape="\\"),
        )
    rows = conn.execute(
        select(table)
        .where(condition, table.c.voided.is_(False))
        .order_by(table.c.name, table.c.id)
        .limit(limit)
    )
    return [to_entity(Patient, row) for row in rows]


def _kind_of(query: str) -> str:
    q = query.strip()
    if _ID_NUMBER.match(q):
        return "id_number"
    if _PHONE.match(q):
        return "phone"
    if _TAIL.match(q):
        return "id_tail"
    return "name"


def as_seen_by(principal: Principal, patient: Patient) -> dict[str, Any]:
    """The patient as the caller's roles may see it (``feed_views``)."""
    data = patient.model_dump(mode="json")
    return restrict("patient", data) if "patient" in restricted_kinds(principal.roles) else data


def audit_search(
    conn: Connection, principal: Principal, query: str, found: list[Patient], now: dt.datetime
) -> None:
    """The query itself may be an ID number or a phone: only its kind is recorded, with what it found."""
    audit.append(
        conn,
        at=now,
        action="patient.search",
        outcome="found" if found else "none",
        staff_id=principal.staff.id,
        username=principal.staff.username,
        device_id=principal.device_id,
        target=principal.campus_id,
        detail={"query_kind": _kind_of(query), "count": len(found), "patients": [p.id for p in found]},
    )


def open_record(
    conn: Connection, principal: Principal, patient_id: str, *, now: dt.datetime, today: dt.date
) -> Patient | None:
    """Read one patient for the caller (audited as ``patient.read``) and tie it to the caller's campus
    so it reaches the campus's PCs by the feed (inside the caller's ``Database.write``)."""
    table = ENTITY_TABLES["patient"]
    row = conn.execute(select(table).where(table.c.id == patient_id)).first()
    patient = None if row is None else to_entity(Patient, row)
    audit.append(
        conn,
        at=now,
        action="patient.read",
        outcome="ok" if patient is not None else "not_found",
        staff_id=principal.staff.id,
        username=principal.staff.username,
        device_id=principal.device_id,
        target=patient_id[:128],
        detail={"campus_id": principal.campus_id, "via": "api"},
    )
    if patient is not None and principal.campus_id:
        publish(conn, [], links={(patient.id, principal.campus_id): today})
    return patient
