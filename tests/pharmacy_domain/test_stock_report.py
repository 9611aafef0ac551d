"""Stock and sales lists from the demo's opening stock plus real dispenses and a refund (handlers run in
memory), exported to xlsx (read back with openpyxl) and PDF (read back with pypdf, rasterised with
pdftoppm into docs/screenshots/ for people to look at)."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader

from server_stub.seed import reference
from server_stub.seed import stock as seed_stock
from server_stub.seed.stock import MemoryState
from shared.domain.entities import Dispense, Drug, Pharmacy, Refund, StockBatch, StockMinimum, StockMovement
from shared.domain.mutations import MutationContext
from shared.domain.pharmacy_queries import (
    balance_mismatches,
    effective_minimums,
    on_hand_from_ledger,
    sales_report,
    stock_overview,
)
from shared.ids import new_id
from shared.printing.stock_report import (
    render_sales_pdf,
    render_stock_pdf,
    write_sales_xlsx,
    write_stock_xlsx,
)
from tests.pharmacy_domain.support import (
    EAST,
    EAST_PHARMACY,
    MAIN,
    MAIN_PHARMACY,
    PHARMACIST,
    PHARMACIST3,
    prescription,
)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TZ = dt.timezone(dt.timedelta(hours=8))
TODAY = dt.date(2026, 11, 22)
NOW = dt.datetime(2026, 11, 22, 8, 0, tzinfo=TZ)
pdftoppm = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) not installed"
)


def ctx(at: dt.datetime, staff: str = PHARMACIST) -> MutationContext:
    return MutationContext(
        staff_id=staff,
        roles=frozenset({"pharmacist"}),
        device_id="desk",
        campus_id=MAIN,
        now=at,
        today=at.date(),
    )


@pytest.fixture(scope="module")
def world() -> MemoryState:
    """The demo's opening stock, then two days of dispensing at the main pharmacy and one refund."""
    drugs = list(reference.drugs())
    seeded = seed_stock.demo_entities(
        drugs, today=TODAY - dt.timedelta(days=2), now=NOW - dt.timedelta(days=2)
    )
    state = MemoryState([*drugs, *seeded])
    state.rows["pharmacy", MAIN_PHARMACY] = Pharmacy(
        id=MAIN_PHARMACY, campus_id=MAIN, code="MAIN-WY", name="本部门诊西药房"
    )
    state.rows["pharmacy", EAST_PHARMACY] = Pharmacy(
        id=EAST_PHARMACY, campus_id=EAST, code="EAST-WY", name="东院门诊药房"
    )
    items = [("阿莫西林胶囊", 3), ("苯磺酸氨氯地平片", 14), ("盐酸二甲双胍片", 7)]
    for n in range(6):
        rx = prescription(items[n % 3], items[(n + 1) % 3], status="approved", number=f"RX20261121{n:04d}")
        state.rows["rx", rx.id] = rx
        at = NOW - dt.timedelta(days=1 - n // 3, hours=-n)
        dispense_id = new_id()
        state.run("rx.dispense", {"id": dispense_id, "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY,
                                  "dispensed_at": at.isoformat()}, ctx(at))  # fmt: skip
        if n == 4:
            refund_id = new_id()
            state.run("rx.refund_request", {"id": refund_id, "rx_id": rx.id, "reason_code": "doctor_change",
                                            "lines": [{"line_no": 0, "quantity": 7}]}, ctx(at))  # fmt: skip
            state.run(
                "rx.refund_review",
                {"refund_id": refund_id, "decision": "approve"},
                ctx(at + dt.timedelta(hours=1), PHARMACIST3),  # a second pharmacist reviews a refund
            )
    return state


def catalogue(state: MemoryState) -> dict[str, Drug]:
    return {d.id: d for d in state.find(Drug)}


def overview_of(state: MemoryState, pharmacy: str = MAIN_PHARMACY):  # type: ignore[no-untyped-def]
    drugs = {d.id: d for d in state.find(Drug)}
    minimums = effective_minimums(drugs.values(), state.find(StockMinimum), pharmacy)
    return stock_overview(state.find(StockBatch), drugs, minimums, pharmacy, TODAY)


def test_demo_stock_shows_every_alert_and_matches_its_ledger(world: MemoryState) -> None:
    assert balance_mismatches(world.find(StockBatch), world.find(StockMovement)) == []
    for pharmacy in (MAIN_PHARMACY, EAST_PHARMACY):
        view = overview_of(world, pharmacy)
        levels = {a.level for a in view.expiry}
        assert levels == {"expired", "expiring"}
        assert view.low and all(0 < x.on_hand < x.minimum for x in view.low if x.on_hand)
        assert len(view.rows) > 300
    fold = on_hand_from_ledger(world.find(StockMovement))
    view = overview_of(world)
    assert all(fold.drug(MAIN_PHARMACY, r.drug_id) == r.on_hand for r in view.rows)


def test_sales_list_totals_dispenses_less_refunds(world: MemoryState) -> None:
    report = sales_report(
        world.find(Dispense),
        world.find(Refund),
        MAIN_PHARMACY,
        TODAY - dt.timedelta(days=1),
        TODAY,
        tz=TZ,
        drugs=catalogue(world),
    )
    dispensed = sum((d.amount for d in world.find(Dispense)), Decimal("0"))
    refund = world.find(Refund)[0]
    assert report.prescriptions == 6
    assert report.dispensed_amount == dispensed and report.refunded_amount == refund.amount
    assert report.net_amount == dispensed - refund.amount
    assert sum(t.quantity for t in report.by_drug) == sum(s.quantity for s in report.lines)
    only_first_day = sales_report(world.find(Dispense), world.find(Refund), MAIN_PHARMACY, TODAY - dt.timedelta(days=1),
                                  TODAY - dt.timedelta(days=1), tz=TZ)  # fmt: skip
    assert only_first_day.prescriptions == 3 and only_first_day.refunded_amount == 0


def test_stock_xlsx_reads_back_with_numbers_dates_and_alert_rows(world: MemoryState, tmp_path: Path) -> None:
    view = overview_of(world)
    path = write_stock_xlsx(view, tmp_path / "stock.xlsx", pharmacy_name="本部门诊西药房")
    wb = load_workbook(path)
    assert wb.sheetnames == ["库存报表", "批号明细"]
    ws = wb["库存报表"]
    assert ws["A3"].value == "编码" and ws["D3"].value == "库存数"
    data = list(ws.iter_rows(min_row=4, max_row=3 + len(view.rows), values_only=True))
    assert [row[0] for row in data] == [r.code for r in view.rows]
    assert [row[3] for row in data] == [r.on_hand for r in view.rows]
    assert isinstance(data[0][10], dt.datetime)  # dates stay dates
    expired_rows = [row for row in data if row[8]]
    assert expired_rows and all(row[12] == "有过期批号" for row in expired_rows if row[12] != "负库存")
    total = ws.cell(row=4 + len(view.rows), column=12).value
    assert total == pytest.approx(float(view.value))
    batches = wb["批号明细"]
    assert batches.max_row - 3 == sum(len(r.batches) for r in view.rows)


def test_sales_xlsx_reads_back_the_lines_and_per_drug_totals(world: MemoryState, tmp_path: Path) -> None:
    report = sales_report(
        world.find(Dispense),
        world.find(Refund),
        MAIN_PHARMACY,
        TODAY - dt.timedelta(days=1),
        TODAY,
        tz=TZ,
        drugs=catalogue(world),
    )
    path = write_sales_xlsx(report, tmp_path / "sales.xlsx", pharmacy_name="本部门诊西药房", lang="en")
    wb = load_workbook(path)
    lines = wb["Dispensed and refunded lines"]
    rows = list(lines.iter_rows(min_row=4, max_row=3 + len(report.lines), values_only=True))
    assert sum(Decimal(str(r[6])) for r in rows) == report.net_amount
    assert {r[1] for r in rows} == {"Dispense", "Refund"} and {r[5] for r in rows} == {"粒", "片"}
    by_drug = wb["By drug"]
    assert by_drug.cell(row=4 + len(report.by_drug), column=3).value == pytest.approx(
        float(report.net_amount)
    )


def _png(pdf: bytes, name: str, page: int = 1) -> Image.Image:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "doc.pdf"
        source.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "90", "-f", str(page), "-l", str(page), "-singlefile", str(source),
                        str(Path(folder) / "page")], capture_output=True, timeout=60, check=True)  # fmt: skip
        image = Image.open(Path(folder) / "page.png")
        image.load()
    image.save(SCREENSHOTS / f"{name}.png")
    return image


@pdftoppm
def test_stock_pdf_runs_over_pages_with_heads_and_totals(world: MemoryState) -> None:
    view = overview_of(world)
    pdf = render_stock_pdf(view, pharmacy_name="本部门诊西药房", printed_at=NOW, printed_by="药师甲")
    reader = PdfReader(io.BytesIO(pdf))
    texts = [p.extract_text() or "" for p in reader.pages]
    assert len(texts) > 10
    assert all("本部门诊西药房" in t and "编码" in t for t in texts)
    assert f"第 1/{len(texts)} 页" in texts[0]
    body = "".join(texts)
    assert "阿莫西林胶囊" in body and "有过期批号" in body and "合计" in body
    width, height = (float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height))
    assert width > height  # landscape
    image = _png(pdf, "stock_report_a4")
    assert image.width > image.height
    alerts = next(i for i, t in enumerate(texts) if "已过期" in t and "批号明细" in t)
    _png(pdf, "stock_report_batches_a4", page=alerts + 1)


@pdftoppm
def test_sales_pdf_lists_dispenses_refunds_and_totals(world: MemoryState) -> None:
    report = sales_report(
        world.find(Dispense),
        world.find(Refund),
        MAIN_PHARMACY,
        TODAY - dt.timedelta(days=1),
        TODAY,
        tz=TZ,
        drugs=catalogue(world),
    )
    pdf = render_sales_pdf(report, pharmacy_name="本部门诊西药房", printed_at=NOW, printed_by="药师甲")
    text = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "发药及销售报表" in text and "退药" in text and "按药品汇总" in text
    assert f"{report.net_amount:,.2f}" in text
    _png(pdf, "sales_report_a4")


def test_the_stock_screen_agrees_with_the_ledger_reference_view(world: MemoryState) -> None:
    """The one-pass overview gives the same alerts as ``stock.stock_view`` over the ledger's fold."""
    from shared.domain.stock import stock_view

    drugs = catalogue(world)
    minimums = effective_minimums(drugs.values(), world.find(StockMinimum), MAIN_PHARMACY)
    fast = overview_of(world)
    reference_view = stock_view(
        on_hand_from_ledger(world.find(StockMovement)), MAIN_PHARMACY, TODAY, minimums
    )
    assert fast.expiry == reference_view.expiry
    assert fast.low == reference_view.low
    assert fast.negative == reference_view.negative
    fold = on_hand_from_ledger(world.find(StockMovement))
    assert all(r.usable == fold.usable(MAIN_PHARMACY, r.drug_id, TODAY) for r in fast.rows)
    assert len(fast.low) > 0 and len(fast.expiry) > 0
