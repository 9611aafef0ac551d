"""Money, one rule for every app, the printouts and the server: amounts are ``Decimal`` yuan rounded half
up to the fen (0.01), shown with the yuan sign and two decimals."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
YUAN = "¥"
FULL_WIDTH_YUAN = "￥"  # printable in GBK on thermal printers


def round_money(value: Decimal | int | str) -> Decimal:
    """``value`` rounded half up to the fen: 12.345 -> 12.35 (never banker's rounding)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(value: Decimal | int | str, *, sign: str = YUAN) -> str:
    """¥12.80 (``sign=FULL_WIDTH_YUAN`` for ESC/POS receipts)."""
    return f"{sign}{round_money(value)}"
