"""The self check-in kiosk against a real server: refusals outside the window, a check-in, a repeat scan."""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.domain.entities import Appointment, QueueTicket
from shared.printing.ticket import qr_payload
from tests.gui.conftest import save_screenshot
from tests.support.api import ApiUser
from tests.support.server import ServerProcess
from tests.triage.conftest import Pc
from tests.triage.support import _taken, move_slot_on_server, server_ticket, slips
from triage_desk import model
from triage_desk.kiosk import KioskWindow


def daytime_appointments(pc: Pc, count: int) -> list[Appointment]:
    """Booked appointments today whose slot leaves a few hours of the same local day on both sides."""
    today = model.local_day(dt.datetime.now(dt.UTC))
    out = []
    for appointment in sorted(pc.runtime.store.all(Appointment), key=lambda a: (a.slot_time, a.id)):
        local = appointment.slot_time.astimezone()
        if appointment.status != "booked" or appointment.patient_id in _taken or local.date() != today:
            continue
        if not 4 <= local.hour <= 20 or pc.runtime.store.find(QueueTicket, patient_id=appointment.patient_id):
            continue
        _taken.add(appointment.patient_id)
        out.append(appointment)
        if len(out) == count:
            return out
    raise AssertionError("not enough daytime appointments in the demo data")


def open_kiosk(qtbot: QtBot, pc: Pc) -> KioskWindow:
    window = KioskWindow(pc.state)
    qtbot.addWidget(window)
    pc.windows.append(window)
    window.resize(1024, 768)
    window.show()
    return window


def scan(qtbot: QtBot, window: KioskWindow, code: str, verdict: str) -> None:
    window.verdict = ""
    window.code_edit.setText(code)  # a scanner types the code and Enter
    qtbot.keyClick(window.code_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.verdict == verdict, timeout=10_000)


def test_the_kiosk_refuses_outside_the_window_checks_in_on_time_and_reprints_a_repeat_scan(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    pc = make_pc("triage", "nurse1", slot=2)  # ``clinic triage --kiosk``: a nurse's account, local cache
    window = open_kiosk(qtbot, pc)
    on_time, late = daytime_appointments(pc, 2)

    scan(qtbot, window, "YY19990101000", "unknown")
    assert "找不到预约号 YY19990101000" in window.answer.text()

    pc.state.set_clock(lambda: on_time.slot_time - dt.timedelta(hours=3))
    scan(qtbot, window, on_time.number.lower(), "too_early")  # typed in lower case: still found
    opens = (on_time.slot_time - dt.timedelta(minutes=60)).astimezone().strftime("%H:%M")
    assert "还未到签到时间" in window.answer.text() and opens in window.answer.text()

    pc.state.set_clock(lambda: late.slot_time + dt.timedelta(hours=1))
    scan(qtbot, window, late.number, "too_late")
    assert "请到分诊台办理" in window.answer.text()
    assert not pc.slips.exists() and not pc.runtime.store.find(QueueTicket, patient_id=late.patient_id)

    # On time (with the on-screen keypad's clear first): checked in, slip printed from the kiosk's slot.
    pc.state.set_clock(lambda: on_time.slot_time - dt.timedelta(minutes=10))
    qtbot.mouseClick(window.clear_button, Qt.MouseButton.LeftButton)
    assert window.code_edit.text() == ""
    scan(qtbot, window, on_time.number, "checked_in")
    qtbot.waitUntil(lambda: pc.slips.exists() and slips(pc.slips).cut_count == 1, timeout=10_000)
    ticket = pc.runtime.store.find(QueueTicket, patient_id=on_time.patient_id)[0]
    assert ticket.appointment_id == on_time.id and ticket.number == 201  # slot 2's first number
    assert ticket.label in window.answer.text() and "签到成功" in window.answer.text()
    decoded = slips(pc.slips)
    assert ticket.label in decoded.lines and decoded.qr_payloads == [qr_payload(ticket.id)]

    # The same code again: no second ticket, the slip is printed again.
    scan(qtbot, window, on_time.number, "done")
    qtbot.waitUntil(lambda: slips(pc.slips).cut_count == 2, timeout=10_000)
    assert len(pc.runtime.store.find(QueueTicket, patient_id=on_time.patient_id)) == 1

    qtbot.waitUntil(lambda: pc.runtime.store.pending_count() == 0, timeout=20_000)
    assert pc.runtime.store.needs_attention_count() == 0
    on_server = server_ticket(triage_server.url, ticket.queue_id, ticket.id)
    assert on_server is not None and on_server["label"] == ticket.label


def test_keypad_types_the_code_and_backspace_corrects_it(qtbot: QtBot, make_pc: Any) -> None:
    pc = make_pc("kiosk", "kiosk1", sync=False)
    window = open_kiosk(qtbot, pc)
    for key in ("YY", "1", "2", "⌫", "3"):
        button = next(b for b in window.key_buttons if b.text() == key)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.code_edit.text() == "YY13"
    assert min(b.height() for b in window.key_buttons) >= 60  # touch-sized


def test_a_kiosk_account_checks_in_online_through_the_server_and_a_repeat_scan_reprints(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    nurse = make_pc()  # only to pick an appointment; the kiosk itself holds no patient data
    appointment = daytime_appointments(nurse, 1)[0]
    # the server checks the window against its own clock: the slot is put ten minutes from now
    move_slot_on_server(
        triage_server.db_url, appointment.id, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    )
    pc = make_pc("kiosk", "kiosk1", sync=False)
    assert pc.runtime.store.cursor() is None
    window = open_kiosk(qtbot, pc)

    scan(qtbot, window, "YY19990101000", "unknown")  # the server's answer, in the kiosk's words
    assert "找不到预约号 YY19990101000" in window.answer.text() and "分诊台" in window.answer.text()

    scan(qtbot, window, appointment.number, "checked_in")
    qtbot.waitUntil(lambda: pc.slips.exists() and slips(pc.slips).cut_count == 1, timeout=10_000)
    decoded = slips(pc.slips)
    label = next(line for line in decoded.lines if line[:1].isalpha() and line[1:].isdigit())
    assert label in window.answer.text()
    ticket_id = decoded.qr_payloads[0].rsplit(":", 1)[1]

    scan(qtbot, window, appointment.number, "done")
    qtbot.waitUntil(lambda: slips(pc.slips).cut_count == 2, timeout=10_000)
    assert slips(pc.slips).qr_payloads == [qr_payload(ticket_id)] * 2

    # The nurse's desk sees the kiosk's check-in through sync.
    qtbot.waitUntil(lambda: nurse.runtime.store.get(QueueTicket, ticket_id) is not None, timeout=15_000)
    assert nurse.runtime.store.get(QueueTicket, ticket_id).appointment_id == appointment.id  # type: ignore[union-attr]


def test_a_kiosk_account_is_refused_outside_the_window_by_the_server_and_prints_nothing(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    nurse = make_pc()  # only to pick appointments; the kiosk itself holds no patient data
    early, late = daytime_appointments(nurse, 2)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    early_slot, late_slot = now + dt.timedelta(hours=3), now - dt.timedelta(hours=2)
    move_slot_on_server(triage_server.db_url, early.id, early_slot)
    move_slot_on_server(triage_server.db_url, late.id, late_slot)
    pc = make_pc("kiosk", "kiosk1", sync=False)
    window = open_kiosk(qtbot, pc)

    scan(qtbot, window, early.number, "too_early")
    opens = (early_slot - dt.timedelta(minutes=60)).astimezone().strftime("%H:%M")
    text = window.answer.text()
    assert "还未到签到时间" in text and opens in text
    assert early_slot.astimezone().strftime("%H:%M") in text

    scan(qtbot, window, late.number, "too_late")
    closes = (late_slot + dt.timedelta(minutes=15)).astimezone().strftime("%H:%M")
    assert "请到分诊台办理" in window.answer.text() and closes in window.answer.text()
    window.resize(1366, 768)
    qtbot.waitUntil(lambda: window.width() == 1366, timeout=2_000)
    save_screenshot(window, "triage_kiosk_refused_1366x768")

    # nothing printed, nothing checked in on the server
    assert not pc.slips.exists()
    desk = ApiUser(triage_server.url, "nurse1")
    for appointment in (early, late):
        with nurse.runtime.store.reading() as view:
            queue = model.queue_for_appointment(view, appointment)
        assert queue is not None
        status = desk.http.get(f"/api/v1/queue/{queue.id}/status", params={"appointment": appointment.number})
        assert status.status_code == 404, status.text
    desk.close()
