"""The pick list (配药单) on A4: many prescriptions' lines grouped by shelf location and drug, with batches.

One walk along the shelves: rows are sorted by location, then drug; each drug shows its total to take
and, under it, one row per prescription and batch (so the pharmacist splits the pile at the counter).
Quantities are in packs and loose minimum units ("2盒4片"). Patient names are masked. Long lists run
over pages with the header and column titles repeated and "第 n/m 页" at the foot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from shared.domain.masking import mask_name
from shared.domain.stock import min_units_to_packs
from shared.printing.drug_label import quantity_text
from shared.printing.pdf_common import BLACK, GREY, LIGHT, Pen, format_time, render_pdf, reprint_stamp

PAGE_W, PAGE_H = A4
MARGIN = 14 * mm
ROW = 15.0
DRUG_ROW = 17.0
# (title, x offset from the left margin, width)
COLUMNS = (
    ("货位", 0.0, 46.0),
    ("药品 / 规格", 46.0, 160.0),
    ("批号", 206.0, 60.0),
    ("效期", 266.0, 56.0),
    ("处方号", 322.0, 84.0),
    ("患者", 406.0, 40.0),
    ("数量", 446.0, 56.0),
)
TICK_X = 506.0  # the box ticked when a pile is picked
DRUG_SPAN = COLUMNS[4][1] - COLUMNS[1][1]  # a drug head's name runs over the empty batch/expiry cells


@dataclass(frozen=True)
class PickItem:
    """One prescription line's share of one batch. ``quantity`` is in minimum units (the ledger's unit)."""

    rx_no: str
    patient_name: str
    drug_id: str
    drug_name: str
    spec: str
    location: str
    batch_no: str
    expiry: dt.date
    quantity: int
    pack_qty: int
    pack_unit: str
    min_unit: str


@dataclass(frozen=True)
class PickList:
    pharmacy_name: str
    printed_at: dt.datetime
    printed_by: str
    items: tuple[PickItem, ...]
    title: str = "配药单"
    reprint: bool = False


def pick_quantity(quantity: int, pack_qty: int, pack_unit: str, min_unit: str) -> str:
    packs, loose = min_units_to_packs(quantity, pack_qty)
    return quantity_text(packs, pack_unit, loose, min_unit)


@dataclass(frozen=True)
class _Row:
    kind: str  # "drug" (group head) or "pick"
    cells: tuple[str, ...]


def pick_rows(items: Sequence[PickItem]) -> list[tuple[str, ...]]:
    """The table as text rows, in walking order: a drug head (location, name, total) then its picks."""
    return [row.cells for row in _rows(items)]


def _rows(items: Sequence[PickItem]) -> list[_Row]:
    groups: dict[tuple[str, str], list[PickItem]] = {}
    for item in items:
        groups.setdefault((item.location, item.drug_id), []).append(item)
    rows: list[_Row] = []
    for (location, _), picks in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[1][0].drug_name)):
        first = picks[0]
        total = sum(p.quantity for p in picks)
        rows.append(
            _Row(
                "drug",
                (
                    location,
                    f"{first.drug_name}  {first.spec}",
                    "",
                    "",
                    f"{len({p.rx_no for p in picks})} 张处方",
                    "",
                    pick_quantity(total, first.pack_qty, first.pack_unit, first.min_unit),
                ),
            )
        )
        for p in sorted(picks, key=lambda p: (p.expiry, p.batch_no, p.rx_no)):
            rows.append(
                _Row(
                    "pick",
                    (
                        "",
                        "",
                        p.batch_no,
                        p.expiry.isoformat(),
                        p.rx_no,
                        mask_name(p.patient_name),
                        pick_quantity(p.quantity, p.pack_qty, p.pack_unit, p.min_unit),
                    ),
                )
            )
    return rows


def render_pick_list(doc: PickList) -> bytes:
    """The pick list as A4 PDF bytes."""
    pages = _paginate(_rows(doc.items))

    def draw(canvas: Canvas, pen: Pen) -> None:
        for number, page_rows in enumerate(pages, start=1):
            _draw_page(pen, doc, page_rows, number, len(pages))
            canvas.showPage()

    return render_pdf(A4, title=doc.title, author=doc.printed_by, draw=draw)


def _table_top() -> float:
    return PAGE_H - MARGIN - 62


def _paginate(rows: list[_Row]) -> list[list[_Row]]:
    """Rows cut into pages by height; a drug head never ends a page without its first pick under it."""
    room = _table_top() - 3 - (MARGIN + 18)
    pages: list[list[_Row]] = [[]]
    used = 0.0
    for index, row in enumerate(rows):
        height = DRUG_ROW if row.kind == "drug" else ROW
        need = height + (ROW if row.kind == "drug" and index + 1 < len(rows) else 0)
        if used + need > room and pages[-1]:
            pages.append([])
            used = 0.0
        pages[-1].append(row)
        used += height
    return pages


def _draw_page(pen: Pen, doc: PickList, rows: list[_Row], number: int, total: int) -> None:
    c = pen.c
    x0 = MARGIN
    right = PAGE_W - MARGIN
    y = PAGE_H - MARGIN - 18
    pen.text(x0, y, f"{doc.pharmacy_name}  {doc.title}", 16, bold=True, max_width=right - x0 - 120)
    if doc.reprint:
        reprint_stamp(pen, right, PAGE_H - MARGIN, size=11)
    prescriptions = len({item.rx_no for item in doc.items})
    drugs = len({item.drug_id for item in doc.items})
    y -= 20
    summary = (
        f"处方 {prescriptions} 张    药品 {drugs} 种    打印：{format_time(doc.printed_at)}  {doc.printed_by}"
    )
    pen.text(x0, y, summary, 9.5, color=GREY)
    y = _table_top()
    c.setStrokeColor(GREY)
    c.setLineWidth(1)
    c.line(x0, y + 14, right, y + 14)
    for title, dx, width in COLUMNS:
        align_right = title == "数量"
        pen.text(
            x0 + dx + (width if align_right else 0),
            y + 3,
            title,
            9.5,
            bold=True,
            align="right" if align_right else "left",
        )
    c.line(x0, y - 3, right, y - 3)
    y -= 3
    for row in rows:
        height = DRUG_ROW if row.kind == "drug" else ROW
        y -= height
        size = 10 if row.kind == "drug" else 9
        if row.kind == "drug":
            c.setStrokeColor(LIGHT)
            c.setLineWidth(0.5)
            c.line(x0, y + height - 1, right, y + height - 1)
        for (title, dx, width), cell in zip(COLUMNS, row.cells, strict=True):
            if not cell:
                continue
            bold = row.kind == "drug" and title in ("货位", "药品 / 规格", "数量")
            if title == "数量":
                pen.text(x0 + dx + width, y + 4, cell, size, bold=bold, align="right", max_width=width - 4)
            else:
                grey = title == "处方号" and row.kind == "drug"
                span = DRUG_SPAN if row.kind == "drug" and title == "药品 / 规格" else width
                pen.text(
                    x0 + dx, y + 4, cell, size, bold=bold, max_width=span - 4, color=GREY if grey else BLACK
                )
        if row.kind == "pick":
            # a box to tick when this pile is picked
            c.setStrokeColor(GREY)
            c.setLineWidth(0.6)
            c.rect(x0 + TICK_X, y + 3.5, 7, 7, stroke=1, fill=0)
    c.setStrokeColor(GREY)
    c.setLineWidth(0.8)
    c.line(x0, MARGIN + 14, right, MARGIN + 14)
    pen.text(x0, MARGIN + 3, "配药人：__________    核对人：__________", 9, color=GREY)
    pen.text(right, MARGIN + 3, f"第 {number}/{total} 页", 9, color=GREY, align="right")
