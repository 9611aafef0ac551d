"""A clinic on its hub with the WAN link cut (issue 15, "A GUI test"): the triage desk, a workstation,
the waiting-room display and the pharmacy desk, each a PC of its own with ``server_url = [hub, central]``,
logged in through the hub while the link was up. With the central API unreachable (from the hub and from
the PCs), the nurse checks a patient in; the doctor sees the patient and calls; the display shows the call
and the announcer speaks it (rendered to a WAV); the doctor signs a prescription; the pharmacy desk lists
it with its signature verified and the pharmacist approves it. The link returns and everything
reaches the central API, once.

Everything runs in this pytest process (real windows driven with pytest-qt, each PC with its own
ClientRuntime and data folder) against a real ``clinic server`` process and a real ``clinic hub`` process
whose upstream is a TCP relay the test cuts."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc  # noqa: E402
import wave  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from shared.audio import Announcer, Composer, ComposeSettings, FilePlayer, VoicePack  # noqa: E402
from shared.domain.entities import Patient, Queue, QueueTicket  # noqa: E402
from shared.gui.app import ClientRuntime  # noqa: E402
from shared.gui.login import LoginResult  # noqa: E402
from shared.gui.theme import apply_theme  # noqa: E402
from shared.ids import reference_id  # noqa: E402
from shared.printing.escpos_decode import decode  # noqa: E402
from shared.security import JsonFileVerifierStore, OfflineVerifier  # noqa: E402
from shared.site import PrinterSetting, SiteConfig, VoiceSetting  # noqa: E402
from shared.sync.tokens import TokenStore  # noqa: E402
from tests.gui.conftest import save_screenshot  # noqa: E402
from tests.support.api import DEMO_PASSWORD  # noqa: E402
from tests.support.hub import CutLink, HubProcess  # noqa: E402
from tests.support.keyring_file import file_keyring  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from tests.test_clinic_morning import FAST, PIN, answer_dialogs, calls_of, press, server_rows, slip_texts  # noqa: E402

pytest.importorskip("server_stub.api.routes.hub", reason="needs the central API's hub routes")

from tests.hub.test_hub_relay import enrol  # noqa: E402

QUEUE = reference_id("queue", "MAIN-NK-Q")  # 心血管内科候诊
R1 = reference_id("room", "MAIN-NK-01")
DOCTOR = reference_id("staff", "doctor1")
WAIT = 60_000
LAN_DOWN = "中心服务器不可达，本院内网共享中"


@dataclass
class HubClinic:
    """The central API, its hub, the hub's WAN link and the PCs' own route to the central API."""

    central: ServerProcess
    hub: HubProcess
    wan: CutLink  # hub -> central
    direct: CutLink  # PCs -> central (the clinic's WAN too)
    folder: Path
    qtbot: QtBot
    runtimes: list[ClientRuntime] = field(default_factory=list)
    windows: list[Any] = field(default_factory=list)

    @property
    def servers(self) -> list[str]:
        return [self.hub.url, self.direct.url]

    def runtime(self, app: str, name: str) -> ClientRuntime:
        folder = self.folder / name
        folder.mkdir()
        runtime = ClientRuntime.open(
            app=app,
            server_url=self.servers,
            data_folder=folder,
            tokens=TokenStore(fallback_file=folder / "tokens.bin"),
            verifier=OfflineVerifier(JsonFileVerifierStore(folder / "verifiers.json"), hasher=FAST),
            timeout=5.0,
            engine_options={"long_poll_seconds": 2.0, "backoff_base": 0.2, "backoff_max": 1.0},
            install=not self.runtimes,
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
            lambda: runtime.store.cursor() is not None and not runtime.store.needs_bootstrap(),
            timeout=120_000,
        )

    def cut(self) -> None:
        self.wan.cut()
        self.direct.cut()
        self.hub.wait_upstream(False, timeout=60)

    def restore(self) -> None:
        self.wan.restore()
        self.direct.restore()
        self.hub.wait_upstream(True, timeout=60)

    def drained(self) -> bool:
        for runtime in self.runtimes:
            runtime.network.wake()
        return all(r.store.pending_count() == 0 for r in self.runtimes)


@pytest.fixture
def hub_clinic(
    server: ServerProcess, tmp_path: Path, qapp: QApplication, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HubClinic]:
    apply_theme(qapp, "zh_CN")
    monkeypatch.setenv("CLINIC_USER_CONFIG", str(tmp_path / "user.toml"))
    wan = CutLink(server.port)
    direct = CutLink(server.port)
    hub = HubProcess(wan.url, tmp_path / "hub.db", tmp_path / "hub.log", credential=enrol(server)).start()
    with file_keyring(tmp_path / "keyring.json"):
        clinic = HubClinic(server, hub, wan, direct, tmp_path / "pcs", qtbot)
        clinic.folder.mkdir()
        try:
            hub.wait_upstream(True)
            yield clinic
        finally:
            for window in reversed(clinic.windows):
                controller = getattr(window, "controller", None)
                if controller is not None:
                    controller.stop()
                window.close()
            qtbot.wait(200)
            for runtime in reversed(clinic.runtimes):
                runtime.shutdown()
            clinic.windows.clear()
            clinic.runtimes.clear()
            # The windows' Qt objects are freed here, on the GUI thread, not by a collection that a
            # later test's worker thread happens to trigger (which crashes Qt).
            gc.collect()
            hub.stop()
            wan.close()
            direct.close()


def status_text(window: Any) -> str:
    return str(window.statusBar().state_label.text())


def test_the_clinic_works_on_its_hub_with_the_central_api_unreachable(
    hub_clinic: HubClinic, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pharmacy_desk.desk import DeskState, PharmacyWindow
    from tests.triage.conftest import Pc
    from tests.triage.test_desk_flow import choose, open_desk, search_for
    from tests.workstation.test_consult_with_server import acknowledge_warnings, add_drug
    from triage_desk import model
    from triage_desk.display import DisplayController, DisplayWindow
    from triage_desk.state import TriageState
    from workstation.sign_flow import with_key
    from workstation.state import WorkState
    from workstation.window import WorkstationWindow

    clinic = hub_clinic
    answer_dialogs(monkeypatch)

    # -- Morning, link up: every PC logs in through the hub (which keeps their verifiers) ------------
    ws_rt = clinic.runtime("workstation", "ws")
    ws_site = SiteConfig(
        server_url=clinic.servers,
        rooms=["MAIN-NK-01"],
        printers={
            "prescription": PrinterSetting(target=f"file:{clinic.folder / 'ws' / 'printed'}", paper="A5"),
            "visit_note": PrinterSetting(target=f"file:{clinic.folder / 'ws' / 'printed'}", paper="A4"),
        },
    )
    ws = WorkstationWindow(WorkState(ws_rt, site=ws_site, data_folder=clinic.folder / "ws", lang="zh_CN"))
    qtbot.addWidget(ws)
    clinic.windows.append(ws)
    ws.resize(1366, 768)
    ws.show()
    clinic.log_in(ws_rt, "doctor1")
    ws.start()

    def duty(runtime: ClientRuntime) -> str | None:
        queue = runtime.store.get(Queue, QUEUE)
        room = queue.staffed_rooms.get(R1) if queue else None
        return room.doctor_id if room else None

    qtbot.waitUntil(lambda: duty(ws_rt) == DOCTOR, timeout=WAIT)
    # The doctor's signing key on this PC: only the central API confirms a key (a hub never vouches
    # for one), so it is registered while the link is up, as on any day before the outage. The app's
    # own flow: a new PIN (answered), the key made on this PC, pushed, confirmed.
    ready: list[str] = []
    with_key(ws, ws.state, "test", lambda _signer, key_id, _pin: ready.append(key_id))
    qtbot.waitUntil(lambda: bool(ready), timeout=WAIT)

    nurse_rt = clinic.runtime("triage", "triage")
    nurse_rt.engine.desk_slot_request = 1
    clinic.log_in(nurse_rt, "nurse1")
    prints = clinic.folder / "triage" / "prints"
    nurse_state = TriageState(
        nurse_rt,
        site=SiteConfig(
            server_url=clinic.servers,
            queue_desk_slot=1,
            printers={"ticket": PrinterSetting(target=f"file:{prints}/tickets.bin", paper="80mm")},
            voice=VoiceSetting(engine="none"),
        ),
        lang="zh_CN",
    )
    desk = open_desk(qtbot, Pc(nurse_rt, nurse_state, prints, clinic.windows))
    desk.resize(1366, 768)
    qtbot.waitUntil(lambda: duty(nurse_rt) == DOCTOR, timeout=WAIT)

    display_rt = clinic.runtime("display", "display")
    clinic.log_in(display_rt, "nurse3")
    display_state = TriageState(
        display_rt,
        site=SiteConfig(server_url=clinic.servers, voice=VoiceSetting(engine="none")),
        lang="zh_CN",
    )
    display = DisplayWindow(
        "zh_CN", english=False, hospital=model.hospital_name(display_rt.store, display_state.campus_id)
    )
    player = FilePlayer(tmp_path / "played")
    announcer = Announcer(Composer(VoicePack.default(), ComposeSettings(repeat=1)), player)
    controller = DisplayController(display_state, display, announcer=announcer)
    display.controller = controller  # type: ignore[attr-defined]
    qtbot.addWidget(display)
    clinic.windows.append(display)
    display.resize(1366, 768)
    display.show()
    with qtbot.waitSignal(controller.sig_refreshed, timeout=WAIT):
        controller.refresh()

    pharmacy_rt = clinic.runtime("pharmacy", "pharmacy")
    receipts = clinic.folder / "pharmacy" / "prints"
    printers = {
        k: PrinterSetting(target=f"file:{receipts}") for k in ("prescription", "drug_label", "report")
    }
    printers["receipt"] = PrinterSetting(target=f"file:{receipts}/receipt.bin", paper="80mm")
    pharmacy_state = DeskState(
        pharmacy_rt,
        site=SiteConfig(server_url=clinic.servers, pharmacy="MAIN-WY", printers=printers),  # type: ignore[arg-type]
        data_folder=clinic.folder / "pharmacy",
        lang="zh_CN",
    )
    pharmacy = PharmacyWindow(pharmacy_state)
    qtbot.addWidget(pharmacy)
    clinic.windows.append(pharmacy)
    clinic.log_in(pharmacy_rt, "pharmacist1")
    pharmacy.load_pharmacies()
    qtbot.waitUntil(lambda: pharmacy_state.pharmacy_id != "", timeout=WAIT)
    pharmacy.resize(1366, 768)
    pharmacy.show()
    # The pharmacist's signing key on this PC (a review is signed too), registered while the link is up
    # with the desk's own key functions, on its database worker: the PIN the dialogs answer.
    from pharmacy_desk.keys import create_key, find_key

    pharmacist = pharmacy_state.staff
    assert pharmacist is not None
    made: list[object] = []
    pharmacy_rt.context.db.submit(
        lambda store: create_key(store, pharmacy_state.keys, pharmacist.id, PIN, "zh_CN"),
        on_success=made.append,
    )
    qtbot.waitUntil(lambda: bool(made), timeout=WAIT)
    key_states: list[str] = []

    def pharmacist_key_ready() -> bool:
        pharmacy_rt.network.wake()
        pharmacy_rt.context.db.submit(
            lambda store: find_key(store, pharmacy_state.keys, pharmacist.id, "zh_CN"),
            on_success=lambda status: key_states.append(status.state),
        )
        return bool(key_states) and key_states[-1] == "ready"

    qtbot.waitUntil(pharmacist_key_ready, timeout=WAIT)

    def says(window: Any, text: str) -> Callable[[], bool]:
        return lambda: text in status_text(window)

    for window in (ws, desk, pharmacy):
        qtbot.waitUntil(says(window, "经本院中转服务器"), timeout=WAIT)

    # -- The WAN link goes down: neither the hub nor the PCs reach the central API --------------------
    clinic.cut()
    for window in (ws, desk, pharmacy):
        qtbot.waitUntil(says(window, LAN_DOWN), timeout=WAIT)

    # The nurse checks a patient in at the desk; the slip prints.
    today = ws.state.today()
    store_n = nurse_rt.store
    patient = next(
        p
        for p in sorted(store_n.all(Patient), key=lambda p: p.mrn or "")
        if p.birth_date and not p.allergies and not store_n.find(QueueTicket, patient_id=p.id, day=today)
    )
    screen = desk.check_in
    search_for(qtbot, desk, patient.name, patient.id)
    choose(screen.queue_combo, QUEUE)
    choose(screen.priority_combo, "normal")
    qtbot.mouseClick(screen.check_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(slip_texts(prints / "tickets.bin")) == 1, timeout=WAIT)
    (ticket,) = store_n.find(QueueTicket, patient_id=patient.id, day=today)
    assert ticket.label in slip_texts(prints / "tickets.bin")[0]

    # The doctor sees the patient in the workstation's list (through the hub) and calls (F5).
    wd = ws.day
    qtbot.waitUntil(lambda: ticket.id in {r.ticket.id for r in wd.waiting_model.rows()}, timeout=WAIT)
    qtbot.waitUntil(lambda: "F5 将呼叫" in wd.next_label.text(), timeout=WAIT)
    assert wd.waiting_model.row(0).ticket.id == ticket.id  # the only one waiting
    press(qtbot, ws, Qt.Key.Key_F5)
    store_w = ws_rt.store
    qtbot.waitUntil(
        lambda: any(
            t.status == "called" and t.called_room_id == R1
            for t in store_w.find(QueueTicket, queue_id=QUEUE, day=today)
        ),
        timeout=WAIT,
    )
    called = next(
        t
        for t in store_w.find(QueueTicket, queue_id=QUEUE, day=today)
        if t.status == "called" and t.called_room_id == R1
    )

    # The display shows the call and the announcer speaks it (a real WAV, rendered before it plays).
    qtbot.waitUntil(lambda: any(c.ticket_id == called.id for c in controller.announced), timeout=WAIT)
    shown = next(c for c in controller.announced if c.ticket_id == called.id)
    assert shown.room_id == R1 and shown.label == called.label
    qtbot.waitUntil(lambda: display.highlighted is not None, timeout=WAIT)
    assert display.call_number.text() == called.label
    save_screenshot(display, "hub_display_1366x768")
    qtbot.waitUntil(lambda: len(player.played) >= 1, timeout=WAIT)
    assert announcer.wait_idle(60)
    with wave.open(str(player.played[-1])) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert 1.5 < seconds < 12, seconds

    # The doctor starts the visit, writes and signs a prescription (F10).
    press(qtbot, ws, Qt.Key.Key_F8)
    qtbot.waitUntil(
        lambda: ws.consult.data is not None and ws.consult.data.patient.id == called.patient_id, timeout=WAIT
    )
    qtbot.waitUntil(
        lambda: ws.prescribing.formulary is not None and bool(ws.prescribing.formulary.frequencies),
        timeout=WAIT,
    )
    rx = ws.prescribing
    ws.consult.tabs.setCurrentWidget(rx)
    add_drug(qtbot, ws, "盐酸氨溴", "盐酸氨溴索片")
    acknowledge_warnings(ws)
    assert rx.sign_button.isEnabled()
    with qtbot.waitSignal(rx.sig_signed, timeout=WAIT) as signed:
        press(qtbot, ws, Qt.Key.Key_F10)
    (prescription,) = signed.args[0]
    assert prescription.status == "signed"

    # It reaches the pharmacy desk's worklist through the hub, its signature verified.
    review = pharmacy.review
    qtbot.waitUntil(lambda: review.select(prescription.id), timeout=WAIT)
    qtbot.waitUntil(
        lambda: review.detail is not None and review.detail.rx.id == prescription.id, timeout=WAIT
    )
    assert review.detail is not None and review.detail.signature.ok

    # Still down: every status bar says so, and the work waits in the outboxes (shared on the LAN).
    for window in (ws, desk, pharmacy):
        assert LAN_DOWN in status_text(window), status_text(window)
    assert ws_rt.store.pending_count() > 0 and nurse_rt.store.pending_count() > 0
    assert clinic.hub.health()["hub"]["upstream"] is False  # type: ignore[index]
    for window, name in ((desk, "triage"), (ws, "workstation"), (pharmacy, "pharmacy")):
        qtbot.wait(200)  # the status bar's layout follows its latest text
        save_screenshot(window, f"hub_{name}_1366x768")

    # The pharmacist approves it, still during the outage: the pickup code is on the slip.
    qtbot.mouseClick(review.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: prescription.id in review.queue.ids("approved"), timeout=WAIT)
    code = review.last_outcome.pickup_code
    assert len(code) == 6

    def receipt_text() -> str:
        try:
            return decode((receipts / "receipt.bin").read_bytes()).text
        except (OSError, ValueError):
            return ""

    qtbot.waitUntil(lambda: " ".join(code) in receipt_text(), timeout=WAIT)

    # -- The link returns: everything reaches the central API, once; nobody needs attention ----------
    clinic.restore()
    qtbot.waitUntil(clinic.drained, timeout=180_000)
    for runtime in clinic.runtimes:
        assert runtime.store.needs_attention_count() == 0, [
            (e.name, e.message) for e in runtime.store.needs_attention()
        ]

    for window in (ws, desk, pharmacy):
        qtbot.waitUntil(says(window, "经本院中转服务器"), timeout=WAIT)
        assert LAN_DOWN not in status_text(window)
    rows = server_rows(clinic.central.url, "pharmacist1")
    on_central = rows["queue_ticket"][ticket.id]
    assert on_central["label"] == ticket.label, "not renumbered"
    assert [c["by"] for c in calls_of(rows["queue_ticket"][called.id])] == [DOCTOR]
    assert rows["rx"][prescription.id]["status"] == "approved"
    assert rows["rx"][prescription.id]["number"] == prescription.number


def log_in_with_dialog(
    qtbot: QtBot, runtime: ClientRuntime, username: str, password: str = DEMO_PASSWORD
) -> Any:
    from shared.gui.login import LoginDialog

    dialog = LoginDialog(login=runtime.engine.login, verifier=runtime.verifier, campuses=runtime.campuses)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username_edit, username)
    qtbot.keyClicks(dialog.password_edit, password)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    return dialog


def test_a_pc_started_during_the_outage_logs_in_at_the_hub_and_loads_the_clinics_data(
    hub_clinic: HubClinic, qtbot: QtBot
) -> None:
    clinic = hub_clinic
    # Morning: the nurse logs in at the first PC through the hub (the hub keeps her verifier).
    first = clinic.runtime("triage", "first")
    dialog = log_in_with_dialog(qtbot, first, "nurse1")
    qtbot.waitUntil(lambda: dialog.result_value is not None, timeout=WAIT)
    assert not dialog.result_value.offline

    # The link goes down. A PC started now (nothing on it yet) logs her in at the hub and loads the
    # clinic's data from the hub's copy.
    clinic.cut()
    second = clinic.runtime("triage", "second")
    dialog = log_in_with_dialog(qtbot, second, "nurse1", "wrong-password")
    qtbot.waitUntil(lambda: not dialog.busy and dialog.message_text != "", timeout=WAIT)
    assert dialog.result_value is None
    dialog.close()
    dialog = log_in_with_dialog(qtbot, second, "nurse1")
    qtbot.waitUntil(lambda: dialog.result_value is not None, timeout=WAIT)
    result = dialog.result_value
    assert result.staff.username == "nurse1" and not result.offline  # the hub checked it, not this PC
    second.current = result
    second.start_sync()
    qtbot.waitUntil(
        lambda: second.store.cursor() is not None and not second.store.needs_bootstrap(), timeout=120_000
    )
    assert second.store.all(Patient) and second.store.get(Queue, QUEUE) is not None

    # Someone who never logged in through this hub is not let in by it while the link is down.
    third = clinic.runtime("triage", "third")
    dialog = log_in_with_dialog(qtbot, third, "nurse2")
    qtbot.waitUntil(lambda: not dialog.busy and dialog.message_text != "", timeout=WAIT)
    assert dialog.result_value is None
