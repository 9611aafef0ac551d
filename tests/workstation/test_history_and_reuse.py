"""Reuse in the consult against a real server: the patient's pre-consult text starts the note, personal
and department templates, the history timeline from the local cache, renewing an earlier prescription
and inserting a treatment plan (order set)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.ids import new_id
from tests.support.api import ApiUser
from tests.support.server import ServerProcess
from tests.workstation.conftest import server_rows
from tests.workstation.test_consult_with_server import ready
from workstation.dialogs import NameScopeDialog
from workstation.screens.consult import UnsignedNoteDialog


def check_in(server: ServerProcess) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """doctor1's queue gets a booked patient with a pre-consult text, then a patient seen before."""
    nurse = ApiUser(server.url, "nurse1")
    try:
        rows = server_rows(nurse)
        doctor = next(s for s in rows["staff"].values() if s["username"] == "doctor1")
        queue = next(
            q
            for q in rows["queue"].values()
            if q["department_id"] == doctor["department_id"] and q["kind"] == "department"
        )
        booked = next(
            a
            for a in sorted(rows["appointment"].values(), key=lambda a: a["number"])
            if a["doctor_id"] == doctor["id"] and a["pre_consult_text"]
        )
        past = sorted(
            (v for v in rows["visit"].values() if v["status"] == "closed"), key=lambda v: v["patient_id"]
        )
        returning = next(
            v
            for v in past
            if v["patient_id"] != booked["patient_id"]
            and any(r["visit_id"] == v["id"] for r in rows["rx"].values())
        )
        for patient_id, appointment_id in (
            (booked["patient_id"], booked["id"]),
            (returning["patient_id"], None),
        ):
            outcome = nurse.push_one(
                "queue.check_in",
                {
                    "id": new_id(),
                    "queue_id": queue["id"],
                    "patient_id": patient_id,
                    "appointment_id": appointment_id,
                },
            )
            assert outcome["status"] in ("applied", "applied_with_warning"), outcome
        earlier_rx = next(r for r in rows["rx"].values() if r["visit_id"] == returning["id"])
        note = next(n for n in rows["emr_note"].values() if n["visit_id"] == returning["id"])
    finally:
        nurse.close()
    return booked, earlier_rx, note


def start_next(qtbot: QtBot, window: Any, patient_id: str) -> None:
    """Call the patient chosen in the waiting list (Enter), then start the consult (F8)."""
    day = window.day
    qtbot.waitUntil(
        lambda: any(r.ticket.patient_id == patient_id for r in day.waiting_model.rows()), timeout=10_000
    )
    place = next(i for i, r in enumerate(day.waiting_model.rows()) if r.ticket.patient_id == patient_id)
    day.waiting_table.setFocus()
    day.waiting_table.selectRow(place)
    qtbot.keyClick(day.waiting_table, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: any(
            r.ticket.patient_id == patient_id and r.ticket.status == "called" for r in day.seen_model.rows()
        ),
        timeout=10_000,
    )
    qtbot.keyClick(window, Qt.Key.Key_F8)
    qtbot.waitUntil(
        lambda: window.consult.data is not None and window.consult.data.patient.id == patient_id,
        timeout=10_000,
    )


def test_pre_consult_text_templates_history_renewal_and_order_sets(
    qtbot: QtBot, window: Any, runtime: Any, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    booked, earlier_rx, earlier_note = check_in(server)
    ready(qtbot, window, runtime, waiting=2)
    rows = {r.ticket.patient_id: r for r in window.day.waiting_model.rows()}
    assert rows[booked["patient_id"]].pre_consult == booked["pre_consult_text"], [
        (r.ticket.label, r.ticket.appointment_id, r.pre_consult) for r in rows.values()
    ]

    # The booked patient: the note starts from what they wrote before coming.
    start_next(qtbot, window, booked["patient_id"])
    note = window.consult.note
    assert note.edits["chief_complaint"].toPlainText() == booked["pre_consult_text"]
    qtbot.waitUntil(lambda: note.template_combo.count() > 0, timeout=10_000)
    labels = [note.template_combo.itemText(i) for i in range(note.template_combo.count())]
    assert any("（科室）" in label for label in labels) and any("（个人）" in label for label in labels)

    # A personal template saved from this note, then applied to the next patient's empty note.
    note.edits["examination"].setPlainText("心肺听诊未见异常，腹软无压痛")
    monkeypatch.setattr(
        NameScopeDialog, "ask", classmethod(lambda cls, parent=None, **kw: ("我的体检模板", "personal"))
    )
    qtbot.mouseClick(note.save_template_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: any(
            note.template_combo.itemText(i) == "我的体检模板（个人）"
            for i in range(note.template_combo.count())
        ),
        timeout=10_000,
    )
    # F9 with the note unsigned: the doctor is reminded and finishes anyway (the draft is kept)
    reminded: list[str] = []
    monkeypatch.setattr(
        UnsignedNoteDialog,
        "ask",
        classmethod(lambda cls, parent=None, **kw: reminded.append(kw["patient"]) or "finish"),
    )
    qtbot.keyClick(window, Qt.Key.Key_F9)
    assert len(reminded) == 1

    # The returning patient: the earlier visit is on the timeline; renew its prescription.
    start_next(qtbot, window, earlier_rx["patient_id"])
    assert note.edits["examination"].toPlainText() == ""
    note.template_combo.setCurrentIndex(note.template_combo.findText("我的体检模板（个人）"))
    qtbot.mouseClick(note.apply_template_button, Qt.MouseButton.LeftButton)
    assert note.edits["examination"].toPlainText() == "心肺听诊未见异常，腹软无压痛"
    history = window.consult.history.toPlainText()
    assert earlier_rx["number"] in history
    assert earlier_note["chief_complaint"] in history
    assert earlier_note["diagnoses"][0]["name"] in history
    rx = window.prescribing
    window.consult.tabs.setCurrentWidget(rx)
    qtbot.waitUntil(lambda: rx.renew_combo.findData(earlier_rx["id"]) >= 0, timeout=10_000)
    assert all(r.patient_id == earlier_rx["patient_id"] for r in rx.previous)
    rx.renew_combo.setCurrentIndex(rx.renew_combo.findData(earlier_rx["id"]))
    qtbot.mouseClick(rx.renew_button, Qt.MouseButton.LeftButton)
    wanted = [line["drug"]["generic_name"] for line in earlier_rx["lines"]]
    assert rx.renew_combo.currentData() == earlier_rx["id"], [
        (rx.renew_combo.itemText(i), rx.renew_combo.itemData(i)) for i in range(rx.renew_combo.count())
    ]
    qtbot.waitUntil(lambda: len(rx.lines) >= len(wanted), timeout=10_000)
    assert [line.drug.generic_name for line in rx.lines] == wanted, window.message_line.text()
    assert rx.renewed_from == earlier_rx["id"]

    # A treatment plan adds its lines after them.
    qtbot.waitUntil(lambda: rx.set_combo.count() > 0, timeout=10_000)
    order_set = rx.order_sets[0]
    rx.set_combo.setCurrentIndex(0)
    qtbot.mouseClick(rx.set_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(rx.lines) == len(wanted) + len(order_set.lines), timeout=10_000)
    assert [line.drug.id for line in rx.lines[len(wanted) :]] == [line.drug_id for line in order_set.lines]
