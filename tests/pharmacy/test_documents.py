"""The desk's documents from a prescription row (no Qt, no server) and its table model."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from pypdf import PdfReader
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester

from pharmacy_desk.documents import (
    HandedOut,
    labels_for,
    labels_pdf,
    pick_items,
    pick_list_pdf,
    receipt_bytes,
    receipt_for,
    sample_line,
)
from shared.domain.entities import Prescription
from shared.gui.widgets import Column, RowsModel
from shared.printing.escpos_decode import decode

NOW = dt.datetime(2026, 11, 22, 10, 30)


def prescription() -> Prescription:
    line = sample_line()
    return Prescription(
        id="rx-1",
        campus_id="campus-1",
        number="RX2611220007",
        patient_id="p-1",
        doctor_id="d-1",
        day=NOW.date(),
        written_at=NOW,
        lines=[line.model_dump(mode="json"), line.model_copy(update={"quantity": 1}).model_dump(mode="json")],
        status="approved",
    )


def test_labels_show_what_a_partial_dispense_handed_out_per_line() -> None:
    rx = prescription()
    handed = [
        HandedOut(0, "B1", dt.date(2027, 1, 31), 20),
        HandedOut(0, "B2", dt.date(2027, 6, 30), 28),
        HandedOut(1, "B1", dt.date(2027, 1, 31), 10),
    ]
    labels = labels_for(rx, "欧阳娜娜", handed, pharmacy="门诊西药房", on=NOW.date())
    assert [label.quantity for label in labels] == ["2盒", "10粒"]
    assert labels[0].batch_no == "B1 等" and labels[0].expiry == dt.date(2027, 1, 31)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(labels_pdf(labels))).pages)
    assert "欧**娜" in text and "欧阳娜娜" not in text
    assert "口服，每日3次，每次2粒，饭后服用" in text.replace("\n", "")


def test_the_receipt_prices_loose_units_pro_rata_and_masks_the_name() -> None:
    rx = prescription()
    handed = [HandedOut(0, "B1", dt.date(2027, 1, 31), 48), HandedOut(1, "B1", dt.date(2027, 1, 31), 12)]
    receipt = receipt_for(
        rx, "张三丰", handed, hospital="测试医院", pharmacy="门诊西药房", pharmacist="李药师", now=NOW
    )
    assert [(line.quantity, line.unit) for line in receipt.lines] == [(2, "盒"), (12, "粒")]
    assert receipt.amount == Decimal("25.60") + Decimal("6.40")
    decoded = decode(receipt_bytes(receipt))
    assert "张*丰" in decoded.text and "张三丰" not in decoded.text
    assert "￥32.00" in decoded.text and decoded.qr_payloads == ["clinic:rx:RX2611220007"]


def test_the_pick_list_groups_many_prescriptions_by_drug() -> None:
    rx = prescription()
    items = pick_items(rx, "张三丰", [HandedOut(0, "B1", dt.date(2027, 1, 31), 48)])
    items += pick_items(
        rx.model_copy(update={"number": "RX2611220008"}),
        "李四",
        [HandedOut(0, "B2", dt.date(2027, 3, 1), 24)],
    )
    text = (
        PdfReader(io.BytesIO(pick_list_pdf(items, pharmacy="门诊西药房", by="李药师", now=NOW)))
        .pages[0]
        .extract_text()
    )
    assert "配药单" in text and "RX2611220007" in text and "RX2611220008" in text and "2 张处方" in text


def test_rows_model_passes_the_model_tester(qtmodeltester: ModelTester) -> None:
    model: RowsModel[tuple[str, int]] = RowsModel(
        [
            Column("名称", lambda r: r[0]),
            Column(
                "数量",
                lambda r: str(r[1]),
                colour=lambda r: "#c62828" if r[1] < 0 else None,
                align_right=True,
            ),
        ]
    )
    model.set_rows([("阿莫西林", 3), ("布洛芬", -2)])
    qtmodeltester.check(model)
    assert model.rowCount() == 2 and model.headerData(1, Qt.Orientation.Horizontal) == "数量"
