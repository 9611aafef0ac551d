"""ESC/POS byte streams built deliberately: Chinese as GB18030 in the printer's Chinese mode, native QR, raster images.

python-escpos' text path guesses code pages and garbles Chinese on most thermal printers, so this
builder writes the bytes itself (see DESIGN.md, Printing). Command reference: Epson ESC/POS, as
implemented by the common Chinese 58/80 mm printers (Xprinter, Gprinter, HPRT, Sunmi, Epson TM-T82).

Chinese text: ``FS &`` turns the printer's Chinese (double-byte) mode on and the text goes out as
GB18030. Printer fonts cover GB2312/GBK only, so a character that GB18030 encodes in four bytes
(rare name characters in the CJK extensions, such as 𬌗) cannot be printed as text: it is replaced by "?" and listed in
``unprintable`` so the caller can print the document as a raster image instead.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Literal

from shared.errors import ValidationFailed
from shared.i18n import register, tr

if TYPE_CHECKING:
    from PIL import Image

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
LF = b"\n"

Align = Literal["left", "center", "right"]
_ALIGN = {"left": 0, "center": 1, "right": 2}
_QR_EC = {"L": 48, "M": 49, "Q": 50, "H": 51}
QR_MAX_BYTES = 7089
RASTER_BAND_ROWS = 256  # many printers' input buffers choke on taller GS v 0 blocks

register(
    "printing.bad_command",
    {
        "zh_CN": "打印指令参数无效：{detail}",
        "en": "Invalid printer command argument: {detail}",
        "zh_TW": "列印指令參數無效：{detail}",
    },
)


def _bad(detail: str) -> ValidationFailed:
    return ValidationFailed(tr("printing.bad_command", detail=detail))


def text_columns(text: str) -> int:
    """Printed width in half-width columns: CJK and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def wrap_columns(text: str, columns: int) -> list[str]:
    """Split ``text`` into lines of at most ``columns`` half-width columns (never inside a character;
    at a space for Latin text when one is near)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, width = "", 0
        for ch in paragraph:
            w = text_columns(ch)
            if width + w > columns and line:
                cut = line.rfind(" ")
                if ch != " " and cut > len(line) // 2 and text_columns(line[cut + 1 :]) < columns // 3:
                    lines.append(line[:cut])
                    line = line[cut + 1 :]
                    width = text_columns(line)
                else:
                    lines.append(line.rstrip())
                    line, width = "", 0
                if ch == " ":
                    continue
            line += ch
            width += w
        lines.append(line.rstrip())
    return lines


class EscPos:
    """Accumulates commands; every method returns ``self`` so a document reads top to bottom.

    Not thread-safe (build one per document).
    """

    def __init__(self, *, chinese: bool = True) -> None:
        self.chinese = chinese
        self._buffer = bytearray()
        self._chinese_on = False
        self.unprintable: list[str] = []

    # --- basic state ---------------------------------------------------------------------------

    def raw(self, data: bytes) -> EscPos:
        self._buffer += data
        return self

    def init(self) -> EscPos:
        """ESC @ resets the printer; Chinese mode is switched on again when Chinese text follows."""
        self._chinese_on = False
        return self.raw(ESC + b"@")

    def align(self, how: Align) -> EscPos:
        return self.raw(ESC + b"a" + bytes([_ALIGN[how]]))

    def bold(self, on: bool = True) -> EscPos:
        return self.raw(ESC + b"E" + bytes([1 if on else 0]))

    def size(self, width: int = 1, height: int = 1) -> EscPos:
        """Character magnification 1–8 (GS !); FS ! doubles Chinese characters on printers that need it."""
        if not (1 <= width <= 8 and 1 <= height <= 8):
            raise _bad(f"size {width}x{height} (1–8)")
        self.raw(GS + b"!" + bytes([((width - 1) << 4) | (height - 1)]))
        fs = (0x04 if width > 1 else 0) | (0x08 if height > 1 else 0)
        return self.raw(FS + b"!" + bytes([fs]))

    def line_spacing(self, dots: int | None = None) -> EscPos:
        """ESC 3 n sets line spacing in dots; ``None`` restores the default (ESC 2)."""
        if dots is None:
            return self.raw(ESC + b"2")
        if not 0 <= dots <= 255:
            raise _bad(f"line spacing {dots}")
        return self.raw(ESC + b"3" + bytes([dots]))

    def feed(self, lines: int = 1) -> EscPos:
        if not 0 <= lines <= 255:
            raise _bad(f"feed {lines}")
        return self.raw(ESC + b"d" + bytes([lines]))

    # --- text ------------------------------------------------------------------------------------

    def _encode(self, text: str) -> bytes:
        out = bytearray()
        for ch in text:
            if ch == "\n":
                out += LF
                continue
            if ord(ch) < 0x80:
                out += ch.encode("ascii")
                continue
            if not self.chinese:
                self.unprintable.append(ch)
                out += b"?"
                continue
            encoded = ch.encode("gb18030")
            if len(encoded) != 2:  # four-byte GB18030: not in any printer font
                self.unprintable.append(ch)
                out += b"?"
            else:
                out += encoded
        return bytes(out)

    def text(self, text: str) -> EscPos:
        """Print ``text`` (no line feed). Non-ASCII text switches the Chinese mode on first (FS &)."""
        if self.chinese and not self._chinese_on and any(ord(ch) >= 0x80 for ch in text):
            self.raw(FS + b"&")
            self._chinese_on = True
        return self.raw(self._encode(text))

    def line(self, text: str = "") -> EscPos:
        return self.text(text).raw(LF)

    # --- codes and images ---------------------------------------------------------------------------

    def qr(self, data: str | bytes, *, module: int = 6, ec: Literal["L", "M", "Q", "H"] = "M") -> EscPos:
        """Native QR code (GS ( k, model 2): select model, module size, error correction, store, print."""
        payload = data.encode("utf-8") if isinstance(data, str) else data
        if not payload or len(payload) > QR_MAX_BYTES:
            raise _bad(f"QR payload of {len(payload)} bytes")
        if not 1 <= module <= 16:
            raise _bad(f"QR module size {module}")
        store = len(payload) + 3
        self.raw(GS + b"(k" + bytes([4, 0, 49, 65, 50, 0]))  # model 2
        self.raw(GS + b"(k" + bytes([3, 0, 49, 67, module]))
        self.raw(GS + b"(k" + bytes([3, 0, 49, 69, _QR_EC[ec]]))
        self.raw(GS + b"(k" + bytes([store & 0xFF, store >> 8, 49, 80, 48]) + payload)
        return self.raw(GS + b"(k" + bytes([3, 0, 49, 81, 48]))

    def raster(self, width_bytes: int, height: int, data: bytes) -> EscPos:
        """GS v 0: ``height`` rows of ``width_bytes`` bytes, most significant bit left, 1 = black."""
        if len(data) != width_bytes * height:
            raise _bad(f"raster data {len(data)} != {width_bytes}x{height}")
        for top in range(0, height, RASTER_BAND_ROWS):
            rows = min(RASTER_BAND_ROWS, height - top)
            band = data[top * width_bytes : (top + rows) * width_bytes]
            header = GS + b"v0" + bytes([0, width_bytes & 0xFF, width_bytes >> 8, rows & 0xFF, rows >> 8])
            self.raw(header + band)
        return self

    def image(self, image: Image.Image, threshold: int = 128) -> EscPos:
        """Print a Pillow image as raster bands (dark pixels print); width is padded to whole bytes."""
        gray = image.convert("L")
        bits = gray.point(lambda v: 255 if v < threshold else 0, mode="1")
        width_bytes = (bits.width + 7) // 8
        return self.raster(width_bytes, bits.height, bits.tobytes())

    def cut(self, *, partial: bool = True, extra_dots: int = 0) -> EscPos:
        """GS V m n (function B): feed to the cutter plus ``extra_dots``, then cut (partial leaves a hinge)."""
        if not 0 <= extra_dots <= 255:
            raise _bad(f"cut feed {extra_dots}")
        return self.raw(GS + b"V" + bytes([66 if partial else 65, extra_dots]))

    def build(self) -> bytes:
        return bytes(self._buffer)
