"""The queue ticket slip printed at check-in: hospital, department, queue, big number, people ahead, the
room only when it is fixed (``fixed_room_id``), time, QR.

Two ways to print the same slip on a 58 or 80 mm thermal printer:

* ``text`` — printer fonts: Chinese as GB18030 in Chinese mode, native QR. Small and fast.
* ``raster`` — the slip drawn with Pillow and a CJK font and sent as a bitmap (GS v 0), for printers
  without a Chinese font or names with characters outside GBK.

``auto`` (the default) prints text and switches to raster only when some character cannot be printed
as text. The patient's name is always masked (张*三).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from shared import clinic_time
from shared.domain.masking import mask_name
from shared.domain.queue_check_in import fixed_room_id as fixed_room_id  # the slip's room rule
from shared.errors import SuiteError
from shared.i18n import DEFAULT_LANGUAGE, register, tr
from shared.printing.escpos import EscPos, text_columns, wrap_columns

if TYPE_CHECKING:
    from PIL import Image, ImageFont

log = logging.getLogger(__name__)

Paper = Literal["58mm", "80mm"]
Mode = Literal["auto", "text", "raster"]
PAPER_DOTS: dict[str, int] = {"58mm": 384, "80mm": 576}
PAPER_COLUMNS: dict[str, int] = {"58mm": 32, "80mm": 48}  # font A, 12 dots per half-width column
QR_PREFIX = "clinic:ticket:"

_MESSAGES = {
    "ticket.your_number": {"zh_CN": "您的排队号", "en": "Your number", "zh_TW": "您的排隊號"},
    "ticket.ahead": {
        "zh_CN": "前面还有 {count} 人",
        "en": "{count} ahead of you",
        "zh_TW": "前面還有 {count} 人",
    },
    "ticket.next": {"zh_CN": "您是下一位", "en": "You are next", "zh_TW": "您是下一位"},
    "ticket.room": {"zh_CN": "诊室：{room}", "en": "Room: {room}", "zh_TW": "診室：{room}"},
    "ticket.room_called": {
        "zh_CN": "诊室：叫号时显示",
        "en": "Room: shown when you are called",
        "zh_TW": "診室：叫號時顯示",
    },
    "ticket.patient": {"zh_CN": "患者：{name}", "en": "Patient: {name}", "zh_TW": "患者：{name}"},
    "ticket.time": {"zh_CN": "取号时间：{time}", "en": "Issued: {time}", "zh_TW": "取號時間：{time}"},
    "ticket.footer": {
        "zh_CN": "请留意叫号屏幕和广播；过号请到分诊台出示此票。",
        "en": "Watch the screen and listen for your number; if you miss it, show this slip at the triage desk.",
        "zh_TW": "請留意叫號螢幕和廣播；過號請到分診台出示此票。",
    },
}
for _key, _texts in _MESSAGES.items():
    register(_key, _texts)


@dataclass(frozen=True)
class TicketSlip:
    """What the slip shows. ``patient_name`` is the full name; it is printed masked. ``room`` only when
    it is fixed (``fixed_room_id``): a room guessed at check-in changes before the patient is called."""

    ticket_id: str
    number: str
    queue_name: str
    ahead: int
    issued_at: datetime
    hospital: str
    room: str | None = None
    patient_name: str | None = None
    footer: str | None = None
    department: str | None = None


def qr_payload(ticket_id: str) -> str:
    """What the slip's QR code holds; the check-in scanner reads it back with ``ticket_id_from_qr``."""
    return f"{QR_PREFIX}{ticket_id}"


def ticket_id_from_qr(payload: str) -> str | None:
    return payload[len(QR_PREFIX) :] if payload.startswith(QR_PREFIX) else None


def _detail_lines(slip: TicketSlip, lang: str) -> list[str]:
    lines = [tr("ticket.room", lang, room=slip.room) if slip.room else tr("ticket.room_called", lang)]
    if slip.patient_name:
        lines.append(tr("ticket.patient", lang, name=mask_name(slip.patient_name)))
    lines.append(tr("ticket.time", lang, time=f"{clinic_time.local(slip.issued_at):%Y-%m-%d %H:%M}"))
    return lines


def _ahead(slip: TicketSlip, lang: str) -> str:
    return tr("ticket.next", lang) if slip.ahead <= 0 else tr("ticket.ahead", lang, count=slip.ahead)


def ticket_text_escpos(slip: TicketSlip, *, paper: Paper = "80mm", lang: str = DEFAULT_LANGUAGE) -> EscPos:
    """The slip in printer fonts; check ``.unprintable`` on the result before sending it."""
    cols = PAPER_COLUMNS[paper]
    p = EscPos().init().line_spacing(None).align("center")
    p.bold().size(1, 2)
    for line in wrap_columns(slip.hospital, cols):
        p.line(line)
    if slip.department:
        p.bold(False).size(1, 1)
        for line in wrap_columns(slip.department, cols):
            p.line(line)
    p.bold(False).size(2, 2)
    for line in wrap_columns(slip.queue_name, cols // 2):
        p.line(line)
    p.size(1, 1).line("-" * cols)
    p.line(tr("ticket.your_number", lang))
    big = 4 if text_columns(slip.number) * 4 <= cols else 3
    p.bold().size(big, big).line(slip.number)
    p.size(1, 2).line(_ahead(slip, lang)).bold(False).size(1, 1)
    for detail in _detail_lines(slip, lang):
        for line in wrap_columns(detail, cols):
            p.line(line)
    p.feed(1).qr(qr_payload(slip.ticket_id), module=6 if paper == "80mm" else 5, ec="M").feed(1)
    for line in wrap_columns(slip.footer or tr("ticket.footer", lang), cols):
        p.line(line)
    return p.feed(2).cut()


# --- raster ------------------------------------------------------------------------------------------


def _wrap_pixels(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for ch in text:
        if line and font.getlength(line + ch) > width:
            lines.append(line)
            line = "" if ch == " " else ch
        else:
            line += ch
    if line:
        lines.append(line)
    return lines


def render_ticket_image(
    slip: TicketSlip, *, paper: Paper = "80mm", lang: str = DEFAULT_LANGUAGE
) -> Image.Image:
    """The slip drawn at the printer's resolution (203 dpi, 384 or 576 dots wide), black on white."""
    import qrcode
    from PIL import Image, ImageDraw

    from shared.printing.fonts import cjk_font

    width = PAPER_DOTS[paper]
    scale = width / 576
    margin = int(16 * scale) + 4
    inner = width - 2 * margin

    def px(size: int) -> int:
        return max(12, int(size * scale))

    blocks: list[
        tuple[str | None, ImageFont.FreeTypeFont, int]
    ] = []  # (text or None for a rule, font, space after)

    def add(text: str, size: int, *, bold: bool = False, after: int = 6) -> None:
        font = cjk_font(px(size), bold=bold)
        for line in _wrap_pixels(text, font, inner):
            blocks.append((line, font, int(after * scale) + 2))

    add(slip.hospital, 34, bold=True, after=8)
    if slip.department:
        add(slip.department, 30, after=4)
    add(slip.queue_name, 44, bold=True, after=10)
    blocks.append((None, cjk_font(px(20)), int(14 * scale)))
    add(tr("ticket.your_number", lang), 26, after=0)
    number_font = cjk_font(px(150), bold=True)
    while number_font.getlength(slip.number) > inner and number_font.size > 40:
        number_font = cjk_font(int(number_font.size) - 10, bold=True)
    blocks.append((slip.number, number_font, int(10 * scale)))
    add(_ahead(slip, lang), 36, bold=True, after=14)
    for detail in _detail_lines(slip, lang):
        add(detail, 26, after=6)

    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=max(3, int(7 * scale)), border=2
    )
    qr.add_data(qr_payload(slip.ticket_id))
    qr.make(fit=True)
    qr_image = qr.make_image(fill_color="black", back_color="white").get_image().convert("L")

    footer_font = cjk_font(px(22))
    footer = _wrap_pixels(slip.footer or tr("ticket.footer", lang), footer_font, inner)

    def line_height(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int]:
        _, top, _, bottom = font.getbbox(text)
        return int(top), int(bottom - top)

    height = margin
    for text, font, after in blocks:
        height += (2 if text is None else line_height(font, text)[1]) + after
    height += int(10 * scale) + qr_image.height + int(10 * scale)
    height += sum(line_height(footer_font, t)[1] + 6 for t in footer) + margin + int(24 * scale)

    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    y = margin
    for text, font, after in blocks:
        if text is None:
            draw.line([(margin, y), (width - margin, y)], fill=0, width=2)
            y += 2 + after
            continue
        top, h = line_height(font, text)
        x = (width - font.getlength(text)) / 2
        draw.text((x, y - top), text, font=font, fill=0)
        y += h + after
    y += int(10 * scale)
    image.paste(qr_image, ((width - qr_image.width) // 2, y))
    y += qr_image.height + int(10 * scale)
    for text in footer:
        top, h = line_height(footer_font, text)
        draw.text(((width - footer_font.getlength(text)) / 2, y - top), text, font=footer_font, fill=0)
        y += h + 6
    return image


def ticket_raster_escpos(slip: TicketSlip, *, paper: Paper = "80mm", lang: str = DEFAULT_LANGUAGE) -> EscPos:
    """The slip as one bitmap (works on printers without Chinese fonts)."""
    image = render_ticket_image(slip, paper=paper, lang=lang)
    return EscPos().init().align("center").image(image).feed(2).cut()


def ticket_escpos(
    slip: TicketSlip, *, paper: Paper = "80mm", mode: Mode = "auto", lang: str = DEFAULT_LANGUAGE
) -> bytes:
    """The bytes to send to the ticket printer (see the module docstring for ``mode``)."""
    if mode == "raster":
        return ticket_raster_escpos(slip, paper=paper, lang=lang).build()
    document = ticket_text_escpos(slip, paper=paper, lang=lang)
    if mode == "auto" and document.unprintable:
        try:
            log.info("ticket %s has characters printer fonts lack; printing it as an image", slip.number)
            return ticket_raster_escpos(slip, paper=paper, lang=lang).build()
        except SuiteError as exc:  # no Pillow or no CJK font: print the text with "?" rather than nothing
            log.warning("cannot print ticket %s as an image (%s); printing text", slip.number, exc.message)
    return document.build()
