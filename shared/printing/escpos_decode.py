"""Turn an ESC/POS byte stream back into commands and text (GB18030 in Chinese mode), for tests and support.

``python -m shared.printing.escpos_decode slip.bin`` lists what a captured print job asks the printer
to do: each command, the text lines as they would print, QR payloads, raster image sizes and cuts.
Unknown bytes are reported as ``unknown`` and skipped, so a partly foreign stream still decodes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

# Commands with a fixed number of argument bytes: prefix -> (name, argument count).
_FIXED: dict[bytes, tuple[str, int]] = {
    b"\x1b@": ("init", 0),
    b"\x1ba": ("align", 1),
    b"\x1bE": ("bold", 1),
    b"\x1bG": ("double_strike", 1),
    b"\x1b-": ("underline", 1),
    b"\x1b!": ("print_mode", 1),
    b"\x1bd": ("feed", 1),
    b"\x1bJ": ("feed_dots", 1),
    b"\x1b3": ("line_spacing", 1),
    b"\x1b2": ("line_spacing_default", 0),
    b"\x1bt": ("code_page", 1),
    b"\x1bM": ("font", 1),
    b"\x1bR": ("charset", 1),
    b"\x1bp": ("drawer_pulse", 3),
    b"\x1d!": ("size", 1),
    b"\x1dB": ("reverse", 1),
    b"\x1dh": ("barcode_height", 1),
    b"\x1dw": ("barcode_width", 1),
    b"\x1dH": ("barcode_text", 1),
    b"\x1df": ("barcode_font", 1),
    b"\x1dL": ("left_margin", 2),
    b"\x1dW": ("print_width", 2),
    b"\x1c&": ("chinese_on", 0),
    b"\x1c.": ("chinese_off", 0),
    b"\x1c!": ("chinese_mode", 1),
    b"\x1cC": ("chinese_code_system", 1),
    b"\x1cW": ("chinese_quadruple", 1),
    b"\x1c-": ("chinese_underline", 1),
    b"\x10\x04": ("status_request", 1),
}
_ALIGN_NAMES = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}
_QR_EC_NAMES = {48: "L", 49: "M", 50: "Q", 51: "H"}


@dataclass
class Command:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    offset: int = 0


@dataclass
class TextRun:
    """Text printed with one set of attributes (``width``/``height`` are the GS ! magnification)."""

    text: str
    align: str
    bold: bool
    width: int
    height: int
    offset: int = 0


@dataclass
class RasterImage:
    width_bytes: int
    height: int
    data: bytes

    @property
    def width(self) -> int:
        return self.width_bytes * 8

    def to_image(self) -> Image.Image:
        """As a Pillow image (black = printed), e.g. to look at what a raster job prints."""
        from PIL import Image, ImageOps

        bits = Image.frombytes("1", (self.width, self.height), self.data)
        return ImageOps.invert(bits.convert("L"))


@dataclass
class Decoded:
    items: list[Command | TextRun]
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def commands(self) -> list[Command]:
        return [item for item in self.items if isinstance(item, Command)]

    @property
    def runs(self) -> list[TextRun]:
        return [item for item in self.items if isinstance(item, TextRun)]

    def named(self, name: str) -> list[Command]:
        return [c for c in self.commands if c.name == name]

    @property
    def qr_payloads(self) -> list[str]:
        """Payloads of QR codes that were stored and then printed (UTF-8)."""
        return [str(c.args["data"]) for c in self.named("qr_print")]

    @property
    def images(self) -> list[RasterImage]:
        """Raster bands joined back into whole images (consecutive GS v 0 of equal width)."""
        images: list[RasterImage] = []
        previous_end = -1
        for item in self.items:
            if isinstance(item, Command) and item.name == "raster":
                wb, h, data = (
                    int(item.args["width_bytes"]),
                    int(item.args["height"]),
                    bytes(item.args["data"]),
                )
                if images and previous_end == item.offset and images[-1].width_bytes == wb:
                    last = images[-1]
                    images[-1] = RasterImage(wb, last.height + h, last.data + data)
                else:
                    images.append(RasterImage(wb, h, data))
                previous_end = int(item.args["end"])
        return images

    @property
    def cut_count(self) -> int:
        return len(self.named("cut"))


class _State:
    def __init__(self) -> None:
        self.chinese = False
        self.align = "left"
        self.bold = False
        self.width = 1
        self.height = 1
        self.qr_data: bytes | None = None


def decode(data: bytes) -> Decoded:
    """Decode ``data``; text is GB18030 while the Chinese mode is on, else code page 437."""
    items: list[Command | TextRun] = []
    lines: list[str] = [""]
    state = _State()
    pending = bytearray()
    pending_at = 0

    def flush() -> None:
        nonlocal pending
        if not pending:
            return
        encoding = "gb18030" if state.chinese else "cp437"
        text = bytes(pending).decode(encoding, errors="replace")
        items.append(TextRun(text, state.align, state.bold, state.width, state.height, pending_at))
        lines[-1] += text
        pending = bytearray()

    def emit(name: str, offset: int, **args: object) -> None:
        flush()
        items.append(Command(name, dict(args), offset))

    i, n = 0, len(data)
    while i < n:
        byte = data[i]
        if byte == 0x0A:
            flush()
            lines.append("")
            i += 1
            continue
        if byte in (0x0D, 0x00):
            i += 1
            continue
        if byte not in (0x1B, 0x1D, 0x1C, 0x10):
            if not pending:
                pending_at = i
            # In Chinese mode a lead byte takes its trail byte(s) with it, even if they look like commands.
            if state.chinese and byte >= 0x81 and i + 1 < n:
                width = 4 if 0x30 <= data[i + 1] <= 0x39 else 2
                pending += data[i : i + width]
                i += width
            else:
                pending.append(byte)
                i += 1
            continue
        prefix = data[i : i + 2]
        if prefix in _FIXED:
            name, count = _FIXED[prefix]
            args = data[i + 2 : i + 2 + count]
            value = args[0] if count == 1 and args else None
            if name == "init":
                flush()
                state = _State()
            elif name == "chinese_on":
                flush()
                state.chinese = True
            elif name == "chinese_off":
                flush()
                state.chinese = False
            elif name == "align" and value is not None:
                flush()
                state.align = _ALIGN_NAMES.get(value, str(value))
            elif name == "bold" and value is not None:
                flush()
                state.bold = bool(value & 1)
            elif name == "size" and value is not None:
                flush()
                state.width, state.height = (value >> 4) + 1, (value & 0x0F) + 1
            if name == "align":
                emit(name, i, value=state.align)
            elif name == "size":
                emit(name, i, width=state.width, height=state.height)
            elif count == 1:
                emit(name, i, value=value)
            else:
                emit(name, i, **({"bytes": bytes(args)} if count else {}))
            i += 2 + count
            continue
        if prefix == b"\x1dV":
            mode = data[i + 2] if i + 2 < n else 0
            partial = mode in (1, 49, 66, 98, 104)
            extra = 1 if mode in (65, 66, 97, 98, 103, 104) else 0
            feed = data[i + 3] if extra and i + 3 < n else 0
            emit("cut", i, partial=partial, feed=feed)
            i += 3 + extra
            continue
        if prefix == b"\x1d(" and data[i + 2 : i + 3] == b"k":
            length = data[i + 3] | (data[i + 4] << 8)
            body = data[i + 5 : i + 5 + length]
            _qr(body, state, emit, i)
            i += 5 + length
            continue
        if prefix == b"\x1dv" and data[i + 2 : i + 3] == b"0":
            wb = data[i + 4] | (data[i + 5] << 8)
            h = data[i + 6] | (data[i + 7] << 8)
            start = i + 8
            end = start + wb * h
            emit("raster", i, width_bytes=wb, height=h, data=bytes(data[start:end]), end=end)
            i = end
            continue
        if prefix == b"\x1dk":  # barcode: m then NUL-terminated (m < 65) or length-prefixed data
            m = data[i + 2]
            if m < 65:
                stop = data.index(b"\x00", i + 3)
                emit("barcode", i, system=m, data=bytes(data[i + 3 : stop]).decode("ascii", "replace"))
                i = stop + 1
            else:
                length = data[i + 3]
                payload = bytes(data[i + 4 : i + 4 + length])
                emit("barcode", i, system=m, data=payload.decode("ascii", "replace"))
                i += 4 + length
            continue
        emit("unknown", i, byte=byte)
        i += 1
    flush()
    if lines and lines[-1] == "":
        lines.pop()
    return Decoded(items, lines)


def _qr(body: bytes, state: _State, emit: Callable[..., None], offset: int) -> None:
    """GS ( k with cn=49 (QR): model, module size, error correction, store, print."""
    if len(body) < 2 or body[0] != 49:
        emit("2d_code", offset, body=body)
        return
    fn = body[1]
    if fn == 65:
        emit("qr_model", offset, model=body[2] - 48)
    elif fn == 67:
        emit("qr_module", offset, value=body[2])
    elif fn == 69:
        emit("qr_error_correction", offset, value=_QR_EC_NAMES.get(body[2], body[2]))
    elif fn == 80:
        state.qr_data = bytes(body[3:])
        emit("qr_store", offset, data=state.qr_data.decode("utf-8", "replace"))
    elif fn == 81:
        stored = (state.qr_data or b"").decode("utf-8", "replace")
        emit("qr_print", offset, data=stored)
    else:
        emit("qr_other", offset, fn=fn)


def describe(decoded: Decoded) -> str:
    """A readable listing of a decoded stream for support staff."""
    out: list[str] = []
    for item in decoded.items:
        if isinstance(item, TextRun):
            style = f"{item.align}{' bold' if item.bold else ''}{f' x{item.width}x{item.height}' if item.width > 1 or item.height > 1 else ''}"
            out.append(f"{item.offset:6d}  TEXT [{style}] {item.text!r}")
        elif item.name == "raster":
            out.append(
                f"{item.offset:6d}  raster {int(item.args['width_bytes']) * 8}x{item.args['height']} dots"
            )  # type: ignore[call-overload]
        else:
            args = " ".join(f"{k}={v!r}" for k, v in item.args.items())
            out.append(f"{item.offset:6d}  {item.name} {args}".rstrip())
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.printing.escpos_decode", description=__doc__)
    parser.add_argument("file", type=Path, help="captured ESC/POS data (e.g. from the file transport)")
    parser.add_argument("--text", action="store_true", help="only the text as it would print")
    args = parser.parse_args(argv)
    decoded = decode(args.file.read_bytes())
    sys.stdout.write((decoded.text if args.text else describe(decoded)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
