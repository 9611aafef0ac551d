"""The outpatient visit note (门诊病历) on A4, paginated, with the same watermark and reprint mark."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from shared.domain.allergies import allergy_text
from shared.domain.prescribing import DiagnosisFacts, PatientFacts, age_text_zh
from shared.printing.pdf_common import (
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

PAGE_W, PAGE_H = A4
MARGIN = 50.0
BODY = 10.5
LEADING = 16.0
SEX_ZH = {"M": "男", "F": "女", "U": "未知"}


class NoteSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=32)
    text: str = Field(default="", max_length=20000)


class VisitNotePrint(BaseModel):
    """A visit note as printed: patient, visit, free-text sections in order, diagnoses, signature."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hospital_name: str = Field(min_length=1, max_length=100)
    patient: PatientFacts
    visit_at: dt.datetime
    department: str = ""
    doctor_name: str
    doctor_title: str = ""
    sections: tuple[NoteSection, ...] = ()
    diagnoses: tuple[DiagnosisFacts, ...] = ()
    signature_fingerprint: str | None = None
    signed_at: dt.datetime | None = None
    reprint: bool = False
    printed_at: dt.datetime


@dataclass(frozen=True)
class _Row:
    text: str
    label: str = ""
    indent: float = 0.0
    gap_before: float = 0.0


def render_visit_note(doc: VisitNotePrint, *, font: PdfFont | None = None) -> bytes:
    """The visit note as A4 PDF bytes (as many pages as the text needs, numbered "第 n 页 / 共 m 页")."""
    return render_pdf(
        A4,
        title=f"门诊病历 {doc.patient.name}",
        author=doc.doctor_name,
        draw=lambda c, p: _draw(c, p, doc),
        font=font,
    )


def _rows(pen: Pen, doc: VisitNotePrint, width: float) -> list[_Row]:
    rows: list[_Row] = []
    for section in doc.sections:
        label = f"{section.title}："
        label_w = pen.width(label, BODY, bold=True)
        lines = pen.wrap(section.text.strip() or "无", BODY, width - label_w)
        rows.append(_Row(lines[0], label=label, gap_before=6))
        rows.extend(_Row(text, indent=label_w) for text in lines[1:])
    if doc.diagnoses:
        rows.append(_Row("", label="诊断：", gap_before=6))
        for n, d in enumerate(doc.diagnoses, start=1):
            text = f"{n}. {d.printed()}"
            rows.extend(_Row(t, indent=24) for t in pen.wrap(text, BODY, width - 24))
    return rows


def _draw(c: Canvas, pen: Pen, doc: VisitNotePrint) -> None:
    left, right = MARGIN, PAGE_W - MARGIN
    rows = _rows(pen, doc, right - left)
    body_top, body_bottom = PAGE_H - MARGIN - 118, MARGIN + 110
    pages: list[list[tuple[_Row, float]]] = [[]]
    y = body_top
    for row in rows:
        y -= row.gap_before
        if y < body_bottom:
            pages.append([])
            y = body_top
        pages[-1].append((row, y))
        y -= LEADING
    for number, page in enumerate(pages, start=1):
        _header(c, pen, doc, left, right)
        for row, row_y in page:
            label_w = pen.text(left, row_y, row.label, BODY, bold=True) if row.label else 0.0
            pen.text(left + max(label_w, row.indent), row_y, row.text, BODY)
        if number == len(pages):
            _signature(c, pen, doc, left, right)
        pen.text(
            PAGE_W / 2, MARGIN - 20, f"第 {number} 页 / 共 {len(pages)} 页", 8.5, color=GREY, align="centre"
        )
        printed = f"打印 {format_time(doc.printed_at)}" + ("  补打" if doc.reprint else "")
        pen.text(right, MARGIN - 20, printed, 8.5, color=REPRINT_RED if doc.reprint else GREY, align="right")
        watermark(pen, PAGE_W, PAGE_H, f"{doc.doctor_name}  {format_time(doc.printed_at)}", size=15)
        c.showPage()


def _header(c: Canvas, pen: Pen, doc: VisitNotePrint, left: float, right: float) -> None:
    top = PAGE_H - MARGIN
    pen.text(PAGE_W / 2, top - 18, doc.hospital_name, 17, bold=True, align="centre", max_width=360)
    pen.text(PAGE_W / 2, top - 44, "门  诊  病  历", 15, bold=True, align="centre")
    if doc.reprint:
        reprint_stamp(pen, right, top - 4, size=14)
    patient = doc.patient
    fields = [
        ("姓名", patient.name, 0.22),
        ("性别", SEX_ZH.get(patient.sex, ""), 0.13),
        ("年龄", age_text_zh(patient.birth_date, doc.visit_at.date()), 0.15),
        ("门诊号", patient.mrn, 0.22),
        ("科别", doc.department, 0.28),
    ]
    y = top - 76
    x = left
    for label, value, share in fields:
        cell = (right - left) * share
        lw = pen.text(x, y, f"{label}：", 9.5, color=GREY)
        pen.text(x + lw, y, value, 10, max_width=cell - lw - 6)
        x += cell
    y -= 18
    lw = pen.text(left, y, "就诊时间：", 9.5, color=GREY)
    pen.text(left + lw, y, format_time(doc.visit_at), 10)
    lw2 = pen.text(left + (right - left) * 0.5, y, "过敏史：", 9.5, color=GREY)
    allergies = allergy_text(patient.allergy_status, patient.allergies, "zh_CN")  # 未询问 is not 无
    pen.text(left + (right - left) * 0.5 + lw2, y, allergies, 10, max_width=(right - left) * 0.5 - lw2)
    c.setLineWidth(0.8)
    c.line(left, y - 10, right, y - 10)


def _signature(c: Canvas, pen: Pen, doc: VisitNotePrint, left: float, right: float) -> None:
    box_w, box_h = 230.0, 58.0
    x, y = right - box_w, MARGIN + 20
    c.saveState()
    c.setStrokeColor(LIGHT)
    c.setLineWidth(0.6)
    c.rect(x, y, box_w, box_h, stroke=1, fill=0)
    c.restoreState()
    doctor = f"医师：{doc.doctor_name}" + (f"（{doc.doctor_title}）" if doc.doctor_title else "")
    pen.text(x + 8, y + box_h - 17, doctor, 10.5, bold=True, max_width=box_w - 16)
    if doc.signature_fingerprint:
        signed = format_time(doc.signed_at) if doc.signed_at else ""
        pen.text(x + 8, y + box_h - 33, f"电子签名  {signed}", 8.5, color=GREY)
        short = " ".join(doc.signature_fingerprint.split()[:6])
        pen.text(x + 8, y + box_h - 48, f"密钥指纹 {short}", 8, color=GREY, max_width=box_w - 16)
    else:
        pen.text(x + 8, y + box_h - 40, "未签名", 10, bold=True, color=REPRINT_RED)
