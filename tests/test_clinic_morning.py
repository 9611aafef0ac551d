"""A short clinic morning through all three apps against one real server (issue 14, "Done means").

Cardiology at the main campus: doctor A (doctor1) works in room 1; doctor B (doctor16) is scheduled in
room 2 but never logs in. The nurse checks in four known patients (one elderly, with a reason) and
registers a fifth by resident ID number. A calls the elderly patient first; the waiting-room display
shows it. The server goes down: the nurse checks in a sixth patient and A finishes and calls the next one
offline; the server comes back and every PC's outbox drains with nothing lost or doubled. A locum of the
department stands in for B in room 2. A signs and prints a prescription; the pharmacist approves it (the
pickup code reaches the patient's slip and phone) and dispenses with that code.

Everything runs in this pytest process: real windows driven with pytest-qt, each PC with its own
ClientRuntime and data folder, one ``clinic server`` process on a copy of the demo database."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import datetime as dt  # noqa: E402
import logging  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from argon2 import PasswordHasher, Type  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402
from sqlalchemy import select  # noqa: E402

from server_stub.config import sqlite_url  # noqa: E402
from server_stub.db.engine import Database  # noqa: E402
from server_stub.db.tables import ENTITY_TABLES  # noqa: E402
from server_stub.services import auth  # noqa: E402
from server_stub.services.clock import utcnow  # noqa: E402
from server_stub.services.entities import bulk_insert  # noqa: E402
from shared.domain.entities import Patient, Queue, QueueTicket, Schedule, Staff  # noqa: E402
from shared.domain.identity import check_char  # noqa: E402
from shared.domain.pickup import parse_pickup_scan  # noqa: E402
from shared.gui.app import ClientRuntime  # noqa: E402
from shared.gui.login import LoginResult  # noqa: E402
from shared.gui.theme import apply_theme  # noqa: E402
from shared.ids import reference_id  # noqa: E402
from shared.printing.escpos_decode import decode  # noqa: E402
from shared.security import JsonFileVerifierStore, OfflineVerifier  # noqa: E402
from shared.site import PrinterSetting, SiteConfig, VoiceSetting  # noqa: E402
from shared.sync.tokens import TokenStore  # noqa: E402
from tests.conftest import copy_sqlite  # noqa: E402
from tests.gui.conftest import save_screenshot  # noqa: E402
from tests.support.api import DEMO_PASSWORD, ApiUser  # noqa: E402
from tests.support.keyring_file import file_keyring  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

log = logging.getLogger(__name__)

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
PIN = "135790"
QUEUE = reference_id("queue", "MAIN-NK-Q")  # 心血管内科候诊
R1, R2, R3 = (reference_id("room", f"MAIN-NK-0{n}") for n in (1, 2, 3))
DOCTOR_A, DOCTOR_B, LOCUM = (reference_id("staff", u) for u in ("doctor1", "doctor16", "locum1"))
WAIT = 30_000


def fresh_id(birth: dt.date, *, male: bool) -> str:
    """A valid resident ID number nobody in the demo data has (region 650109)."""
    body = f"650109{birth:%Y%m%d}07{1 if male else 2}"
    return body + check_char(body)


def add_locum(db_url: str) -> None:
    """The department's locum (a doctor covering for absent colleagues, no schedule of their own), added
    to the server's staff list the way the demo seed adds staff."""
    db = Database.open(db_url, pool_size=1)
    try:
        staff = ENTITY_TABLES["staff"]
        with db.read() as conn:
            row = conn.execute(
                select(staff.c.campus_id, staff.c.department_id).where(staff.c.id == DOCTOR_A)
            ).one()
        locum = Staff(
            id=LOCUM,
            username="locum1",
            name="韩立言",
            roles=["doctor"],
            title="主治医师",
            campus_id=row.campus_id,
            department_id=row.department_id,
            prescribing_rights=["ordinary"],
        )
        with db.write() as conn:
            bulk_insert(conn, [locum])
            auth.set_password(conn, staff_id=LOCUM, password=DEMO_PASSWORD, now=utcnow())
    finally:
        db.dispose()


@dataclass
class Morning:
    """The server and the PCs of the morning."""

    server: ServerProcess
    db_url: str
    folder: Path
    qtbot: QtBot
    runtimes: list[ClientRuntime] = field(default_factory=list)
    windows: list[Any] = field(default_factory=list)

    def runtime(self, app: str, name: str, *, install: bool = False) -> ClientRuntime:
        """A PC's runtime. ``install``: its ops context becomes the process's current one (the first
        PC's until then): the pharmacy desk's screens run their ops on the current context."""
        folder = self.folder / name
        folder.mkdir()
        runtime = ClientRuntime.open(
            app=app,
            server_url=self.server.url,
            data_folder=folder,
            tokens=TokenStore(fallback_file=folder / "tokens.bin"),
            verifier=OfflineVerifier(JsonFileVerifierStore(folder / "verifiers.json"), hasher=FAST),
            timeout=5.0,
            engine_options={"long_poll_seconds": 2.0, "backoff_base": 0.2, "backoff_max": 1.0},
            install=install or not self.runtimes,
        )
        self.runtimes.append(runtime)
        return runtime

    def log_in(self, runtime: ClientRuntime, username: str) -> None:
        staff = runtime.engine.login(username, DEMO_PASSWORD)
        session = runtime.store.session()
        assert session is not None
        runtime.current = LoginResult(staff, session.campus_id, False)
        runtime.start_sync()
        self.qtbot.waitUntil(
            lambda: runtime.store.cursor() is not None and not runtime.store.needs_bootstrap(), timeout=90_000
        )

    def drained(self) -> bool:
        for runtime in self.runtimes:
            runtime.network.wake()
        return all(r.store.pending_count() == 0 for r in self.runtimes)


@pytest.fixture
def morning(
    demo_template: Path, tmp_path: Path, qapp: QApplication, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Morning]:
    apply_theme(qapp, "zh_CN")
    monkeypatch.setenv("CLINIC_USER_CONFIG", str(tmp_path / "user.toml"))
    db_url = sqlite_url(copy_sqlite(demo_template, tmp_path / "demo.db"))
    add_locum(db_url)
    server = ServerProcess(db_url, tmp_path / "server.log").start()
    with file_keyring(tmp_path / "keyring.json"):  # this process's OS key store (signing keys, tokens)
        day = Morning(server, db_url, tmp_path / "pcs", qtbot)
        day.folder.mkdir()
        try:
            yield day
        finally:
            for window in reversed(day.windows):
                controller = getattr(window, "controller", None)
                if controller is not None:
                    controller.stop()
                window.close()
            qtbot.wait(200)
            for runtime in reversed(day.runtimes):
                runtime.shutdown()
            day.server.stop()


def answer_dialogs(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """The modal questions, answered as the doctor and the pharmacist would (and counted)."""
    from pharmacy_desk.dialogs import PinDialog as DeskPinDialog
    from workstation.dialogs import NewPinDialog, PinDialog
    from workstation.screens.consult import UnsignedNoteDialog

    asked: dict[str, list[Any]] = {"pin": [], "unsigned": []}

    def pin(cls: Any, parent: Any = None, **kw: Any) -> str:
        asked["pin"].append(cls.__name__)
        return PIN

    def unsigned(cls: Any, parent: Any = None, **kw: Any) -> str:
        asked["unsigned"].append(kw.get("patient"))
        return "finish"

    for dialog in {NewPinDialog, PinDialog, DeskPinDialog}:
        monkeypatch.setattr(dialog, "ask", classmethod(pin))
    monkeypatch.setattr(UnsignedNoteDialog, "ask", classmethod(unsigned))
    return asked


def workstation(day: Morning, name: str, username: str, room_code: str) -> Any:
    from workstation.state import WorkState
    from workstation.window import WorkstationWindow

    runtime = day.runtime("workstation", name)
    printed = day.folder / name / "printed"
    site = SiteConfig(
        server_url=day.server.url,
        rooms=[room_code],  # the PC stands in this room
        printers={
            "prescription": PrinterSetting(target=f"file:{printed}", paper="A5"),
            "visit_note": PrinterSetting(target=f"file:{printed}", paper="A4"),
        },
    )
    state = WorkState(runtime, site=site, data_folder=day.folder / name, lang="zh_CN")
    window = WorkstationWindow(state)
    day.qtbot.addWidget(window)
    day.windows.append(window)
    window.resize(1366, 768)
    window.show()
    day.log_in(runtime, username)
    window.start()
    return window


def duty_of(runtime: ClientRuntime, room: str) -> str | None:
    queue = runtime.store.get(Queue, QUEUE)
    duty = queue.staffed_rooms.get(room) if queue else None
    return duty.doctor_id if duty else None


def server_rows(url: str, username: str = "nurse1") -> dict[str, dict[str, dict[str, Any]]]:
    user = ApiUser(url, username)
    try:
        changes, _cursor = user.pull_all()
    finally:
        user.close()
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for change in changes:
        rows.setdefault(change["kind"], {})[change["id"]] = change["data"]
    return rows


def slip_texts(path: Path) -> list[list[str]]:
    """The ticket slips printed so far, one list of lines each (the bytes split at the paper cuts)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    try:
        cuts = [c.offset for c in decode(data).named("cut")]
    except ValueError:  # a slip still being written
        return []
    starts = [0, *cuts]
    return [decode(data[a:b]).lines for a, b in zip(starts, cuts, strict=False)]


def press(qtbot: QtBot, window: Any, key: Qt.Key) -> None:
    """A key pressed at this PC: its window is the active one (several apps share this process)."""
    window.raise_()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT)
    qtbot.keyClick(window, key)


def instant(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def calls_of(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in ticket["events"] if e["kind"] == "call"]


def test_a_clinic_morning_through_all_three_apps(
    morning: Morning, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pharmacy_desk.desk import DeskState, PharmacyWindow
    from tests.triage.conftest import Pc
    from tests.triage.test_desk_flow import choose, open_desk, search_for
    from tests.workstation.test_consult_with_server import acknowledge_warnings, add_drug, pdf_text
    from triage_desk import model
    from triage_desk.display import DisplayController, DisplayWindow
    from triage_desk.state import TriageState

    day = morning
    asked = answer_dialogs(monkeypatch)

    # -- 1. Morning: doctor A opens room 1; doctor B (scheduled in room 2) is not here ---------------
    ws_a = workstation(day, "ws-a", "doctor1", "MAIN-NK-01")
    a_runtime = ws_a.state.runtime
    qtbot.waitUntil(lambda: duty_of(a_runtime, R1) == DOCTOR_A, timeout=WAIT)
    store_a = a_runtime.store
    today = ws_a.state.today()
    b_schedules = [s for s in store_a.find(Schedule, doctor_id=DOCTOR_B, date=today) if not s.voided]
    assert b_schedules and {s.room_id for s in b_schedules} == {R2}, "B is scheduled in room 2 today"

    # The nurse's desk (slot 1, slips to a file) and the waiting-room display.
    nurse_rt = day.runtime("triage", "triage")
    nurse_rt.engine.desk_slot_request = 1  # the desk asks the server for its numbering slot at login
    day.log_in(nurse_rt, "nurse1")
    prints = day.folder / "triage" / "prints"
    nurse_state = TriageState(
        nurse_rt,
        site=SiteConfig(
            server_url=day.server.url,
            queue_desk_slot=1,
            printers={"ticket": PrinterSetting(target=f"file:{prints}/tickets.bin", paper="80mm")},
            voice=VoiceSetting(engine="none"),
        ),
        lang="zh_CN",
    )

    desk = open_desk(qtbot, Pc(nurse_rt, nurse_state, prints, day.windows))
    screen = desk.check_in

    display_rt = day.runtime("display", "display")
    day.log_in(display_rt, "nurse3")
    display_state = TriageState(
        display_rt,
        site=SiteConfig(server_url=day.server.url, voice=VoiceSetting(engine="none")),
        lang="zh_CN",
    )
    hospital = model.hospital_name(display_rt.store, display_state.campus_id)
    display = DisplayWindow("zh_CN", english=False, hospital=hospital)
    controller = DisplayController(display_state, display, announcer=None)
    display.controller = controller  # type: ignore[attr-defined]
    qtbot.addWidget(display)
    day.windows.append(display)
    display.resize(1366, 768)
    display.show()
    with qtbot.waitSignal(controller.sig_refreshed, timeout=WAIT):
        controller.refresh()

    # Four known patients: three under 60, and one over 76 checked in last, as elderly priority.
    store_n = nurse_rt.store
    qtbot.waitUntil(lambda: duty_of(nurse_rt, R1) == DOCTOR_A, timeout=WAIT)
    patients = sorted(store_n.all(Patient), key=lambda p: p.mrn or "")
    young = [p for p in patients if p.birth_date and p.birth_date.year > today.year - 60 and not p.allergies][
        :3
    ]
    elderly = next(p for p in patients if p.birth_date and p.birth_date.year < today.year - 76)
    assert len(young) == 3

    def slips() -> list[list[str]]:
        return slip_texts(prints / "tickets.bin")

    def check_in(patient: Patient, priority: str = "normal", reason: str = "") -> QueueTicket:
        before = len(slips())
        search_for(qtbot, desk, patient.name, patient.id)
        choose(screen.queue_combo, QUEUE)
        choose(screen.priority_combo, priority)
        screen.reason_edit.clear()
        if reason:
            screen.reason_edit.insert(reason)
        qtbot.mouseClick(screen.check_in_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(slips()) == before + 1, timeout=WAIT)
        (ticket,) = store_n.find(QueueTicket, patient_id=patient.id, day=today)
        return ticket

    tickets: dict[str, QueueTicket] = {}
    for patient in young:
        tickets[patient.id] = check_in(patient)
    tickets[elderly.id] = check_in(elderly, "elderly", "82岁，行动不便")

    # The fifth registers by resident ID number: sex and birth date come from the number.
    id_number = fresh_id(dt.date(1991, 3, 14), male=False)
    qtbot.mouseClick(screen.register_button, Qt.MouseButton.LeftButton)
    dialog = screen.register_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.name_edit.setText("欧阳晓梅")
    qtbot.keyClicks(dialog.id_edit, id_number)
    assert dialog.sex() == "F" and dialog.birth_edit.text() == "1991-03-14"
    dialog.phone_edit.setText("13912340011")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
    new_id = (dialog.values_sent or {})["id"]
    registered = store_n.get(Patient, new_id)
    assert registered is not None and registered.id_number == id_number
    assert (registered.sex, registered.birth_date) == ("F", dt.date(1991, 3, 14))
    qtbot.waitUntil(
        lambda: screen.selected() is not None and screen.selected().patient.id == new_id,  # type: ignore[union-attr]
        timeout=WAIT,
    )
    choose(screen.queue_combo, QUEUE)
    choose(screen.priority_combo, "normal")
    before = len(slips())
    qtbot.mouseClick(screen.check_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(slips()) == before + 1, timeout=WAIT)
    (tickets[new_id],) = store_n.find(QueueTicket, patient_id=new_id, day=today)

    # Every slip names the department and the queue and no room (the door follows who is at work).
    queue = store_n.get(Queue, QUEUE)
    assert queue is not None
    printed = slips()
    assert len(printed) == 5
    for ticket, slip in zip(tickets.values(), printed, strict=True):
        assert ticket.label in slip and "心血管内科" in slip and queue.name in slip, slip
        assert "诊室：叫号时显示" in slip, slip
        assert not any(line.startswith("诊室：心血管内科") for line in slip), slip
    assert tickets[elderly.id].priority == "elderly"

    # On the server: all five wait, at room 1's door or in the common queue, none parked at empty room 2.
    qtbot.waitUntil(day.drained, timeout=60_000)
    nurse = ApiUser(day.server.url, "nurse3")
    try:
        listing = nurse.http.get(f"/api/v1/queue/{QUEUE}").json()
    finally:
        nurse.close()
    assert {w["ticket_id"] for w in listing["waiting"]} == {t.id for t in tickets.values()}
    assert {w["room_id"] for w in listing["waiting"]} <= {R1, None}
    assert set(listing["doors"]) <= {R1}
    assert listing["queue"]["working_rooms"] == [R1]

    # -- 2. Doctor A presses F5: the elderly patient first -----------------------------------------
    wd_a = ws_a.day
    ids = {t.id for t in tickets.values()}
    qtbot.waitUntil(lambda: {r.ticket.id for r in wd_a.waiting_model.rows()} == ids, timeout=60_000)
    assert wd_a.waiting_model.row(0).ticket.id == tickets[elderly.id].id
    press(qtbot, ws_a, Qt.Key.Key_F5)
    first = tickets[elderly.id].id
    qtbot.waitUntil(lambda: store_a.get(QueueTicket, first).status == "called", timeout=WAIT)  # type: ignore[union-attr]
    call = calls_of(store_a.get(QueueTicket, first).model_dump(mode="json"))[-1]  # type: ignore[union-attr]
    assert call["by"] == DOCTOR_A and call["room_id"] == R1
    # The display hears of it through the server and shows the number at room 1.
    qtbot.waitUntil(lambda: any(c.ticket_id == first for c in controller.announced), timeout=60_000)
    shown = next(c for c in controller.announced if c.ticket_id == first)
    assert shown.room_id == R1 and shown.label == tickets[elderly.id].label
    qtbot.waitUntil(
        lambda: any(
            len(row) == 3 and row[0].text() == shown.room_name and row[1].text() == shown.label
            for row in display._room_rows
        ),
        timeout=WAIT,
    )

    # -- 3. Outage: the server stops; the desk and the doctor go on ----------------------------------
    qtbot.waitUntil(day.drained, timeout=60_000)
    port = day.server.port
    day.server.stop()
    down_at = dt.datetime.now(dt.UTC)
    sixth = next(
        p
        for p in patients
        if p.id not in tickets and p.birth_date and p.birth_date.year > today.year - 60 and not p.allergies
    )
    tickets[sixth.id] = check_in(sixth)  # searched, checked in and printed offline
    assert len(slips()) == 6
    # A starts the elderly patient's visit, finishes it (no note: the reminder is answered), calls on.
    press(qtbot, ws_a, Qt.Key.Key_F8)
    qtbot.waitUntil(lambda: ws_a.consult.data is not None, timeout=WAIT)
    assert ws_a.consult.data.patient.id == elderly.id
    press(qtbot, ws_a, Qt.Key.Key_F9)
    qtbot.waitUntil(lambda: store_a.get(QueueTicket, first).status == "done", timeout=WAIT)  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: first not in {r.ticket.id for r in wd_a.waiting_model.rows()}, timeout=WAIT)
    qtbot.waitUntil(
        lambda: (
            any(r.ticket.id == tickets[sixth.id].id for r in wd_a.waiting_model.rows())
            or wd_a.waiting_model.rowCount() == 4
        ),
        timeout=WAIT,
    )
    press(qtbot, ws_a, Qt.Key.Key_F5)

    def called_by(runtime: ClientRuntime, room: str) -> list[QueueTicket]:
        return [
            t
            for t in runtime.store.find(QueueTicket, queue_id=QUEUE, day=today)
            if t.status == "called" and t.called_room_id == room
        ]

    qtbot.waitUntil(lambda: len(called_by(a_runtime, R1)) == 1, timeout=WAIT)
    (second,) = called_by(a_runtime, R1)
    assert second.id != first
    up_at = dt.datetime.now(dt.UTC)
    assert store_a.pending_count() > 0 and store_n.pending_count() > 0, (
        "kept locally while the server is down"
    )

    # The server comes back on the same database and port; every PC's outbox drains.
    day.server = ServerProcess(day.db_url, day.folder.parent / "server-2.log", port=port).start()
    qtbot.waitUntil(day.drained, timeout=90_000)
    for runtime in day.runtimes:
        assert runtime.store.needs_attention_count() == 0, [
            (e.name, e.message) for e in runtime.store.needs_attention()
        ]
    rows = server_rows(day.server.url)
    on_server = {
        i: t
        for i, t in rows["queue_ticket"].items()
        if t["queue_id"] == QUEUE and t["day"] == today.isoformat()
    }
    assert set(on_server) == {t.id for t in tickets.values()}, "no ticket lost, none doubled"
    labels = [t["label"] for t in on_server.values()]
    assert len(set(labels)) == len(labels) == 6
    assert on_server[tickets[sixth.id].id]["label"] == tickets[sixth.id].label, "not renumbered"
    assert on_server[first]["status"] == "done"
    offline_call = calls_of(on_server[second.id])[-1]
    assert offline_call["by"] == DOCTOR_A and offline_call["room_id"] == R1
    occurred = instant(offline_call["occurred_at"])
    assert down_at <= occurred <= up_at, (down_at, occurred, up_at)

    # -- 4. A locum stands in for B in room 2 ---------------------------------------------------------
    ws_c = workstation(day, "ws-c", "locum1", "MAIN-NK-03")
    c_runtime = ws_c.state.runtime
    wd_c = ws_c.day
    qtbot.waitUntil(lambda: duty_of(c_runtime, R3) == LOCUM, timeout=WAIT)
    combo = wd_c.room_combo
    qtbot.waitUntil(lambda: combo.findData(R2) >= 0, timeout=WAIT)
    assert combo.itemText(combo.findData(R2)) == "心血管内科2诊室（代诊）"
    qtbot.waitUntil(  # room 1 says who works there, once this new PC has A's room duty
        lambda: "付杰" in combo.itemText(combo.findData(R1)), timeout=WAIT
    )
    combo.setCurrentIndex(combo.findData(R2))
    qtbot.waitUntil(lambda: duty_of(c_runtime, R2) == LOCUM and duty_of(c_runtime, R3) is None, timeout=WAIT)
    qtbot.waitUntil(
        lambda: (
            wd_c.view_data is not None
            and wd_c.view_data.duty.get(R2) == LOCUM
            and wd_c.waiting_model.rowCount() > 0
            and "F5 将呼叫" in wd_c.next_label.text()
        ),
        timeout=WAIT,
    )
    press(qtbot, ws_c, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: len(called_by(c_runtime, R2)) == 1, timeout=WAIT)
    (third,) = called_by(c_runtime, R2)
    assert third.id not in (first, second.id)
    assert calls_of(third.model_dump(mode="json"))[-1]["by"] == LOCUM

    # -- 5. Doctor A writes, signs and prints a prescription ------------------------------------------
    wd_a.reload()
    qtbot.waitUntil(
        lambda: any(r.ticket.id == second.id and r.ticket.status == "called" for r in wd_a.seen_model.rows()),
        timeout=WAIT,
    )
    press(qtbot, ws_a, Qt.Key.Key_F8)
    qtbot.waitUntil(
        lambda: ws_a.consult.data is not None and ws_a.consult.data.patient.id == second.patient_id,
        timeout=WAIT,
    )
    qtbot.waitUntil(
        lambda: ws_a.prescribing.formulary is not None and bool(ws_a.prescribing.formulary.frequencies),
        timeout=WAIT,
    )
    rx = ws_a.prescribing
    ws_a.consult.tabs.setCurrentWidget(rx)
    add_drug(qtbot, ws_a, "盐酸氨溴", "盐酸氨溴索片")
    acknowledge_warnings(ws_a)
    assert rx.sign_button.isEnabled()
    with qtbot.waitSignal(rx.sig_signed, timeout=60_000) as signed:
        press(qtbot, ws_a, Qt.Key.Key_F10)
    (prescription,) = signed.args[0]
    assert prescription.status == "signed" and "NewPinDialog" in asked["pin"]
    qtbot.waitUntil(lambda: "处方已打印" in ws_a.message_line.text(), timeout=WAIT)
    (pdf,) = (day.folder / "ws-a" / "printed").glob("prescription-*.pdf")
    text = pdf_text(pdf)
    patient = store_a.get(Patient, second.patient_id)
    doctor_a = store_a.get(Staff, DOCTOR_A)
    assert patient is not None and doctor_a is not None
    assert prescription.number in text and patient.name in text and "盐酸氨溴索片" in text
    assert doctor_a.name in text
    if patient.allergies:
        assert all(a in text for a in patient.allergies), text
    else:
        assert ("无已知过敏" if patient.allergy_status == "none" else "未询问") in text, text
    qtbot.waitUntil(day.drained, timeout=60_000)

    # -- 6. The pharmacist approves; the pickup code reaches the patient; dispensed with the code ------
    desk_folder = day.folder / "pharmacy"
    pharmacy_rt = day.runtime("pharmacy", "pharmacy")
    receipts = desk_folder / "prints"
    printers = {
        k: PrinterSetting(target=f"file:{receipts}") for k in ("prescription", "drug_label", "report")
    }
    printers["receipt"] = PrinterSetting(target=f"file:{receipts}/receipt.bin", paper="80mm")
    pharmacy_state = DeskState(
        pharmacy_rt,
        site=SiteConfig(server_url=day.server.url, pharmacy="MAIN-WY", printers=printers),  # type: ignore[arg-type]
        data_folder=desk_folder,
        lang="zh_CN",
    )
    pharmacy = PharmacyWindow(pharmacy_state)
    qtbot.addWidget(pharmacy)
    day.windows.append(pharmacy)
    day.log_in(pharmacy_rt, "pharmacist1")
    pharmacy.load_pharmacies()
    qtbot.waitUntil(lambda: pharmacy_state.pharmacy_id != "", timeout=WAIT)
    pharmacy.resize(1366, 768)
    pharmacy.show()
    review = pharmacy.review
    qtbot.waitUntil(lambda: review.select(prescription.id), timeout=60_000)
    qtbot.waitUntil(
        lambda: review.detail is not None and review.detail.rx.id == prescription.id, timeout=WAIT
    )
    assert review.detail is not None and review.detail.signature.ok
    qtbot.mouseClick(review.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: prescription.id in review.queue.ids("approved"), timeout=WAIT)
    code = review.last_outcome.pickup_code
    assert len(code) == 6

    def receipt_text() -> str:
        try:
            return decode((receipts / "receipt.bin").read_bytes()).text
        except (OSError, ValueError):
            return ""

    qtbot.waitUntil(lambda: "取药凭条" in receipt_text(), timeout=WAIT)
    assert " ".join(code) in receipt_text() and prescription.number in receipt_text()
    pickup_slip = decode((receipts / "receipt.bin").read_bytes())
    assert parse_pickup_scan(pickup_slip.qr_payloads[-1]) == (prescription.id, code)
    assert patient.name not in pickup_slip.text, "the name is masked on the slip"
    qtbot.waitUntil(  # the pharmacist's last word after the approval: where the code went
        lambda: code in pharmacy.message_line.text() and "取药凭条" in pharmacy.message_line.text(),
        timeout=WAIT,
    )
    # The text message: the pharmacist's PC holds the patient's phone (pharmacists need it for this), so
    # the code is texted too (the SMS adapter's local stub writes its outbox); without a phone, the desk
    # never claims it was.
    outbox = desk_folder / "sms" / "outbox.jsonl"
    texted = lambda: outbox.exists() and code in outbox.read_text(encoding="utf-8")  # noqa: E731
    log.info("pickup code texted: %s (%s)", texted(), pharmacy.message_line.text())
    assert patient is not None
    if patient.phone:
        qtbot.waitUntil(texted, timeout=WAIT)
        assert patient.phone in outbox.read_text(encoding="utf-8")
    else:
        assert not texted() and "短信发送至" not in pharmacy.message_line.text()

    pharmacy.open_for_dispensing(prescription.number)
    dispense = pharmacy.dispense
    qtbot.waitUntil(
        lambda: dispense.plan is not None and dispense.plan.rx.id == prescription.id, timeout=WAIT
    )
    dispense.code_edit.setText(code)
    qtbot.mouseClick(dispense.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dispense.verified_code == code, timeout=WAIT)
    with qtbot.waitSignal(dispense.sig_dispensed, timeout=WAIT) as dispensed:
        qtbot.keyClick(dispense, Qt.Key.Key_F9)
    assert dispensed.args[0].complete
    qtbot.waitUntil(day.drained, timeout=60_000)
    final = server_rows(day.server.url, "pharmacist1")
    assert final["rx"][prescription.id]["status"] == "dispensed"

    # -- 7. Who was called when, and by whom ----------------------------------------------------------
    names = {DOCTOR_A: "doctor1", LOCUM: "locum1"}
    queue_rows = {
        i: t
        for i, t in final["queue_ticket"].items()
        if t["queue_id"] == QUEUE and t["day"] == today.isoformat()
    }
    calls = sorted(
        (
            (
                instant(e.get("occurred_at") or e["at"]),
                t["label"],
                names.get(e["by"], e["by"]),
                e["room_id"],
                i,
            )
            for i, t in queue_rows.items()
            for e in calls_of(t)
        ),
    )
    rooms = {R1: "心血管内科1诊室", R2: "心血管内科2诊室"}
    for when, label, by, room, _ticket in calls:
        offline = " (server down)" if down_at <= when <= up_at else ""
        log.info("call %s at %s by %s to %s%s", label, when.isoformat(), by, rooms.get(room, room), offline)
    assert [(c[4], c[2], c[3]) for c in calls] == [
        (first, "doctor1", R1),
        (second.id, "doctor1", R1),
        (third.id, "locum1", R2),
    ]
    assert on_server[first]["priority"] == "elderly"

    # The end of the morning, as each app shows it.
    for window, name in (
        (desk, "triage"),
        (display, "display"),
        (ws_a, "workstation"),
        (ws_c, "workstation_stand_in"),
        (pharmacy, "pharmacy"),
    ):
        window.resize(1366, 768)
        qtbot.wait(100)
        save_screenshot(window, f"morning_{name}_1366x768")
