"""The thermal slips: a dispensing slip where nothing was paid (its own number, not "RR…"), a payment
receipt where money was taken, and the patient's pickup slip with the code and its QR. Real ESC/POS
bytes decoded; the raster version drawn for people to look at."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from shared.domain.pickup import parse_pickup_scan, pickup_qr_payload
from shared.printing.escpos_decode import decode
from shared.printing.receipt import (
    PickupSlip,
    Receipt,
    ReceiptLine,
    pickup_slip_blocks,
    pickup_slip_escpos,
    receipt_blocks,
    receipt_escpos,
    render_blocks_image,
    slip_number,
)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
NOW = dt.datetime(2026, 12, 6, 9, 30)
LINES = (
    ReceiptLine("阿莫西林胶囊", "0.25g×24粒", 2, "盒", Decimal("25.60")),
    ReceiptLine("布洛芬缓释胶囊", "0.3g×20粒", 1, "盒", Decimal("18.00")),
)


def receipt(**kw: object) -> Receipt:
    values: dict[str, object] = {
        "hospital": "华安市第一人民医院",
        "pharmacy_name": "本部门诊西药房",
        "receipt_no": slip_number("R261206-0A1B-0001", paid=False),
        "rx_no": "R261206-0A1B-0001",
        "patient_name": "张三丰",
        "lines": LINES,
        "printed_at": NOW,
    }
    values.update(kw)
    return Receipt(**values)  # type: ignore[arg-type]


def test_slip_numbers_come_from_the_prescription_number_without_a_doubled_prefix() -> None:
    assert slip_number("R261206-0A1B-0001", paid=False) == "FY261206-0A1B-0001"
    assert slip_number("R261206-0A1B-0001", paid=True) == "SF261206-0A1B-0001"
    assert slip_number("R261206-0A1B-0001", paid=False, part=2) == "FY261206-0A1B-0001-2"
    assert not slip_number("R261206-0A1B-0001", paid=True).startswith("RR")
    assert slip_number("RX2612060001", paid=False) == "FY2612060001"


def test_a_slip_where_nothing_was_paid_is_a_dispensing_slip_not_a_payment_receipt() -> None:
    text = decode(receipt_escpos(receipt(), paper="80mm")).text
    assert "发药凭条" in text and "收费小票" not in text
    assert "凭条号：FY261206-0A1B-0001" in text and "RR" not in text
    assert "药品金额：￥43.60" in text and "合计" not in text


def test_a_paid_slip_is_a_payment_receipt_with_its_method() -> None:
    paid = receipt(receipt_no=slip_number("R261206-0A1B-0001", paid=True), paid=True, payment="现金")
    text = decode(receipt_escpos(paid, paper="80mm")).text
    assert "本部门诊西药房 收费小票" in text and "票据号：SF261206-0A1B-0001" in text
    assert "合计：￥43.60" in text and "支付方式：现金" in text


def test_the_pickup_slip_carries_the_code_and_a_qr_the_counter_can_scan() -> None:
    slip = PickupSlip(
        hospital="华安市第一人民医院",
        pharmacy_name="本部门诊西药房",
        rx_no="R261206-0A1B-0001",
        patient_name="欧阳娜华",
        pickup_code="482913",
        printed_at=NOW,
        lines=LINES,
        qr_payload=pickup_qr_payload("rx-1", "482913"),
        valid_until=NOW + dt.timedelta(days=3),
    )
    decoded = decode(pickup_slip_escpos(slip, paper="80mm"))
    text = decoded.text
    assert "取药凭条" in text and "4 8 2 9 1 3" in text and "R261206-0A1B-0001" in text
    assert "欧**华" in text and "欧阳娜华" not in text
    assert "阿莫西林胶囊" in text and "2盒" in text
    assert decoded.qr_payloads == ["clinic:pickup:rx-1:482913"]
    assert parse_pickup_scan(decoded.qr_payloads[0]) == ("rx-1", "482913")
    assert decoded.cut_count == 1
    # 58 mm paper: nothing wider than 32 columns
    narrow = decode(pickup_slip_escpos(slip, paper="58mm"))
    assert "4 8 2 9 1 3" in narrow.text
    image = render_blocks_image(pickup_slip_blocks(slip), paper="80mm")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    image.save(SCREENSHOTS / "pharmacy_pickup_slip.png")
    assert image.width == 576 and image.height > 500
    unpaid = render_blocks_image(receipt_blocks(receipt()), paper="80mm")
    unpaid.save(SCREENSHOTS / "pharmacy_dispensing_slip.png")
