"""A Chinese font for reportlab documents: an embedded TrueType font when one is found, else STSong-Light.

reportlab embeds only TrueType outlines, so the Noto/Source Han CJK fonts (CFF outlines) cannot be
used; the search takes ``CLINIC_PDF_FONT`` (a .ttf/.ttc path, optionally ``path#index``), then the usual
TrueType CJK fonts of Windows (Microsoft YaHei, SimHei, SimSun), Linux (WenQuanYi, Droid Sans Fallback,
AR PL) and macOS. Without any, it falls back to Adobe's STSong-Light CID font, which every PDF viewer and
poppler render with a substituted system font and which needs no file, but is not embedded (bold is
then drawn by stroking the outline). Registration is done once per process and is thread-safe.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont

log = logging.getLogger(__name__)

FONT_ENV = "CLINIC_PDF_FONT"
CID_FALLBACK = "STSong-Light"

# (regular, bold or None) TrueType candidates as "path" or "path#face index".
_CANDIDATES: tuple[tuple[str, str | None], ...] = (
    ("C:/Windows/Fonts/msyh.ttc#0", "C:/Windows/Fonts/msyhbd.ttc#0"),
    ("C:/Windows/Fonts/msyh.ttf", "C:/Windows/Fonts/msyhbd.ttf"),
    ("C:/Windows/Fonts/simhei.ttf", None),
    ("C:/Windows/Fonts/simsun.ttc#0", None),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc#0", None),
    ("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc#0", None),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc#0", None),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", None),
    ("/usr/share/fonts/truetype/arphic/uming.ttc#0", None),
    ("/System/Library/Fonts/STHeiti Light.ttc#0", "/System/Library/Fonts/STHeiti Medium.ttc#0"),
    ("/Library/Fonts/Arial Unicode.ttf", None),
)
_LOCK = threading.Lock()


@dataclass(frozen=True)
class PdfFont:
    """Registered reportlab font names. ``fake_bold``: draw bold by stroking (no bold face available)."""

    regular: str
    bold: str
    embedded: bool
    fake_bold: bool
    source: str


def _split(spec: str) -> tuple[str, int]:
    path, _, index = spec.partition("#")
    return path, int(index or 0)


def _register_ttf(name: str, spec: str) -> bool:
    path, index = _split(spec)
    if not Path(path).is_file():
        return False
    try:
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=index))
    except (TTFError, OSError, ValueError) as exc:
        log.info("font %s not usable for PDF: %s", spec, exc)
        return False
    return True


def _find() -> PdfFont:
    env = os.environ.get(FONT_ENV, "").strip()
    candidates = ((env, None), *_CANDIDATES) if env else _CANDIDATES
    for regular, bold in candidates:
        if _register_ttf("ClinicCJK", regular):
            has_bold = bold is not None and _register_ttf("ClinicCJK-Bold", bold)
            return PdfFont(
                regular="ClinicCJK",
                bold="ClinicCJK-Bold" if has_bold else "ClinicCJK",
                embedded=True,
                fake_bold=not has_bold,
                source=regular,
            )
    pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
    return PdfFont(
        regular=CID_FALLBACK, bold=CID_FALLBACK, embedded=False, fake_bold=True, source=CID_FALLBACK
    )


@functools.cache
def _cached() -> PdfFont:
    with _LOCK:
        return _find()


def cjk_pdf_font(*, cid_only: bool = False) -> PdfFont:
    """The process's Chinese PDF font (found and registered on first use). ``cid_only``: the fallback."""
    if cid_only:
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
        return PdfFont(
            regular=CID_FALLBACK, bold=CID_FALLBACK, embedded=False, fake_bold=True, source=CID_FALLBACK
        )
    return _cached()
