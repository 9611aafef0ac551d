"""Finding a CJK font for rendering Chinese into images (raster receipts, previews) on Linux, Windows, macOS."""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from shared.errors import SuiteError
from shared.i18n import register, tr

if TYPE_CHECKING:
    from PIL import ImageFont

log = logging.getLogger(__name__)

register(
    "printing.no_cjk_font",
    {
        "zh_CN": "找不到中文字体，无法生成图片（Linux 请安装 fonts-noto-cjk）",
        "en": "No Chinese font found to render images (on Linux install fonts-noto-cjk)",
        "zh_TW": "找不到中文字型，無法產生圖片（Linux 請安裝 fonts-noto-cjk）",
    },
)
register(
    "printing.no_pillow",
    {
        "zh_CN": "未安装 Pillow，无法生成图片打印",
        "en": "Pillow is not installed; cannot print as an image",
        "zh_TW": "未安裝 Pillow，無法產生圖片列印",
    },
)


class FontMissing(SuiteError):
    code = "font_missing"


# (path, face name to look for inside a .ttc) in order of preference, regular then bold.
_CANDIDATES: dict[str, list[tuple[str, str | None]]] = {
    "regular": [
        ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
        ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
        ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
        ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", None),
        ("C:/Windows/Fonts/msyh.ttc", "Microsoft YaHei"),
        ("C:/Windows/Fonts/simhei.ttf", None),
        ("C:/Windows/Fonts/simsun.ttc", None),
        ("/System/Library/Fonts/PingFang.ttc", "PingFang SC"),
    ],
    "bold": [
        ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", "Noto Sans CJK SC"),
        ("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc", "Noto Sans CJK SC"),
        ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc", "Noto Sans CJK SC"),
        ("C:/Windows/Fonts/msyhbd.ttc", "Microsoft YaHei"),
    ],
}


def _ttc_index(path: str, face: str | None) -> int:
    """The index of ``face`` inside a font collection (0 when not a collection or not found)."""
    if face is None or not path.lower().endswith(".ttc"):
        return 0
    from PIL import ImageFont

    for index in range(16):
        try:
            font = ImageFont.truetype(path, 12, index=index)
        except OSError:
            break
        if font.getname()[0] == face:
            return index
    return 0


def _fc_match(pattern: str) -> tuple[str, int] | None:
    if sys.platform == "win32" or not shutil.which("fc-match"):
        return None
    try:
        out = subprocess.run(
            ["fc-match", "-f", "%{file}|%{index}", pattern], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    path, _, index = out.partition("|")
    return (path, int(index or 0)) if path and Path(path).is_file() else None


@functools.cache
def find_cjk_font(weight: str = "regular") -> tuple[str, int]:
    """(font file, face index) of a Simplified Chinese font; bold falls back to regular."""
    for path, face in _CANDIDATES.get(weight, []):
        if Path(path).is_file():
            return path, _ttc_index(path, face)
    style = ":bold" if weight == "bold" else ""
    found = _fc_match(f"Noto Sans CJK SC{style}") or _fc_match(f"sans-serif:lang=zh-cn{style}")
    if found and any(word in found[0].lower() for word in ("cjk", "hei", "wqy", "yahei", "song", "ping")):
        return found
    if weight != "regular":
        return find_cjk_font("regular")
    raise FontMissing(tr("printing.no_cjk_font"))


def cjk_font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    """A Pillow font of ``size`` pixels that can draw Chinese."""
    try:
        from PIL import ImageFont
    except ImportError as exc:
        raise FontMissing(tr("printing.no_pillow"), code="pillow_missing") from exc
    path, index = find_cjk_font("bold" if bold else "regular")
    return ImageFont.truetype(path, size, index=index)
