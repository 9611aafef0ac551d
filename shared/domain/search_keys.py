"""Search keys for Chinese text: pinyin initials (computed with pypinyin) and normalised query text."""

from __future__ import annotations

import re
from functools import lru_cache

_NON_ALNUM = re.compile(r"[^0-9a-z]")


@lru_cache(maxsize=65536)
def pinyin_initials(text: str) -> str:
    """Lower-case pinyin initials of the Chinese characters in ``text``; Latin letters and digits kept.

    ``阿莫西林胶囊`` → ``amxljn``; ``维生素B6片`` → ``wssb6p``. Punctuation and spaces are dropped.
    """
    if not text:
        return ""
    # imported on first use: its phrase dictionary costs ~170 ms, which no app should pay at start-up
    from pypinyin import Style, lazy_pinyin

    parts = lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")
    return _NON_ALNUM.sub("", "".join(parts).lower())


def normalize_query(text: str) -> str:
    """Trim and lower-case a typed query; full-width ASCII becomes half-width."""
    out = []
    for ch in text.strip():
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            ch = chr(code - 0xFEE0)
        elif code == 0x3000:
            ch = " "
        out.append(ch)
    return "".join(out).lower()


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)
