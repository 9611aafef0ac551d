"""Screenshots of the nurse's desk and the kiosk at both sizes, then the server goes away: a call made
offline still drives this PC's own display and voice, and waits in the outbox."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.audio import FilePlayer
from shared.domain.entities import QueueTicket
from shared.printing.escpos_decode import decode
from shared.site import VoiceSetting
from shared.sync.status import SyncState
from tests.gui.conftest import save_screenshot
from tests.support.server import ServerProcess
from tests.triage.support import first_queue, free_patients
from tests.triage.test_desk_flow import open_desk
from tests.triage.test_kiosk import daytime_appointments, open_kiosk, scan
from triage_desk import model
from triage_desk.main import open_display_here

SIZES = ((1920, 1080), (1366, 768))


def shoot(qtbot: QtBot, window: Any, name: str) -> None:
    for width, height in SIZES:
        window.resize(width, height)
        qtbot.waitUntil(lambda w=width, h=height: window.width() == w and window.height() == h, timeout=2_000)
        save_screenshot(window, f"triage_{name}_{width}x{height}")


def test_screenshots_of_the_desk_the_console_and_the_kiosk(qtbot: QtBot, make_pc: Any) -> None:
    pc = make_pc()
    window = open_desk(qtbot, pc)
    store = pc.runtime.store
    queue = first_queue(store, pc.state.campus_id)
    now = dt.datetime.now(dt.UTC)
    patients = free_patients(store, 5)
    for n, patient in enumerate(patients):
        with store.reading() as view:
            number = model.next_number(view, queue, model.local_day(now), 1)
        store.record(
            "queue.check_in",
            {
                "id": f"shot{n}-{patient.id[-10:]}",
                "queue_id": queue.id,
                "patient_id": patient.id,
                "number": number,
                "priority": "elderly" if n == 3 else "normal",
                "priority_reason": "82岁" if n == 3 else "",
                "checked_in_at": (now - dt.timedelta(minutes=40 - 5 * n)).isoformat(),
            },
        )
    store.record("queue.call", {"ticket_id": f"shot0-{patients[0].id[-10:]}", "room_id": queue.room_ids[0]})

    screen = window.check_in
    screen.find_edit.insert(patients[1].name[0])
    qtbot.keyClick(screen.find_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: screen.model.rowCount() > 0, timeout=5_000)
    screen.table.selectRow(0)
    shoot(qtbot, window, "check_in")

    window.tabs.setCurrentWidget(window.console)
    window.console.reload()
    qtbot.waitUntil(lambda: window.console.snapshot is not None, timeout=5_000)
    window.console.select_queue(queue.id)
    qtbot.waitUntil(lambda: window.console.tickets_model.rowCount() >= 5, timeout=5_000)
    window.console.tickets_view.selectRow(1)
    shoot(qtbot, window, "console")

    kiosk = open_kiosk(qtbot, pc)
    kiosk.code_edit.setText("YY19990101000")
    qtbot.keyClick(kiosk.code_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: kiosk.verdict == "unknown", timeout=5_000)
    shoot(qtbot, kiosk, "kiosk")


def test_a_call_made_offline_drives_the_local_display_and_voice_and_waits_to_be_pushed(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess, tmp_path: Path
) -> None:
    pc = make_pc()
    pc.state.site = pc.state.site.model_copy(update={"voice": VoiceSetting(engine="pack", repeat=1)})
    window = open_desk(qtbot, pc)
    store = pc.runtime.store
    queue = first_queue(store, pc.state.campus_id)
    patient = free_patients(store, 1)[0]
    now = dt.datetime.now(dt.UTC)
    with store.reading() as view:
        number = model.next_number(view, queue, model.local_day(now), 1)
    ticket_id = f"off-{patient.id[-12:]}"
    store.record(
        "queue.check_in", {"id": ticket_id, "queue_id": queue.id, "patient_id": patient.id, "number": number}
    )
    qtbot.waitUntil(lambda: store.pending_count() == 0, timeout=15_000)

    kiosk_pc = make_pc("triage", "nurse2", slot=2)  # ``clinic kiosk`` under a staff account: local cache
    kiosk_account = make_pc("kiosk", "kiosk1", sync=False)  # a kiosk account: no data, online only
    appointment = daytime_appointments(kiosk_pc, 1)[0]

    player = FilePlayer(tmp_path / "played")
    display = open_display_here(pc.state, player=player)
    pc.windows.append(display)
    qtbot.waitUntil(lambda: display.controller._seen is not None, timeout=10_000)

    triage_server.kill()
    pc.runtime.network.wake()
    qtbot.waitUntil(lambda: pc.runtime.network.last_status.state is SyncState.OFFLINE, timeout=20_000)

    console = window.console
    window.tabs.setCurrentWidget(console)
    console.reload()
    qtbot.waitUntil(lambda: console.snapshot is not None and console.snapshot.summary(queue.id) is not None)
    console.select_queue(queue.id)
    room = next(
        r for r in queue.room_ids if (console.snapshot.summary(queue.id).order.next_for_room(r) or None)
    )  # type: ignore[union-attr]
    index = console.room_combo.findData(room)
    console.room_combo.setCurrentIndex(index)
    expected = console.snapshot.summary(queue.id).order.next_for_room(room)  # type: ignore[union-attr]
    qtbot.mouseClick(console.buttons["call_next"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: store.get(QueueTicket, expected.ticket.id).status == "called", timeout=5_000)  # type: ignore[union-attr]

    qtbot.waitUntil(lambda: len(display.controller.announced) == 1, timeout=10_000)
    assert display.controller.announced[0].ticket_id == expected.ticket.id
    qtbot.waitUntil(lambda: len(player.played) == 1, timeout=10_000)  # spoken here, without the server
    qtbot.waitUntil(lambda: display.highlighted is not None, timeout=10_000)
    assert display.call_number.text() == expected.ticket.label
    assert display.offline_label.text()  # the unobtrusive offline marker
    assert store.pending_count() == 1  # the call waits in the outbox for the server

    # The kiosk without the server. Under a staff account it decides from its cache and checks in.
    kiosk_pc.state.set_clock(lambda: appointment.slot_time - dt.timedelta(minutes=5))
    kiosk = open_kiosk(qtbot, kiosk_pc)
    scan(qtbot, kiosk, appointment.number, "checked_in")
    qtbot.waitUntil(lambda: kiosk_pc.slips.exists() and decode(kiosk_pc.slips.read_bytes()).cut_count == 1)
    (ticket,) = kiosk_pc.runtime.store.find(QueueTicket, patient_id=appointment.patient_id)
    assert ticket.number == 201 and ticket.label in decode(kiosk_pc.slips.read_bytes()).lines
    # the check-in and the slip's print record wait in the outbox for the server
    qtbot.waitUntil(lambda: kiosk_pc.runtime.store.pending_count() == 2, timeout=10_000)
    assert sorted(e.name for e in kiosk_pc.runtime.store.outbox()) == ["print.record", "queue.check_in"]
    # Under a kiosk account it cannot check in and says so: go to the desk; nothing printed.
    other = open_kiosk(qtbot, kiosk_account)
    scan(qtbot, other, appointment.number, "offline")
    assert "分诊台" in other.answer.text() and "服务器" in other.answer.text()
    assert not kiosk_account.slips.exists()


@pytest.mark.parametrize(
    ("command", "window"),
    [("triage", "TriageWindow"), ("kiosk", "KioskWindow"), ("display", "DisplayWindow")],
)
def test_self_test_builds_the_window_offscreen_and_writes_its_document(
    tmp_path: Path, command: str, window: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", command, "--self-test", "--data-folder", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "CLINIC_SITE_CONFIG": str(tmp_path / "none.toml")},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["window"] == window
    assert (tmp_path / f"{command}.db").exists()
    document = Path(report["document"])
    if command == "display":  # a sample call said with this PC's voice pack
        with wave.open(str(document)) as wav:
            assert wav.getnframes() / wav.getframerate() > 1.0
        return
    decoded = decode(document.read_bytes())
    assert "A023" in decoded.lines and decoded.qr_payloads and decoded.cut_count == 1
