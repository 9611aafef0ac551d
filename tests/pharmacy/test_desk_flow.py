"""The pharmacy desk against a real server: review → dispense → prints, read back from the files printed."""

from __future__ import annotations

import datetime as dt
import io
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from server_stub.db.engine import Database
from server_stub.services.entities import ServerState
from shared.domain.entities import (
    Dispense,
    PickupCodeState,
    Prescription,
    PrintRecord,
    SigningKey,
    StockBatch,
)
from shared.domain.pickup import pickup_qr_payload
from shared.printing.escpos_decode import decode
from shared.site import PrinterSetting
from tests.gui.conftest import SCREENSHOTS, save_screenshot
from tests.pharmacy.support import PHARMACIST_PIN, seed_signed_prescriptions

SIZES = ((1920, 1080), (1366, 768))


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(path.read_bytes())).pages)


def printed(folder: Path, kind: str) -> list[Path]:
    return sorted(folder.glob(f"{kind}-*.pdf"))


def shoot(window: Any, name: str) -> None:
    for width, height in SIZES:
        window.resize(width, height)
        save_screenshot(window, f"pharmacy_{name}_{width}x{height}")


def server_state(db_url: str, fn: Any) -> Any:
    db = Database.open(db_url, pool_size=1)
    try:
        with db.read() as conn:
            return fn(ServerState(conn))
    finally:
        db.dispose()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_review_approve_reject_dispense_and_print_against_a_real_server(
    qtbot: QtBot,
    desk: Any,
    pharmacy_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    key_store: Any,
) -> None:
    from pharmacy_desk.dialogs import PinDialog, ReasonDialog
    from pharmacy_desk.screens.dispense import BatchDialog

    window, state = desk, desk.state
    runtime = state.runtime
    prints = tmp_path / "prints"
    review = window.review
    first, second = (s.rx for s in pharmacy_server.prescriptions)

    # The queue shows both signed prescriptions as pending, the doctor's signature verified.
    qtbot.waitUntil(lambda: review.queue.count("signed") == 2, timeout=15_000)
    assert review.status_tabs.tabText(0) == "待审核 2"
    assert review.select(first.id)
    qtbot.waitUntil(lambda: review.detail is not None and review.detail.rx.id == first.id)
    assert review.detail.signature.ok
    assert "医师电子签名有效" in review.signature_label.text()
    assert review.lines_model.rowCount() == 3
    assert review.approve_button.isEnabled()
    shoot(window, "review")

    # Approve: the first signature asks for a new PIN, makes the pharmacist's key and registers it;
    # the review is signed with it and the pickup code drawn.
    asked: list[bool] = []
    monkeypatch.setattr(
        PinDialog, "ask", classmethod(lambda cls, parent, **kw: asked.append(kw["setup"]) or PHARMACIST_PIN)
    )
    qtbot.mouseClick(review.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: review.queue.count("approved") == 1, timeout=10_000)
    # the key is this PC's, in the OS key store (not in a file of the data folder), sealed: the private
    # key is nowhere in the clear; the server holds its public key, registered for this PC
    assert asked == [True] and not (pharmacy_server.data_folder / "signing_keys").exists()
    record = state.keys.load(state.staff.id)
    assert record is not None and record.device_id == runtime.store.device_id
    assert PHARMACIST_PIN not in key_store.path.read_text(encoding="utf-8")
    key_row = runtime.store.get(SigningKey, record.key_id)
    assert key_row is not None and key_row.public_key == record.public_key
    assert key_row.device_id == runtime.store.device_id and key_row.revoked_at is None
    code = review.last_outcome.pickup_code
    assert len(code) == 6 and code in window.message_line.text()

    # Reject the second one with a reason from the list plus free text.
    assert review.select(second.id)
    qtbot.waitUntil(lambda: review.detail is not None and review.detail.rx.id == second.id)
    assert review.detail.checks and review.checks_list.count() == len(review.detail.checks)
    assert any(c.finding.code.startswith("rx.days") for c in review.detail.checks)
    shoot(window, "review_findings")
    monkeypatch.setattr(ReasonDialog, "ask", classmethod(lambda cls, parent, **kw: ("dose", "单次剂量偏大")))
    qtbot.mouseClick(review.reject_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: review.queue.count("rejected") == 1, timeout=10_000)
    assert asked == [True, False]  # the key exists now: just the PIN
    assert review.queue.count("signed") == 0

    # A prescription signed meanwhile arrives through sync and is announced.
    seed_signed_prescriptions(pharmacy_server.db_url, count=1, first_number=3)
    qtbot.waitUntil(lambda: review.queue.count("signed") == 1, timeout=20_000)
    assert review.arrivals_label.isVisibleTo(review) and "新到处方 1 张" in review.arrivals_label.text()
    review.status_tabs.tabBarClicked.emit(0)
    assert not review.arrivals_label.isVisibleTo(review)

    # Print, then reprint the prescription: the reprint is marked.
    assert review.select(first.id)
    qtbot.waitUntil(lambda: review.detail is not None and review.detail.rx.id == first.id)
    qtbot.mouseClick(review.print_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(printed(prints, "prescription")) == 1, timeout=10_000)
    qtbot.waitUntil(lambda: review.print_button.text().startswith("补打"), timeout=5_000)
    qtbot.mouseClick(review.print_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(printed(prints, "prescription")) == 2, timeout=10_000)
    original, reprint = (pdf_text(p) for p in printed(prints, "prescription"))
    assert first.number in original and "补打" not in original
    assert first.number in reprint and "补打" in reprint

    # The server has the signed review and the code's digest, never the code.
    qtbot.waitUntil(lambda: state.runtime.store.pending_count() == 0, timeout=20_000)
    on_server = server_state(pharmacy_server.db_url, lambda s: s.get(Prescription, first.id))
    assert (
        on_server.status == "approved"
        and on_server.review_signature
        and code not in on_server.pickup_code_hash
    )
    rejected = server_state(pharmacy_server.db_url, lambda s: s.get(Prescription, second.id))
    assert rejected.status == "rejected" and rejected.review_reason_code == "dose"

    # Dispensing: a wrong code is refused and recorded; the scanned QR finds the prescription and its code.
    window.open_for_dispensing(first.number)
    dispense = window.dispense
    qtbot.waitUntil(lambda: dispense.plan is not None and dispense.plan.rx.id == first.id, timeout=10_000)
    wrong = "000001" if code != "000001" else "000002"
    dispense.code_edit.setText(wrong)
    qtbot.mouseClick(dispense.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "取药码错误" in dispense.code_label.text(), timeout=5_000)
    assert not dispense.dispense_button.isEnabled()
    dispense.search(pickup_qr_payload(first.id, code))
    qtbot.waitUntil(lambda: dispense.verified_code == code, timeout=10_000)
    assert dispense.dispense_button.isEnabled()

    # FEFO: each line takes its earliest-expiring usable batch first, never an expired one.
    today = state.today()
    for line in dispense.plan.lines:
        usable = [b for b in line.batches if b.quantity > 0 and not b.expired(today)]
        assert line.allocation[0].batch_no == usable[0].batch_no
        assert all(h.expiry >= today for h in line.allocation)
    # The pharmacist takes another batch of the second line first, with a reason.
    second_line = dispense.plan.lines[1]
    other = next(
        (b for b in second_line.batches[1:] if b.quantity >= second_line.owed and not b.expired(today)), None
    )
    if other is not None:
        monkeypatch.setattr(
            BatchDialog, "ask", classmethod(lambda cls, parent, **kw: (other.batch_no, "近效期先用完"))
        )
        dispense.lines.selectRow(1)
        qtbot.mouseClick(dispense.override_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: dispense.plan.lines[1].allocation[0].batch_no == other.batch_no, timeout=5_000
        )
        assert "近效期先用完" in dispense.lines_model.data(dispense.lines_model.index(1, 5))
    # Hand out one unit less of the first line: a partial dispense, the rest owed.
    owed = dispense.plan.lines[0].owed
    dispense.set_quantity_now(0, owed - 1)
    qtbot.waitUntil(lambda: dispense.plan.lines[0].now == owed - 1, timeout=5_000)
    shoot(window, "dispense")

    kinds: list[tuple[str, str]] = []
    dispense.sig_printed.connect(lambda kind, outcome: kinds.append((kind, outcome)))
    with qtbot.waitSignal(dispense.sig_dispensed, timeout=10_000) as dispensed:
        qtbot.keyClick(dispense, Qt.Key.Key_F9)
    assert not dispensed.args[0].complete
    qtbot.waitUntil(lambda: sorted(kinds) == [("drug_label", "sent"), ("receipt", "sent")], timeout=15_000)

    labels = pdf_text(printed(prints, "drug_label")[0])
    # The first label as printed, rasterised for people to look at.
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "200",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(printed(prints, "drug_label")[0]),
            str(SCREENSHOTS / "pharmacy_printed_label"),
        ],
        check=True,
    )
    assert labels.count(first.number) == 3  # one label per line
    assert "每日" in labels and "饭后服用" in labels and "本部门诊西药房" in labels
    receipt = decode((prints / "receipt.bin").read_bytes())
    assert first.number in receipt.text and "￥" in receipt.text
    assert dispense.plan.lines[0].line.drug.generic_name in receipt.text
    assert receipt.qr_payloads and receipt.cut_count >= 1

    # The printer is off: the job is kept, the counter shows it; once it is back, a retry prints it.
    state.site = state.site.model_copy(
        update={
            "printers": {
                **state.site.printers,
                "receipt": PrinterSetting(target=f"tcp:127.0.0.1:{closed_port()}"),
            }
        }
    )
    kinds.clear()
    dispense.print_last("receipt")
    qtbot.waitUntil(lambda: ("receipt", "failed") in kinds, timeout=15_000)
    assert "无法连接打印机" in window.message_line.text()
    assert window.jobs_button.isVisible() and "1" in window.jobs_button.text()
    save_screenshot(window, "pharmacy_printer_off_1366x768")
    state.site = state.site.model_copy(
        update={
            "printers": {
                **state.site.printers,
                "receipt": PrinterSetting(target=f"file:{prints}/retried.bin"),
            }
        }
    )
    assert state.print_queue.retry() == 1
    qtbot.waitUntil(
        lambda: (prints / "retried.bin").exists() and not window.jobs_button.isVisible(), timeout=10_000
    )
    assert first.number in decode((prints / "retried.bin").read_bytes()).text

    # The server recorded the partial dispense, its ledger movements and the wrong pickup try.
    qtbot.waitUntil(lambda: state.runtime.store.pending_count() == 0, timeout=20_000)

    def facts(s: ServerState) -> tuple[Any, ...]:
        done = s.find(Dispense, rx_id=first.id)
        code_state = s.find(PickupCodeState, rx_id=first.id)[0]
        return s.get(Prescription, first.id), done, code_state

    rx_now, done, code_state = server_state(pharmacy_server.db_url, facts)
    assert rx_now.status == "partly_dispensed"
    assert len(done) == 1 and not done[0].complete and done[0].lines[0].remaining == 1
    if other is not None:
        assert done[0].lines[1].allocations[0].batch_no == other.batch_no
        assert done[0].lines[1].allocations[0].override_reason == "近效期先用完"
    kinds_seen = [e.kind for e in code_state.events]
    assert kinds_seen.count("wrong") == 1 and "verified" in kinds_seen
    # a partial dispense reopens the code for the remainder
    assert kinds_seen[-1] == "reopened" and code_state.used_at is None

    # The pick list for the remaining unit (many prescriptions at once: all the results shown).
    dispense.search(first.number)
    qtbot.waitUntil(lambda: dispense.results_model.rowCount() == 1, timeout=5_000)
    kinds.clear()
    qtbot.mouseClick(dispense.pick_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ("pick_list", "sent") in kinds, timeout=10_000)
    pick = pdf_text(printed(prints, "pick_list")[0])
    assert "配药单" in pick and first.number in pick

    # Every print reached the server as a print record: who, which printer, reprint marked. The receipt
    # sent again after the printer came back is a reprint (its first copy had printed).
    qtbot.waitUntil(
        lambda: state.runtime.store.pending_count() == 0 and len(state.runtime.store.find(PrintRecord)) >= 6,
        timeout=20_000,
    )

    def records(s: ServerState) -> list[tuple[str, bool, str]]:
        ids = {first.id: "rx", done[0].id: "dispense"}
        rows = [r for ref in ids for r in s.find(PrintRecord, ref_id=ref)]
        rows += [r for r in s.find(PrintRecord) if r.document == "pick_list"]
        assert all(r.printed_by == state.staff.id and r.printer and r.copies == 1 for r in rows)
        return sorted((r.document, r.reprint, ids.get(r.ref_id, "list")) for r in rows)

    assert server_state(pharmacy_server.db_url, records) == [
        ("label", False, "dispense"),
        ("pick_list", False, "list"),
        ("prescription", False, "rx"),
        ("prescription", True, "rx"),
        ("receipt", False, "dispense"),
        ("receipt", True, "dispense"),
    ]


def test_stocktake_and_receipt_from_the_stock_screen(
    qtbot: QtBot, desk: Any, pharmacy_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pharmacy_desk.screens.stock import CountDialog, ReceiveDialog

    window, state = desk, desk.state
    stock = window.stock
    window.tabs.setCurrentWidget(stock)
    qtbot.waitUntil(lambda: stock.models["all"].rowCount() > 100, timeout=15_000)
    # The demo stock shows every alert.
    assert stock.models["expired"].rowCount() > 0 and stock.models["expiring"].rowCount() > 0
    assert stock.low_model.rowCount() > 0
    shoot(window, "stock")

    # Count one batch two short: the server writes the adjustment as of the count.
    stock.tabs.setCurrentIndex(0)
    row = next(i for i, r in enumerate(stock.models["all"].rows()) if r.batch.quantity > 10)
    chosen = stock.models["all"].row(row)
    stock.views["all"].selectRow(row)
    book = chosen.batch.quantity

    def counted(cls: Any, parent: Any, **kw: Any) -> list[tuple[str, str, int]]:
        return [
            (
                b.batch.drug_id,
                b.batch.batch_no,
                b.batch.quantity - 2 if b.batch.batch_no == chosen.batch.batch_no else b.batch.quantity,
            )
            for b in kw["batches"]
            if b.batch.quantity >= 0
        ]

    monkeypatch.setattr(CountDialog, "ask", classmethod(counted))
    with qtbot.waitSignal(stock.sig_recorded, timeout=10_000):
        qtbot.mouseClick(stock.count_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: any(
            r.batch.id == chosen.batch.id and r.batch.quantity == book - 2 for r in stock.models["all"].rows()
        ),
        timeout=10_000,
    )
    qtbot.waitUntil(lambda: state.runtime.store.pending_count() == 0, timeout=20_000)
    on_server = server_state(pharmacy_server.db_url, lambda s: s.get(StockBatch, chosen.batch.id))
    assert on_server.quantity == book - 2

    # Receive a new batch of the same drug.
    expiry = dt.date.today() + dt.timedelta(days=700)

    def receive(cls: Any, parent: Any, **kw: Any) -> dict[str, Any]:
        drug = next(d for d in kw["drugs"] if d.id == chosen.batch.drug_id)
        return {
            "drug_id": drug.id,
            "supplier": "国药控股",
            "batch_no": "TEST-NEW-01",
            "expiry": expiry,
            "quantity": 5,
            "unit": "pack",
            "price": "12.5",
        }

    monkeypatch.setattr(ReceiveDialog, "ask", classmethod(receive))
    stock.filter_edit.setText(chosen.drug.code)
    with qtbot.waitSignal(stock.sig_recorded, timeout=10_000):
        qtbot.mouseClick(stock.receive_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: any(r.batch.batch_no == "TEST-NEW-01" for r in stock.models["all"].rows()), timeout=10_000
    )
    new = next(r for r in stock.models["all"].rows() if r.batch.batch_no == "TEST-NEW-01")
    assert new.batch.quantity == 5 * chosen.drug.pack_qty

    # Transfer three units of the new batch to the other campus's pharmacy (same batch and expiry there).
    from pharmacy_desk.screens.stock import MoveDialog

    moved: list[Any] = []

    def transfer(cls: Any, parent: Any, **kw: Any) -> dict[str, Any]:
        target = next(p for p in kw["others"] if p.code == "EAST-WY")
        moved.append(target)
        return {"kind": "transfer", "to_pharmacy_id": target.id, "quantity": 3, "reason": "东院缺货调拨"}

    monkeypatch.setattr(MoveDialog, "ask", classmethod(transfer))
    row = next(i for i, r in enumerate(stock.models["all"].rows()) if r.batch.batch_no == "TEST-NEW-01")
    stock.views["all"].selectRow(row)
    with qtbot.waitSignal(stock.sig_recorded, timeout=10_000):
        qtbot.mouseClick(stock.move_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state.runtime.store.pending_count() == 0, timeout=20_000)
    here = server_state(pharmacy_server.db_url, lambda s: s.get(StockBatch, new.batch.id))
    there = server_state(
        pharmacy_server.db_url,
        lambda s: [b for b in s.find(StockBatch, pharmacy_id=moved[0].id) if b.batch_no == "TEST-NEW-01"],
    )
    assert here.quantity == 5 * chosen.drug.pack_qty - 3
    assert [(b.quantity, b.expiry) for b in there] == [(3, expiry)]

    # Scrapping two units more than the shelf holds (a count that was off) is accepted, not refused: the
    # batch goes below zero, is flagged in its own tab and stays there for someone to sort out.
    over = here.quantity + 2
    monkeypatch.setattr(
        MoveDialog,
        "ask",
        classmethod(
            lambda cls, parent, **kw: {
                "kind": "scrap",
                "quantity": over,
                "reason": "破损",
                "to_pharmacy_id": None,
            }
        ),
    )
    row = next(i for i, r in enumerate(stock.models["all"].rows()) if r.batch.batch_no == "TEST-NEW-01")
    stock.views["all"].selectRow(row)
    with qtbot.waitSignal(stock.sig_recorded, timeout=10_000):
        qtbot.mouseClick(stock.move_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: any(r.batch.batch_no == "TEST-NEW-01" for r in stock.models["negative"].rows()),
        timeout=10_000,
    )
    negative_tab = next(i for i in range(stock.tabs.count()) if "负库存" in stock.tabs.tabText(i))
    assert stock.tabs.tabText(negative_tab).endswith(str(stock.models["negative"].rowCount()))
    qtbot.waitUntil(lambda: state.runtime.store.pending_count() == 0, timeout=20_000)
    assert server_state(pharmacy_server.db_url, lambda s: s.get(StockBatch, new.batch.id)).quantity == -2

    # Exports of the stock list: a spreadsheet with numbers, and a PDF.
    stock.tabs.setCurrentIndex(0)
    with qtbot.waitSignal(stock.sig_exported, timeout=20_000):
        stock.export("xlsx", str(tmp_path / "stock.xlsx"))
    from openpyxl import load_workbook

    cells = [
        c for row in load_workbook(tmp_path / "stock.xlsx").active.iter_rows(values_only=True) for c in row
    ]
    assert chosen.drug.generic_name in cells
    with qtbot.waitSignal(stock.sig_exported, timeout=20_000):
        stock.export("pdf", str(tmp_path / "stock.pdf"))
    assert chosen.drug.generic_name in pdf_text(tmp_path / "stock.pdf")
