"""Drug labels for a label printer: one label per prescription line with the usage in plain words.

Each label says who it is for (masked name), which drug, how to take it in words a patient reads
("口服，每日3次，每次1片，饭后服用"), how much was handed out, when and by which pharmacy. Sizes are
the common thermal label rolls: 70×50 mm (default) and 60×40 mm; one PDF page per label, so the
label printer's driver feeds one label per page. The usage is never cut: the font shrinks until it fits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from shared.domain.masking import mask_name
from shared.domain.prescribing import RxLine, plain_usage_zh
from shared.printing.pdf_common import LIGHT, Pen, render_pdf, reprint_stamp

LabelSize = Literal["70x50", "60x40"]
LABEL_SIZES: dict[str, tuple[float, float]] = {"70x50": (70 * mm, 50 * mm), "60x40": (60 * mm, 40 * mm)}


@dataclass(frozen=True)
class DrugLabel:
    """What one label shows. ``patient_name`` is the full name; it is printed masked."""

    patient_name: str
    drug_name: str
    spec: str
    usage: str
    quantity: str
    dispensed_on: dt.date
    pharmacy_name: str
    rx_no: str = ""
    batch_no: str = ""
    expiry: dt.date | None = None
    warning: str = ""


def usage_text(line: RxLine) -> str:
    """The label's usage: the plain wording of ``shared.domain.prescribing`` plus the doctor's note."""
    text = plain_usage_zh(line)
    note = line.note.strip().strip("，,。")
    return f"{text}，{note}" if note else text


def quantity_text(packs: int, pack_unit: str, loose: int = 0, min_unit: str = "") -> str:
    """ "2盒", "1盒4片", "6片"."""
    parts = []
    if packs:
        parts.append(f"{packs}{pack_unit}")
    if loose:
        parts.append(f"{loose}{min_unit}")
    return "".join(parts) or f"0{pack_unit}"


def label_from_line(
    line: RxLine,
    *,
    patient_name: str,
    dispensed_on: dt.date,
    pharmacy_name: str,
    rx_no: str = "",
    batch_no: str = "",
    expiry: dt.date | None = None,
    dispensed_min_units: int | None = None,
) -> DrugLabel:
    """A label for a prescription line: the line's packs, or what a partial dispense actually handed
    out (``dispensed_min_units``, the ledger's unit, shown as packs and loose units)."""
    drug = line.drug
    if dispensed_min_units is None:
        quantity = quantity_text(line.quantity, drug.pack_unit)
    else:
        packs, loose = divmod(dispensed_min_units, drug.pack_qty)
        quantity = quantity_text(packs, drug.pack_unit, loose, drug.min_unit)
    warning = "需皮试" if line.skin_test and line.skin_test_result == "pending" else ""
    return DrugLabel(
        patient_name=patient_name,
        drug_name=drug.generic_name,
        spec=drug.spec,
        usage=usage_text(line),
        quantity=quantity,
        dispensed_on=dispensed_on,
        pharmacy_name=pharmacy_name,
        rx_no=rx_no,
        batch_no=batch_no,
        expiry=expiry,
        warning=warning,
    )


def render_labels(labels: Sequence[DrugLabel], *, size: LabelSize = "70x50", reprint: bool = False) -> bytes:
    """All labels as one PDF, one page (label) each."""
    page = LABEL_SIZES[size]

    def draw(canvas: Canvas, pen: Pen) -> None:
        for label in labels:
            _draw_label(pen, label, page, reprint)
            canvas.showPage()

    return render_pdf(page, title="用药标签", author=labels[0].pharmacy_name if labels else "", draw=draw)


def _draw_label(pen: Pen, label: DrugLabel, page: tuple[float, float], reprint: bool) -> None:
    w, h = page
    small = w < 65 * mm
    m = 2.5 * mm
    inner = w - 2 * m
    c = pen.c
    s_head, s_drug, s_usage, s_meta = (6.5, 9.5, 11.0, 6.5) if small else (7.5, 11.0, 13.0, 7.5)

    # header: pharmacy left, rx number right, a rule under it
    y = h - m - s_head
    pen.text(m, y, label.pharmacy_name, s_head, bold=True, max_width=inner * 0.62)
    if label.rx_no:
        pen.text(w - m, y, label.rx_no, s_head, align="right", max_width=inner * 0.36)
    y -= 2.2
    c.setStrokeColor(LIGHT)
    c.setLineWidth(0.6)
    c.line(m, y, w - m, y)

    # patient
    y -= s_meta + 2.5
    pen.text(m, y, f"患者：{mask_name(label.patient_name)}", s_meta + 1, bold=True, max_width=inner * 0.6)
    pen.text(w - m, y, label.dispensed_on.isoformat(), s_meta, align="right")

    # drug name (up to two lines) and spec
    y -= s_drug + 2.5
    names = pen.wrap(label.drug_name, s_drug, inner - s_drug, bold=True)
    for name in names[:2]:
        pen.text(m, y, name, s_drug, bold=True, max_width=inner)
        y -= s_drug + 1.5
    spec = f"规格：{label.spec}" + (f"    数量：{label.quantity}" if label.quantity else "")
    pen.text(m, y + 0.5, spec, s_meta, max_width=inner)

    # the usage: largest size at which it fits in the space left above the footer
    footer_top = m + s_meta + 2
    top = y - 2.5
    size = s_usage
    while True:
        # wrap one character short: closing punctuation may hang past the wrap width (pdf_common)
        lines = pen.wrap(f"用法：{label.usage}", size, inner - size, bold=True)
        if len(lines) * (size + 2) <= top - footer_top or size <= 5.5:
            break
        size -= 0.5
    c.setStrokeColor(LIGHT)
    c.line(m, top + 1, w - m, top + 1)
    y = top - size
    for line in lines:
        pen.text(m, y, line, size, bold=True)
        y -= size + 2

    # footer: batch and expiry, warning
    parts = []
    if label.batch_no:
        parts.append(f"批号 {label.batch_no}")
    if label.expiry:
        parts.append(f"效期至 {label.expiry.isoformat()}")
    footer = "  ".join(parts)
    if label.warning:
        pen.text(w - m, m + 0.5, label.warning, s_meta, bold=True, align="right")
        pen.text(m, m + 0.5, footer, s_meta - 0.5, max_width=inner * 0.7)
    else:
        pen.text(m, m + 0.5, footer, s_meta - 0.5, max_width=inner)
    if reprint:
        reprint_stamp(pen, w - m, h - m - s_head - 5, size=s_meta)
