"""Courier waybills (快递面单) on 100×150 mm and 76×130 mm thermal labels: Code128, QR, receiver, sender.

The layout follows the usual electronic waybill: sort code (大头笔) big at the top, the waybill number
as Code128 with its digits under it, receiver (收) and sender (寄) blocks, the contents count, a QR for
tracking, and a tear-off stub with the number again. Phones are always masked (138****5678); the
contents say "药品" and a count, never drug names, because the label is read by strangers on the way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from shared.domain.delivery import Address, DeliveryOrder
from shared.domain.masking import mask_name, mask_phone
from shared.printing.pdf_common import BLACK, Pen, format_time, render_pdf, reprint_stamp

WaybillSize = Literal["100x150", "76x130"]
WAYBILL_SIZES: dict[str, tuple[float, float]] = {
    "100x150": (100 * mm, 150 * mm),
    "76x130": (76 * mm, 130 * mm),
}
TRACKING_URL = "https://track.example.invalid/"


@dataclass(frozen=True)
class WaybillPrint:
    """What a waybill shows. Names are printed masked only where ``mask_names`` is set (couriers need the
    receiver's name in full to hand over the parcel; some sites mask it anyway)."""

    waybill_no: str
    courier_name: str
    sort_code: str
    receiver: Address
    sender: Address
    contents_count: int
    printed_at: dt.datetime
    service: str = "标准快递"
    contents: str = "药品"
    order_ref: str = ""
    cold_chain: bool = False
    mask_names: bool = False
    qr_payload: str = ""

    @classmethod
    def from_order(
        cls,
        order: DeliveryOrder,
        *,
        courier_name: str,
        sort_code: str,
        printed_at: dt.datetime,
        **extra: object,
    ) -> WaybillPrint:
        return cls(
            waybill_no=order.waybill_no,
            courier_name=courier_name,
            sort_code=sort_code,
            receiver=order.receiver,
            sender=order.sender,
            contents_count=order.contents_count,
            printed_at=printed_at,
            cold_chain=order.cold_chain,
            **extra,  # type: ignore[arg-type]
        )

    @property
    def qr(self) -> str:
        return self.qr_payload or f"{TRACKING_URL}{self.waybill_no}"


def render_waybill(doc: WaybillPrint, *, size: WaybillSize = "100x150", reprint: bool = False) -> bytes:
    """The waybill as a one-page PDF of the label's size."""
    page = WAYBILL_SIZES[size]
    return render_pdf(
        page,
        title=f"运单 {doc.waybill_no}",
        author=doc.sender.name,
        draw=lambda canvas, pen: _draw(canvas, pen, doc, page, reprint),
    )


def _qr(c: Canvas, value: str, x: float, y: float, size: float) -> None:
    widget = QrCodeWidget(value, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, c, x, y)


def _barcode(c: Canvas, value: str, x: float, y: float, width: float, height: float) -> None:
    """Code128 of ``value`` centred in ``width``, with the 10-module quiet zone on each side kept free.

    The bar (module) width is the largest that fits, at most 0.5 mm; thermal printers at 203 dpi print
    it as whole dots, and scanners need the quiet zone more than wide bars.
    """
    probe = Code128(value, barHeight=height, barWidth=1.0, quiet=False)
    bar_width = min(width / (probe.width + 20), 0.5 * mm)
    code = Code128(value, barHeight=height, barWidth=bar_width, quiet=False)
    code.drawOn(c, x + (width - code.width) / 2, y)


def spaced_number(waybill_no: str) -> str:
    """SF123456789012 → "SF 1234 5678 9012": the prefix apart, then digits in fours, easy to read out."""
    head = len(waybill_no) - len(waybill_no.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    digits = waybill_no[head:]
    groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    return " ".join(([waybill_no[:head]] if head else []) + groups)


def _name(doc: WaybillPrint, name: str) -> str:
    return mask_name(name) if doc.mask_names else name


def _hline(c: Canvas, x0: float, x1: float, y: float, width: float = 0.8) -> None:
    c.setStrokeColor(BLACK)
    c.setLineWidth(width)
    c.line(x0, y, x1, y)


def _party(
    pen: Pen,
    doc: WaybillPrint,
    tag: str,
    who: Address,
    x: float,
    top: float,
    width: float,
    size: float,
    lines: int,
) -> None:
    """A 收/寄 block: a boxed tag, name and masked phone on one line, then the address wrapped."""
    c = pen.c
    box = size * 1.9
    c.setLineWidth(1)
    c.rect(x, top - box, box, box, stroke=1, fill=0)
    pen.text(x + box / 2, top - box + box * 0.28, tag, size * 1.15, bold=True, align="centre")
    tx = x + box + 2 * mm
    tw = width - box - 2 * mm
    y = top - size
    pen.text(tx, y, f"{_name(doc, who.name)}  {mask_phone(who.mobile)}", size, bold=True, max_width=tw)
    small = size * 0.85
    # wrap one character short: closing punctuation may hang past the wrap width (pdf_common)
    address = pen.wrap(who.one_line(), small, tw - small)
    for i, line in enumerate(address[:lines]):
        y -= small + 1.8
        rest = "".join(address[i:]) if i == lines - 1 else line  # the last line ends in "…" if cut
        pen.text(tx, y, rest, small, max_width=tw)


def _draw(c: Canvas, pen: Pen, doc: WaybillPrint, page: tuple[float, float], reprint: bool) -> None:
    w, h = page
    k = w / (100 * mm)  # text and widths scale with the label width, block heights with its height
    kv = h / (150 * mm)
    m = 3 * mm * k
    inner = w - 2 * m
    c.setLineWidth(1)
    c.setStrokeColor(BLACK)
    c.rect(m, m, inner, h - 2 * m, stroke=1, fill=0)

    # top band: courier and service, printed time
    y = h - m
    band = 11 * mm * kv
    pen.text(m + 2 * mm, y - band * 0.62, doc.courier_name, 13 * k, bold=True, max_width=inner * 0.45)
    service = doc.service + ("  冷链" if doc.cold_chain else "")
    pen.text(
        w - m - 2 * mm, y - band * 0.48, service, 10 * k, bold=True, align="right", max_width=inner * 0.5
    )
    pen.text(w - m - 2 * mm, y - band * 0.85, format_time(doc.printed_at), 6.5 * k, align="right")
    y -= band
    _hline(c, m, w - m, y)

    # sort code (大头笔)
    sort_h = 14 * mm * kv
    pen.text(
        w / 2, y - sort_h * 0.72, doc.sort_code, 26 * k, bold=True, align="centre", max_width=inner - 4 * mm
    )
    y -= sort_h
    _hline(c, m, w - m, y)

    # main barcode with the number under it
    bar_h = 16 * mm * kv
    _barcode(c, doc.waybill_no, m + 4 * mm * k, y - 2.5 * mm * k - bar_h, inner - 8 * mm * k, bar_h)
    y -= bar_h + 2.5 * mm * k
    pen.text(w / 2, y - 11 * k, spaced_number(doc.waybill_no), 10 * k, bold=True, align="centre")
    y -= 14 * k + 2 * mm * k
    _hline(c, m, w - m, y)

    # receiver and sender
    pad = 2 * mm * k
    _party(pen, doc, "收", doc.receiver, m + pad, y - pad, inner - 2 * pad, 11 * k, 3)
    y -= 26 * mm * kv
    _hline(c, m, w - m, y, 0.5)
    _party(pen, doc, "寄", doc.sender, m + pad, y - pad, inner - 2 * pad, 8.5 * k, 2)
    y -= 17 * mm * kv
    _hline(c, m, w - m, y)

    # contents and QR
    qr = 22 * mm * k
    pen.text(
        m + pad, y - 10 * k - pad, f"内件：{doc.contents}", 10 * k, bold=True, max_width=inner - qr - 3 * pad
    )
    pen.text(m + pad, y - 24 * k - pad, f"数量：共 {doc.contents_count} 件", 10 * k, bold=True)
    if doc.order_ref:
        pen.text(m + pad, y - 36 * k - pad, f"订单：{doc.order_ref}", 7 * k, max_width=inner - qr - 3 * pad)
    pen.text(m + pad, y - 48 * k - pad, "签收人：", 8 * k)
    _qr(c, doc.qr, w - m - pad - qr, y - pad - qr, qr)
    y -= qr + 2 * pad
    c.setDash(3, 2)
    _hline(c, m, w - m, y, 0.6)
    c.setDash()

    # tear-off stub: barcode and number left, receiver and count right, filling what is left
    room = y - m - 2 * pad
    stub_bar = min(18 * mm * kv, room - 14 * k)
    _barcode(c, doc.waybill_no, m + pad, y - pad - stub_bar, inner * 0.6, stub_bar)
    pen.text(m + pad + inner * 0.3, y - pad - stub_bar - 9 * k, doc.waybill_no, 7.5 * k, align="centre")
    rx = m + pad + inner * 0.62
    rw = inner * 0.38 - 2 * pad
    step = min(12 * k, room / 4)
    pen.text(
        rx, y - pad - step * 0.8, f"收：{_name(doc, doc.receiver.name)}", 8.5 * k, bold=True, max_width=rw
    )
    pen.text(rx, y - pad - step * 1.8, mask_phone(doc.receiver.mobile), 8 * k, max_width=rw)
    pen.text(rx, y - pad - step * 2.8, f"共 {doc.contents_count} 件", 8 * k, max_width=rw)
    pen.text(rx, y - pad - step * 3.8, format_time(doc.printed_at)[:10], 7 * k, max_width=rw)
    if reprint:
        reprint_stamp(pen, w - m - pad, h - m - band - 2, size=8 * k)
