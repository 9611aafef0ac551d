"""Taking payment at the pharmacy counter: the payment adapter interface and its local stub gateway.

The desk never talks to a payment system directly: it asks a ``PaymentGateway`` to charge a
prescription and records what the gateway confirmed with ``rx.pay`` (``actions.take_payment``). A real
gateway (the hospital's cashier system, a QR-pay provider) implements the same two methods.

Contract: ``charge`` is idempotent per prescription — asking again for the same prescription returns
the same confirmation (reference included), so a desk that crashed between the charge and recording
``rx.pay`` records the same payment, and the server's idempotency by ``payment_ref`` keeps it single.
Qt-free; calls may block (network), so the desk runs them off the GUI thread.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from shared.errors import BusinessRuleViolation

PaymentMethod = Literal["cash", "qr", "card"]
METHODS: tuple[PaymentMethod, ...] = ("cash", "qr")  # what the stub offers at the counter


class PaymentDeclined(BusinessRuleViolation):
    """The gateway refused the payment (nothing was charged)."""

    code = "payment_declined"


@dataclass(frozen=True)
class PaymentRequest:
    rx_id: str
    rx_number: str
    amount: Decimal
    method: PaymentMethod


@dataclass(frozen=True)
class PaymentConfirmation:
    """What the gateway confirmed: its reference (``rx.pay``'s ``payment_ref``), method, amount, time."""

    ref: str
    method: PaymentMethod
    amount: Decimal
    confirmed_at: dt.datetime
    qr_payload: str = ""  # for "qr": what the patient scanned


class PaymentGateway(Protocol):
    name: str

    def charge(self, request: PaymentRequest, *, now: dt.datetime) -> PaymentConfirmation:
        """Charge the prescription (idempotent per ``rx_id``); ``PaymentDeclined`` when refused."""
        ...

    def refund(self, ref: str, amount: Decimal, *, now: dt.datetime) -> str:
        """Give ``amount`` of payment ``ref`` back; returns the refund's reference."""
        ...


class StubGateway:
    """A local gateway standing in for the outside system: counter cash (the pharmacist took the money)
    and a stub QR pay that "confirms" at once. References are ``CASH``/``QRPY`` + 12 digits derived from
    the prescription id, so a retried charge confirms the same payment. ``decline`` makes every charge
    fail (tests, demos of the error path). Not thread-safe; one desk uses one instance."""

    name = "stub"
    PREFIX = {"cash": "CASH", "qr": "QRPY", "card": "CARD"}

    def __init__(self, *, decline: bool = False) -> None:
        self.decline = decline
        self._charges: dict[str, PaymentConfirmation] = {}
        self._refunds: dict[str, Decimal] = {}

    def reference_for(self, rx_id: str, method: PaymentMethod) -> str:
        digits = int(hashlib.sha256(f"pay:{rx_id}".encode()).hexdigest(), 16) % 10**12
        return f"{self.PREFIX[method]}{digits:012d}"

    def charge(self, request: PaymentRequest, *, now: dt.datetime) -> PaymentConfirmation:
        done = self._charges.get(request.rx_id)
        if done is not None:
            return done
        if self.decline:
            raise PaymentDeclined(f"payment declined for {request.rx_number}")
        if request.amount < 0:
            raise PaymentDeclined(f"negative amount for {request.rx_number}")
        ref = self.reference_for(request.rx_id, request.method)
        qr = f"stubpay://{ref}?amount={request.amount}" if request.method == "qr" else ""
        confirmation = PaymentConfirmation(ref, request.method, request.amount, now, qr)
        self._charges[request.rx_id] = confirmation
        return confirmation

    def refund(self, ref: str, amount: Decimal, *, now: dt.datetime) -> str:
        self._refunds[ref] = self._refunds.get(ref, Decimal("0")) + amount
        return f"RF{ref}"
