"""Small formatting shared by the screens and the printouts (no printing libraries: the window starts fast)."""

from __future__ import annotations

from decimal import Decimal

from shared.money import format_money

NOTE_TITLES = {
    "chief_complaint": "主诉",
    "present_illness": "现病史",
    "past_history": "既往史",
    "allergy_history": "过敏史",
    "examination": "体格检查",
    "advice": "处理意见",
}


def money(value: Decimal | str) -> str:
    """¥12.80: ``shared.money.format_money``, the rule the pharmacy and the printouts use."""
    return format_money(value)
