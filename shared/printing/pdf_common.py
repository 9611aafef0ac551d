"""Drawing helpers shared by the PDF documents: CJK text that fits, wrapping, watermark, header, reprint mark."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

from reportlab.lib.colors import Color, HexColor
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from shared import clinic_time
from shared.printing.pdf_fonts import PdfFont, cjk_pdf_font

BLACK = HexColor("#000000")
GREY = HexColor("#555555")
LIGHT = HexColor("#BBBBBB")
REPRINT_RED = HexColor("#C62828")
# Punctuation that must not start a line (it hangs at the end of the previous one instead).
_NO_LINE_START = frozenset("，。、；：！？）》」』】,.;:!?)%")
# Characters some CJK fonts draw as an empty box or blank, replaced by a portable spelling.
_NO_LINE_END = frozenset("（《「『【(")
_PORTABLE = str.maketrans({"℃": "°C", "℉": "°F"})


class Pen:
    """A canvas with the document's Chinese font: measure, fit, wrap and draw text in one place."""

    def __init__(self, canvas: Canvas, font: PdfFont | None = None) -> None:
        self.c = canvas
        self.font = font or cjk_pdf_font()

    def width(self, text: str, size: float, *, bold: bool = False) -> float:
        return stringWidth(text, self.font.bold if bold else self.font.regular, size)

    def fit(self, text: str, size: float, max_width: float, *, bold: bool = False) -> str:
        """``text`` cut with an ellipsis so it is at most ``max_width`` wide (never runs into a neighbour)."""
        if self.width(text, size, bold=bold) <= max_width:
            return text
        while text and self.width(text + "…", size, bold=bold) > max_width:
            text = text[:-1]
        return text + "…"

    def fit_size(
        self, text: str, size: float, max_width: float, *, min_size: float, bold: bool = False
    ) -> float:
        """The largest size from ``size`` down to ``min_size`` (half-point steps) at which ``text`` fits."""
        while size > min_size and self.width(text, size, bold=bold) > max_width:
            size -= 0.5
        return max(size, min_size)

    def wrap(self, text: str, size: float, max_width: float, *, bold: bool = False) -> list[str]:
        """Lines of ``text`` no wider than ``max_width``: breaks anywhere in Chinese, at spaces in Latin."""
        lines: list[str] = []
        for paragraph in text.splitlines() or [""]:
            current = ""
            for token in _tokens(paragraph.translate(_PORTABLE)):
                fits = self.width(current + token, size, bold=bold) <= max_width
                if fits or not current or token in _NO_LINE_START:
                    current += token
                elif len(current) > 1 and current[-1] in _NO_LINE_END:
                    lines.append(current[:-1].rstrip())
                    current = current[-1] + token
                else:
                    lines.append(current.rstrip())
                    current = token.lstrip()
            lines.append(current.rstrip())
        return lines

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        *,
        bold: bool = False,
        color: Color = BLACK,
        align: str = "left",
        max_width: float | None = None,
    ) -> float:
        """Draw one line; returns its width. ``align``: left, right (x is the right edge) or centre."""
        text = text.translate(_PORTABLE)
        if max_width is not None:
            text = self.fit(text, size, max_width, bold=bold)
        c = self.c
        name = self.font.bold if bold else self.font.regular
        width = stringWidth(text, name, size)
        if align == "right":
            x -= width
        elif align == "centre":
            x -= width / 2
        c.saveState()
        c.setFillColor(color)
        t = c.beginText(x, y)
        t.setFont(name, size)
        if bold and self.font.fake_bold:
            c.setStrokeColor(color)
            c.setLineWidth(size / 30)
            t.setTextRenderMode(2)
        t.textOut(text)
        c.drawText(t)
        c.restoreState()
        return width


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    word = ""
    for ch in text:
        if ch.isascii() and not ch.isspace():
            word += ch
            continue
        if word:
            tokens.append(word)
            word = ""
        tokens.append(ch)
    if word:
        tokens.append(word)
    return tokens


def watermark(pen: Pen, page_width: float, page_height: float, text: str, *, size: float = 13) -> None:
    """A faint diagonal repeat of ``text`` (doctor's name and print time) across the page."""
    c = pen.c
    c.saveState()
    c.setFillColor(HexColor("#808080"))
    c.setFillAlpha(0.10)
    c.translate(page_width / 2, page_height / 2)
    c.rotate(30)
    step_x = pen.width(text, size) + 40
    step_y = size * 5.5
    span = (page_width**2 + page_height**2) ** 0.5
    y = -span / 2
    row = 0
    while y < span / 2:
        x = -span / 2 + (row % 2) * step_x / 2
        while x < span / 2:
            c.setFont(pen.font.regular, size)
            c.drawString(x, y, text)
            x += step_x
        y += step_y
        row += 1
    c.restoreState()


def reprint_stamp(pen: Pen, x: float, y: float, text: str = "补打", *, size: float = 13) -> None:
    """A red boxed "reprint" stamp with its top-right corner at (x, y)."""
    width = pen.width(text, size, bold=True) + 10
    height = size + 8
    c = pen.c
    c.saveState()
    c.setStrokeColor(REPRINT_RED)
    c.setLineWidth(1.3)
    c.rect(x - width, y - height, width, height, stroke=1, fill=0)
    c.restoreState()
    pen.text(x - width / 2, y - height + 5.5, text, size, bold=True, color=REPRINT_RED, align="centre")


def format_time(value: dt.datetime) -> str:
    """A printed time: the hospital's wall clock (``shared.clinic_time``), whatever zone ``value`` is in."""
    return clinic_time.local(value).strftime("%Y-%m-%d %H:%M")


def render_pdf(
    page_size: tuple[float, float],
    title: str,
    author: str,
    draw: Callable[[Canvas, Pen], None],
    *,
    font: PdfFont | None = None,
) -> bytes:
    """Run ``draw`` on a fresh canvas and return the PDF bytes (no file touches the disk)."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=page_size, pageCompression=1)
    canvas.setTitle(title)
    canvas.setAuthor(author)
    canvas.setCreator("Clinic Suite")
    draw(canvas, Pen(canvas, font))
    canvas.save()
    return buffer.getvalue()
