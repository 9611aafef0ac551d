"""Exports of the pharmacy's stock list and its dispensing and sales list: xlsx (openpyxl) and A4 PDF.

Both formats take the same pure results (``pharmacy_queries.StockOverview`` / ``SalesReport``) and the
same text tables (``stock_table`` / ``sales_table``), so a spreadsheet and a printout never disagree.
In the xlsx, quantities and amounts are numbers (sums work), dates are dates, the header row is frozen
and filtered; the PDF is A4 landscape with the title and column heads repeated on every page, alerts
marked, totals at the end and "第 n/m 页" at the foot. Quantities are minimum units with the pack
reading beside them. Column heads follow the user's language (``shared.i18n``). Pure functions;
writing a file is the caller's choice of path (run it off the GUI thread).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from shared.domain.pharmacy_queries import SalesReport, StockOverview
from shared.i18n import DEFAULT_LANGUAGE, register, tr
from shared.printing.pdf_common import BLACK, GREY, LIGHT, Pen, format_time, render_pdf

ALERT = HexColor("#C62828")
WARN = HexColor("#B26A00")
PAGE_W, PAGE_H = landscape(A4)
MARGIN = 12 * mm
ROW = 14.0

_TEXTS = {
    "stock_report.title": ("库存报表", "Stock list", "庫存報表"),
    "stock_report.batches_title": ("批号明细", "Batches", "批號明細"),
    "stock_report.alerts_title": ("预警", "Alerts", "預警"),
    "sales_report.title": ("发药及销售报表", "Dispensing and sales", "發藥及銷售報表"),
    "sales_report.lines_title": ("发药及退药明细", "Dispensed and refunded lines", "發藥及退藥明細"),
    "sales_report.by_drug_title": ("按药品汇总", "By drug", "按藥品彙總"),
    "report.col.code": ("编码", "Code", "編碼"),
    "report.col.drug": ("药品", "Drug", "藥品"),
    "report.col.spec": ("规格", "Spec", "規格"),
    "report.col.on_hand": ("库存数", "On hand", "庫存數"),
    "report.col.unit": ("单位", "Unit", "單位"),
    "report.col.packs": ("折合", "In packs", "折合"),
    "report.col.usable": ("可用", "Usable", "可用"),
    "report.col.minimum": ("下限", "Minimum", "下限"),
    "report.col.expired": ("已过期", "Expired", "已過期"),
    "report.col.expiring": ("近效期", "Expiring", "近效期"),
    "report.col.nearest": ("最近效期", "Next expiry", "最近效期"),
    "report.col.value": ("库存金额", "Value", "庫存金額"),
    "report.col.status": ("状态", "Status", "狀態"),
    "report.col.batch": ("批号", "Batch", "批號"),
    "report.col.expiry": ("有效期至", "Expiry", "有效期至"),
    "report.col.days_left": ("剩余天数", "Days left", "剩餘天數"),
    "report.col.quantity": ("数量", "Quantity", "數量"),
    "report.col.date": ("日期", "Date", "日期"),
    "report.col.kind": ("类型", "Type", "類型"),
    "report.col.rx": ("处方号", "Prescription", "處方號"),
    "report.col.amount": ("金额", "Amount", "金額"),
    "report.col.cost": ("成本", "Cost", "成本"),
    "report.col.margin": ("毛利", "Margin", "毛利"),
    "report.col.batches": ("批号×数量", "Batches", "批號×數量"),
    "report.kind.dispense": ("发药", "Dispense", "發藥"),
    "report.kind.refund": ("退药", "Refund", "退藥"),
    "report.status.low": ("低于下限", "Below minimum", "低於下限"),
    "report.status.negative": ("负库存", "Negative", "負庫存"),
    "report.status.expired": ("有过期批号", "Expired stock", "有過期批號"),
    "report.status.expiring": ("近效期", "Expiring", "近效期"),
    "report.status.ok": ("", "", ""),
    "report.batch.expired": ("已过期", "Expired", "已過期"),
    "report.batch.expiring": ("近效期", "Expiring", "近效期"),
    "report.batch.negative": ("负库存", "Negative", "負庫存"),
    "report.batch.empty": ("已用完", "Empty", "已用完"),
    "report.batch.ok": ("", "", ""),
    "report.totals": ("合计", "Total", "合計"),
    "report.stock_summary": (
        "药品 {drugs} 种  批号 {batches} 个  库存金额 {value} 元  过期 {expired}  近效期 {expiring}  低于下限 {low}  负库存 {negative}",
        "{drugs} drugs  {batches} batches  value {value}  expired {expired}  expiring {expiring}  low {low}  negative {negative}",
        "藥品 {drugs} 種  批號 {batches} 個  庫存金額 {value} 元  過期 {expired}  近效期 {expiring}  低於下限 {low}  負庫存 {negative}",
    ),
    "report.sales_summary": (
        "{start} 至 {end}  处方 {prescriptions} 张  发药 {dispensed} 元  退药 {refunded} 元  净额 {net} 元  成本 {cost} 元  毛利 {margin} 元",
        "{start} to {end}  {prescriptions} prescriptions  dispensed {dispensed}  refunded {refunded}  net {net}  cost {cost}  margin {margin}",
        "{start} 至 {end}  處方 {prescriptions} 張  發藥 {dispensed} 元  退藥 {refunded} 元  淨額 {net} 元  成本 {cost} 元  毛利 {margin} 元",
    ),
    "report.printed": ("打印：{at}  {by}", "Printed {at} by {by}", "列印：{at}  {by}"),
    "report.page": ("第 {n}/{total} 页", "Page {n} of {total}", "第 {n}/{total} 頁"),
}
for _key, (_zh, _en, _tw) in _TEXTS.items():
    register(_key, {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


@dataclass(frozen=True)
class Column:
    key: str
    width: float  # PDF points; the xlsx width follows it
    numeric: bool = False


@dataclass(frozen=True)
class Table:
    """A report table: columns and rows of cell values (str, int, Decimal, date or None)."""

    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[object, ...]]
    # per row: "" or an alert level ("alert", "warn") that the PDF colours and the xlsx fills
    marks: list[str]
    totals: tuple[object, ...] | None = None

    def __post_init__(self) -> None:
        width = len(self.columns)
        if any(len(row) != width for row in self.rows) or (
            self.totals is not None and len(self.totals) != width
        ):
            raise ValueError(f"{self.title}: every row needs {width} cells")
        if len(self.marks) != len(self.rows):
            raise ValueError(f"{self.title}: one mark per row")

    def heads(self, lang: str) -> list[str]:
        return [tr(f"report.col.{c.key}", lang) for c in self.columns]


def _status(row_low: bool, negative: bool, expired: int, expiring: int, lang: str) -> tuple[str, str]:
    if negative:
        return tr("report.status.negative", lang), "alert"
    if expired:
        return tr("report.status.expired", lang), "alert"
    if row_low:
        return tr("report.status.low", lang), "warn"
    if expiring:
        return tr("report.status.expiring", lang), "warn"
    return "", ""


def stock_table(overview: StockOverview, lang: str = DEFAULT_LANGUAGE) -> Table:
    """One row per drug: on hand, usable, minimum, expired and expiring units, next expiry, value, status."""
    columns = (
        Column("code", 62),
        Column("drug", 170),
        Column("spec", 110),
        Column("on_hand", 50, True),
        Column("unit", 30),
        Column("packs", 60),
        Column("usable", 48, True),
        Column("minimum", 44, True),
        Column("expired", 44, True),
        Column("expiring", 44, True),
        Column("nearest", 62),
        Column("value", 58, True),
        Column("status", 50),
    )
    rows: list[tuple[object, ...]] = []
    marks: list[str] = []
    for r in overview.rows:
        text, mark = _status(r.low, r.negative, r.expired, r.expiring, lang)
        rows.append(
            (
                r.code,
                r.name,
                r.spec,
                r.on_hand,
                r.min_unit,
                r.packs_text,
                r.usable,
                r.minimum,
                r.expired,
                r.expiring,
                r.nearest_expiry,
                r.value,
                text,
            )
        )
        marks.append(mark)
    totals = (
        tr("report.totals", lang),
        f"{len(rows)}",
        "",
        None,
        "",
        "",
        None,
        None,
        None,
        None,
        None,
        overview.value,
        "",
    )
    return Table(tr("stock_report.title", lang), columns, rows, marks, totals)


def batch_table(overview: StockOverview, lang: str = DEFAULT_LANGUAGE) -> Table:
    """One row per batch: drug, batch, expiry, days left, quantity, status."""
    columns = (
        Column("code", 62),
        Column("drug", 190),
        Column("batch", 90),
        Column("expiry", 70),
        Column("days_left", 56, True),
        Column("quantity", 60, True),
        Column("status", 60),
    )
    rows: list[tuple[object, ...]] = []
    marks: list[str] = []
    for r in overview.rows:
        for b in r.batches:
            rows.append(
                (
                    r.code,
                    r.name,
                    b.batch_no,
                    b.expiry,
                    b.days_left,
                    b.quantity,
                    tr(f"report.batch.{b.status}", lang),
                )
            )
            marks.append(
                "alert" if b.status in ("expired", "negative") else "warn" if b.status == "expiring" else ""
            )
    return Table(tr("stock_report.batches_title", lang), columns, rows, marks)


def sales_table(report: SalesReport, lang: str = DEFAULT_LANGUAGE) -> Table:
    """One row per dispensed or refunded prescription line in the range, with the totals row."""
    columns = (
        Column("date", 62),
        Column("kind", 40),
        Column("rx", 96),
        Column("drug", 190),
        Column("quantity", 52, True),
        Column("unit", 30),
        Column("amount", 64, True),
        Column("cost", 64, True),
        Column("batches", 150),
    )
    rows: list[tuple[object, ...]] = [
        (
            s.day,
            tr(f"report.kind.{s.kind}", lang),
            s.rx_number,
            s.drug_name,
            s.quantity,
            s.unit,
            s.amount,
            s.cost,
            s.batches,
        )
        for s in report.lines
    ]
    marks = ["warn" if s.kind == "refund" else "" for s in report.lines]
    totals = (tr("report.totals", lang), "", "", "", None, "", report.net_amount, report.cost, "")
    return Table(tr("sales_report.lines_title", lang), columns, rows, marks, totals)


def by_drug_table(report: SalesReport, lang: str = DEFAULT_LANGUAGE) -> Table:
    columns = (
        Column("drug", 240),
        Column("quantity", 70, True),
        Column("amount", 80, True),
        Column("cost", 80, True),
        Column("margin", 80, True),
    )
    rows: list[tuple[object, ...]] = [
        (t.drug_name, t.quantity, t.amount, t.cost, t.margin) for t in report.by_drug
    ]
    totals = (tr("report.totals", lang), None, report.net_amount, report.cost, report.margin)
    return Table(tr("sales_report.by_drug_title", lang), columns, rows, [""] * len(rows), totals)


def stock_summary(overview: StockOverview, lang: str = DEFAULT_LANGUAGE) -> str:
    return tr(
        "report.stock_summary",
        lang,
        drugs=len(overview.rows),
        batches=sum(len(r.batches) for r in overview.rows),
        value=f"{overview.value:.2f}",
        expired=sum(1 for a in overview.expiry if a.level == "expired"),
        expiring=sum(1 for a in overview.expiry if a.level == "expiring"),
        low=len(overview.low),
        negative=len(overview.negative),
    )


def sales_summary(report: SalesReport, lang: str = DEFAULT_LANGUAGE) -> str:
    return tr(
        "report.sales_summary",
        lang,
        start=report.start.isoformat(),
        end=report.end.isoformat(),
        prescriptions=report.prescriptions,
        dispensed=f"{report.dispensed_amount:.2f}",
        refunded=f"{report.refunded_amount:.2f}",
        net=f"{report.net_amount:.2f}",
        cost=f"{report.cost:.2f}",
        margin=f"{report.margin:.2f}",
    )


# --- xlsx ------------------------------------------------------------------------------------------------

_FILLS = {"alert": PatternFill("solid", fgColor="FFE0E0"), "warn": PatternFill("solid", fgColor="FFF3D6")}


def _xlsx_value(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    return value


def _sheet(ws: Worksheet, table: Table, heading: str, summary: str, lang: str) -> None:
    ws.title = table.title[:31]
    ws.append([heading])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([summary])
    ws.append(table.heads(lang))
    for cell in ws[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    for row, mark in zip(table.rows, table.marks, strict=True):
        ws.append([_xlsx_value(v) for v in row])
        if mark:
            for cell in ws[ws.max_row]:
                cell.fill = _FILLS[mark]
    last_data = ws.max_row
    if table.totals is not None:
        ws.append([_xlsx_value(v) for v in table.totals])
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
    for n, column in enumerate(table.columns, start=1):
        letter = get_column_letter(n)
        ws.column_dimensions[letter].width = max(8, column.width / 5.5)
        for (cell,) in ws.iter_rows(min_row=4, max_row=ws.max_row, min_col=n, max_col=n):
            if isinstance(cell.value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            elif column.key in ("amount", "cost", "value", "margin") and cell.value is not None:
                cell.number_format = "#,##0.00"
    ws.freeze_panes = "A4"
    ws.auto_filter.ref = f"A3:{get_column_letter(len(table.columns))}{max(last_data, 3)}"


def write_stock_xlsx(
    overview: StockOverview, path: Path, *, pharmacy_name: str, lang: str = DEFAULT_LANGUAGE
) -> Path:
    """The stock list (per drug) and its batches as two sheets of one workbook at ``path``."""
    wb = Workbook()
    summary = stock_summary(overview, lang)
    heading = f"{pharmacy_name}  {tr('stock_report.title', lang)}  {overview.today.isoformat()}"
    _sheet(wb.active, stock_table(overview, lang), heading, summary, lang)  # type: ignore[arg-type]
    _sheet(wb.create_sheet(), batch_table(overview, lang), heading, summary, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def write_sales_xlsx(
    report: SalesReport, path: Path, *, pharmacy_name: str, lang: str = DEFAULT_LANGUAGE
) -> Path:
    """The dispensing and sales lines and the per-drug totals as two sheets at ``path``."""
    wb = Workbook()
    summary = sales_summary(report, lang)
    heading = f"{pharmacy_name}  {tr('sales_report.title', lang)}"
    _sheet(wb.active, sales_table(report, lang), heading, summary, lang)  # type: ignore[arg-type]
    _sheet(wb.create_sheet(), by_drug_table(report, lang), heading, summary, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# --- PDF ---------------------------------------------------------------------------------------------------


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class _Segment:
    """Rows ``rows`` of ``table`` drawn from ``top`` down; ``first`` draws the table's title plainly."""

    table: Table
    rows: range
    first: bool
    top: float


def _layout(tables: Sequence[Table]) -> list[list[_Segment]]:
    """Tables flowed onto pages: a table starts under the previous one when its title, heads and at
    least three rows fit, else on a new page; a long table continues with its heads repeated."""
    top = PAGE_H - MARGIN - 52
    bottom = MARGIN + 22
    pages: list[list[_Segment]] = [[]]
    y = top
    for table in tables:
        count = len(table.rows) + (1 if table.totals is not None else 0)
        start = 0
        first = True
        while start < count or (first and count == 0):
            room = int((y - bottom) // ROW) - 2  # title and heads take two rows
            if room < min(3, count - start) or room < 1:
                pages.append([])
                y = top
                continue
            take = min(room, count - start)
            pages[-1].append(_Segment(table, range(start, start + take), first, y))
            y -= (take + 2) * ROW + 10
            start += take
            first = False
            if count == 0:
                break
    return [page for page in pages if page]


def _render_tables(
    tables: Sequence[Table],
    *,
    heading: str,
    summary: str,
    printed_at: dt.datetime,
    printed_by: str,
    lang: str,
) -> bytes:
    pages = _layout(tables)

    def draw(canvas: Canvas, pen: Pen) -> None:
        for page_no, segments in enumerate(pages, start=1):
            _draw_header(pen, heading, summary, printed_at, printed_by, lang)
            for segment in segments:
                _draw_segment(pen, segment, lang)
            pen.text(
                PAGE_W - MARGIN,
                MARGIN + 4,
                tr("report.page", lang, n=page_no, total=len(pages)),
                8.5,
                color=GREY,
                align="right",
            )
            canvas.showPage()

    return render_pdf(landscape(A4), title=heading, author=printed_by, draw=draw)


def _draw_header(
    pen: Pen, heading: str, summary: str, printed_at: dt.datetime, printed_by: str, lang: str
) -> None:
    x0, right = MARGIN, PAGE_W - MARGIN
    y = PAGE_H - MARGIN - 16
    pen.text(x0, y, heading, 15, bold=True, max_width=right - x0 - 200)
    printed = tr("report.printed", lang, at=format_time(printed_at), by=printed_by)
    pen.text(right, y, printed, 8.5, color=GREY, align="right")
    pen.text(x0, y - 18, summary, 9, color=GREY, max_width=right - x0)


def _draw_segment(pen: Pen, segment: _Segment, lang: str) -> None:
    c = pen.c
    table = segment.table
    x0, right = MARGIN, PAGE_W - MARGIN
    y = segment.top
    more = "" if segment.first else (" (cont.)" if lang == "en" else "（续）")
    pen.text(x0, y, table.title + more, 11, bold=True)
    y -= ROW + 2
    widths = [col.width for col in table.columns]
    scale = min(1.0, (right - x0) / sum(widths))
    xs = [x0]
    for w in widths:
        xs.append(xs[-1] + w * scale)
    c.setStrokeColor(GREY)
    c.setLineWidth(0.8)
    c.line(x0, y + ROW - 2, right, y + ROW - 2)
    for col, head, x, w in zip(table.columns, table.heads(lang), xs[:-1], widths, strict=True):
        if col.numeric:
            pen.text(x + w * scale - 3, y + 2, head, 8.5, bold=True, align="right", max_width=w * scale - 4)
        else:
            pen.text(x + 2, y + 2, head, 8.5, bold=True, max_width=w * scale - 4)
    c.line(x0, y - 2, right, y - 2)
    for index in segment.rows:
        y -= ROW
        is_total = index >= len(table.rows)
        values = table.totals if is_total else table.rows[index]
        assert values is not None
        mark = "" if is_total else table.marks[index]
        color = ALERT if mark == "alert" else WARN if mark == "warn" else BLACK
        if is_total:
            c.setStrokeColor(GREY)
            c.setLineWidth(0.8)
            c.line(x0, y + ROW - 2, right, y + ROW - 2)
        for col, value, x, w in zip(table.columns, values, xs[:-1], widths, strict=True):
            text = cell_text(value)
            if not text:
                continue
            width = w * scale - 4
            if col.numeric:
                pen.text(
                    x + w * scale - 3,
                    y + 2,
                    text,
                    8.5,
                    bold=is_total,
                    align="right",
                    max_width=width,
                    color=color,
                )
            else:
                pen.text(x + 2, y + 2, text, 8.5, bold=is_total, max_width=width, color=color)
        if not is_total:
            c.setStrokeColor(LIGHT)
            c.setLineWidth(0.3)
            c.line(x0, y - 2, right, y - 2)


def render_stock_pdf(
    overview: StockOverview,
    *,
    pharmacy_name: str,
    printed_at: dt.datetime,
    printed_by: str,
    lang: str = DEFAULT_LANGUAGE,
    with_batches: bool = True,
) -> bytes:
    """The stock list (and its batches) as A4 landscape PDF bytes."""
    tables = [stock_table(overview, lang)] + ([batch_table(overview, lang)] if with_batches else [])
    heading = f"{pharmacy_name}  {tr('stock_report.title', lang)}  {overview.today.isoformat()}"
    return _render_tables(
        tables,
        heading=heading,
        summary=stock_summary(overview, lang),
        printed_at=printed_at,
        printed_by=printed_by,
        lang=lang,
    )


def render_sales_pdf(
    report: SalesReport,
    *,
    pharmacy_name: str,
    printed_at: dt.datetime,
    printed_by: str,
    lang: str = DEFAULT_LANGUAGE,
) -> bytes:
    """The dispensing and sales list with per-drug totals as A4 landscape PDF bytes."""
    heading = f"{pharmacy_name}  {tr('sales_report.title', lang)}"
    return _render_tables(
        [sales_table(report, lang), by_drug_table(report, lang)],
        heading=heading,
        summary=sales_summary(report, lang),
        printed_at=printed_at,
        printed_by=printed_by,
        lang=lang,
    )
