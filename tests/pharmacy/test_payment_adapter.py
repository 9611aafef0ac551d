"""The payment adapter's local stub: confirms counter cash and a stub QR pay, idempotent per prescription."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pharmacy_desk.payment import PaymentDeclined, PaymentGateway, PaymentRequest, StubGateway

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


def test_a_charge_is_confirmed_once_per_prescription_with_a_stable_reference() -> None:
    gateway: PaymentGateway = StubGateway()
    request = PaymentRequest("rx-1", "RX0001", Decimal("25.60"), "qr")
    first = gateway.charge(request, now=NOW)
    assert first.ref.startswith("QRPY") and len(first.ref) == 16 and first.amount == Decimal("25.60")
    assert first.qr_payload == f"stubpay://{first.ref}?amount=25.60" and first.confirmed_at == NOW
    assert gateway.charge(request, now=NOW + dt.timedelta(minutes=5)) == first  # a retry: same payment
    # a desk restarted after charging gets the same reference again, so rx.pay stays single
    assert StubGateway().charge(request, now=NOW).ref == first.ref
    cash = StubGateway().charge(PaymentRequest("rx-2", "RX0002", Decimal("3.00"), "cash"), now=NOW)
    assert cash.ref.startswith("CASH") and cash.ref != first.ref and cash.qr_payload == ""
    assert gateway.refund(first.ref, Decimal("25.60"), now=NOW) == f"RF{first.ref}"


def test_a_declined_charge_raises_and_confirms_nothing() -> None:
    gateway = StubGateway(decline=True)
    with pytest.raises(PaymentDeclined) as declined:
        gateway.charge(PaymentRequest("rx-1", "RX0001", Decimal("1.00"), "cash"), now=NOW)
    assert declined.value.code == "payment_declined" and "RX0001" in declined.value.message
    gateway.decline = False
    assert gateway.charge(PaymentRequest("rx-1", "RX0001", Decimal("1.00"), "cash"), now=NOW).ref
