"""The prescription on A5: colour band and label by type, patient fields, lines with usage, signature, QR."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A5
from reportlab.pdfgen.canvas import Canvas

from shared import clinic_time
from shared.domain.allergies import allergy_status, allergy_text
from shared.domain.masking import mask_id_number
from shared.domain.prescribing import (
    ONCE_FREQUENCIES,
    PrescriptionDraft,
    RxLine,
    age_text_zh,
    amount_per_dose_zh,
    format_decimal,
    type_name,
)
from shared.domain.rx_rules import RuleTable, default_rules
from shared.printing.pdf_common import (
    BLACK,
    GREY,
    LIGHT,
    REPRINT_RED,
    Pen,
    format_time,
    render_pdf,
    reprint_stamp,
    watermark,
)
from shared.printing.pdf_fonts import PdfFont

PAGE_W, PAGE_H = A5
MARGIN = 24.0
BAND_H = 20.0
QR_SIZE = 58.0
FOOTER_H = 100.0
LINE_PITCH, USAGE_PITCH, LINE_GAP = 14.0, 12.0, 6.0
SEX_ZH = {"M": "男", "F": "女", "U": "未知"}
SKIN_TEST_ZH = {
    "pending": "需皮试",
    "negative": "皮试（－）",
    "positive": "皮试（＋）",
    "continued": "续用免试",
}


class PrescriptionPrint(BaseModel):
    """Everything printed on a prescription. ``signature_fingerprint`` is ``None`` for an unsigned draft."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hospital_name: str = Field(min_length=1, max_length=100)
    draft: PrescriptionDraft
    fee_category: str = Field(default="", max_length=16)
    # Narcotic and psychotropic I prescriptions carry the patient's ID number (and an agent's, if any);
    # the print masks it as every print does (110***********1234), the record keeps it whole.
    patient_id_number: str = Field(default="", max_length=32)
    agent: str = Field(default="", max_length=64)
    signature_fingerprint: str | None = None
    signed_at: dt.datetime | None = None
    reprint: bool = False
    printed_at: dt.datetime
    # the rule table of the prescription's written time (band colour, corner label); None: the shipped one
    rules: RuleTable | None = None


def render_prescription(
    doc: PrescriptionPrint, rules: RuleTable | None = None, *, font: PdfFont | None = None
) -> bytes:
    """The prescription as A5 PDF bytes (``font``: another registered font, e.g. the CID fallback), by
    ``rules``, else the document's own (``rx_rule_sets.rules_at`` its written time), else the shipped ones."""
    table = rules or doc.rules or default_rules()
    draft = doc.draft
    return render_pdf(
        A5,
        title=f"处方 {draft.number}",
        author=draft.prescriber.name,
        draw=lambda canvas, pen: _draw(canvas, pen, doc, table),
        font=font,
    )


def _draw(c: Canvas, pen: Pen, doc: PrescriptionPrint, table: RuleTable) -> None:
    draft = doc.draft
    rule = table.type_rule(draft.rx_type)
    left, right = MARGIN, PAGE_W - MARGIN
    top = PAGE_H - MARGIN

    # Colour band with the type's full name; a white type gets a hairline frame so the band still shows.
    c.saveState()
    c.setFillColor(HexColor(rule.band))
    c.setStrokeColor(LIGHT)
    c.setLineWidth(0.5)
    c.rect(left, top - BAND_H, right - left, BAND_H, stroke=1, fill=1)
    c.restoreState()
    pen.text(left + 6, top - BAND_H + 6, type_name(draft.rx_type), 8.5, color=GREY)
    pen.text(right - 6, top - BAND_H + 6, f"No. {draft.number}", 8.5, color=GREY, align="right")

    # Header: QR (left), hospital and title (centre), type label and reprint stamp (right).
    header_top = top - BAND_H - 4
    _qr(c, draft.number or draft.id, left - 3, header_top - QR_SIZE, QR_SIZE)
    label_w = max(pen.width(rule.label_zh, 14, bold=True) + 14, 40) if rule.show_label else 0.0
    stamp_w = pen.width("补打", 13, bold=True) + 16 if doc.reprint else 0.0
    # The hospital name keeps clear of the QR on the left and the label and stamp on the right.
    name_room = (
        2 * (PAGE_W / 2 - max(left + QR_SIZE, PAGE_W / 2 - (right - left - label_w - stamp_w) / 2)) - 12
    )
    name_room = min(name_room, 2 * (right - label_w - stamp_w - PAGE_W / 2) - 8)
    size = pen.fit_size(doc.hospital_name, 14.5, name_room, min_size=9, bold=True)
    pen.text(
        PAGE_W / 2, header_top - 20, doc.hospital_name, size, bold=True, align="centre", max_width=name_room
    )
    pen.text(PAGE_W / 2, header_top - 42, "处  方  笺", 13, bold=True, align="centre")
    label_right = right
    if rule.show_label:
        c.saveState()
        c.setLineWidth(1.4)
        c.rect(right - label_w, header_top - 36, label_w, 30, stroke=1, fill=0)
        c.restoreState()
        pen.text(right - label_w / 2, header_top - 26, rule.label_zh, 14, bold=True, align="centre")
        label_right = right - label_w - 6
    if doc.reprint:
        reprint_stamp(pen, label_right, header_top - 6)

    y = _patient_fields(c, pen, doc, left, right, header_top - QR_SIZE - 12)
    c.setLineWidth(0.8)
    c.line(left, y, right, y)

    # Rp beside the first line, then the lines; their pitch tightens when five long lines need it.
    y -= 20
    pen.text(left, y, "Rp", 15, bold=True)
    limit = MARGIN + FOOTER_H + 14
    heights = [_line_height(line) for line in draft.lines]
    scale = min(1.0, max((y - limit) / sum(heights), 0.75)) if heights else 1.0
    for index, line in enumerate(draft.lines, start=1):
        y = _draw_line(pen, index, line, left + 22, right, y, scale)
    if y - 4 > limit:
        pen.text(PAGE_W / 2, y - 4, "（以下空白）", 8.5, color=GREY, align="centre")

    _footer(c, pen, doc, left, right)
    watermark(pen, PAGE_W, PAGE_H, f"{draft.prescriber.name}  {format_time(doc.printed_at)}")


def _patient_fields(
    c: Canvas, pen: Pen, doc: PrescriptionPrint, left: float, right: float, y: float
) -> float:
    """Patient and visit fields on underlined cells; allergies and diagnosis get full rows (never cut)."""
    draft, patient = doc.draft, doc.draft.patient
    grid = [
        [("科别", draft.department, 0.40), ("日期", clinic_time.local(draft.written_at).strftime("%Y-%m-%d"), 0.30),
         ("费别", doc.fee_category, 0.30)],
        [("姓名", patient.name, 0.40), ("性别", SEX_ZH.get(patient.sex, ""), 0.30),
         ("年龄", age_text_zh(patient.birth_date, draft.written_on), 0.30)],
        [("门诊号", patient.mrn, 0.40),
         ("体重", f"{format_decimal(patient.weight_kg)}kg" if patient.weight_kg else "", 0.30)],
    ]  # fmt: skip
    if draft.rx_type == "narcotic":
        grid.append([("身份证号", mask_id_number(doc.patient_id_number), 0.70), ("代办人", doc.agent, 0.30)])
    for row in grid:
        x = left
        for label, value, share in row:
            cell = (right - left) * share
            lw = pen.text(x, y, f"{label}：", 9, color=GREY)
            pen.text(x + lw, y, value, 9.5, max_width=cell - lw - 8)
            c.saveState()
            c.setStrokeColor(LIGHT)
            c.setLineWidth(0.4)
            c.line(x + lw, y - 3, x + cell - 8, y - 3)
            c.restoreState()
            x += cell
        y -= 16
    # 未询问 (nobody asked) is not 无已知过敏: both stand out unless someone asked and there is none
    fact = allergy_status(patient.allergy_status, patient.allergies)
    allergies = allergy_text(patient.allergy_status, patient.allergies, "zh_CN")
    rows = [("过敏史", allergies, BLACK if fact == "none" else REPRINT_RED)]
    diagnosis = "；".join(d.printed() for d in draft.diagnoses)
    rows.append(("临床诊断", diagnosis, BLACK))
    label_w = pen.width("临床诊断：", 9)
    for label, text, colour in rows:
        pen.text(left, y, f"{label}：", 9, color=GREY)
        wrapped = pen.wrap(text, 9.5, right - left - label_w)
        # At most two lines: whatever does not fit ends the second line with an ellipsis.
        shown = wrapped[:1] + (["".join(wrapped[1:])] if len(wrapped) > 1 else [])
        for i, part in enumerate(shown):
            # The first line may end in hanging punctuation; only a joined remainder is cut to fit.
            room = right - left - label_w if i else None
            pen.text(left + label_w, y - i * 12.5, part, 9.5, color=colour, max_width=room)
        y -= 12.5 * len(shown) + 3.5
    return y + 2


def _line_height(line: RxLine) -> float:
    return LINE_PITCH + USAGE_PITCH + (USAGE_PITCH if line.skin_test or line.note else 0.0) + LINE_GAP


def _draw_line(
    pen: Pen, index: int, line: RxLine, left: float, right: float, y: float, scale: float
) -> float:
    drug = line.drug
    qty = f"×{line.quantity}{drug.pack_unit}"
    amount = f"¥{line.amount:.2f}"
    amount_w = 52.0
    qty_w = pen.width(qty, 10.5, bold=True)
    pen.text(right, y, amount, 8.5, color=GREY, align="right")
    pen.text(right - amount_w, y, qty, 10.5, bold=True, align="right")
    name = f"{index}. {drug.generic_name}"
    name_room = right - amount_w - qty_w - left - 10
    name_w = pen.text(left, y, name, 10.5, bold=True, max_width=name_room)
    if name_room - name_w > 30:
        pen.text(left + name_w + 6, y, drug.spec, 8.5, color=GREY, max_width=name_room - name_w - 6)
    y -= LINE_PITCH * scale
    per_dose = amount_per_dose_zh(line)
    dose = f"{format_decimal(line.dose)}{line.dose_unit}"
    usage = (
        f"{line.route.plain_zh or line.route.name_zh}，{line.frequency.plain_zh or line.frequency.name_zh}，"
    )
    once = line.frequency.code in ONCE_FREQUENCIES
    usage += ("" if once else "每次") + per_dose + (f"（{dose}）" if per_dose != dose else "")
    if not once:
        usage += f"，共{line.days}天"
    pen.text(left + 14, y, f"用法：{usage}", 9, max_width=right - left - 14)
    y -= USAGE_PITCH * scale
    notes = []
    if line.skin_test:
        notes.append(SKIN_TEST_ZH[line.skin_test_result])
    if line.note:
        notes.append(line.note)
    if notes:
        colour = REPRINT_RED if line.skin_test and line.skin_test_result in ("pending", "positive") else GREY
        pen.text(left + 14, y, "备注：" + "；".join(notes), 8.5, color=colour, max_width=right - left - 14)
        y -= USAGE_PITCH * scale
    return y - LINE_GAP * scale


def _footer(c: Canvas, pen: Pen, doc: PrescriptionPrint, left: float, right: float) -> None:
    draft = doc.draft
    base = MARGIN
    c.setLineWidth(0.8)
    c.line(left, base + FOOTER_H, right, base + FOOTER_H)
    pen.text(left, base + 84, "金额合计：", 9, color=GREY)
    pen.text(left + pen.width("金额合计：", 9), base + 84, f"¥{draft.amount:.2f}", 11, bold=True)
    pen.text(left, base + 68, f"药品 {len(draft.lines)} 种", 8.5, color=GREY)

    # Signature block: doctor, time and the key fingerprint (short form) that verifies the signature.
    box_x, box_w, box_h = PAGE_W / 2 - 14, right - PAGE_W / 2 + 14, 54
    c.saveState()
    c.setStrokeColor(LIGHT)
    c.setLineWidth(0.6)
    c.rect(box_x, base + 36, box_w, box_h, stroke=1, fill=0)
    c.restoreState()
    doctor = f"医师：{draft.prescriber.name}" + (
        f"（{draft.prescriber.title}）" if draft.prescriber.title else ""
    )
    pen.text(box_x + 6, base + 76, doctor, 9.5, bold=True, max_width=box_w - 12)
    if doc.signature_fingerprint:
        signed = format_time(doc.signed_at) if doc.signed_at else ""
        pen.text(box_x + 6, base + 62, f"电子签名  {signed}", 8, color=GREY)
        short = " ".join(doc.signature_fingerprint.split()[:5])
        pen.text(box_x + 6, base + 49, f"密钥指纹 {short}", 7.5, color=GREY, max_width=box_w - 12)
    else:
        pen.text(box_x + 6, base + 56, "未签名（草稿，不得调配）", 9, bold=True, color=REPRINT_RED)

    # Pharmacy fields filled by hand.
    third = (right - left) / 3
    for i, label in enumerate(("审核药师", "调配药师", "核对发药")):
        x = left + i * third
        lw = pen.text(x, base + 22, f"{label}：", 9, color=GREY)
        c.saveState()
        c.setStrokeColor(LIGHT)
        c.setLineWidth(0.4)
        c.line(x + lw, base + 19, x + third - 10, base + 19)
        c.restoreState()
    printed = f"打印 {format_time(doc.printed_at)}" + ("  补打" if doc.reprint else "")
    pen.text(left, base, printed, 7.5, color=REPRINT_RED if doc.reprint else GREY)
    pen.text(right, base, "处方当日有效，延长有效期须医师注明（不超过3天）", 7.5, color=GREY, align="right")


def _qr(c: Canvas, value: str, x: float, y: float, size: float) -> None:
    widget = QrCodeWidget(value, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, c, x, y)
