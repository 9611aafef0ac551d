"""Money has one rule (``shared.money``): the workstation's screens, the pharmacy's ledger and receipts and
the server round and show an amount the same way (the workstation rounded 0.125 to 0.12 before)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.pharmacy import money as ledger_money
from shared.money import format_money, round_money
from shared.printing.receipt import money as receipt_money
from workstation.formats import money as screen_money


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [("0.125", "0.13"), ("12.345", "12.35"), ("12.8", "12.80"), ("7", "7.00"), ("-0.005", "-0.01")],
)
def test_every_app_rounds_half_up_to_the_fen_and_shows_two_decimals(amount: str, rounded: str) -> None:
    assert round_money(amount) == Decimal(rounded)
    assert ledger_money(Decimal(amount)) == Decimal(rounded)
    assert screen_money(amount) == f"¥{rounded}" == format_money(amount)
    assert receipt_money(Decimal(amount)) == f"￥{rounded}"
