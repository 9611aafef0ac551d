"""Reprinting any slip of today, not only the last one this desk printed: found in a picker by number or
name, or from the queue console; the slip says 补打 (reprint) and the reprint is recorded."""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.domain.entities import Patient, PrintRecord, QueueTicket
from tests.gui.conftest import save_screenshot
from tests.support.server import ServerProcess
from tests.triage.conftest import Pc
from tests.triage.support import first_queue, free_patients, slips
from tests.triage.test_desk_flow import open_desk, slip_count
from triage_desk import model
from triage_desk.reprint import matching, todays_tickets


def check_in_earlier(pc: Pc, count: int) -> list[tuple[QueueTicket, Patient]]:
    """Tickets issued before this desk's window opened (by this PC's store; as if at another desk)."""
    store = pc.runtime.store
    queue = first_queue(store, pc.state.campus_id)
    out = []
    now = dt.datetime.now(dt.UTC)
    for n, patient in enumerate(free_patients(store, count)):
        ticket_id = f"rp{n}-{patient.id[-12:]}"
        with store.reading() as view:
            number = model.next_number(view, queue, model.local_day(now), 1)
        store.record(
            "queue.check_in",
            {"id": ticket_id, "queue_id": queue.id, "patient_id": patient.id, "number": number},
        )
        ticket = store.get(QueueTicket, ticket_id)
        assert ticket is not None
        out.append((ticket, patient))
    return out


def test_any_slip_of_today_is_found_by_name_and_reprinted_marked_as_a_reprint(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    pc = make_pc()
    made = check_in_earlier(pc, 3)
    window = open_desk(qtbot, pc)
    screen = window.check_in
    assert screen.reprint_button.isEnabled()  # nothing printed since start, and still a reprint

    qtbot.mouseClick(screen.reprint_button, Qt.MouseButton.LeftButton)
    picker = screen.reprint_dialog
    assert picker is not None and picker.isVisible()
    qtbot.waitUntil(lambda: len(picker.choices) >= 3, timeout=10_000)
    ticket, patient = made[1]
    picker.find_edit.insert(patient.name)  # typed by an input method
    qtbot.keyClick(picker.find_edit, Qt.Key.Key_Return)  # searches; prints nothing yet
    assert [c.ticket.id for c in picker.model.rows()] == [ticket.id]
    assert picker.print_button.isEnabled() and not pc.slips.exists()
    picker.resize(720, 460)
    save_screenshot(picker, "triage_reprint_picker")
    qtbot.mouseClick(picker.print_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: slip_count(pc) == 1, timeout=10_000)
    slip = slips(pc.slips)
    assert ticket.label in slip.lines
    assert "【补打" in slip.text  # marked as a reprint, with the time
    qtbot.waitUntil(
        lambda: any(r.ref_id == ticket.id and r.reprint for r in pc.runtime.store.all(PrintRecord)),
        timeout=10_000,
    )
    picker.reject()


def test_the_queue_console_reprints_the_chosen_ticket(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    pc = make_pc()
    (ticket, _patient), *_ = check_in_earlier(pc, 1)
    window = open_desk(qtbot, pc)
    console = window.console
    window.tabs.setCurrentWidget(console)
    console.reload()
    qtbot.waitUntil(lambda: console.snapshot is not None, timeout=10_000)
    console.select_queue(ticket.queue_id)
    qtbot.waitUntil(lambda: console.select_ticket(ticket.id), timeout=10_000)
    qtbot.mouseClick(console.buttons["reprint"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: slip_count(pc) == 1, timeout=10_000)
    assert ticket.label in slips(pc.slips).lines and "【补打" in slips(pc.slips).text
    qtbot.waitUntil(
        lambda: any(r.ref_id == ticket.id and r.reprint for r in pc.runtime.store.all(PrintRecord)),
        timeout=10_000,
    )


def test_the_picker_finds_a_ticket_by_its_number_or_the_digits_alone(make_pc: Any) -> None:
    pc = make_pc()
    made = check_in_earlier(pc, 2)
    choices = todays_tickets(pc.runtime.store, pc.state.campus_id, dt.datetime.now(dt.UTC))
    ticket, patient = made[0]
    assert {c.ticket.id for c in choices} >= {t.id for t, _ in made}
    assert [c.ticket.id for c in matching(choices, ticket.label)] == [ticket.id]
    assert ticket.id in [c.ticket.id for c in matching(choices, ticket.label[-3:])]
    assert ticket.id in [c.ticket.id for c in matching(choices, patient.name_pinyin)]
    assert matching(choices, "没有这个人") == []
