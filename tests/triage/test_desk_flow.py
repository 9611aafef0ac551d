"""The nurse's desk against a real server: find, register, check in, print; then the queue console's tools."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.domain.entities import Patient, PrintRecord, Queue, QueueNotice, QueueTicket
from shared.printing.ticket import qr_payload
from tests.support.server import ServerProcess
from tests.triage.conftest import Pc
from tests.triage.support import first_queue, free_appointment, free_patients, server_ticket, slips
from triage_desk import model
from triage_desk.console import FormDialog
from triage_desk.window import TriageWindow


def open_desk(qtbot: QtBot, pc: Pc) -> TriageWindow:
    window = TriageWindow(pc.state)
    qtbot.addWidget(window)
    pc.windows.append(window)
    window.load()
    window.show()
    qtbot.waitUntil(lambda: window.check_in.queue_combo.count() > 0, timeout=10_000)
    return window


def search_for(qtbot: QtBot, window: TriageWindow, text: str, patient_id: str) -> None:
    screen = window.check_in
    screen.find_edit.clear()
    screen.find_edit.insert(text)  # a scanner or an input method types it; Enter searches at once
    qtbot.keyClick(screen.find_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(r.patient.id == patient_id for r in screen.model.rows()), timeout=5_000)
    row = next(i for i, r in enumerate(screen.model.rows()) if r.patient.id == patient_id)
    screen.table.selectRow(row)


def choose(combo: Any, data: str) -> None:
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)


def slip_count(pc: Pc) -> int:
    return len(slips(pc.slips).named("cut")) if pc.slips.exists() else 0


def test_a_refresh_of_the_results_keeps_the_queue_the_nurse_chose(qtbot: QtBot, make_pc: Any) -> None:
    """Found with today's appointment, the patient's queue is offered; the nurse picks another queue;
    the results are searched again (as a pulled page of patients or appointments does, at any moment)
    and the same row is selected again: the nurse's queue stands (it used to snap back, and the ticket
    went to the appointment's queue)."""
    pc = make_pc()
    window = open_desk(qtbot, pc)
    screen = window.check_in
    appointment = free_appointment(pc.runtime.store)
    with pc.runtime.store.reading() as view:
        booked = model.queue_for_appointment(view, appointment)
    assert booked is not None
    other = next(q for q in model.area_queues(pc.runtime.store, pc.state.campus_id) if q.id != booked.id)
    patient = pc.runtime.store.get(Patient, appointment.patient_id)
    assert patient is not None
    assert patient.mrn
    search_for(qtbot, window, patient.mrn, patient.id)  # one row: a search again selects it again
    qtbot.waitUntil(lambda: screen.queue_combo.currentData() == booked.id, timeout=5_000)
    choose(screen.queue_combo, other.id)

    searched: list[int] = []
    screen.model.modelReset.connect(lambda: searched.append(1))
    screen.run_search()  # what ``_changed`` does when a sync brings patients or appointments
    qtbot.waitUntil(lambda: bool(searched) and screen.selected() is not None, timeout=10_000)
    qtbot.wait(50)  # the selection's own signals have run
    assert screen.selected().patient.id == patient.id  # type: ignore[union-attr]
    assert screen.queue_combo.currentData() == other.id


def test_find_by_pinyin_and_id_tail_check_in_with_priority_reason_and_print_the_slip(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    pc = make_pc()
    window = open_desk(qtbot, pc)
    screen = window.check_in
    patient = free_patients(pc.runtime.store, 1, with_id_number=True)[0]
    queue = first_queue(pc.runtime.store, pc.state.campus_id)

    # By ID-number tail, pinyin initials, medical record number, name or a scanned ID card: the same
    # patient is found every way.
    search_for(qtbot, window, patient.id_number_tail, patient.id)
    assert patient.mrn
    search_for(qtbot, window, patient.mrn, patient.id)
    search_for(qtbot, window, patient.name, patient.id)
    assert patient.id_number
    search_for(qtbot, window, patient.id_number, patient.id)  # an ID card reader types the full number
    search_for(qtbot, window, patient.name_pinyin, patient.id)
    choose(screen.queue_combo, queue.id)
    choose(screen.priority_combo, "elderly")

    # A priority class without a reason is refused by the shared rule, in the nurse's language.
    qtbot.mouseClick(screen.check_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "原因" in window.message_line.text(), timeout=5_000)
    assert window.message_line.level == "error"
    assert not pc.slips.exists()

    screen.reason_edit.insert("78岁，行动不便")
    qtbot.mouseClick(screen.check_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: slip_count(pc) == 1, timeout=10_000)

    tickets = pc.runtime.store.find(QueueTicket, patient_id=patient.id)
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ticket.priority == "elderly" and ticket.priority_reason == "78岁，行动不便"
    assert ticket.number == 101 and ticket.label == f"{queue.prefix}101"  # this desk's slot 1
    decoded = slips(pc.slips)
    assert ticket.label in decoded.lines and queue.name in decoded.lines
    assert any(line.startswith("前面还有") or line == "您是下一位" for line in decoded.lines)
    assert decoded.qr_payloads == [qr_payload(ticket.id)]
    assert f"患者：{patient.name[0]}" in decoded.text and patient.name not in decoded.text  # masked

    # The check-in reaches the server, which places it by the same rules.
    qtbot.waitUntil(lambda: pc.runtime.store.pending_count() == 0, timeout=20_000)
    on_server = server_ticket(triage_server.url, queue.id, ticket.id)
    assert on_server is not None and on_server["label"] == ticket.label and on_server["priority"] == "elderly"

    # Scanning the slip's QR finds the ticket again; reprint writes a second slip with the same number.
    screen.find_edit.setText(qr_payload(ticket.id))
    qtbot.keyClick(screen.find_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: ticket.label in window.message_line.text(), timeout=5_000)
    qtbot.mouseClick(screen.reprint_button, Qt.MouseButton.LeftButton)
    picker = screen.reprint_dialog
    assert picker is not None
    qtbot.waitUntil(lambda: picker.selected() is not None, timeout=5_000)
    assert picker.selected().ticket.id == ticket.id  # type: ignore[union-attr]  # the scanned one, chosen
    qtbot.mouseClick(picker.print_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: slip_count(pc) == 2, timeout=10_000)
    assert slips(pc.slips).lines.count(ticket.label) == 2
    qtbot.waitUntil(  # the reprint is recorded once the slip is sent
        lambda: any(r.ref_id == ticket.id and r.reprint for r in pc.runtime.store.all(PrintRecord)),
        timeout=10_000,
    )
    picker.reject()


def test_register_a_walk_in_and_check_in_an_appointment_by_its_scanned_number(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    pc = make_pc()
    window = open_desk(qtbot, pc)
    screen = window.check_in
    queue = first_queue(pc.runtime.store, pc.state.campus_id)

    # A walk-in with a bad phone number is refused with the rule's message, inside the dialog, next to
    # the phone field, and nothing typed is lost.
    qtbot.mouseClick(screen.register_button, Qt.MouseButton.LeftButton)
    dialog = screen.register_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.name_edit.setText("司马相如")
    choose(dialog.sex_combo, "M")
    dialog.birth_edit.setText("1950-03-04")
    dialog.phone_edit.setText("12345")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.errors["phone"].isVisible(), timeout=5_000)
    assert "12345" in dialog.errors["phone"].text() and dialog.isVisible()
    assert (dialog.name_edit.text(), dialog.birth_edit.text()) == ("司马相如", "1950-03-04")
    dialog.phone_edit.setText("13912345678")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5_000)
    values = {"id": (dialog.values_sent or {})["id"]}
    qtbot.waitUntil(
        lambda: screen.selected() is not None and screen.selected().patient.id == values["id"], timeout=5_000
    )
    choose(screen.queue_combo, queue.id)
    qtbot.mouseClick(screen.check_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: slip_count(pc) == 1, timeout=10_000)
    walk_in = pc.runtime.store.find(QueueTicket, patient_id=values["id"])[0]
    assert walk_in.source == "walk_in" and walk_in.queue_id == queue.id

    # An appointment number (typed or scanned, then Enter) selects its patient and its queue.
    appointment = free_appointment(pc.runtime.store)
    screen.find_edit.setText(appointment.number)
    qtbot.keyClick(screen.find_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: screen.selected() is not None and screen.selected().patient.id == appointment.patient_id,
        timeout=5_000,
    )
    assert screen.selected().queue_id == screen.queue_combo.currentData()  # type: ignore[union-attr]
    qtbot.mouseClick(screen.check_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: slip_count(pc) == 2, timeout=10_000)
    ticket = pc.runtime.store.find(QueueTicket, patient_id=appointment.patient_id)[0]
    assert ticket.appointment_id == appointment.id and ticket.source == "appointment"

    qtbot.waitUntil(lambda: pc.runtime.store.pending_count() == 0, timeout=20_000)
    assert pc.runtime.store.needs_attention_count() == 0
    # the server's medical record number comes back with the next pull
    qtbot.waitUntil(lambda: bool(pc.runtime.store.get(Patient, values["id"]).mrn), timeout=10_000)  # type: ignore[union-attr]


def test_console_calls_for_a_room_skips_returns_moves_transfers_pauses_and_posts_a_notice(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    pc = make_pc()
    window = open_desk(qtbot, pc)
    console = window.console
    store = pc.runtime.store
    queue = first_queue(store, pc.state.campus_id)
    other = next(q for q in model.area_queues(store, queue.campus_id) if q.id != queue.id)
    patients = free_patients(store, 3)
    now = dt.datetime.now(dt.UTC)
    ids = []
    for n, patient in enumerate(patients):
        ticket_id = f"t{n}-{patient.id[-12:]}"
        ids.append(ticket_id)
        with store.reading() as view:
            number = model.next_number(view, queue, model.local_day(now), 1)
        store.record(
            "queue.check_in",
            {
                "id": ticket_id,
                "queue_id": queue.id,
                "patient_id": patient.id,
                "number": number,
                "checked_in_at": (now - dt.timedelta(minutes=10 - n)).isoformat(),
            },
        )
    window.tabs.setCurrentWidget(console)
    console.reload()
    qtbot.waitUntil(lambda: console.snapshot is not None, timeout=5_000)
    console.select_queue(queue.id)
    qtbot.waitUntil(lambda: all(any(r.ticket.id == i for r in console.tickets_model.rows()) for i in ids))
    summary = console.snapshot.summary(queue.id)  # type: ignore[union-attr]
    assert summary is not None and summary.waiting >= 3

    # Call next for the chosen room: the rules' head for that room is called to it.
    room = queue.room_ids[0]
    choose(console.room_combo, room)
    expected = summary.order.next_for_room(room)
    assert expected is not None
    qtbot.mouseClick(console.buttons["call_next"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: store.get(QueueTicket, expected.ticket.id).status == "called", timeout=5_000)  # type: ignore[union-attr]
    assert store.get(QueueTicket, expected.ticket.id).called_room_id == room  # type: ignore[union-attr]

    def select(ticket_id: str) -> None:
        qtbot.waitUntil(lambda: console.select_ticket(ticket_id), timeout=5_000)

    def status(ticket_id: str) -> str:
        return store.get(QueueTicket, ticket_id).status  # type: ignore[union-attr]

    # Recall them (the waiting room hears it again), then skip and return them to the queue.
    select(expected.ticket.id)
    qtbot.mouseClick(console.buttons["recall"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: store.get(QueueTicket, expected.ticket.id).events[-1].kind == "recall",  # type: ignore[union-attr]
        timeout=5_000,
    )
    select(expected.ticket.id)
    qtbot.mouseClick(console.buttons["skip"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status(expected.ticket.id) == "skipped", timeout=5_000)
    select(expected.ticket.id)
    qtbot.mouseClick(console.buttons["return"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status(expected.ticket.id) == "waiting", timeout=5_000)

    # Move our last ticket up one place: it now waits just before the one that was above it.
    def waiting_ids() -> list[str]:
        return [r.ticket.id for r in console.tickets_model.rows() if r.place is not None]

    qtbot.waitUntil(lambda: ids[2] in waiting_ids())
    before = waiting_ids()
    position = before.index(ids[2])
    assert position > 0
    select(ids[2])
    qtbot.mouseClick(console.buttons["up"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: waiting_ids().index(ids[2]) == position - 1, timeout=5_000)

    # Priority change (with its reason) and a transfer to another queue, through their dialogs.
    monkeypatch.setattr(
        FormDialog, "ask", classmethod(lambda cls, *a, **k: {"priority": "disabled", "reason": "轮椅"})
    )
    select(ids[1])
    qtbot.mouseClick(console.buttons["priority"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: store.get(QueueTicket, ids[1]).priority == "disabled", timeout=5_000)  # type: ignore[union-attr]
    monkeypatch.setattr(
        FormDialog, "ask", classmethod(lambda cls, *a, **k: {"queue": other.id, "note": "改挂号"})
    )
    select(ids[0])
    qtbot.mouseClick(console.buttons["transfer"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status(ids[0]) == "transferred", timeout=5_000)
    moved = [t for t in store.find(QueueTicket, patient_id=patients[0].id) if t.queue_id == other.id]
    assert len(moved) == 1 and moved[0].source == "transfer"

    # Pause the room: the queue records it and the button offers to resume.
    qtbot.mouseClick(console.buttons["pause"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: room in store.get(Queue, queue.id).paused_rooms, timeout=5_000)  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: console.buttons["pause"].text().startswith("恢复"), timeout=5_000)
    qtbot.mouseClick(console.buttons["pause"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: room not in store.get(Queue, queue.id).paused_rooms, timeout=5_000)  # type: ignore[union-attr]

    # A notice for the waiting-room screens.
    monkeypatch.setattr(
        FormDialog, "ask", classmethod(lambda cls, *a, **k: {"text": "心电图室下午停诊", "urgent": True})
    )
    qtbot.mouseClick(console.notice_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: (
            console.notices_list.count() >= 1 and "心电图室下午停诊" in console.notices_list.item(0).text()
        ),
        timeout=5_000,
    )

    # Everything reaches the server and is accepted by the same rules.
    qtbot.waitUntil(lambda: store.pending_count() == 0, timeout=30_000)
    assert store.needs_attention_count() == 0
    on_server = server_ticket(triage_server.url, queue.id, ids[1])
    assert on_server is not None and on_server["priority"] == "disabled"
    assert server_ticket(triage_server.url, queue.id, ids[0]) is None  # transferred away
    assert any(n.text == "心电图室下午停诊" for n in store.all(QueueNotice))
