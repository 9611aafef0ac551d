"""One rule for the kiosk, the desk and the server: which queue serves an appointment and whether the
patient is already checked in (the kiosk and the server used to answer both differently)."""

from __future__ import annotations

import datetime as dt

from shared.domain.entities import Appointment, Queue, QueueTicket, Schedule
from shared.domain.queue_check_in import active_ticket, queue_for_appointment
from tests.shared.domain.fakes import MemoryState

DAY = dt.date(2026, 11, 22)
NOW = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)


def appointment() -> Appointment:
    return Appointment(
        id="a1",
        campus_id="c1",
        schedule_id="s1",
        patient_id="p1",
        doctor_id="doc",
        room_id="r1",
        number="YY1",
        slot_time=NOW,
    )


def schedule() -> Schedule:
    return Schedule(
        id="s1",
        campus_id="c1",
        department_id="d1",
        doctor_id="doc",
        room_id="r1",
        date=DAY,
        session="am",
        start_time=dt.time(8),
        end_time=dt.time(12),
    )


def ticket(tid: str, queue: str, status: str, appointment_id: str | None = None) -> QueueTicket:
    return QueueTicket.model_validate(
        {
            "id": tid,
            "campus_id": "c1",
            "queue_id": queue,
            "day": DAY,
            "number": 1,
            "label": "A001",
            "number_key": f"{queue}:{tid}",
            "patient_id": "p1",
            "appointment_id": appointment_id,
            "status": status,
            "checked_in_at": NOW,
        }
    )


def test_the_doctors_own_queue_is_chosen_by_code_at_the_appointments_campus() -> None:
    state = MemoryState(
        schedule(),
        # ids sort the other way round from codes: the server used to take the first id
        Queue(id="q-a", campus_id="c1", code="Z-DOC", name="Z", kind="doctor", doctor_id="doc"),
        Queue(id="q-b", campus_id="c1", code="A-DOC", name="A", kind="doctor", doctor_id="doc"),
        Queue(id="q-0", campus_id="c2", code="0-DOC", name="other campus", kind="doctor", doctor_id="doc"),
        Queue(id="q-dept", campus_id="c1", code="D", name="D", department_id="d1"),
    )
    chosen = queue_for_appointment(state, appointment())
    assert chosen is not None and chosen.id == "q-b"


def test_without_a_doctor_queue_the_schedules_department_queue_serves() -> None:
    state = MemoryState(
        schedule(),
        Queue(id="q-lab", campus_id="c1", code="A-LAB", name="lab", kind="lab", department_id="d1"),
        Queue(id="q-dept", campus_id="c1", code="D", name="D", department_id="d1"),
        Queue(id="q-closed", campus_id="c1", code="C", name="closed", department_id="d1", active=False),
    )
    chosen = queue_for_appointment(state, appointment())
    assert chosen is not None and chosen.id == "q-dept"


def test_a_patient_in_consultation_or_with_the_appointment_elsewhere_is_already_checked_in() -> None:
    serving = MemoryState(ticket("t1", "q1", "in_consultation"))
    assert active_ticket(serving, patient_id="p1", queue_id="q1", day=DAY) is not None
    elsewhere = MemoryState(ticket("t1", "q9", "waiting", appointment_id="a1"))
    assert active_ticket(elsewhere, patient_id="p1", queue_id="q1", day=DAY) is None
    found = active_ticket(elsewhere, patient_id="p1", queue_id="q1", day=DAY, appointment_id="a1")
    assert found is not None and found.id == "t1"
    done = MemoryState(ticket("t1", "q1", "done", appointment_id="a1"))
    assert active_ticket(done, patient_id="p1", queue_id="q1", day=DAY, appointment_id="a1") is None
