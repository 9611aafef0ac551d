"""Signing keys and campuses through the workstation against a real server: a PIN change reseals the key
with the server, an administrator's reset makes the doctor set a new PIN and key (from the server and
from the workstation's admin dialog), and a doctor who logs in at another campus works there."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.domain.entities import SigningKey
from shared.ids import new_id
from shared.security.signing import EncryptedKey, WrongPin, sign
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


def test_a_pin_change_reseals_the_key_and_an_admin_reset_means_a_new_pin_and_key(
    qtbot: QtBot,
    window: Any,
    runtime: Any,
    clinic: Clinic,
    server: ServerProcess,
    answers: dict[str, list[Any]],
) -> None:
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    window.consult.tabs.setCurrentWidget(window.prescribing)
    first = sign_one(qtbot, window, "mtss", "蒙脱石散")
    assert len(answers["new_pin"]) == 1

    # The doctor changes the PIN: same key pair, the sealed copy on the server opens with the new PIN.
    window.change_pin()
    qtbot.waitUntil(lambda: "签名 PIN 已修改" in window.message_line.text(), timeout=20_000)
    wait_synced(qtbot, runtime)
    admin = ApiUser(server.url, "admin")
    try:
        keys = [k for k in server_rows(admin)["signing_key"].values() if k["staff_id"] == clinic.doctor["id"]]
        assert len(keys) == 1 and keys[0]["id"] == first.signing_key_id
        sealed = EncryptedKey.model_validate(keys[0]["sealed_key"])
        assert sign(b"check", sealed, NEW_PIN)
        with pytest.raises(WrongPin):
            sign(b"check", sealed, PIN)

        # An administrator resets (revokes) it: the next signature sets a new PIN and a new key.
        outcome = admin.push_one("signing_key.revoke", {"key_id": keys[0]["id"], "reason": "医生忘记 PIN"})
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
    mine = {k["id"]: k for k in rows["signing_key"].values() if k["staff_id"] == clinic.doctor["id"]}
    assert mine[first.signing_key_id]["revoked_at"] and not mine[second.signing_key_id]["revoked_at"]
    assert rows["rx"][second.id]["status"] == "signed"
    assert rows["rx"][first.id]["status"] == "signed"  # what was signed before the reset stays valid


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
