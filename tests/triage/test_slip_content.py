"""What the ticket slip says: hospital, department and queue, and a room only when it is fixed (a
doctor-specific appointment's); the door a walk-in happens to wait at is never printed, since it
follows which doctors are at work. Real slips built from a triage PC's store, decoded from ESC/POS."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from shared.domain.entities import Department, Queue, Room, Staff
from shared.ids import new_id
from shared.printing.escpos_decode import decode
from shared.printing.ticket import render_ticket_image
from shared.site import PrinterSetting
from tests.support.api import ApiUser
from tests.support.server import ServerProcess
from tests.triage.conftest import Pc
from tests.triage.support import free_appointment, free_patients
from triage_desk import model
from triage_desk.check_in import check_in_in_store
from triage_desk.slip import slip_bytes

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def open_a_room(server: ServerProcess, pc: Pc, queue: Queue) -> str:
    """A doctor of the queue's department starts work in one of its rooms; the PC hears of it."""
    store = pc.runtime.store
    doctor = sorted(
        (s for s in store.all(Staff) if s.department_id == queue.department_id and "doctor" in s.roles),
        key=lambda s: s.username,
    )[0]
    user = ApiUser(server.url, doctor.username)
    try:
        assert user.push_one("queue.room_open", {"room_id": queue.room_ids[0]})["status"] == "applied"
    finally:
        user.close()
    return queue.room_ids[0]


def test_the_slip_prints_department_and_queue_and_a_room_only_when_it_is_fixed(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    pc = make_pc("triage", "nurse1", slot=1)
    store = pc.runtime.store
    appointment = free_appointment(store)
    with store.reading() as view:
        queue = model.queue_for_appointment(view, appointment)
    assert queue is not None and queue.room_ids and queue.department_id
    door = open_a_room(triage_server, pc, queue)
    qtbot.waitUntil(lambda: door in (store.get(Queue, queue.id) or queue).staffed_rooms, timeout=30_000)
    department = store.get(Department, queue.department_id)
    door_room = store.get(Room, door)
    fixed_room = store.get(Room, appointment.room_id)
    assert department is not None and door_room is not None and fixed_room is not None
    now = dt.datetime.now().astimezone()
    (walker,) = free_patients(store, 1)
    setting = PrinterSetting(target="none", paper="80mm")

    # a walk-in: it waits at the open room's door now, but the slip names no room
    args = {
        "id": new_id(),
        "queue_id": queue.id,
        "patient_id": walker.id,
        "day": model.local_day(now).isoformat(),
    }
    _entry, walk_in = check_in_in_store(store, args=args, slot=1, now=now, lang="zh_CN")
    assert walk_in is not None
    assert walk_in.room is None and walk_in.department == department.name
    lines = decode(slip_bytes(walk_in, setting, "zh_CN")).lines
    assert lines[:3] == [walk_in.hospital, department.name, queue.name]
    assert "诊室：叫号时显示" in lines and f"诊室：{door_room.name}" not in lines
    image = render_ticket_image(walk_in, paper="80mm", lang="zh_CN")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    image.save(SCREENSHOTS / "ticket_slip.png")

    # the appointment with a doctor: its room is fixed, and printed
    args = {
        "id": new_id(),
        "queue_id": queue.id,
        "patient_id": appointment.patient_id,
        "appointment_id": appointment.id,
        "day": model.local_day(now).isoformat(),
    }
    _entry, booked = check_in_in_store(store, args=args, slot=1, now=now, lang="zh_CN")
    assert booked is not None and booked.room == fixed_room.name
    lines = decode(slip_bytes(booked, setting, "zh_CN")).lines
    assert department.name in lines and queue.name in lines and f"诊室：{fixed_room.name}" in lines
