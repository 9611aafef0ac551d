"""Refunds (stock back to its batch) and home delivery (confirmation, courier stub, waybills) on the desk."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.domain.delivery import TrackingEvent
from shared.domain.entities import Delivery, Dispense, PrintRecord, Refund, StockBatch
from shared.domain.pharmacy import batch_id
from tests.gui.conftest import save_screenshot
from tests.pharmacy.support import PHARMACIST_PIN, registered_key
from tests.pharmacy.test_desk_flow import pdf_text, server_state
from tests.support.api import ApiUser


def approve_and_dispense(qtbot: QtBot, state: Any, rx_id: str) -> Any:
    """What the review and dispense screens record, done directly against the desk's store."""
    from pharmacy_desk import actions
    from pharmacy_desk.queries import dispense_plan

    store = state.runtime.store
    staff = state.staff
    registered_key(qtbot, state)
    actions.review(store, state.keys, staff, rx_id, "approve", "", "", PHARMACIST_PIN)
    plan = dispense_plan(store, rx_id, state.pharmacy_id, state.today())
    actions.dispense(
        store, plan, pharmacy_id=state.pharmacy_id, handover="delivery", pickup_code="", now=state.now()
    )
    return plan


def test_refund_puts_stock_back_and_delivery_prints_waybills(
    qtbot: QtBot, desk: Any, pharmacy_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pharmacy_desk.dialogs import TextDialog
    from pharmacy_desk.screens import returns as returns_module
    from pharmacy_desk.screens.returns import RefundDialog

    window, state = desk, desk.state
    rx = pharmacy_server.prescriptions[0].rx
    plan = approve_and_dispense(qtbot, state, rx.id)
    line = plan.lines[0]
    taken = line.allocation[0]
    key = batch_id(state.pharmacy_id, line.line.drug.id, taken.batch_no)
    qtbot.waitUntil(lambda: state.runtime.store.pending_count() == 0, timeout=20_000)
    before = server_state(pharmacy_server.db_url, lambda s: s.get(StockBatch, key)).quantity

    screen = window.returns
    window.tabs.setCurrentWidget(screen)
    screen.search(rx.number)
    qtbot.waitUntil(lambda: screen.rx_model.rowCount() == 1, timeout=5_000)

    # A refund of two units of the first line, put back on the shelf.
    monkeypatch.setattr(
        RefundDialog, "ask", classmethod(lambda cls, parent, **kw: ("patient_request", "", [(0, 2, True)]))
    )
    with qtbot.waitSignal(screen.sig_refund_recorded, timeout=10_000):
        qtbot.mouseClick(screen.request_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.refund_model.rowCount() == 1, timeout=10_000)
    assert screen.refund_model.row(0).refund.status == "requested"
    screen.refund_table.selectRow(0)
    # Who asked for the refund does not approve it: the desk says so, and a second pharmacist does.
    with qtbot.waitSignal(
        state.sig_message,
        timeout=10_000,
        check_params_cb=lambda text, level: level == "error" and "另一位" in text,
    ):
        qtbot.mouseClick(screen.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state.runtime.store.pending_count() == 0, timeout=20_000)
    second = ApiUser(pharmacy_server.url, "pharmacist3")
    try:
        review = {"refund_id": screen.refund_model.row(0).refund.id, "decision": "approve", "note": "同意"}
        assert second.push_one("rx.refund_review", review)["status"] == "applied"
    finally:
        second.close()
    screen.search(rx.number)
    qtbot.waitUntil(
        lambda: (
            screen.refund_model.rowCount() == 1 and screen.refund_model.row(0).refund.status == "approved"
        ),
        timeout=10_000,
    )

    # Delivery: a bad phone number is refused on the spot and nothing is recorded.
    for edit, text in (
        (screen.name_edit, "黄丽"),
        (screen.mobile_edit, "1381234"),
        (screen.province_edit, "广东省"),
        (screen.city_edit, "深圳市"),
        (screen.district_edit, "南山区"),
        (screen.detail_edit, "科技园南路 88 号 3 栋 502"),
    ):
        edit.setText(text)
    recorded = len(state.runtime.store.outbox())  # every mutation ever recorded here, sent or not
    confirmations: list[str] = []
    monkeypatch.setattr(
        returns_module, "confirm_delivery", lambda parent, **kw: confirmations.append(kw["text"]) or True
    )
    qtbot.mouseClick(screen.confirm_button, Qt.MouseButton.LeftButton)
    assert "手机号" in screen.address_error.text() and not confirmations
    assert len(state.runtime.store.outbox()) == recorded

    # A good address: the confirmation step shows the masked phone, then the courier stub books it.
    screen.mobile_edit.setText("13812345678")
    with qtbot.waitSignal(screen.sig_delivery_placed, timeout=15_000) as placed:
        qtbot.mouseClick(screen.confirm_button, Qt.MouseButton.LeftButton)
    assert "138****5678" in confirmations[0]
    cancelled_waybill = placed.args[0]
    assert cancelled_waybill.startswith("SF")
    qtbot.waitUntil(
        lambda: (
            screen.delivery_model.rowCount() == 1
            and screen.delivery_model.row(0).delivery.waybill_no == cancelled_waybill
        ),
        timeout=10_000,
    )

    # The patient changes their mind: cancelled with a reason, the courier told first.
    screen.delivery_table.selectRow(0)
    monkeypatch.setattr(TextDialog, "ask", classmethod(lambda cls, parent, **kw: "患者改为到店自取"))
    with qtbot.waitSignal(screen.sig_delivery_tracked, timeout=15_000) as cancelled:
        qtbot.mouseClick(screen.cancel_button, Qt.MouseButton.LeftButton)
    assert cancelled.args[0] == "cancelled"
    assert screen.courier.track(cancelled_waybill)[-1].status == "cancelled"
    qtbot.waitUntil(lambda: screen.delivery_model.row(0).delivery.status == "cancelled", timeout=10_000)

    # ... and then wants it delivered after all: a new order (the cancelled one no longer blocks it).
    with qtbot.waitSignal(screen.sig_delivery_placed, timeout=15_000) as placed:
        qtbot.mouseClick(screen.confirm_button, Qt.MouseButton.LeftButton)
    waybill = placed.args[0]
    assert waybill.startswith("SF") and waybill != cancelled_waybill
    qtbot.waitUntil(
        lambda: (
            screen.delivery_model.rowCount() == 2
            and screen.delivery_model.row(0).delivery.waybill_no == waybill
        ),
        timeout=10_000,
    )
    screen.delivery_table.selectRow(0)
    save_screenshot(window, "pharmacy_returns_1366x768")
    window.resize(1920, 1080)
    save_screenshot(window, "pharmacy_returns_1920x1080")

    prints = tmp_path / "prints"
    for expected, size in enumerate(("100x150", "76x130"), start=1):
        with qtbot.waitSignal(state.sig_print_recorded, timeout=15_000):
            screen.print_waybill(size)
        assert len(list(prints.glob("waybill-*.pdf"))) == expected
    first, second = sorted(prints.glob("waybill-*.pdf"))
    widths = sorted(
        round(float(PdfReader(io.BytesIO(p.read_bytes())).pages[0].mediabox.width) / 72 * 25.4)
        for p in (first, second)
    )
    assert widths == [76, 100]
    text = pdf_text(first)
    assert waybill in text.replace(" ", "") and "138****5678" in text

    assert "补打" not in text and "补打" in pdf_text(second)

    qtbot.mouseClick(screen.ship_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.delivery_model.row(0).delivery.status == "shipped", timeout=10_000)

    # A shipped parcel cannot be cancelled any more; nothing is recorded.
    def cancels() -> int:
        return sum(e.name == "delivery.cancel" for e in state.runtime.store.outbox())

    assert cancels() == 1  # the first order's
    qtbot.mouseClick(screen.cancel_button, Qt.MouseButton.LeftButton)
    assert "不能取消" in window.message_line.text()
    assert cancels() == 1

    # The courier reports the parcel delivered: a tracking refresh moves the order on.
    screen.courier.push(
        waybill, TrackingEvent("in_transit", dt.datetime.now(dt.UTC), "深圳转运中心", "运输中")
    )
    screen.courier.push(waybill, TrackingEvent("delivered", dt.datetime.now(dt.UTC), "南山区", "本人签收"))
    with qtbot.waitSignal(screen.sig_delivery_tracked, timeout=15_000) as tracked:
        qtbot.mouseClick(screen.track_button, Qt.MouseButton.LeftButton)
    assert tracked.args[0] == "delivered" and "本人签收" in screen.tracking_label.text()
    qtbot.waitUntil(lambda: screen.delivery_model.row(0).delivery.status == "delivered", timeout=10_000)

    # The server agrees: the refund returned two units to the very batch, the parcel arrived, the first
    # order stays cancelled with its reason, and both waybill prints are recorded (the second a reprint).
    qtbot.waitUntil(lambda: state.runtime.store.pending_count() == 0, timeout=20_000)

    def facts(s: Any) -> tuple[Any, ...]:
        deliveries = s.find(Delivery, rx_id=rx.id)
        records = [r for d in deliveries for r in s.find(PrintRecord, ref_id=d.id)]
        return s.get(StockBatch, key), s.find(Refund, rx_id=rx.id), deliveries, records

    batch, refunds, deliveries, records = server_state(pharmacy_server.db_url, facts)
    assert batch.quantity == before + 2
    assert [r.status for r in refunds] == ["approved"]
    by_waybill = {d.waybill_no: d for d in deliveries}
    assert by_waybill[waybill].status == "delivered"
    assert [h.status for h in by_waybill[waybill].history][-2:] == ["shipped", "delivered"]
    gone = by_waybill[cancelled_waybill]
    assert gone.status == "cancelled" and gone.history[-1].note == "患者改为到店自取"
    assert sorted((r.document, r.reprint, r.ref_id) for r in records) == [
        ("waybill", False, by_waybill[waybill].id),
        ("waybill", True, by_waybill[waybill].id),
    ]
    assert all(r.printed_by == state.staff.id and r.printer for r in records)


def test_a_dispense_recorded_before_a_stocktake_goes_to_the_review_list_and_is_closed_with_a_note(
    qtbot: QtBot, desk: Any, pharmacy_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pharmacy_desk import actions
    from pharmacy_desk.queries import dispense_plan
    from pharmacy_desk.screens.dispense import ConflictsDialog

    window, state = desk, desk.state
    store = state.runtime.store
    rx = pharmacy_server.prescriptions[0].rx
    registered_key(qtbot, state)
    actions.review(
        store,
        state.keys,
        state.staff,
        rx.id,
        "approve",
        "",
        "",
        PHARMACIST_PIN,
    )
    plan = dispense_plan(store, rx.id, state.pharmacy_id, state.today())
    first = plan.lines[0].allocation[0]
    batch = store.get(StockBatch, batch_id(state.pharmacy_id, plan.lines[0].line.drug.id, first.batch_no))
    # The shelf is counted now; a dispense this PC recorded offline an hour earlier arrives afterwards.
    actions.count(
        store,
        pharmacy_id=state.pharmacy_id,
        counted=[(batch.drug_id, batch.batch_no, batch.quantity - 1)],
        counted_at=state.now(),
    )
    earlier = state.now() - dt.timedelta(hours=1)
    code = actions.pickup_code_drawn_here(store, rx.id)  # the patient showed it at the counter
    outcome = actions.dispense(
        store, plan, pharmacy_id=state.pharmacy_id, handover="counter", pickup_code=code, now=earlier
    )
    assert any("盘点" in w for w in outcome.warnings), outcome.warnings

    screen = window.dispense
    window.tabs.setCurrentWidget(screen)
    screen._load_conflicts()
    qtbot.waitUntil(lambda: len(screen.conflicts) == 1, timeout=10_000)
    assert screen.conflicts_button.text() == "待复核 1"

    def ask(cls: Any, parent: Any, **kw: Any) -> tuple[str, str]:
        dialog = cls(parent, **kw)
        qtbot.addWidget(dialog)
        dialog.show()
        assert "盘点" in dialog.model.data(dialog.model.index(0, 2))
        save_screenshot(dialog, "pharmacy_conflicts")
        dialog.note_edit.setText("已复盘，数量无误")
        return dialog.value()  # type: ignore[return-value]

    monkeypatch.setattr(ConflictsDialog, "ask", classmethod(ask))
    # The pharmacist who dispensed cannot close their own review: a second pharmacist does.
    with qtbot.waitSignal(
        state.sig_message,
        timeout=10_000,
        check_params_cb=lambda text, level: level == "error" and "另一位" in text,
    ):
        qtbot.mouseClick(screen.conflicts_button, Qt.MouseButton.LeftButton)
    assert len(screen.conflicts) == 1
    qtbot.waitUntil(lambda: store.pending_count() == 0, timeout=20_000)
    dispense_id = screen.conflicts[0].id
    second = ApiUser(pharmacy_server.url, "pharmacist3")
    try:
        closed = second.push_one("dispense.resolve", {"dispense_id": dispense_id, "note": "已复盘，数量无误"})
    finally:
        second.close()
    assert closed["status"] == "applied", closed
    qtbot.waitUntil(
        lambda: store.get(Dispense, dispense_id).conflict_status == "resolved",  # type: ignore[union-attr]
        timeout=20_000,
    )
    done = server_state(pharmacy_server.db_url, lambda s: s.find(Dispense, rx_id=rx.id))
    assert done[0].conflict_status == "resolved" and done[0].resolution_note == "已复盘，数量无误"
    assert [c.kind for c in done[0].conflicts] == ["before_stocktake"]

    # The dispensing and sales list for today shows the dispense with its amount.
    stock = window.stock
    window.tabs.setCurrentWidget(stock)
    stock.tabs.setCurrentIndex(stock.tabs.count() - 1)
    with qtbot.waitSignal(stock.sig_sales_loaded, timeout=10_000) as loaded:
        qtbot.mouseClick(stock.sales_button, Qt.MouseButton.LeftButton)
    report = loaded.args[0]
    assert {line.rx_number for line in report.lines} == {rx.number} and len(report.lines) == 3
    assert report.dispensed_amount == sum(line.amount for line in report.lines) > 0
    assert str(report.dispensed_amount) in stock.totals_label.text().replace("￥", "")
    save_screenshot(window, "pharmacy_sales_1366x768")

    # ... and exports as a spreadsheet (numbers, not text) and a PDF, both with the total.
    with qtbot.waitSignal(stock.sig_exported, timeout=20_000):
        stock.export("xlsx", str(tmp_path / "sales.xlsx"))
    from openpyxl import load_workbook

    cells = [
        c for row in load_workbook(tmp_path / "sales.xlsx").active.iter_rows(values_only=True) for c in row
    ]
    assert rx.number in cells and any(isinstance(c, int | float) and c > 0 for c in cells)
    with qtbot.waitSignal(stock.sig_exported, timeout=20_000):
        stock.export("pdf", str(tmp_path / "sales.pdf"))
    text = pdf_text(tmp_path / "sales.pdf")
    assert rx.number in text and f"{report.dispensed_amount:.2f}" in text


def test_a_code_locked_by_wrong_tries_is_replaced_and_the_new_one_works(
    qtbot: QtBot, desk: Any, pharmacy_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pharmacy_desk import actions
    from pharmacy_desk.dialogs import TextDialog
    from shared.domain.pickup import pickup_qr_payload

    window, state = desk, desk.state
    rx = pharmacy_server.prescriptions[0].rx
    registered_key(qtbot, state)
    outcome = actions.review(
        state.runtime.store,
        state.keys,
        state.staff,
        rx.id,
        "approve",
        "",
        "",
        PHARMACIST_PIN,
    )
    screen = window.dispense
    window.open_for_dispensing(rx.number)
    qtbot.waitUntil(lambda: screen.plan is not None and screen.plan.rx.id == rx.id, timeout=10_000)
    wrong = "111112" if outcome.pickup_code != "111112" else "111113"
    for _ in range(5):
        screen.code_edit.setText(wrong)
        qtbot.mouseClick(screen.verify_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: screen.code_label.text() != "", timeout=5_000)
        last = screen.code_label.text()
        screen.code_label.clear()
    assert "锁定" in last
    screen.code_edit.setText(outcome.pickup_code)  # even the right code is refused now
    qtbot.mouseClick(screen.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "锁定" in screen.code_label.text(), timeout=5_000)
    assert not screen.dispense_button.isEnabled()

    monkeypatch.setattr(
        TextDialog, "ask", classmethod(lambda cls, parent, **kw: "患者输错多次，核对身份证后重发")
    )
    qtbot.mouseClick(screen.reissue_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "新的取药码" in window.message_line.text(), timeout=5_000)
    new_code = window.message_line.text().split("：")[1][:6]
    assert new_code.isdigit() and new_code != outcome.pickup_code
    screen.search(pickup_qr_payload(rx.id, new_code))
    qtbot.waitUntil(lambda: screen.verified_code == new_code, timeout=10_000)
    qtbot.waitUntil(lambda: screen.dispense_button.isEnabled(), timeout=5_000)
