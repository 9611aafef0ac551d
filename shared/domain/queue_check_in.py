"""Check-in decisions that the kiosk, the triage desk, the server's check-in route and the
``queue.check_in`` rule share: which queue serves an appointment, and whether a patient is already in it.

One home, so the kiosk (offline, on its local view) and the server (online) never disagree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol, TypeVar

from shared.domain.entities import Appointment, Entity, Queue, QueueTicket, Schedule
from shared.domain.queue_states import ACTIVE

E = TypeVar("E", bound=Entity)


class Reader(Protocol):
    """What these rules read: by id, or by equality on a kind's indexed columns (a ``LocalView``,
    the server's ``ServerState`` or a mutation's ``StateReader``)."""

    def get(self, kind: type[E], entity_id: str) -> E | None: ...

    def find(self, kind: type[E], **equals: Any) -> list[E]: ...


def _open(queues: list[Queue], campus_id: str) -> list[Queue]:
    return sorted(
        (q for q in queues if q.active and not q.voided and q.campus_id == campus_id),
        key=lambda q: (q.code, q.id),
    )


def queue_for_appointment(state: Reader, appointment: Appointment) -> Queue | None:
    """The doctor's own queue at the appointment's campus if there is one, else the department queue
    of the appointment's schedule; the first by code when several fit."""
    own = _open(state.find(Queue, doctor_id=appointment.doctor_id), appointment.campus_id)
    if own:
        return own[0]
    schedule = state.get(Schedule, appointment.schedule_id)
    if schedule is None:
        return None
    department = [
        q
        for q in _open(state.find(Queue, department_id=schedule.department_id), appointment.campus_id)
        if q.kind == "department"
    ]
    return department[0] if department else None


def active_ticket(
    state: Reader, *, patient_id: str, queue_id: str, day: dt.date, appointment_id: str | None = None
) -> QueueTicket | None:
    """The patient's ticket still in play (waiting, called, in consultation or skipped) in ``queue_id``
    on ``day``, or for the same appointment in any queue: "already checked in"."""
    found = [
        t
        for t in state.find(QueueTicket, patient_id=patient_id, day=day)
        if not t.voided
        and t.status in ACTIVE
        and (t.queue_id == queue_id or (appointment_id is not None and t.appointment_id == appointment_id))
    ]
    return min(found, key=lambda t: (t.queue_id != queue_id, t.checked_in_at, t.id)) if found else None


def fixed_room_id(ticket: QueueTicket) -> str | None:
    """The room a ticket slip may print: the one the ticket is bound to at check-in (a doctor-specific
    appointment's room), never the door it happens to wait at now (that follows which doctors work)."""
    return ticket.room_id
