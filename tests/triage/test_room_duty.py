"""A nurse opens a room for the doctor the schedule puts there (who works without the workstation), and
closes it: only then does the room take patients at its door. Real console widgets, local store."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.domain.entities import Queue, Schedule
from tests.support.server import ServerProcess
from tests.triage.test_desk_flow import choose, open_desk
from triage_desk import model


def test_a_nurse_opens_a_scheduled_room_and_closes_it_from_the_console(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    pc = make_pc()
    store = pc.runtime.store
    today = model.local_day(dt.datetime.now(dt.UTC))
    local = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    session_now = "am" if local.hour < 12 else "pm" if local.hour < 18 else "night"
    scheduled: dict[str, str] = {}  # room -> the doctor of the session under way, else the first to start
    for s in sorted(
        (s for s in store.find(Schedule, date=today) if not s.voided),
        key=lambda s: (s.session != session_now, s.start_time, s.id),
    ):
        scheduled.setdefault(s.room_id, s.doctor_id)
    queue = next(q for q in model.area_queues(store, pc.state.campus_id) if set(q.room_ids) & set(scheduled))
    room = next(r for r in queue.room_ids if r in scheduled)
    window = open_desk(qtbot, pc)
    console = window.console
    window.tabs.setCurrentWidget(console)
    console.reload()
    qtbot.waitUntil(lambda: console.snapshot is not None, timeout=10_000)
    console.select_queue(queue.id)
    choose(console.room_combo, room)
    button = console.buttons["room_duty"]
    assert button.text() == "开诊（按排班）"

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    def duty() -> Any:
        row = store.get(Queue, queue.id)
        return row.staffed_rooms.get(room) if row else None

    qtbot.waitUntil(lambda: duty() is not None, timeout=10_000)
    assert (duty().doctor_id, duty().source) == (scheduled[room], "nurse")
    qtbot.waitUntil(lambda: button.text() == "关诊", timeout=10_000)
    assert "（接诊中）" in console.room_combo.currentText()

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: duty() is None, timeout=10_000)
    qtbot.waitUntil(lambda: button.text() == "开诊（按排班）", timeout=10_000)
