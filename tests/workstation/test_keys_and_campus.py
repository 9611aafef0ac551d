"""Signing keys and campuses through the workstation against a real server: the key is this PC's (OS key
store, public key registered for this PC), a PIN change stays on the PC, an administrator's reset makes
the doctor set a new PIN and key (from the server and from the workstation's admin dialog), one PIN
entry serves one patient's consult, the PIN dialog starts in the PIN box, and a doctor who logs in at
another campus works there."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.domain.entities import SigningKey
from shared.ids import new_id
from shared.security.signing import WrongPin
from tests.support.api import ApiUser
from tests.support.server import ServerProcess
from tests.workstation.conftest import PIN, Clinic, log_in, server_rows
from tests.workstation.test_consult_with_server import (
    acknowledge_warnings,
    add_drug,
    call_and_start,
    ready,
    wait_synced,
)
from workstation.dialogs import ChangePinDialog, NewPinDialog, PinDialog, ResetKeyDialog

NEW_PIN = "246802"


@pytest.fixture(autouse=True)
def answers(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    asked: dict[str, list[Any]] = {"new_pin": [], "pin": [], "reset": []}
    current = {"pin": PIN}

    def new_pin(cls: Any, parent: Any = None, **kw: Any) -> str:
        asked["new_pin"].append(kw)
        current["pin"] = PIN
        return PIN

    def pin(cls: Any, parent: Any = None, **kw: Any) -> str:
        asked["pin"].append(kw)
        return current["pin"]

    def change(cls: Any, parent: Any = None, **kw: Any) -> tuple[str, str]:
        current["pin"] = NEW_PIN
        return PIN, NEW_PIN

    monkeypatch.setattr(NewPinDialog, "ask", classmethod(new_pin))
    monkeypatch.setattr(PinDialog, "ask", classmethod(pin))
    monkeypatch.setattr(ChangePinDialog, "ask", classmethod(change))
    return asked


def sign_one(qtbot: QtBot, window: Any, query: str, name: str) -> Any:
    rx = window.prescribing
    add_drug(qtbot, window, query, name)
    acknowledge_warnings(window)
    with qtbot.waitSignal(rx.sig_signed, timeout=30_000) as signed:
        qtbot.mouseClick(rx.sign_button, Qt.MouseButton.LeftButton)
    # signing prints at once; the doctor sees it printed before doing anything else
    qtbot.waitUntil(lambda: "已打印" in window.message_line.text(), timeout=30_000)
    return signed.args[0][0]


def test_the_key_is_this_pcs_a_pin_change_stays_here_and_a_revoked_key_means_a_new_pin_and_key(
    qtbot: QtBot,
    window: Any,
    runtime: Any,
    clinic: Clinic,
    server: ServerProcess,
    answers: dict[str, list[Any]],
    key_store: Any,
) -> None:
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    window.consult.tabs.setCurrentWidget(window.prescribing)
    first = sign_one(qtbot, window, "mtss", "蒙脱石散")
    assert len(answers["new_pin"]) == 1
    doctor_id = clinic.doctor["id"]

    # The key lives in this PC's key store (sealed: no PIN, no private key in the clear), registered for
    # this PC; the server and every PC's cache hold its public key only.
    record = window.state.keys.load(doctor_id)
    assert record is not None and record.key_id == first.signing_key_id
    assert record.device_id == runtime.store.device_id
    assert PIN not in key_store.path.read_text(encoding="utf-8")
    assert not (runtime.store.path.parent / "signing_keys").exists()

    # The doctor changes the PIN: same key pair, re-sealed here only; nothing goes to the server.
    wait_synced(qtbot, runtime)
    window.change_pin()
    qtbot.waitUntil(lambda: "签名 PIN 已修改" in window.message_line.text(), timeout=20_000)
    assert runtime.store.pending_count() == 0
    assert window.state.keys.unlock(doctor_id, NEW_PIN).key_id == first.signing_key_id
    with pytest.raises(WrongPin):
        window.state.keys.unlock(doctor_id, PIN)
    wait_synced(qtbot, runtime)
    nurse = ApiUser(server.url, "nurse1")
    try:
        keys = [k for k in server_rows(nurse)["signing_key"].values() if k["staff_id"] == doctor_id]
    finally:
        nurse.close()
    assert [k["id"] for k in keys if not k["revoked_at"]] == [first.signing_key_id]
    assert all("sealed_key" not in k for k in keys)
    assert keys[0]["device_id"] == runtime.store.device_id

    # An administrator revokes it: the next signature here sets a new PIN and makes a new key.
    admin = ApiUser(server.url, "admin")
    try:
        outcome = admin.push_one(
            "signing_key.revoke", {"key_id": first.signing_key_id, "reason": "医生忘记 PIN"}
        )
        assert outcome["status"] == "applied", outcome
    finally:
        admin.close()
    runtime.network.wake()
    qtbot.waitUntil(
        lambda: (
            (row := runtime.store.get(SigningKey, first.signing_key_id)) is not None
            and row.revoked_at is not None
        ),
        timeout=30_000,
    )
    window.state.forget_pin()
    second = sign_one(qtbot, window, "blfhsjn", "布洛芬缓释胶囊")
    assert len(answers["new_pin"]) == 2 and second.signing_key_id != first.signing_key_id
    wait_synced(qtbot, runtime)
    checker = ApiUser(server.url, "nurse1")
    try:
        rows = server_rows(checker)
    finally:
        checker.close()
    mine = {k["id"]: k for k in rows["signing_key"].values() if k["staff_id"] == doctor_id}
    assert mine[first.signing_key_id]["revoked_at"] and not mine[second.signing_key_id]["revoked_at"]
    assert rows["rx"][second.id]["status"] == "signed"
    assert rows["rx"][first.id]["status"] == "signed"  # what was signed before the reset stays valid


def test_a_first_signature_needs_the_server_once_to_register_this_pcs_key(
    qtbot: QtBot,
    window: Any,
    runtime: Any,
    clinic: Clinic,
    server: ServerProcess,
    answers: dict[str, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Offline, a new key is made but nothing is signed (the server would refuse a signature older than
    the key's registration); once the server is back the key is confirmed and the doctor signs."""
    from shared.domain.entities import Prescription
    from shared.gui import pin_dialog

    monkeypatch.setattr(pin_dialog, "REGISTRATION_WAIT_SECONDS", 3.0)
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    visit_id = window.consult.data.visit.id
    window.consult.tabs.setCurrentWidget(window.prescribing)
    server.kill()
    runtime.network.wake()
    rx = window.prescribing
    add_drug(qtbot, window, "mtss", "蒙脱石散")
    acknowledge_warnings(window)
    qtbot.mouseClick(rx.sign_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "尚未被服务器确认" in window.message_line.text(), timeout=30_000)
    assert len(answers["new_pin"]) == 1 and runtime.store.find(Prescription, visit_id=visit_id) == []
    server.start()
    with qtbot.waitSignal(rx.sig_signed, timeout=60_000) as signed:
        qtbot.mouseClick(rx.sign_button, Qt.MouseButton.LeftButton)
    assert len(answers["new_pin"]) == 1 and len(answers["pin"]) == 1  # the same key, now confirmed
    assert signed.args[0][0].signing_key_id == window.state.keys.load(clinic.doctor["id"]).key_id
    wait_synced(qtbot, runtime, timeout=60_000)


def test_one_pin_entry_serves_one_patients_consult(
    qtbot: QtBot, window: Any, runtime: Any, clinic: Clinic, answers: dict[str, list[Any]]
) -> None:
    """The PIN is not remembered across patients: finishing and calling the next one asks it again."""
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    window.consult.tabs.setCurrentWidget(window.prescribing)
    sign_one(qtbot, window, "mtss", "蒙脱石散")  # first signature on this PC: a new PIN, remembered
    sign_one(qtbot, window, "blfhsjn", "布洛芬缓释胶囊")
    assert len(answers["new_pin"]) == 1 and answers["pin"] == []  # same patient: one PIN entry

    day = window.day
    day.finish()
    second = day.waiting_model.row(0)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(
        lambda: any(
            r.ticket.id == second.ticket.id and r.ticket.status == "called" for r in day.seen_model.rows()
        ),
        timeout=10_000,
    )
    qtbot.keyClick(window, Qt.Key.Key_F8)
    qtbot.waitUntil(
        lambda: (
            window.consult.data is not None and window.consult.data.patient.id == second.ticket.patient_id
        ),
        timeout=10_000,
    )
    window.consult.tabs.setCurrentWidget(window.prescribing)
    sign_one(qtbot, window, "mtss", "蒙脱石散")
    assert len(answers["pin"]) == 1  # the next patient's prescription asked for the PIN again


def test_the_pin_dialog_opens_on_the_pin_box_and_never_signs_an_empty_pin(qtbot: QtBot) -> None:
    """Both apps' PIN dialog (one copy): focus in the PIN box, OK disabled while it is empty, so Enter
    does nothing; typed digits go to the PIN box and Enter then accepts."""
    from PySide6.QtWidgets import QDialog

    from pharmacy_desk.dialogs import PinDialog as PharmacyPinDialog
    from tests.gui.conftest import save_screenshot

    assert PharmacyPinDialog is PinDialog
    dialog = PinDialog(None, "zh_CN", "处方（1 张，合计 ¥66.60）")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: dialog.pin_edit.hasFocus(), timeout=10_000)
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClick(dialog.pin_edit, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    qtbot.keyClicks(dialog.pin_edit, "135790")
    assert dialog.pin_edit.text() == "135790" and dialog.ok_button.isEnabled()
    save_screenshot(dialog, "gui_pin_dialog")
    qtbot.keyClick(dialog.pin_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)

    setup = NewPinDialog(None, "zh_CN")
    qtbot.addWidget(setup)
    setup.show()
    qtbot.keyClicks(setup.pin_edit, "123456")
    qtbot.keyClicks(setup.again_edit, "123456")
    setup.accept()  # a straight run of digits is refused in the dialog, nothing typed is lost
    assert setup.isVisible() and "过于简单" in setup.error.text() and setup.pin_edit.text() == "123456"
    save_screenshot(setup, "gui_pin_dialog_setup")


def test_an_administrator_resets_a_doctors_key_from_the_workstation(
    qtbot: QtBot, window: Any, runtime: Any, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_in(runtime, "admin")
    window.start()
    assert window.reset_action.isVisible()
    qtbot.waitUntil(lambda: len(runtime.store.all(SigningKey)) >= 5, timeout=60_000)
    chosen: list[list[tuple[str, str]]] = []

    def ask(cls: Any, parent: Any = None, **kw: Any) -> tuple[str, str]:
        holders = kw["holders"]
        chosen.append(holders)
        key_id = next(key_id for key_id, label in holders if "doctor16" in label)
        return key_id, "离职"

    monkeypatch.setattr(ResetKeyDialog, "ask", classmethod(ask))
    window.reset_key()
    qtbot.waitUntil(lambda: "已吊销" in window.message_line.text(), timeout=20_000)
    wait_synced(qtbot, runtime)
    key_id = next(key_id for key_id, label in chosen[0] if "doctor16" in label)
    nurse = ApiUser(server.url, "nurse1")
    try:
        row = server_rows(nurse)["signing_key"][key_id]
    finally:
        nurse.close()
    assert row["revoked_at"] and row["revoked_reason"] == "离职"


def test_a_doctor_revokes_their_own_key_from_the_workstation(
    qtbot: QtBot,
    window: Any,
    runtime: Any,
    clinic: Clinic,
    server: ServerProcess,
    answers: dict[str, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    window.consult.tabs.setCurrentWidget(window.prescribing)
    first = sign_one(qtbot, window, "mtss", "蒙脱石散")
    offered: list[list[tuple[str, str]]] = []

    def ask(cls: Any, parent: Any = None, **kw: Any) -> tuple[str, str]:
        offered.append(kw["holders"])
        return next(key_id for key_id, label in kw["holders"] if "本机" in label), "电脑送修"

    monkeypatch.setattr(ResetKeyDialog, "ask", classmethod(ask))
    window.reset_key(own=True)
    qtbot.waitUntil(lambda: "已吊销" in window.message_line.text(), timeout=20_000)
    assert [key_id for key_id, _ in offered[0]] == [first.signing_key_id]  # only the doctor's own keys
    wait_synced(qtbot, runtime)
    nurse = ApiUser(server.url, "nurse1")
    try:
        row = server_rows(nurse)["signing_key"][first.signing_key_id]
    finally:
        nurse.close()
    assert row["revoked_at"] and row["revoked_reason"] == "电脑送修"
    window.state.forget_pin()
    second = sign_one(qtbot, window, "blfhsjn", "布洛芬缓释胶囊")
    assert len(answers["new_pin"]) == 2 and second.signing_key_id != first.signing_key_id


def test_a_doctor_who_logs_in_at_another_campus_works_in_that_campus_rooms_and_queue(
    qtbot: QtBot, window: Any, runtime: Any, server: ServerProcess
) -> None:
    nurse = ApiUser(server.url, "nurse2")
    try:
        rows = server_rows(nurse)
        campuses = {c["code"]: c for c in rows["campus"].values()}
        departments = {d["id"]: d for d in rows["department"].values()}
        east = campuses["EAST"]
        assert nurse.campus_id == east["id"]
        doctor = next(
            s
            for s in sorted(rows["staff"].values(), key=lambda s: s["username"])
            if "doctor" in s["roles"]
            and departments[s["department_id"]]["name"] == "儿科"
            and s["campus_id"] == campuses["MAIN"]["id"]
        )
        east_paeds = next(
            d for d in departments.values() if d["campus_id"] == east["id"] and d["name"] == "儿科"
        )
        queue = next(
            q
            for q in rows["queue"].values()
            if q["department_id"] == east_paeds["id"] and q["kind"] == "department"
        )
        patient = sorted(rows["patient"].values(), key=lambda p: p["mrn"] or "")[5]
        outcome = nurse.push_one(
            "queue.check_in", {"id": new_id(), "queue_id": queue["id"], "patient_id": patient["id"]}
        )
        assert outcome["status"] in ("applied", "applied_with_warning"), outcome
    finally:
        nurse.close()
    log_in(runtime, doctor["username"], east["id"])
    assert window.state.campus_id == east["id"]
    window.start()
    qtbot.waitUntil(lambda: window.day.waiting_model.rowCount() == 1, timeout=60_000)
    data = window.day.view_data
    assert data is not None and data.rooms and all(r.campus_id == east["id"] for r in data.rooms)
    assert window.day.waiting_model.row(0).ticket.patient_id == patient["id"]
