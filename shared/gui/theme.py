"""Look and feel shared by the three apps: a font that renders Chinese, state colours, a base stylesheet."""

from __future__ import annotations

import logging

from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QApplication

from shared.sync.status import SyncState

log = logging.getLogger(__name__)

# First installed family wins. Noto/Source Han ship with most Linux desktops (fonts-noto-cjk),
# Microsoft YaHei with Windows, PingFang with macOS.
FONT_FAMILIES: dict[str, tuple[str, ...]] = {
    "zh_CN": (
        "Noto Sans CJK SC",
        "Source Han Sans SC",
        "Noto Sans SC",
        "Microsoft YaHei",
        "PingFang SC",
        "WenQuanYi Micro Hei",
        "SimHei",
    ),
    "zh_TW": (
        "Noto Sans CJK TC",
        "Source Han Sans TC",
        "Noto Sans TC",
        "Microsoft JhengHei",
        "PingFang TC",
        "Noto Sans CJK SC",
        "Microsoft YaHei",
    ),
}
FONT_FAMILIES["en"] = ("Noto Sans", "Segoe UI", *FONT_FAMILIES["zh_CN"])  # English screens still show names
BASE_POINT_SIZE = 10.5

# Foreground colours (readable on the light window background) for states and message levels.
OK = "#1b7f3b"
BUSY = "#1565c0"
WARN = "#b26a00"
ERROR = "#c62828"
MUTED = "#616161"

STATE_COLOURS: dict[SyncState, str] = {
    SyncState.ONLINE: OK,
    SyncState.SYNCING: BUSY,
    SyncState.OFFLINE: WARN,
    SyncState.AUTH_EXPIRED: ERROR,
    SyncState.NOT_LOGGED_IN: MUTED,
}

STYLESHEET = f"""
QStatusBar {{ border-top: 1px solid #d0d0d0; }}
QStatusBar::item {{ border: none; }}
QStatusBar QLabel {{ padding: 0px 6px; }}
QLabel[role="error"] {{ color: {ERROR}; }}
QLabel[role="warning"] {{ color: {WARN}; }}
QLabel[role="notice"] {{ color: {MUTED}; }}
QLabel[role="title"] {{ font-size: 15pt; font-weight: 600; }}
QToolButton[role="attention"] {{
    color: white; background: {ERROR}; border-radius: 3px; padding: 1px 8px; font-weight: 600;
}}
QToolButton[role="attention"]:focus {{ outline: none; border: 2px solid #3d0d0d; }}
QToolButton[role="link"] {{ color: {BUSY}; border: none; text-decoration: underline; }}
QLineEdit, QComboBox {{ min-height: 1.6em; }}
"""


def pick_font_family(lang: str = "zh_CN") -> str | None:
    """The first preferred family installed here, or None (Qt then falls back on its own)."""
    installed = set(QFontDatabase.families())
    for family in FONT_FAMILIES.get(lang, FONT_FAMILIES["zh_CN"]):
        if family in installed:
            return family
    return None


def apply_theme(app: QApplication, lang: str = "zh_CN") -> QFont:
    """Set the app font (CJK-capable, readable size) and the base stylesheet; returns the font."""
    font = QFont(app.font())
    family = pick_font_family(lang)
    if family is None:
        log.warning("no CJK font found (install fonts-noto-cjk); Chinese may render as boxes")
    else:
        font.setFamilies([family, *FONT_FAMILIES.get(lang, ())])
    font.setPointSizeF(BASE_POINT_SIZE)
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)
    return font


def state_colour(state: SyncState) -> str:
    return STATE_COLOURS.get(state, MUTED)
