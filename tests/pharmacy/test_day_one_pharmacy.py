"""What a pharmacist hit on a clinic's first morning, against a real server: the pickup code reaches the
patient (a pickup slip and a text), a 待发药 worklist whose rows follow the dispense, a dispensing slip
that is not a payment receipt, the arrivals notice that goes once nothing new is pending, stock in packs
and smallest units, and a pharmacy that does without pickup codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.domain.entities import Patient
from shared.domain.pickup import parse_pickup_scan
from shared.ids import reference_id
from shared.printing.escpos_decode import decode
from tests.gui.conftest import save_screenshot
from tests.pharmacy.support import PHARMACIST_PIN, seed_signed_prescriptions
from tests.support.api import ApiUser


@pytest.fixture(autouse=True)
def pin(monkeypatch: pytest.MonkeyPatch) -> None:
    from pharmacy_desk.dialogs import PinDialog, ReasonDialog

    monkeypatch.setattr(PinDialog, "ask", classmethod(lambda cls, parent, **kw: PHARMACIST_PIN))
    monkeypatch.setattr(ReasonDialog, "ask", classmethod(lambda cls, parent, **kw: ("days", "")))


def sms_sent(folder: Path) -> list[dict[str, Any]]:
    path = folder / "sms" / "outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def receipt_text(prints: Path) -> str:
    """What the receipt printer (a file here) holds now; "" while the job is still being written."""
    try:
        return decode((prints / "receipt.bin").read_bytes()).text
    except (OSError, ValueError):
        return ""


def approve(qtbot: QtBot, window: Any, rx_id: str) -> Any:
    review = window.review
    qtbot.waitUntil(lambda: review.select(rx_id), timeout=20_000)
    qtbot.waitUntil(lambda: review.detail is not None and review.detail.rx.id == rx_id, timeout=10_000)
    qtbot.mouseClick(review.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: rx_id in review.queue.ids("approved"), timeout=15_000)
    return review.last_outcome


def test_the_pickup_code_reaches_the_patient_and_the_counter_works_from_a_worklist(
    qtbot: QtBot, desk: Any, pharmacy_server: Any, tmp_path: Path
) -> None:
    window, state = desk, desk.state
    prints = tmp_path / "prints"
    first, second = (s.rx for s in pharmacy_server.prescriptions)
    store = state.runtime.store
    patient = store.get(Patient, first.patient_id)
    assert patient is not None and patient.phone

    # Approval issues the code: the patient gets a pickup slip and a text with it.
    outcome = approve(qtbot, window, first.id)
    code = outcome.pickup_code
    assert len(code) == 6
    qtbot.waitUntil(lambda: "取药凭条" in receipt_text(prints), timeout=15_000)
    slip = decode((prints / "receipt.bin").read_bytes())
    assert "取药凭条" in slip.text and " ".join(code) in slip.text and first.number in slip.text
    assert parse_pickup_scan(slip.qr_payloads[0]) == (first.id, code)
    assert patient.name not in slip.text, "the name is masked"
    qtbot.waitUntil(lambda: len(sms_sent(pharmacy_server.data_folder)) == 1, timeout=15_000)
    message = sms_sent(pharmacy_server.data_folder)[0]
    assert message["to"] == patient.phone and code in message["text"] and message["ref"] == first.id
    qtbot.waitUntil(lambda: "短信发送至" in window.message_line.text(), timeout=10_000)
    assert patient.phone not in window.message_line.text(), "the phone is shown masked"

    # The dispense tab lists what waits: the approved prescription, 已审核.
    dispense = window.dispense
    window.tabs.setCurrentWidget(dispense)
    qtbot.waitUntil(lambda: [r.id for r in dispense.worklist_rows] == [first.id], timeout=10_000)
    assert dispense.list_tabs.currentIndex() == 0 and dispense.list_tabs.tabText(0) == "待发药 1"
    assert dispense.results_model.data(dispense.results_model.index(0, 3)) == "已审核"
    dispense.results.selectRow(0)
    qtbot.waitUntil(lambda: dispense.plan is not None and dispense.plan.rx.id == first.id, timeout=10_000)
    stock = dispense.lines_model.data(dispense.lines_model.index(0, 6))
    line = dispense.plan.lines[0].line
    assert f" {line.drug.min_unit}）" in stock and line.drug.pack_unit in stock, stock
    window.resize(1366, 768)
    save_screenshot(window, "pharmacy_dispense_worklist_1366x768")

    # Found by number too; after the dispense both lists show where it stands.
    dispense.search(first.number)
    qtbot.waitUntil(lambda: [r.id for r in dispense.found_rows] == [first.id], timeout=10_000)
    assert dispense.list_tabs.currentIndex() == 1
    dispense.code_edit.setText(code)
    qtbot.mouseClick(dispense.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dispense.verified_code == code, timeout=10_000)
    with qtbot.waitSignal(dispense.sig_dispensed, timeout=15_000):
        qtbot.keyClick(dispense, Qt.Key.Key_F9)
    qtbot.waitUntil(
        lambda: (
            dispense.results_model.rowCount() == 1
            and dispense.results_model.data(dispense.results_model.index(0, 3)) in ("已发药", "部分发药")
        ),
        timeout=15_000,
    )
    complete = dispense.found_rows[0].rx.status == "dispensed"
    qtbot.waitUntil(lambda: (first.id in [r.id for r in dispense.worklist_rows]) != complete, timeout=10_000)

    # The slip of a dispense where no money was taken: a dispensing slip with its own number.
    qtbot.waitUntil(lambda: "发药凭条" in receipt_text(prints), timeout=15_000)
    receipt = receipt_text(prints)
    assert "收费小票" not in receipt and "RR" not in receipt
    assert f"凭条号：FY{first.number.removeprefix('RX').removeprefix('R')}" in receipt, receipt

    # A prescription arrives by sync: announced; once nothing new is pending the notice goes by itself.
    review = window.review
    window.tabs.setCurrentWidget(review)
    [third] = seed_signed_prescriptions(pharmacy_server.db_url, count=1, first_number=3)
    qtbot.waitUntil(lambda: review.arrivals_label.isVisibleTo(review), timeout=30_000)
    # the second one (10 days: a finding) goes back to the doctor
    assert review.select(second.id)
    qtbot.waitUntil(lambda: review.detail is not None and review.detail.rx.id == second.id, timeout=10_000)
    qtbot.mouseClick(review.reject_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: second.id in review.queue.ids("rejected"), timeout=15_000)
    assert review.arrivals_label.isVisibleTo(review), "the new one is still pending"
    approve(qtbot, window, third.rx.id)
    qtbot.waitUntil(lambda: not review.arrivals_label.isVisibleTo(review), timeout=10_000)
    assert review.queue.count("signed") == 0


def test_a_pharmacy_without_pickup_codes_hands_out_without_one(
    qtbot: QtBot, pharmacy_server: Any, desk: Any, tmp_path: Path
) -> None:
    admin = ApiUser(pharmacy_server.url, "admin")
    try:
        outcome = admin.push_one(
            "pharmacy.configure",
            {"pharmacy_id": reference_id("pharmacy", "MAIN-WY"), "pickup_code_required": False},
        )
    finally:
        admin.close()
    assert outcome["status"] == "applied", outcome
    window, state = desk, desk.state
    first = pharmacy_server.prescriptions[0].rx
    from shared.domain.entities import Pharmacy

    qtbot.waitUntil(
        lambda: not state.runtime.store.get(Pharmacy, state.pharmacy_id).pickup_code_required, timeout=20_000
    )
    result = approve(qtbot, window, first.id)
    assert result.pickup_code == "" and "取药码" not in window.message_line.text()
    window.open_for_dispensing(first.number)
    dispense = window.dispense
    qtbot.waitUntil(lambda: dispense.plan is not None and dispense.plan.rx.id == first.id, timeout=10_000)
    assert dispense.code_label.text() == "本药房不使用取药码：核对患者身份后发药"
    assert not dispense.code_edit.isEnabled()
    qtbot.waitUntil(lambda: dispense.dispense_button.isEnabled(), timeout=10_000)
    with qtbot.waitSignal(dispense.sig_dispensed, timeout=15_000):
        qtbot.keyClick(dispense, Qt.Key.Key_F9)
    qtbot.waitUntil(lambda: state.runtime.store.pending_count() == 0, timeout=20_000)
    assert state.runtime.store.needs_attention_count() == 0
    assert not sms_sent(pharmacy_server.data_folder), "no code, no text"
