"""Helpers for the triage tests: pick demo rows from a PC's local store, read the server's view of a queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import create_engine, update

from server_stub.db.tables import ENTITY_TABLES
from shared.domain.entities import Appointment, Patient, Queue, QueueTicket
from shared.printing.escpos_decode import Decoded, decode
from shared.store.store import LocalStore
from tests.support.api import ApiUser
from triage_desk import model

_taken: set[str] = set()  # patients used by earlier tests of this session (one server per module)


def free_patients(store: LocalStore, count: int, *, with_id_number: bool = False) -> list[Patient]:
    """Patients with no ticket today, not used by another test of this session yet."""
    today = model.local_day(dt.datetime.now(dt.UTC))
    out = []
    for patient in store.all(Patient):
        if patient.id in _taken or (with_id_number and not patient.id_number_tail):
            continue
        if store.find(QueueTicket, patient_id=patient.id, day=today):
            continue
        _taken.add(patient.id)
        out.append(patient)
        if len(out) == count:
            return out
    raise AssertionError("the demo data has too few free patients")


def free_appointment(store: LocalStore, *, after: dt.datetime | None = None) -> Appointment:
    """A booked appointment today (slot after ``after`` when given) whose patient is not used yet."""
    today = model.local_day(dt.datetime.now(dt.UTC))
    for appointment in sorted(store.all(Appointment), key=lambda a: (a.slot_time, a.id)):
        if appointment.patient_id in _taken or appointment.status != "booked":
            continue
        if model.local_day(appointment.slot_time) != today or (after and appointment.slot_time <= after):
            continue
        if store.find(QueueTicket, patient_id=appointment.patient_id, day=today):
            continue
        _taken.add(appointment.patient_id)
        return appointment
    raise AssertionError("no free appointment today in the demo data")


def first_queue(store: LocalStore, campus_id: str | None, *, with_rooms: bool = True) -> Queue:
    return next(q for q in model.area_queues(store, campus_id) if q.room_ids or not with_rooms)


def slips(path: Any) -> Decoded:
    return decode(path.read_bytes())


def server_queue(server_url: str, queue_id: str, username: str = "nurse3") -> dict[str, Any]:
    """The server's own listing of a queue (``GET /api/v1/queue/{id}``)."""
    user = ApiUser(server_url, username)
    try:
        response = user.http.get(f"/api/v1/queue/{queue_id}")
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]
    finally:
        user.close()


def server_ticket(server_url: str, queue_id: str, ticket_id: str) -> dict[str, Any] | None:
    listing = server_queue(server_url, queue_id)
    for part in ("waiting", "called", "serving", "skipped"):
        for entry in listing[part]:
            if entry["ticket_id"] == ticket_id:
                return {**entry, "part": part}
    return None


def is_up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def move_slot_on_server(db_url: str, appointment_id: str, slot_time: dt.datetime) -> None:
    """Move an appointment's slot in the server's database. The server checks a kiosk's check-in window
    against its real clock, so a test puts the slot where it needs it relative to now."""
    engine = create_engine(db_url)
    table = ENTITY_TABLES["appointment"]
    try:
        with engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == appointment_id).values(slot_time=slot_time))
    finally:
        engine.dispose()
