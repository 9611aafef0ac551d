"""Pharmacy documents read back: pick list (A4), drug labels, the ESC/POS receipt and both waybill sizes.

PDFs are read with pypdf (page size, Chinese text, masking), rasterised with poppler's pdftoppm into
docs/screenshots/ for people to look at, and the waybill's Code128 is decoded from the pixels.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from reportlab.graphics.barcode.code128 import _patterns

import shared.demo_data
from shared.domain.delivery import Address, DeliveryItem, StubCourier, advance, new_delivery, place_order
from shared.domain.pickup import pickup_qr_payload
from shared.domain.prescribing import DrugFacts, FrequencyFacts, RouteFacts, RxLine, edit_line, new_line
from shared.printing.drug_label import label_from_line, render_labels
from shared.printing.escpos_decode import decode
from shared.printing.pick_list import PickItem, PickList, pick_rows, render_pick_list
from shared.printing.receipt import Receipt, ReceiptLine, receipt_escpos
from shared.printing.waybill import WaybillPrint, render_waybill

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DATA = Path(shared.demo_data.__file__).parent
MM = 72 / 25.4
NOW = dt.datetime(2026, 11, 22, 10, 30)
PATIENTS = ["张三丰", "欧阳娜华", "李四", "王小明", "陈静"]

pdftoppm = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) not installed"
)


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _drugs() -> dict[str, DrugFacts]:
    drugs = {}
    for row in _rows("drugs.csv"):
        fields = {k: v for k, v in row.items() if k in DrugFacts.model_fields and v != ""}
        fields["skin_test"] = row["skin_test"] == "1"
        drugs[row["code"]] = DrugFacts.model_validate({"id": row["code"], **fields})
    return drugs


DRUGS = _drugs()
FREQUENCIES = {r["code"]: FrequencyFacts.model_validate(r) for r in _rows("frequencies.csv")}
ROUTES = {
    r["code"]: RouteFacts.model_validate({**r, "is_injection": r["is_injection"] == "1"})
    for r in _rows("routes.csv")
}


def oral_lines(count: int = 5) -> list[RxLine]:
    """Tablet and capsule lines with the drugs' default usage and a plain-words note."""
    codes = [c for c, d in DRUGS.items() if d.default_route == "po" and d.form in ("片剂", "胶囊")][:count]
    notes = ["饭后服用", "", "睡前服用", "饭前半小时服用", ""]
    lines = [new_line(DRUGS[c], frequencies=FREQUENCIES, routes=ROUTES, days=7) for c in codes]
    return [edit_line(line, note=notes[i % len(notes)]) for i, line in enumerate(lines)]


def rasterise(pdf: bytes, name: str, *, dpi: int = 100, page: int = 1) -> Image.Image:
    """Page ``page`` as PNG via pdftoppm, saved to docs/screenshots/<name>.png (people look at these)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "doc.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", str(source),
             str(Path(folder) / "page")],
            capture_output=True, timeout=60, check=True,
        )  # fmt: skip
        image = Image.open(Path(folder) / "page.png")
        image.load()
    if name:
        image.save(SCREENSHOTS / f"{name}.png")
    return image


def page_size_mm(reader: PdfReader, index: int = 0) -> tuple[float, float]:
    box = reader.pages[index].mediabox
    return round(float(box.width) / MM, 1), round(float(box.height) / MM, 1)


def text_of(pdf: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


# --- Code128 read back from pixels --------------------------------------------------------------------

_WIDTHS = {
    tuple("ABCD".index(ch.upper()) + 1 for ch in pattern): value
    for value, pattern in _patterns.items()
    if value < 106
}


def decode_code128_row(row: list[bool]) -> str | None:
    """Decode one scan line (True = black) of a Code128 symbol; None when no valid symbol is on it."""
    runs: list[tuple[bool, int, int]] = []  # (black, start, length)
    for x, black in enumerate(row):
        if runs and runs[-1][0] == black:
            runs[-1] = (black, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((black, x, 1))
    # split the black runs into clusters at white gaps wider than a quiet zone (>= 10 modules; the
    # widest space inside a symbol is 4); the barcode is the busiest cluster
    bars = sorted(r[2] for r in runs if r[0])
    if not bars:
        return None
    gap = 7 * bars[len(bars) // 10]
    clusters: list[list[tuple[bool, int, int]]] = [[]]
    for run in runs:
        if not run[0] and run[2] > gap and clusters[-1]:
            clusters.append([])
        elif run[0] or clusters[-1]:
            clusters[-1].append(run)
    best = max(clusters, key=len)
    while best and not best[-1][0]:
        best.pop()
    if (len(best) - 7) % 6 or len(best) < 19:
        return None
    symbols = (len(best) - 7) // 6
    module = (best[-1][1] + best[-1][2] - best[0][1]) / (11 * symbols + 13)
    widths = [max(1, round(r[2] / module)) for r in best]
    values = []
    for i in range(symbols):
        value = _WIDTHS.get(tuple(widths[6 * i : 6 * i + 6]))
        if value is None:
            return None
        values.append(value)
    start, data, check = values[0], values[1:-1], values[-1]
    if start not in (103, 104, 105) or (start + sum(i * v for i, v in enumerate(data, 1))) % 103 != check:
        return None
    text, code = "", {103: "A", 104: "B", 105: "C"}[start]
    for v in data:
        if v == 99:
            code = "C"
        elif v == 100:
            code = "B"
        elif v == 101:
            code = "A"
        elif code == "C":
            text += f"{v:02d}"
        else:
            text += chr(v + 32) if code == "B" or v < 64 else chr(v - 64)
    return text


def decode_code128(image: Image.Image) -> list[str]:
    """Every distinct Code128 value found on horizontal scan lines of ``image``."""
    gray = image.convert("L")
    width, height = gray.size
    pixels = gray.load()
    found: list[str] = []
    for y in range(0, height, 3):
        value = decode_code128_row([pixels[x, y] < 128 for x in range(width)])
        if value and value not in found:
            found.append(value)
    return found


# --- pick list ---------------------------------------------------------------------------------------


def pick_items(prescriptions: int = 12) -> tuple[PickItem, ...]:
    items = []
    codes = list(DRUGS)[:14]
    for n in range(prescriptions):
        for k in range(3 + n % 3):
            drug = DRUGS[codes[(n * 5 + k * 3) % len(codes)]]
            batch = f"2410{(n + k) % 2:02d}"
            items.append(
                PickItem(
                    rx_no=f"RX20261122-{n + 1:04d}",
                    patient_name=PATIENTS[n % len(PATIENTS)],
                    drug_id=drug.id,
                    drug_name=drug.generic_name,
                    spec=drug.spec,
                    location=f"{'ABC'[int(drug.id[-2:]) % 3]}-{int(drug.id[-2:]) % 4 + 1:02d}-{int(drug.id[-1]) % 3 + 1}",
                    batch_no=batch,
                    expiry=dt.date(2027, 3 + int(batch[-1]) * 4, 28),
                    quantity=drug.pack_qty * (1 + n % 2) + (n % 3),
                    pack_qty=drug.pack_qty,
                    pack_unit=drug.pack_unit,
                    min_unit=drug.min_unit,
                )
            )
    return tuple(items)


@pdftoppm
def test_the_pick_list_is_a4_grouped_by_location_and_drug_with_batches_and_masked_names() -> None:
    items = pick_items()
    doc = PickList(pharmacy_name="门诊西药房", printed_at=NOW, printed_by="李药师", items=items)
    pdf = render_pick_list(doc)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 2
    assert all(page_size_mm(reader, i) == (210.0, 297.0) for i in range(len(reader.pages)))
    pages = text_of(pdf)
    everything = "".join(pages)
    assert "门诊西药房" in pages[0] and "配药单" in pages[0] and "处方 12 张" in pages[0]
    assert f"第 1/{len(pages)} 页" in pages[0] and f"第 {len(pages)}/{len(pages)} 页" in pages[-1]
    assert items[0].drug_name in everything and items[0].batch_no in everything
    assert "张*丰" in everything and "张三丰" not in everything
    # every pick appears under its drug, and drug heads come in shelf-location order
    rows = pick_rows(items)
    heads = [r for r in rows if r[0]]
    assert [h[0] for h in heads] == sorted(h[0] for h in heads)
    assert len(rows) - len(heads) == len({(i.rx_no, i.drug_id, i.batch_no) for i in items})
    first = items[0]
    total = sum(i.quantity for i in items if i.drug_id == first.drug_id and i.location == first.location)
    packs, loose = divmod(total, first.pack_qty)
    expected = f"{packs}{first.pack_unit}" + (f"{loose}{first.min_unit}" if loose else "")
    assert any(h[6] == expected for h in heads if h[1].startswith(first.drug_name))
    rasterise(pdf, "pick_list_a4")


# --- drug labels -------------------------------------------------------------------------------------


@pdftoppm
@pytest.mark.parametrize(("size", "mm"), [("70x50", (70.0, 50.0)), ("60x40", (60.0, 40.0))])
def test_a_label_per_line_says_who_what_and_how_in_plain_words(size: str, mm: tuple[float, float]) -> None:
    lines = oral_lines(5)
    labels = [
        label_from_line(line, patient_name="张三丰", dispensed_on=NOW.date(), pharmacy_name="市一院门诊西药房",
                        rx_no="RX20261122-0012", batch_no="241001", expiry=dt.date(2027, 10, 31))
        for line in lines
    ]  # fmt: skip
    assert labels[0].usage.endswith("，饭后服用") and labels[0].usage.startswith("口服，每日")
    pdf = render_labels(labels, size=size)  # type: ignore[arg-type]
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == len(lines)
    assert all(page_size_mm(reader, i) == mm for i in range(len(lines)))
    for page_text, label in zip(text_of(pdf), labels, strict=True):
        flat = page_text.replace("\n", "")
        assert label.drug_name in flat
        assert label.usage in flat, "the usage must never be cut"
        assert "张*丰" in flat and "张三丰" not in flat
        assert label.quantity in flat and "2026-11-22" in flat and "市一院门诊西药房" in flat
    rasterise(pdf, f"drug_label_{size}", dpi=200)


def test_a_partial_dispense_labels_what_was_handed_out() -> None:
    line = oral_lines(1)[0]
    label = label_from_line(line, patient_name="李四", dispensed_on=NOW.date(), pharmacy_name="门诊药房",
                            dispensed_min_units=line.drug.pack_qty + 4)  # fmt: skip
    assert label.quantity == f"1{line.drug.pack_unit}4{line.drug.min_unit}"


@pdftoppm
def test_a_long_usage_shrinks_to_fit_instead_of_being_cut() -> None:
    line = edit_line(oral_lines(1)[0], note="饭后服用，服药期间忌酒及辛辣食物，如出现皮疹请立即停药并就医")
    label = label_from_line(line, patient_name="欧阳娜华", dispensed_on=NOW.date(), pharmacy_name="门诊药房")
    pdf = render_labels([label], size="60x40")
    assert label.usage in text_of(pdf)[0].replace("\n", "")
    image = rasterise(pdf, "", dpi=100).convert("L")
    assert image.getbbox() is not None


# --- receipt -----------------------------------------------------------------------------------------


def sample_receipt(patient: str = "欧阳娜华") -> Receipt:
    lines = oral_lines(5)
    return Receipt(
        hospital="成都市第一人民医院",
        pharmacy_name="门诊西药房",
        receipt_no="PJ20261122-000123",
        rx_no="RX20261122-0012",
        patient_name=patient,
        lines=tuple(
            ReceiptLine(
                line.drug.generic_name, line.drug.spec, line.quantity, line.drug.pack_unit, line.amount
            )
            for line in lines
        ),
        printed_at=NOW,
        payment="医保统筹 + 微信支付",
        pharmacist="李药师",
        pickup_code="482913",
        window="3号窗口",
        qr_payload=pickup_qr_payload("rx-1", "482913"),
    )


def test_the_receipt_prints_chinese_as_gb18030_with_the_amount_pickup_code_and_qr() -> None:
    receipt = sample_receipt()
    data = receipt_escpos(receipt, paper="80mm")
    decoded = decode(data)
    assert decoded.named("chinese_on") and not decoded.images
    text = decoded.text
    assert "成都市第一人民医院" in text and "门诊西药房 收费小票" in text
    for line in receipt.lines:
        assert line.name in text
    assert f"合计：￥{receipt.amount}" in text
    assert receipt.amount == sum(line.amount for line in receipt.lines) > 0
    assert "欧**华" in text and "欧阳娜华" not in text
    assert "4 8 2 9 1 3" in text
    assert decoded.qr_payloads == ["clinic:pickup:rx-1:482913"]
    assert all(len(line) <= 48 or "￥" not in line for line in decoded.lines)
    assert decoded.cut_count == 1
    # the amount column lines up: every money amount ends at column 48
    money_lines = [
        line for line in decoded.lines if line.endswith(("0", "5")) and "￥" in line and "合计" not in line
    ]
    assert money_lines and all(sum(2 if ord(c) > 0x2E80 else 1 for c in line) == 48 for line in money_lines)


def test_a_name_outside_gbk_prints_the_whole_receipt_as_an_image() -> None:
    receipt = sample_receipt(
        patient="张小𠮷"
    )  # masked 张*𠮷; 𠮷 (CJK Ext-B) is 4-byte GB18030, no printer font has it
    decoded = decode(receipt_escpos(receipt, mode="auto"))
    assert decoded.images and not decoded.qr_payloads
    image = decoded.images[0]
    assert image.width == 576 and image.height > 600
    raster = decoded.images[0].to_image()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    decode(receipt_escpos(sample_receipt(), mode="raster")).images[0].to_image().save(
        SCREENSHOTS / "receipt_80mm.png"
    )
    assert raster.getbbox() is not None


def test_a_58mm_receipt_fits_32_columns() -> None:
    decoded = decode(receipt_escpos(sample_receipt(), paper="58mm", mode="text"))
    widths = [sum(2 if ord(c) > 0x2E80 else 1 for c in line) for line in decoded.lines]
    assert max(widths) <= 32


# --- waybills ----------------------------------------------------------------------------------------


def placed_order() -> tuple[object, str]:
    courier = StubCourier()
    order = new_delivery(
        id="delivery-42",
        prescription_id="rx-1",
        pharmacy_id="ph-1",
        sender=Address("市第一人民医院门诊药房", "13987654321", "四川省", "成都市", "武侯区", "人民南路四段18号"),
        receiver=Address("张三丰", "13812345678", "四川省", "成都市", "高新区", "天府大道中段1268号天府软件园E区3栋2单元801室"),
        items=(DeliveryItem("阿莫西林胶囊", "0.25g×24粒", 2, "盒"), DeliveryItem("布洛芬缓释胶囊", "0.3g×20粒", 1, "盒")),
        created_at=NOW,
        by="pharmacist1",
    )  # fmt: skip
    placed = place_order(advance(order, "confirmed", at=NOW, by="p"), courier, at=NOW, by="p")
    return placed, courier.sort_code


@pdftoppm
@pytest.mark.parametrize(("size", "mm"), [("100x150", (100.0, 150.0)), ("76x130", (76.0, 130.0))])
def test_the_waybill_has_code128_qr_masked_phones_and_the_contents_count(
    size: str, mm: tuple[float, float]
) -> None:
    order, sort_code = placed_order()
    doc = WaybillPrint.from_order(
        order, courier_name="顺丰速运", sort_code=f"{sort_code} 成都", printed_at=NOW
    )  # type: ignore[arg-type]
    pdf = render_waybill(doc, size=size)  # type: ignore[arg-type]
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1 and page_size_mm(reader) == mm
    text = text_of(pdf)[0]
    waybill = order.waybill_no  # type: ignore[attr-defined]
    assert waybill.startswith("SF") and waybill in text
    assert "138****5678" in text and "13812345678" not in text and "139****4321" in text
    assert "张三丰" in text and "天府大道" in text and "共 3 件" in text
    assert "阿莫西林" not in text, "drug names stay off the parcel"
    assert "收" in text and "寄" in text and "顺丰速运" in text
    # the barcodes decode from the pixels to the waybill number (main and stub)
    assert decode_code128(rasterise(pdf, "", dpi=300)) == [waybill]
    rasterise(pdf, f"waybill_{size}")


@pdftoppm
def test_the_code128_reader_refuses_a_damaged_symbol() -> None:
    from reportlab.graphics.barcode.code128 import Code128
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(300, 60))
    Code128("SF123456789012", barWidth=1.5, barHeight=40, quiet=True).drawOn(canvas, 10, 10)
    canvas.save()
    image = rasterise(buffer.getvalue(), "", dpi=150).convert("L")
    assert decode_code128(image) == ["SF123456789012"]
    row = [image.getpixel((x, image.height // 2)) < 128 for x in range(image.width)]
    assert decode_code128_row(row) == "SF123456789012"
    middle = len(row) // 2
    row[middle - 4 : middle + 4] = [not v for v in row[middle - 4 : middle + 4]]
    assert decode_code128_row(row) is None
