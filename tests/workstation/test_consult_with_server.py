"""A whole consult clicked through the workstation against a real server: call, note, diagnosis, a
3-line prescription, sign, print; then a pharmacist's rejection, amendment and re-signing; withdrawal;
and signing while the server is down."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from PySide6.QtGui import QInputMethodEvent
from PySide6.QtWidgets import QApplication, QListWidgetItem
from pytestqt.qtbot import QtBot

from shared.domain.clinical import rx_signed_content
from shared.domain.entities import Prescription
from shared.domain.pharmacy import review_signed_content
from shared.security.signing import canonical_bytes, generate_keypair, sign, verify
from tests.clinical.support import PIN as KEY_PIN
from tests.clinical.support import register_args
from tests.gui.conftest import save_screenshot
from tests.support.api import ApiUser
from tests.support.server import ServerProcess
from tests.workstation.conftest import PIN, Clinic, log_in, server_rows
from workstation.dialogs import NewPinDialog, PinDialog, ReasonDialog

DRUG_QUERIES = (("tbkljn", "头孢克洛胶囊"), ("blfhsjn", "布洛芬缓释胶囊"), ("盐酸氨溴", "盐酸氨溴索片"))


@pytest.fixture(autouse=True)
def answers(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """The modal questions answered as a doctor would (and counted)."""
    asked: dict[str, list[Any]] = {"new_pin": [], "pin": [], "reason": []}

    def new_pin(cls: Any, parent: Any = None, **kw: Any) -> str:
        asked["new_pin"].append(kw)
        return PIN

    def pin(cls: Any, parent: Any = None, **kw: Any) -> str:
        asked["pin"].append(kw)
        return PIN

    def reason(cls: Any, parent: Any = None, **kw: Any) -> str:
        asked["reason"].append(kw)
        return "患者要求转急诊"

    monkeypatch.setattr(NewPinDialog, "ask", classmethod(new_pin))
    monkeypatch.setattr(PinDialog, "ask", classmethod(pin))
    monkeypatch.setattr(ReasonDialog, "ask", classmethod(reason))
    return asked


def ready(qtbot: QtBot, window: Any, runtime: Any, waiting: int = 3) -> None:
    log_in(runtime)
    window.start()
    qtbot.waitUntil(lambda: window.day.waiting_model.rowCount() == waiting, timeout=60_000)
    qtbot.waitUntil(
        lambda: window.prescribing.formulary is not None and bool(window.prescribing.formulary.frequencies),
        timeout=20_000,
    )


def call_and_start(qtbot: QtBot, window: Any) -> None:
    day = window.day
    first = day.waiting_model.row(0)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(
        lambda: any(
            r.ticket.id == first.ticket.id and r.ticket.status == "called" for r in day.seen_model.rows()
        ),
        timeout=10_000,
    )
    assert day.waiting_model.rowCount() == 2
    qtbot.keyClick(window, Qt.Key.Key_F8)
    qtbot.waitUntil(lambda: window.consult.data is not None, timeout=10_000)
    assert window.consult.data.patient.id == first.ticket.patient_id


def add_drug(qtbot: QtBot, window: Any, query: str, name: str) -> None:
    rx = window.prescribing
    count = len(rx.lines)
    rx.search_edit.setFocus()
    with qtbot.waitSignal(rx.sig_results_shown, timeout=5_000, check_params_cb=lambda n: n > 0):
        type_text(qtbot, rx.search_edit, query)
    qtbot.waitUntil(lambda: rx.results_model.rowCount() > 0 and rx.search_edit.text() == query)
    names = [h.drug.generic_name for h in rx.results_model.rows()]
    assert name in names, (query, names)
    index = names.index(name)
    qtbot.keyClick(rx.search_edit, Qt.Key.Key_Down)
    for _ in range(index):
        qtbot.keyClick(rx.results, Qt.Key.Key_Down)
    qtbot.keyClick(rx.results, Qt.Key.Key_Return)
    assert len(rx.lines) == count + 1 and rx.lines[-1].drug.generic_name == name


def type_text(qtbot: QtBot, widget: Any, text: str) -> None:
    """Type like a doctor: ASCII as key presses, Chinese committed by the input method (as an IME does)."""
    for char in text:
        if char.isascii():
            qtbot.keyClicks(widget, char)
        else:
            event = QInputMethodEvent()
            event.setCommitString(char)
            QApplication.sendEvent(widget.focusProxy() or widget, event)


def acknowledge_warnings(window: Any) -> int:
    rx = window.prescribing
    ticked = 0
    for row in range(rx.findings_list.count()):
        item: QListWidgetItem = rx.findings_list.item(row)
        if item.flags() & Qt.ItemFlag.ItemIsUserCheckable and item.checkState() != Qt.CheckState.Checked:
            item.setCheckState(Qt.CheckState.Checked)  # what a click on the box does
            ticked += 1
    return ticked


def pdf_text(path: Path) -> str:
    return "".join(page.extract_text() or "" for page in PdfReader(path).pages)


def rasterise(path: Path, out: Path) -> Path:
    assert shutil.which("pdftoppm"), "poppler-utils (pdftoppm) is needed"
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-singlefile", str(path), str(out)], check=True)
    png = out.with_suffix(".png")
    assert png.stat().st_size > 5_000
    from PIL import Image

    with Image.open(png) as image:
        grey = image.convert("L")
        dark = sum(grey.histogram()[:128])
        assert dark > 0.01 * grey.width * grey.height, "the page came out blank"
    return png


def wait_synced(qtbot: QtBot, runtime: Any, timeout: int = 30_000) -> None:
    runtime.network.wake()
    qtbot.waitUntil(lambda: runtime.store.pending_count() == 0, timeout=timeout)
    assert runtime.store.needs_attention_count() == 0, [
        (e.name, e.message) for e in runtime.store.needs_attention()
    ]


def test_a_whole_consult_reaches_the_server_signed_and_prints(
    qtbot: QtBot,
    window: Any,
    runtime: Any,
    clinic: Clinic,
    server: ServerProcess,
    tmp_path: Path,
    answers: dict[str, list[Any]],
) -> None:
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    consult = window.consult

    # The visit note: complaint, history, examination, then two diagnoses (code search and pinyin).
    note = consult.note
    for section, text in (
        ("chief_complaint", "咳嗽三天，伴低热"),
        ("present_illness", "三天前受凉后出现咳嗽，咳少量白痰，最高体温37.8℃"),
        ("examination", "咽部充血，双肺呼吸音粗，未闻及干湿啰音"),
        ("advice", "多饮水，注意休息，三天后复诊"),
    ):
        note.edits[section].setFocus()
        type_text(qtbot, note.edits[section], text)
    picker = note.diagnosis
    for query, code in (
        ("J06", "J06.9"),
        ("jxzqgy", "J20"),
    ):
        picker.search_edit.setFocus()
        type_text(qtbot, picker.search_edit, query)
        qtbot.waitUntil(lambda: picker.results.count() > 0, timeout=5_000)
        item = next(
            picker.results.item(i)
            for i in range(picker.results.count())
            if picker.results.item(i).text().startswith(code)
        )
        picker.results.setCurrentItem(item)
        qtbot.keyClick(picker.results, Qt.Key.Key_Return)
    diagnoses = picker.diagnoses()
    assert len(diagnoses) == 2 and diagnoses[0].primary and not diagnoses[1].primary
    picker.search_edit.setText("病毒感染待排")
    qtbot.mouseClick(picker.free_button, Qt.MouseButton.LeftButton)
    assert picker.diagnoses()[-1].code == "" and picker.diagnoses()[-1].name == "病毒感染待排"
    qtbot.waitUntil(
        lambda: not note.dirty and note.save_state.text().startswith("已自动保存"), timeout=15_000
    )

    # A lab order from the catalogue.
    consult.tabs.setCurrentWidget(consult.orders)
    type_text(qtbot, consult.orders.search_edit, "血常规")
    qtbot.waitUntil(lambda: consult.orders.item_list.count() > 0)
    qtbot.keyClick(consult.orders.search_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: consult.orders.table.rowCount() == 1, timeout=10_000)

    # Three drugs by pinyin initials and Chinese, keyboard only; days edited on one line.
    consult.tabs.setCurrentWidget(window.prescribing)
    for query, name in DRUG_QUERIES:
        add_drug(qtbot, window, query, name)
    rx = window.prescribing
    assert rx.results_model.rows() == [] or not rx.results.isVisible()
    assert all(h for h in rx.lines)
    stock_column = rx.results_model.columns[5]
    assert stock_column.title == "药房库存"
    days_item = rx.table.item(1, 5)
    days_item.setText("5")
    assert rx.lines[1].days == 5 and rx.lines[1].quantity == rx.lines[1].computed_quantity
    assert rx.plan is not None and len(rx.plan.prescriptions) == 1
    assert not rx.plan.blocking()
    acknowledge_warnings(window)
    assert rx.sign_button.isEnabled()

    # F10: first use sets a PIN and registers the key, then signs and prints.
    with qtbot.waitSignal(rx.sig_signed, timeout=30_000) as signed:
        qtbot.keyClick(window, Qt.Key.Key_F10)
    rows: list[Prescription] = signed.args[0]
    assert len(rows) == 1 and rows[0].status == "signed" and len(rows[0].lines) == 3
    assert len(answers["new_pin"]) == 1 and answers["pin"] == []
    printed = tmp_path / "printed"
    qtbot.waitUntil(lambda: "处方已打印" in window.message_line.text(), timeout=15_000)  # sent and recorded
    assert len(list(printed.glob("prescription-*.pdf"))) == 1, window.message_line.text()
    pdf = next(printed.glob("prescription-*.pdf"))
    text = pdf_text(pdf)
    patient = consult.data.patient
    assert rows[0].number in text and patient.name in text and "头孢克洛胶囊" in text and "处" in text
    rasterise(pdf, tmp_path / "rx_page")

    # A reprint from the list of this visit's prescriptions is marked 补打.
    qtbot.waitUntil(lambda: rx.written_model.rowCount() == 1, timeout=10_000)
    rx.written_table.selectRow(0)
    qtbot.mouseClick(rx.reprint_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "处方已补打" in window.message_line.text(), timeout=15_000)
    assert len(list(printed.glob("prescription-*.pdf"))) == 2, window.message_line.text()
    again_pdf = max(printed.glob("prescription-*.pdf"), key=lambda p: p.stat().st_mtime_ns)
    assert "补打" in pdf_text(again_pdf) and "补打" not in text

    # The note is signed with the PIN remembered from the prescription, and printed on A4.
    qtbot.mouseClick(consult.sign_note_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: note.status == "signed", timeout=15_000)
    assert answers["pin"] == []  # remembered for a few minutes
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(
        lambda: "门诊病历已打印" in window.message_line.text(), timeout=15_000
    )  # sent and recorded
    assert len(list(printed.glob("visit_note-*.pdf"))) == 1, window.message_line.text()
    note_text = pdf_text(next(printed.glob("visit_note-*.pdf")))
    assert "咳嗽三天" in note_text and "急性上呼吸道感染" in note_text

    # Everything reached the server and verified there (rx.sign and emr.sign check the signatures).
    wait_synced(qtbot, runtime)
    pharmacist = ApiUser(server.url, "pharmacist1")
    try:
        state = server_rows(pharmacist)
        server_rx = Prescription.model_validate(state["rx"][rows[0].id])
        assert server_rx.status == "signed" and server_rx.sign_count == 1
        key = state["signing_key"][server_rx.signing_key_id]
        assert server_rx.signed_at is not None and key["device_id"] == runtime.store.device_id
        signed = canonical_bytes(rx_signed_content(server_rx, server_rx.signed_at))
        assert verify(signed, server_rx.signature, key["public_key"])
        notes = [n for n in state["emr_note"].values() if n["visit_id"] == consult.data.visit.id]
        assert [n["status"] for n in notes] == ["signed"]
        orders = [o for o in state["clinical_order"].values() if o["visit_id"] == consult.data.visit.id]
        assert len(orders) == 1 and orders[0]["status"] == "ordered"
        ticket = state["queue_ticket"].get(clinic.tickets[0])
        assert ticket is not None and ticket["status"] == "in_consultation"
        prints = sorted(state["print_record"].values(), key=lambda r: r["printed_at"])
        assert [(r["document"], r["ref_id"], r["reprint"]) for r in prints] == [
            ("prescription", rows[0].id, False),
            ("prescription", rows[0].id, True),
            ("visit_note", notes[0]["id"], False),
        ]
        assert {r["printed_by"] for r in prints} == {clinic.doctor["id"]}

        # The pharmacist rejects it with a reason: the doctor is told, amends and signs again.
        pharmacist_key = generate_keypair(KEY_PIN)
        pharmacist_id = pharmacist.staff["id"]
        reg = register_args(pharmacist_id, pharmacist_key)
        assert pharmacist.push_one("signing_key.register", reg)["status"] == "applied"
        reviewed_at = dt.datetime.now(dt.UTC)
        content = review_signed_content(
            server_rx,
            decision="reject",
            reason_code="dose",
            reason="布洛芬剂量请核实",
            reviewer_id=pharmacist_id,
            reviewed_at=reviewed_at,
        )
        outcome = pharmacist.push_one(
            "rx.review",
            {
                "rx_id": server_rx.id,
                "decision": "reject",
                "reason_code": "dose",
                "reason": "布洛芬剂量请核实",
                "reviewed_at": reviewed_at.isoformat(),
                "signing_key_id": reg["id"],
                "signature": sign(canonical_bytes(content), pharmacist_key, KEY_PIN),
            },
        )
        assert outcome["status"] == "applied", outcome
    finally:
        pharmacist.close()
    runtime.network.wake()
    qtbot.waitUntil(lambda: window.rejected_button.isVisible(), timeout=30_000)
    assert "布洛芬剂量请核实" in window.message_line.text()
    save_screenshot(window, "workstation_rejected_1366x768")
    window.amend(window._rejected[0])
    qtbot.waitUntil(lambda: rx.amending is not None, timeout=10_000)
    assert "布洛芬剂量请核实" in rx.amend_label.text() and len(rx.lines) == 3
    rx.table.item(1, 1).setText("0.6")  # the ibuprofen dose
    acknowledge_warnings(window)
    with qtbot.waitSignal(rx.sig_signed, timeout=30_000):
        qtbot.mouseClick(rx.sign_button, Qt.MouseButton.LeftButton)
    wait_synced(qtbot, runtime)
    qtbot.waitUntil(lambda: not window.rejected_button.isVisible(), timeout=15_000)
    checker = ApiUser(server.url, "pharmacist1")
    try:
        again = Prescription.model_validate(server_rows(checker)["rx"][rows[0].id])
    finally:
        checker.close()
    assert again.status == "signed" and again.sign_count == 2 and again.review_reason == "布洛芬剂量请核实"
    assert {str(line["dose"]) for line in again.lines if "布洛芬" in line["drug"]["generic_name"]} == {"0.6"}

    # F9 finishes the consultation.
    qtbot.keyClick(window, Qt.Key.Key_F9)
    qtbot.waitUntil(
        lambda: any(
            r.ticket.id == clinic.tickets[0] and r.ticket.status == "done"
            for r in window.day.seen_model.rows()
        ),
        timeout=10_000,
    )


def test_withdrawing_a_consult_cancels_its_orders_and_tells_the_server(
    qtbot: QtBot,
    window: Any,
    runtime: Any,
    clinic: Clinic,
    server: ServerProcess,
    answers: dict[str, list[Any]],
) -> None:
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    consult = window.consult
    consult.tabs.setCurrentWidget(consult.orders)
    type_text(qtbot, consult.orders.search_edit, "胸部")
    qtbot.waitUntil(lambda: consult.orders.item_list.count() > 0)
    qtbot.mouseClick(consult.orders.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: consult.orders.table.rowCount() == 1, timeout=10_000)
    qtbot.mouseClick(consult.withdraw_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: consult.data.visit.status == "withdrawn", timeout=10_000)
    assert not consult.withdraw_button.isEnabled() and "患者要求转急诊" in consult.banner.text()
    wait_synced(qtbot, runtime)
    nurse = ApiUser(server.url, "nurse1")
    try:
        state = server_rows(nurse)
    finally:
        nurse.close()
    visit = state["visit"][consult.data.visit.id]
    assert visit["status"] == "withdrawn" and visit["withdraw_reason"] == "患者要求转急诊"
    assert [o["status"] for o in state["clinical_order"].values() if o["visit_id"] == visit["id"]] == [
        "cancelled"
    ]
    assert state["queue_ticket"][clinic.tickets[0]]["status"] == "done"


def test_a_prescription_signed_while_the_server_is_down_waits_and_then_arrives(
    qtbot: QtBot, window: Any, runtime: Any, clinic: Clinic, server: ServerProcess, tmp_path: Path
) -> None:
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    # This PC's signing key is made and registered while online (at the first signature here) …
    consult = window.consult
    consult.tabs.setCurrentWidget(window.prescribing)
    add_drug(qtbot, window, "blfhsjn", "布洛芬缓释胶囊")
    acknowledge_warnings(window)
    with qtbot.waitSignal(window.prescribing.sig_signed, timeout=60_000) as first:
        qtbot.keyClick(window, Qt.Key.Key_F10)
    first_id = first.args[0][0].id
    wait_synced(qtbot, runtime)
    # … so the next one can be signed offline: it waits in the outbox and the server accepts its time
    # (after this PC's last contact: the PC pushes before it pulls).
    server.kill()
    runtime.network.wake()
    consult.note.edits["chief_complaint"].setPlainText("腹泻两天")
    consult.note.diagnosis.add(
        __import__("shared.domain.entities", fromlist=["NoteDiagnosis"]).NoteDiagnosis(
            code="", name="急性胃肠炎"
        )
    )
    consult.tabs.setCurrentWidget(window.prescribing)
    add_drug(qtbot, window, "mtss", "蒙脱石散")
    acknowledge_warnings(window)
    with qtbot.waitSignal(window.prescribing.sig_signed, timeout=30_000) as signed:
        qtbot.keyClick(window, Qt.Key.Key_F10)
    rx_id = signed.args[0][0].id
    qtbot.waitUntil(lambda: window.statusBar().status.state.name == "OFFLINE", timeout=20_000)
    assert runtime.store.pending_count() >= 2  # rx.create, rx.sign at least
    waiting = window.waiting_rx
    qtbot.waitUntil(lambda: waiting.isVisible() and waiting.count == 1, timeout=15_000)
    assert waiting.text() == "1 张已签名处方待上传"
    printed = tmp_path / "printed"
    qtbot.waitUntil(lambda: "处方已打印" in window.message_line.text(), timeout=15_000)  # sent and recorded
    qtbot.waitUntil(lambda: len(list(printed.glob("prescription-*.pdf"))) == 2, timeout=15_000)
    qtbot.waitUntil(lambda: window.statusBar().status.state.name == "OFFLINE", timeout=20_000)
    qtbot.wait(50)  # the status bar lays out its new text
    save_screenshot(window, "workstation_offline_1366x768")
    server.start()
    wait_synced(qtbot, runtime, timeout=60_000)
    qtbot.waitUntil(lambda: not waiting.isVisible(), timeout=15_000)
    nurse = ApiUser(server.url, "nurse1")
    try:
        state = server_rows(nurse)
    finally:
        nurse.close()
    assert state["rx"][rx_id]["status"] == "signed"
    assert sorted((r["ref_id"], r["reprint"]) for r in state["print_record"].values()) == sorted(
        [(first_id, False), (rx_id, False)]
    )


SIZES = ((1920, 1080), (1366, 768))


def shoot(qtbot: QtBot, window: Any, name: str) -> None:
    for width, height in SIZES:
        window.resize(width, height)
        qtbot.waitUntil(lambda w=width: window.width() == w or window.minimumSizeHint().width() > w)
        assert window.width() == width, (
            f"the window cannot shrink to {width} px (minimum {window.minimumSizeHint().width()})"
        )
        save_screenshot(window, f"workstation_{name}_{width}x{height}")


def test_screenshots_at_both_sizes(
    qtbot: QtBot, window: Any, runtime: Any, clinic: Clinic, tmp_path: Path
) -> None:
    ready(qtbot, window, runtime)
    shoot(qtbot, window, "day_view")
    call_and_start(qtbot, window)
    consult = window.consult
    note = consult.note
    note.edits["chief_complaint"].setPlainText("咳嗽三天，伴低热")
    note.edits["present_illness"].setPlainText("三天前受凉后出现咳嗽，咳少量白痰，最高体温37.8℃")
    note.edits["examination"].setPlainText("咽部充血，双肺呼吸音粗")
    from shared.domain.entities import NoteDiagnosis

    note.diagnosis.add(NoteDiagnosis(code="J06.900", name="急性上呼吸道感染"))
    shoot(qtbot, window, "consult")

    # Prescribing with a check finding: the same drug twice and too many days for an ordinary one.
    consult.tabs.setCurrentWidget(window.prescribing)
    rx = window.prescribing
    for query, name in (*DRUG_QUERIES, DRUG_QUERIES[0]):
        add_drug(qtbot, window, query, name)
    rx.table.item(1, 5).setText("10")
    assert rx.plan is not None and rx.plan.findings
    shoot(qtbot, window, "prescribing")
    rx.remove_button.setFocus()
    rx.table.selectRow(3)
    qtbot.mouseClick(rx.remove_button, Qt.MouseButton.LeftButton)
    rx.table.item(1, 5).setText("5")
    acknowledge_warnings(window)
    assert rx.sign_button.isEnabled(), [f.finding.message for f in rx.plan.findings]

    # The PIN dialog as the doctor sees it (drawn, not run modally).
    dialog = PinDialog(window, "zh_CN", "处方（1 张，合计 ¥66.60）")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.pin_edit.setText(PIN)
    qtbot.wait(50)
    save_screenshot(dialog, "workstation_sign_dialog")
    dialog.close()

    window.activateWindow()
    with qtbot.waitSignal(rx.sig_signed, timeout=30_000):
        qtbot.mouseClick(rx.sign_button, Qt.MouseButton.LeftButton)
    printed = tmp_path / "printed"
    qtbot.waitUntil(lambda: "处方已打印" in window.message_line.text(), timeout=15_000)  # sent and recorded
    assert len(list(printed.glob("prescription-*.pdf"))) == 1, window.message_line.text()
    pdf = next(printed.glob("prescription-*.pdf"))
    assert "头孢克洛胶囊" in pdf_text(pdf)
    out = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "workstation_printed_prescription"
    subprocess.run(["pdftoppm", "-r", "110", "-png", "-singlefile", str(pdf), str(out)], check=True)
    assert out.with_suffix(".png").stat().st_size > 20_000
    shoot(qtbot, window, "signed")


def test_queue_keys_recall_skip_return_and_a_selective_call_reach_the_server(
    qtbot: QtBot, window: Any, runtime: Any, clinic: Clinic, server: ServerProcess
) -> None:
    ready(qtbot, window, runtime)
    day = window.day
    first = day.waiting_model.row(0).ticket.id

    def status_of(ticket_id: str) -> str:
        row = next(
            (r for r in [*day.waiting_model.rows(), *day.seen_model.rows()] if r.ticket.id == ticket_id), None
        )
        return row.ticket.status if row else ""

    qtbot.keyClick(window, Qt.Key.Key_F5)  # call next
    qtbot.waitUntil(lambda: status_of(first) == "called", timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_F6)  # recall
    qtbot.waitUntil(lambda: "已重呼" in window.message_line.text(), timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_F7)  # not present
    qtbot.waitUntil(lambda: status_of(first) == "skipped", timeout=10_000)
    seen_row = next(i for i, r in enumerate(day.seen_model.rows()) if r.ticket.id == first)
    day.seen_table.selectRow(seen_row)
    qtbot.keyClick(window, Qt.Key.Key_F3)  # back in the queue
    qtbot.waitUntil(lambda: status_of(first) == "waiting", timeout=10_000)

    # Selective call: the last waiting patient, chosen in the list and called with Enter.
    qtbot.waitUntil(lambda: day.waiting_model.rowCount() == 3, timeout=10_000)
    place = max(i for i, r in enumerate(day.waiting_model.rows()) if i > 0 and r.ticket.id != first)
    chosen = day.waiting_model.row(place).ticket.id
    day.waiting_table.setFocus()
    day.waiting_table.selectRow(place)
    qtbot.keyClick(day.waiting_table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: status_of(chosen) == "called", timeout=10_000)
    wait_synced(qtbot, runtime)
    nurse = ApiUser(server.url, "nurse1")
    try:
        tickets = server_rows(nurse)["queue_ticket"]
    finally:
        nurse.close()
    kinds = [e["kind"] for e in tickets[first]["events"]]
    assert kinds[:1] == ["check_in"] and {"call", "recall", "skip", "return"} <= set(kinds), kinds
    assert tickets[first]["status"] == "waiting"
    assert tickets[chosen]["status"] == "called" and tickets[chosen]["called_room_id"] == window.state.room_id
