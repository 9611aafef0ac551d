"""The doctor's list and F5 with rooms: only rooms with a doctor at work take patients, F5 never passes
over the top of the list without saying why, the list shows the room, and a doctor standing in for a
colleague chooses another room of the department. Real widgets against a real server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.domain.entities import Queue
from shared.ids import new_id, reference_id
from shared.site import SiteConfig
from tests.gui.conftest import save_screenshot
from tests.support.api import ApiUser
from tests.support.server import ServerProcess
from tests.workstation.conftest import log_in, server_rows

NK_QUEUE = reference_id("queue", "MAIN-NK-Q")
ROOM = {n: reference_id("room", f"MAIN-NK-0{n}") for n in (1, 2, 3)}


@pytest.fixture
def site() -> SiteConfig:
    return SiteConfig(rooms=["MAIN-NK-02"])  # this PC is in cardiology room 2


def check_in(server: ServerProcess, *, elderly_last: bool = True) -> tuple[list[str], dict[str, Any]]:
    """Three younger patients, then a 78-year-old (elderly priority by birth date) into cardiology."""
    nurse = ApiUser(server.url, "nurse1")
    try:
        rows = server_rows(nurse)
        today = dt.date.today()
        patients = sorted(rows["patient"].values(), key=lambda p: p["mrn"] or "")
        young = [p for p in patients if dt.date.fromisoformat(p["birth_date"]).year > today.year - 60][:3]
        old = next(p for p in patients if dt.date.fromisoformat(p["birth_date"]).year < today.year - 76)
        tickets = []
        for patient in [*young, old] if elderly_last else [old, *young]:
            ticket_id = new_id()
            outcome = nurse.push_one(
                "queue.check_in", {"id": ticket_id, "queue_id": NK_QUEUE, "patient_id": patient["id"]}
            )
            assert outcome["status"] in ("applied", "applied_with_warning"), outcome
            tickets.append(ticket_id)
    finally:
        nurse.close()
    return tickets, old


def ready(qtbot: QtBot, window: Any, runtime: Any, waiting: int = 4) -> None:
    log_in(runtime)
    window.start()
    qtbot.waitUntil(lambda: window.day.waiting_model.rowCount() == waiting, timeout=60_000)


def duty_of(runtime: Any, room: str) -> str | None:
    queue = runtime.store.get(Queue, NK_QUEUE)
    duty = queue.staffed_rooms.get(room) if queue else None
    return duty.doctor_id if duty else None


@pytest.fixture
def colleague(server: ServerProcess) -> Iterator[ApiUser]:
    """Another cardiology doctor, at work in room 1 (chose it at the workstation next door)."""
    nurse = ApiUser(server.url, "nurse1")
    rows = server_rows(nurse)
    nurse.close()
    doctor1 = next(s for s in rows["staff"].values() if s["username"] == "doctor1")
    other = sorted(
        (
            s
            for s in rows["staff"].values()
            if s["department_id"] == doctor1["department_id"]
            and "doctor" in s["roles"]
            and s["id"] != doctor1["id"]
        ),
        key=lambda s: s["username"],
    )[0]
    user = ApiUser(server.url, other["username"])
    yield user
    user.close()


def test_f5_calls_the_elderly_patient_at_the_top_when_only_this_room_has_a_doctor(
    qtbot: QtBot, window: Any, runtime: Any, server: ServerProcess
) -> None:
    tickets, old = check_in(server)
    ready(qtbot, window, runtime)
    day = window.day
    staff = runtime.staff
    # logging in at room 2 opens it: rooms 1 and 3 have nobody, so nobody waits at their doors
    qtbot.waitUntil(lambda: duty_of(runtime, ROOM[2]) == staff.id, timeout=20_000)
    qtbot.waitUntil(lambda: day.view_data is not None and ROOM[2] in day.view_data.duty, timeout=20_000)
    rows = day.waiting_model.rows()
    assert rows[0].ticket.id == tickets[3]  # the elderly patient is at the top of the list
    assert {r.door for r in rows} <= {ROOM[2], None}
    room_column = [
        c
        for c in range(day.waiting_model.columnCount())
        if day.waiting_model.headerData(c, Qt.Orientation.Horizontal) == "诊室"
    ][0]
    assert day.waiting_model.index(0, room_column).data() == "心血管内科2诊室"
    assert day.waiting_model.index(0, 3).data() == "老"  # elderly by age, though checked in as normal
    assert "F5 将呼叫：" in day.next_label.text() and rows[0].ticket.label in day.next_label.text()
    assert "列表首位" not in day.next_label.text()

    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(
        lambda: any(r.ticket.id == tickets[3] and r.ticket.status == "called" for r in day.seen_model.rows()),
        timeout=10_000,
    )
    assert window.message_line.text().startswith("已呼叫 " + rows[0].ticket.label)

    # the server agrees: the room is open under this doctor and the elderly patient was called first
    nurse = ApiUser(server.url, "nurse1")
    try:
        qtbot.waitUntil(lambda: runtime.store.pending_count() == 0, timeout=30_000)
        listing = nurse.http.get(f"/api/v1/queue/{NK_QUEUE}").json()
    finally:
        nurse.close()
    assert listing["queue"]["working_rooms"] == [ROOM[2]]
    assert [c["ticket_id"] for c in listing["called"]] == [tickets[3]]


def test_f5_says_why_it_passes_over_the_top_and_a_stand_in_takes_another_room(
    qtbot: QtBot, window: Any, runtime: Any, server: ServerProcess, colleague: ApiUser
) -> None:
    assert colleague.push_one("queue.room_open", {"room_id": ROOM[1]})["status"] == "applied"
    tickets, old = check_in(server)
    ready(qtbot, window, runtime)
    day = window.day
    qtbot.waitUntil(lambda: duty_of(runtime, ROOM[2]) == runtime.staff.id, timeout=20_000)
    qtbot.waitUntil(
        lambda: day.view_data is not None and {ROOM[1], ROOM[2]} <= set(day.view_data.duty), timeout=20_000
    )
    # the top of the list (the elderly patient) waits at room 1's door: F5 here calls someone else, and
    # the list says so before the doctor presses it
    top = day.waiting_model.row(0)
    assert top.ticket.id == tickets[3] and top.door == ROOM[1]
    assert f"列表首位 {top.ticket.label}：在心血管内科1诊室门口等候，由该诊室叫号" in day.next_label.text()
    window.resize(1366, 768)
    qtbot.wait(150)
    save_screenshot(window, "workstation_day_view_1366x768")
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: any(r.ticket.status == "called" for r in day.seen_model.rows()), timeout=10_000)
    called = next(r for r in day.seen_model.rows() if r.ticket.status == "called")
    assert called.ticket.id != top.ticket.id
    message = window.message_line.text()
    assert message.startswith(f"已呼叫 {called.ticket.label}") and "在心血管内科1诊室门口等候" in message

    # standing in for a colleague: room 3 is in the list of rooms, marked, and choosing it moves the doctor
    combo = day.room_combo
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert texts[0] == "心血管内科2诊室"
    assert any("心血管内科1诊室（" in text and "接诊中）" in text for text in texts)
    index = combo.findData(ROOM[3])
    assert index >= 0 and combo.itemText(index) == "心血管内科3诊室（代诊）"
    combo.setCurrentIndex(index)
    qtbot.waitUntil(lambda: duty_of(runtime, ROOM[3]) == runtime.staff.id, timeout=20_000)
    assert duty_of(runtime, ROOM[2]) is None  # the room left behind takes nobody now
    assert window.state.room_id == ROOM[3]
    qtbot.waitUntil(lambda: combo.currentText() == "心血管内科3诊室（代诊）", timeout=10_000)


def test_closing_the_workstation_closes_the_room(
    qtbot: QtBot, window: Any, runtime: Any, server: ServerProcess, tmp_path: Path
) -> None:
    check_in(server)
    ready(qtbot, window, runtime)
    qtbot.waitUntil(lambda: duty_of(runtime, ROOM[2]) == runtime.staff.id, timeout=20_000)
    window.day.stop()
    qtbot.waitUntil(lambda: duty_of(runtime, ROOM[2]) is None, timeout=20_000)
    nurse = ApiUser(server.url, "nurse1")
    try:

        def working() -> list[str]:
            runtime.network.wake()
            return nurse.http.get(f"/api/v1/queue/{NK_QUEUE}").json()["queue"]["working_rooms"]  # type: ignore[no-any-return]

        qtbot.waitUntil(lambda: working() == [], timeout=30_000)
    finally:
        nurse.close()
