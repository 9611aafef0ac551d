"""The pharmacy receipt (小票) and pickup slip (取药凭条) on an 80 mm (or 58 mm) ESC/POS thermal printer.

The receipt lists items and amount: a 收费小票 (numbered ``SF…``) where the counter took the money, a
发药凭条 (``FY…``) where it did not (``slip_number``). The pickup slip carries the pickup code and its QR to
the patient when the prescription is approved (or paid, where payment comes first).

The content is laid out once as a list of blocks (``receipt_blocks``) and printed one of two ways, as
the queue ticket is (``shared.printing.ticket``):

* ``text`` — printer fonts: Chinese as GB18030 in the printer's Chinese mode (``EscPos``), native QR;
* ``raster`` — the same blocks drawn with Pillow and a CJK font and sent as a bitmap (GS v 0).

``auto`` prints text and falls back to raster only when a character has no GBK code (a rare name
character). Amounts use the full-width ￥ (GBK A3A4), never ¥ (U+00A5), which GBK cannot print.
The patient's name is masked.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Literal

from shared import clinic_time
from shared.domain.masking import mask_name
from shared.errors import SuiteError
from shared.money import FULL_WIDTH_YUAN, format_money
from shared.printing.escpos import EscPos, text_columns, wrap_columns

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

Paper = Literal["58mm", "80mm"]
Mode = Literal["auto", "text", "raster"]
PAPER_DOTS: dict[str, int] = {"58mm": 384, "80mm": 576}
PAPER_COLUMNS: dict[str, int] = {"58mm": 32, "80mm": 48}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class ReceiptLine:
    name: str
    spec: str
    quantity: int
    unit: str
    amount: Decimal


@dataclass(frozen=True)
class Receipt:
    """What the receipt shows. ``patient_name`` is the full name; it is printed masked."""

    hospital: str
    pharmacy_name: str
    receipt_no: str
    rx_no: str
    patient_name: str
    lines: tuple[ReceiptLine, ...]
    printed_at: dt.datetime
    total: Decimal | None = None
    payment: str = ""
    pharmacist: str = ""
    pickup_code: str = ""
    window: str = ""
    qr_payload: str = ""
    qr_caption: str = "扫码查看电子票据与用药说明"
    footer: str = "请当面核对药品与数量，如有疑问请咨询药师。"
    reprint: bool = False
    # whether money was taken at this counter (also when a ``payment`` is named): a 收费小票 then,
    # else a 发药凭条 (a dispensing slip, the amount shown as the drugs' value, not as money taken)
    paid: bool = False

    @property
    def charged(self) -> bool:
        return self.paid or bool(self.payment)

    @property
    def title(self) -> str:
        return "收费小票" if self.charged else "发药凭条"

    @property
    def amount(self) -> Decimal:
        total = (
            self.total if self.total is not None else sum((line.amount for line in self.lines), Decimal(0))
        )
        return total.quantize(CENT, rounding=ROUND_HALF_UP)


def slip_number(rx_number: str, *, paid: bool, part: int = 1) -> str:
    """The slip's own number, from its prescription's: ``R261206-0A1B-0001`` → ``SF261206-0A1B-0001`` for
    a 收费小票 (paid here) or ``FY261206-0A1B-0001`` for a 发药凭条; the 2nd, 3rd … dispense of a
    prescription (partial dispensing) adds ``-2``, ``-3``. Never the doubled ``RR…`` of a prefix glued on."""
    core = re.sub(r"^R[Xx]?(?=\w)", "", rx_number) or rx_number
    return f"{'SF' if paid else 'FY'}{core}" + (f"-{part}" if part > 1 else "")


def money(value: Decimal) -> str:
    """￥12.80 (the full-width sign, printable in GBK)."""
    return format_money(value, sign=FULL_WIDTH_YUAN)


# --- blocks: one layout for both ways of printing --------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str
    align: Literal["left", "center", "right"] = "left"
    bold: bool = False
    scale: int = 1  # 1 or 2 (double width and height)


@dataclass(frozen=True)
class Row:
    """Cells of ``(text, columns, align)`` on one line; the columns add up to the paper's columns."""

    cells: tuple[tuple[str, int, str], ...]
    bold: bool = False


@dataclass(frozen=True)
class Rule:
    char: str = "-"


@dataclass(frozen=True)
class Qr:
    payload: str


@dataclass(frozen=True)
class Feed:
    lines: int = 1


Block = Text | Row | Rule | Qr | Feed


def receipt_blocks(r: Receipt, *, columns: int = 48) -> list[Block]:
    """The receipt top to bottom, for a paper ``columns`` half-width characters wide."""
    qty_w, amount_w = 8, 11
    name_w = columns - qty_w - amount_w
    out: list[Block] = []
    for line in wrap_columns(r.hospital, columns // 2):
        out.append(Text(line, "center", bold=True, scale=2))
    out.append(Text(f"{r.pharmacy_name} {r.title}" + ("（补打）" if r.reprint else ""), "center", bold=True))
    out.append(Feed())
    out.append(Text(f"{'票据号' if r.charged else '凭条号'}：{r.receipt_no}"))
    out.append(Text(f"处方号：{r.rx_no}"))
    out.append(Text(f"患者：{mask_name(r.patient_name)}"))
    out.append(Text(f"时间：{clinic_time.local(r.printed_at):%Y-%m-%d %H:%M}"))
    out.append(Rule())
    out.append(
        Row((("药品/规格", name_w, "left"), ("数量", qty_w, "right"), ("金额", amount_w, "right")), bold=True)
    )
    out.append(Rule())
    for item in r.lines:
        names = wrap_columns(item.name, name_w - 1) or [""]
        qty = f"{item.quantity}{item.unit}"
        out.append(
            Row(((names[0], name_w, "left"), (qty, qty_w, "right"), (money(item.amount), amount_w, "right")))
        )
        for extra in names[1:]:
            out.append(Row(((extra, name_w, "left"), ("", qty_w, "right"), ("", amount_w, "right"))))
        if item.spec:
            for spec in wrap_columns(f"  {item.spec}", columns):
                out.append(Text(spec))
    out.append(Rule())
    out.append(Text(f"共 {len(r.lines)} 种药品", "left"))
    out.append(Text(f"{'合计' if r.charged else '药品金额'}：{money(r.amount)}", "right", bold=True, scale=2))
    if r.payment:
        out.append(Text(f"支付方式：{r.payment}", "right"))
    if r.pharmacist:
        out.append(Text(f"发药药师：{r.pharmacist}", "right"))
    if r.pickup_code:
        out.append(Rule())
        out.append(Text("取药码" + (f"（{r.window}取药）" if r.window else ""), "center"))
        out.append(Text(" ".join(r.pickup_code), "center", bold=True, scale=2))
    if r.qr_payload:
        out.append(Feed())
        out.append(Qr(r.qr_payload))
        if r.qr_caption:
            out.append(Text(r.qr_caption, "center"))
    out.append(Rule())
    for line in wrap_columns(r.footer, columns):
        out.append(Text(line, "center"))
    return out


@dataclass(frozen=True)
class PickupSlip:
    """The patient's 取药凭条: the pickup code (large) and its QR, handed over when the prescription is
    approved (or paid, where payment comes first) so the patient can collect. ``patient_name`` is printed
    masked; the drugs are listed by name and quantity only."""

    hospital: str
    pharmacy_name: str
    rx_no: str
    patient_name: str
    pickup_code: str
    printed_at: dt.datetime
    lines: tuple[ReceiptLine, ...] = ()
    qr_payload: str = ""
    window: str = ""
    valid_until: dt.datetime | None = None
    reprint: bool = False
    footer: str = "凭取药码或二维码到药房窗口取药。请妥善保管，勿将取药码告知他人。"


def pickup_slip_blocks(slip: PickupSlip, *, columns: int = 48) -> list[Block]:
    """The pickup slip top to bottom (the same blocks as the receipt, so both print the same two ways)."""
    out: list[Block] = []
    for line in wrap_columns(slip.hospital, columns // 2):
        out.append(Text(line, "center", bold=True, scale=2))
    out.append(
        Text(f"{slip.pharmacy_name} 取药凭条" + ("（补打）" if slip.reprint else ""), "center", bold=True)
    )
    out.append(Feed())
    out.append(Text(f"处方号：{slip.rx_no}"))
    out.append(Text(f"患者：{mask_name(slip.patient_name)}"))
    out.append(Text(f"时间：{clinic_time.local(slip.printed_at):%Y-%m-%d %H:%M}"))
    out.append(Rule())
    out.append(Text("取药码" + (f"（{slip.window}取药）" if slip.window else ""), "center"))
    out.append(Text(" ".join(slip.pickup_code), "center", bold=True, scale=2))
    if slip.valid_until is not None:
        out.append(Text(f"有效期至：{clinic_time.local(slip.valid_until):%Y-%m-%d %H:%M}", "center"))
    if slip.qr_payload:
        out.append(Feed())
        out.append(Qr(slip.qr_payload))
    if slip.lines:
        out.append(Rule())
        name_w = columns - 10
        for item in slip.lines:
            names = wrap_columns(item.name, name_w - 1) or [""]
            out.append(Row(((names[0], name_w, "left"), (f"{item.quantity}{item.unit}", 10, "right"))))
            for extra in names[1:]:
                out.append(Row(((extra, name_w, "left"), ("", 10, "right"))))
    out.append(Rule())
    for line in wrap_columns(slip.footer, columns):
        out.append(Text(line, "center"))
    return out


def pickup_slip_escpos(slip: PickupSlip, *, paper: Paper = "80mm", mode: Mode = "auto") -> bytes:
    """The bytes of a pickup slip for the receipt printer (``mode`` as for ``receipt_escpos``)."""
    blocks = pickup_slip_blocks(slip, columns=PAPER_COLUMNS[paper])
    return _print_blocks(blocks, paper=paper, mode=mode, label=f"pickup slip {slip.rx_no}")


def _pad(text: str, width: int, align: str) -> str:
    gap = max(0, width - text_columns(text))
    return text + " " * gap if align == "left" else " " * gap + text


# --- text (printer fonts) ----------------------------------------------------------------------------


def receipt_text_escpos(r: Receipt, *, paper: Paper = "80mm") -> EscPos:
    """The receipt in printer fonts; check ``.unprintable`` on the result before sending it."""
    return _blocks_text_escpos(receipt_blocks(r, columns=PAPER_COLUMNS[paper]), paper=paper)


def _blocks_text_escpos(blocks: list[Block], *, paper: Paper) -> EscPos:
    columns = PAPER_COLUMNS[paper]
    p = EscPos().init().line_spacing(None)
    for block in blocks:
        if isinstance(block, Text):
            p.align(block.align).bold(block.bold).size(block.scale, block.scale)
            for line in wrap_columns(block.text, columns // block.scale):
                p.line(line)
            p.size(1, 1).bold(False)
        elif isinstance(block, Row):
            p.align("left").bold(block.bold)
            p.line("".join(_pad(text, width, align) for text, width, align in block.cells).rstrip())
            p.bold(False)
        elif isinstance(block, Rule):
            p.align("left").line(block.char * columns)
        elif isinstance(block, Qr):
            p.align("center").qr(block.payload, module=6 if paper == "80mm" else 5, ec="M")
        elif isinstance(block, Feed):
            p.feed(block.lines)
    return p.feed(3).cut()


# --- raster (drawn with Pillow) ----------------------------------------------------------------------


def render_receipt_image(r: Receipt, *, paper: Paper = "80mm") -> Image.Image:
    """The receipt drawn at the printer's resolution (203 dpi; 576 or 384 dots wide), black on white."""
    return render_blocks_image(receipt_blocks(r, columns=PAPER_COLUMNS[paper]), paper=paper)


def render_blocks_image(blocks: list[Block], *, paper: Paper = "80mm") -> Image.Image:
    """Blocks (a receipt's, a pickup slip's) drawn at the printer's resolution, black on white."""
    import qrcode
    from PIL import Image, ImageDraw

    from shared.printing.fonts import cjk_font

    width = PAPER_DOTS[paper]
    columns = PAPER_COLUMNS[paper]
    margin = 6
    col_px = (width - 2 * margin) / columns  # ~12 dots per half-width column, as the printer's font A
    base = int(col_px * 2)  # a CJK character is two columns wide
    fonts = {
        (scale, bold): cjk_font(base * scale - 2, bold=bold) for scale in (1, 2) for bold in (False, True)
    }
    line_h = {1: base + 8, 2: base * 2 + 8}

    def qr_image(payload: str) -> Image.Image:
        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=2)
        qr.add_data(payload)
        qr.make(fit=True)
        return qr.make_image(fill_color="black", back_color="white").get_image().convert("L")

    # measure first, then draw on a canvas of exactly that height
    plan: list[tuple[Block, list[str], int]] = []
    height = 8
    qr_images: dict[str, Image.Image] = {}
    for block in blocks:
        if isinstance(block, Text):
            lines = wrap_columns(block.text, columns // block.scale)
            h = line_h[block.scale] * len(lines)
        elif isinstance(block, Qr):
            qr_images[block.payload] = qr_images.get(block.payload) or qr_image(block.payload)
            lines, h = [], qr_images[block.payload].height + 6
        elif isinstance(block, Rule):
            lines, h = [], 14
        elif isinstance(block, Feed):
            lines, h = [], line_h[1] // 2 * block.lines
        else:
            lines, h = [], line_h[1]
        plan.append((block, lines, h))
        height += h
    image = Image.new("L", (width, height + 24), 255)
    draw = ImageDraw.Draw(image)
    y = 8
    for block, lines, h in plan:
        if isinstance(block, Text):
            font = fonts[block.scale, block.bold]
            for line in lines:
                w = font.getlength(line)
                x = {"left": margin, "center": (width - w) / 2, "right": width - margin - w}[block.align]
                draw.text((x, y), line, font=font, fill=0)
                y += line_h[block.scale]
            continue
        if isinstance(block, Row):
            font = fonts[1, block.bold]
            x = float(margin)
            for text, cols, align in block.cells:
                cell_w = cols * col_px
                tx = x if align == "left" else x + cell_w - font.getlength(text)
                draw.text((tx, y), text, font=font, fill=0)
                x += cell_w
        elif isinstance(block, Rule):
            draw.line([(margin, y + 6), (width - margin, y + 6)], fill=0, width=2)
        elif isinstance(block, Qr):
            picture = qr_images[block.payload]
            image.paste(picture, ((width - picture.width) // 2, y))
        y += h
    return image


def receipt_raster_escpos(r: Receipt, *, paper: Paper = "80mm") -> EscPos:
    """The receipt as one bitmap (works on printers without Chinese fonts)."""
    return EscPos().init().align("center").image(render_receipt_image(r, paper=paper)).feed(3).cut()


def receipt_escpos(r: Receipt, *, paper: Paper = "80mm", mode: Mode = "auto") -> bytes:
    """The bytes to send to the receipt printer (see the module docstring for ``mode``)."""
    blocks = receipt_blocks(r, columns=PAPER_COLUMNS[paper])
    return _print_blocks(blocks, paper=paper, mode=mode, label=f"receipt {r.receipt_no}")


def _print_blocks(blocks: list[Block], *, paper: Paper, mode: Mode, label: str) -> bytes:
    def raster() -> bytes:
        image = render_blocks_image(blocks, paper=paper)
        return EscPos().init().align("center").image(image).feed(3).cut().build()

    if mode == "raster":
        return raster()
    document = _blocks_text_escpos(blocks, paper=paper)
    if mode == "auto" and document.unprintable:
        try:
            log.info("%s has characters printer fonts lack; printing it as an image", label)
            return raster()
        except SuiteError as exc:  # no Pillow or no CJK font: the text with "?" rather than nothing
            log.warning("cannot print %s as an image (%s); printing text", label, exc.message)
    return document.build()
