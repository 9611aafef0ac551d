"""What the desk's buttons do to the local store, as plain functions run on the database thread.

Each records one mutation (``store.record`` runs the shared handler against the local view, so the
screen shows the result at once and the outbox pushes it when the server is reachable) and returns
what the screen needs to show or print. Printing itself is the print queue's business.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pharmacy_desk import keys as key_files
from pharmacy_desk.documents import prescription_pdf
from pharmacy_desk.payment import PaymentConfirmation, PaymentMethod, PaymentRequest
from pharmacy_desk.queries import PRINTS_STATE
from pharmacy_desk.texts import t
from shared import clinic_time
from shared.domain.entities import Pharmacy, Prescription, Staff
from shared.domain.mutations import REGISTRY
from shared.domain.pharmacy import review_signed_content
from shared.domain.pickup import issue_pickup_code
from shared.errors import ValidationFailed
from shared.ids import new_id
from shared.printing.records import printed_before
from shared.security.device_keys import DeviceKeys
from shared.security.device_signing import signing_time, unlock
from shared.security.signing import canonical_bytes

log = logging.getLogger(__name__)

CODES_STATE = "pharmacy.pickup_codes"  # rx id -> the code drawn at approval on this PC


def require_mutation(name: str) -> None:
    if name not in REGISTRY:
        raise ValidationFailed(f"{name} is not available in this build", code="unknown_mutation")


# --- review ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewOutcome:
    decision: str
    number: str
    pickup_code: str = ""
    key_fingerprint: str = ""  # kept for the screen's message; keys are made before a review now
    awaiting_payment: bool = False  # approved; the pickup code comes with the payment
    rx_id: str = ""


def review(
    store: Any,
    keys: DeviceKeys,
    staff: Staff,
    rx_id: str,
    decision: Literal["approve", "reject"],
    reason_code: str,
    reason: str,
    pin: str,
    *,
    now: dt.datetime | None = None,
    lang: str = "zh_CN",
) -> ReviewOutcome:
    """Sign the review with the pharmacist's key on this PC (registered and confirmed by the server:
    ``keys.find_key`` says "ready") and record ``rx.review``. ``now`` defaults to the signing time
    (this PC's clock corrected by its measured offset to the server).

    Approval draws the pickup code here (random, on this PC), sends its digest with the review and
    keeps the code for the counter. ``WrongPin`` when the PIN does not open the key; nothing recorded.
    """
    require_mutation("rx.review")
    rx = store.get(Prescription, rx_id)
    if rx is None:
        raise ValidationFailed(rx_id, code="not_found")
    status = key_files.find_key(store, keys, staff.id, lang)
    if status.state != "ready" or status.signer is None:
        raise ValidationFailed(t("review.key_not_registered", lang), code="no_signing_key")
    unlocked = unlock(status.signer, store, pin, lang)
    when = now or signing_time(store)
    at = when if when.tzinfo else when.astimezone()
    content = review_signed_content(
        rx,
        decision=decision,
        reason_code=reason_code,
        reason=reason,
        reviewer_id=staff.id,
        reviewed_at=at,  # type: ignore[arg-type]
    )
    signature = unlocked.sign(canonical_bytes(content))
    code = ""
    if decision == "approve" and not payment_comes_first(store, rx) and pickup_codes_used(store, rx):
        with store.pickup_digests():  # the digest here is thrown away: no slow hash for it
            code, _state = issue_pickup_code(
                rx.id, rx_status="approved", paid=True, payment_required=False, now=at
            )
    args: dict[str, Any] = {
        "rx_id": rx.id,
        "decision": decision,
        "reason_code": reason_code,
        "reason": reason,
        "reviewed_at": at,
        "signing_key_id": unlocked.key_id,
        "algorithm": unlocked.algorithm,
        "signature": signature,
    }
    if code:
        args["pickup_code"] = code
    entry = store.record("rx.review", args, lang=lang)
    if code and not (entry.local_result or {}).get("pickup_code_issued", True):
        code = ""  # the pharmacy's setting changed meanwhile: the code comes with the payment
    if code:
        codes = dict(store.state(CODES_STATE, {}) or {})
        codes[rx.id] = code
        store.set_state(CODES_STATE, codes)
    waits = decision == "approve" and bool((entry.local_result or {}).get("payment_required"))
    return ReviewOutcome(decision, rx.number, code, awaiting_payment=waits, rx_id=rx.id)


def payment_comes_first(store: Any, rx: Prescription) -> bool:
    """Whether the prescription's pharmacy issues the pickup code only after payment (``rx.pay``)."""
    pharmacy = store.get(Pharmacy, rx.pharmacy_id) if rx.pharmacy_id else None
    return pharmacy is not None and pharmacy.payment_required


def pickup_codes_used(store: Any, rx: Prescription) -> bool:
    """Whether the prescription's pharmacy uses pickup codes (``Pharmacy.pickup_code_required``)."""
    pharmacy = store.get(Pharmacy, rx.pharmacy_id) if rx.pharmacy_id else None
    return pharmacy is None or pharmacy.pickup_code_required


# --- payment -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentOutcome:
    number: str
    payment_ref: str
    amount: str
    pickup_code: str = ""  # set when this payment issued the code (payment before the code)
    repeated: bool = False  # the prescription was already paid with this reference
    rx_id: str = ""


def payment_request(store: Any, rx_id: str, method: PaymentMethod) -> PaymentRequest:
    """What to ask the payment gateway for: the prescription's amount, as the server will check it."""
    rx = store.get(Prescription, rx_id)
    if rx is None:
        raise ValidationFailed(rx_id, code="not_found")
    return PaymentRequest(rx.id, rx.number, Decimal(rx.total_amount or "0"), method)


def record_payment(
    store: Any, rx_id: str, confirmation: PaymentConfirmation, *, lang: str = "zh_CN"
) -> PaymentOutcome:
    """Record ``rx.pay`` for a payment the gateway confirmed. Draws a pickup code here (random, on this
    PC) and sends it along; the handler issues it only where the pharmacy takes payment before the code
    and none exists yet, and then the code is kept for the counter as at approval."""
    require_mutation("rx.pay")
    rx = store.get(Prescription, rx_id)
    if rx is None:
        raise ValidationFailed(rx_id, code="not_found")
    at = (
        confirmation.confirmed_at
        if confirmation.confirmed_at.tzinfo
        else clinic_time.local(confirmation.confirmed_at)
    )
    with store.pickup_digests():  # the digest here is thrown away: no slow hash for it
        code, _state = issue_pickup_code(rx.id, rx_status="approved", paid=True, now=at)
    args = {
        "rx_id": rx.id,
        "payment_ref": confirmation.ref,
        "method": confirmation.method,
        "amount": confirmation.amount,
        "paid_at": at,
        "pickup_code": code,
    }
    entry = store.record("rx.pay", args, lang=lang)
    result = entry.local_result or {}
    issued = bool(result.get("pickup_code_issued"))
    if issued:
        codes = dict(store.state(CODES_STATE, {}) or {})
        codes[rx.id] = code
        store.set_state(CODES_STATE, codes)
    return PaymentOutcome(
        rx.number,
        confirmation.ref,
        str(result.get("amount", confirmation.amount)),
        code if issued else "",
        bool(result.get("repeated")),
        rx.id,
    )


def pickup_code_drawn_here(store: Any, rx_id: str) -> str:
    return str((store.state(CODES_STATE, {}) or {}).get(rx_id, ""))


# --- printing the prescription -----------------------------------------------------------------------


def print_count(store: Any, rx_id: str) -> int:
    return int((store.state(PRINTS_STATE, {}) or {}).get(rx_id, 0))


def prescription_for_print(
    store: Any, rx_id: str, *, now: dt.datetime, reprint: bool = False, lang: str = "zh_CN"
) -> tuple[bytes, bool]:
    """The prescription PDF, marked as a reprint when it was printed before (on this PC, or anywhere the
    print records that reached this PC say so) or when ``reprint`` asks. The print itself is recorded
    (``print.record``) once the job reaches its printer; see ``record_print``."""
    rx = store.get(Prescription, rx_id)
    if rx is None:
        raise ValidationFailed(rx_id, code="not_found")
    before = print_count(store, rx_id)
    is_reprint = reprint or before > 0 or printed_before(store, "prescription", rx_id)
    data = prescription_pdf(store, rx, reprint=is_reprint, now=now)
    prints = dict(store.state(PRINTS_STATE, {}) or {})
    prints[rx_id] = before + 1
    store.set_state(PRINTS_STATE, prints)
    return data, is_reprint


# --- pickup codes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PickupCheck:
    ok: bool
    message: str
    remaining: int = 0


def verify_pickup(
    store: Any, rx_id: str, entered: str, *, now: dt.datetime, lang: str = "zh_CN"
) -> PickupCheck:
    """Check a pickup code (``rx.pickup_verify``); every try is recorded, a wrong one counts against the code."""
    require_mutation("rx.pickup_verify")
    at = now if now.tzinfo else now.astimezone()
    entry = store.record("rx.pickup_verify", {"rx_id": rx_id, "code": entered[:40], "at": at}, lang=lang)
    result = entry.local_result or {}
    return PickupCheck(
        bool(result.get("ok")), str(result.get("message", "")), int(result.get("remaining", 0))
    )


def reissue_pickup(store: Any, rx_id: str, reason: str, *, lang: str = "zh_CN") -> str:
    """A new pickup code for a locked, lost or expired one (``rx.pickup_reissue``); returns the code."""
    with store.pickup_digests():  # the digest here is thrown away: no slow hash for it
        code, _state = issue_pickup_code(
            rx_id, rx_status="approved", paid=True, payment_required=False, now=dt.datetime.now(dt.UTC)
        )
    store.record("rx.pickup_reissue", {"rx_id": rx_id, "pickup_code": code, "reason": reason}, lang=lang)
    codes = dict(store.state(CODES_STATE, {}) or {})
    codes[rx_id] = code
    store.set_state(CODES_STATE, codes)
    return code


# --- dispensing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DispenseOutcome:
    rx_number: str
    dispense_id: str
    complete: bool
    warnings: list[str] = field(default_factory=list)


def dispense(
    store: Any,
    plan: Any,
    *,
    pharmacy_id: str,
    handover: str,
    pickup_code: str,
    now: dt.datetime,
    lang: str = "zh_CN",
) -> DispenseOutcome:
    """Record ``rx.dispense`` for what the plan hands out now (batches as allocated, overrides with reasons)."""
    require_mutation("rx.dispense")
    at = now if now.tzinfo else now.astimezone()
    dispense_id = new_id()
    lines = []
    for line in plan.lines:
        if line.now <= 0:
            continue
        lines.append(
            {
                "line_no": line.index,
                "quantity": line.now,
                "batches": [{"batch_no": h.batch_no, "quantity": h.quantity} for h in line.allocation],
                "override_batch_no": line.override_batch or None,
                "override_reason": line.override_reason,
            }
        )
    if not lines:
        raise ValidationFailed(t("dispense.nothing", lang), code="nothing_to_dispense")
    args = {
        "id": dispense_id,
        "rx_id": plan.rx.id,
        "pharmacy_id": pharmacy_id,
        "dispensed_at": at,
        "handover": handover,
        "pickup_verified": bool(pickup_code),
        "pickup_code": pickup_code or None,  # the evidence: the server checks it against its digest
        "lines": lines,
    }
    entry = store.record("rx.dispense", args, lang=lang)
    complete = all(line.shortfall == 0 for line in plan.lines)
    return DispenseOutcome(plan.rx.number, dispense_id, complete, list(entry.warnings or []))


# --- stock -------------------------------------------------------------------------------------------


def _aware(now: dt.datetime) -> dt.datetime:
    return now if now.tzinfo else now.astimezone()


def receive(
    store: Any,
    *,
    pharmacy_id: str,
    supplier: str,
    drug_id: str,
    batch_no: str,
    expiry: dt.date,
    quantity: int,
    unit: str,
    price: Any,
    now: dt.datetime,
    invoice_no: str = "",
    lang: str = "zh_CN",
) -> Any:
    """``stock.receive`` of one batch (the dialog takes one line at a time)."""
    args = {
        "id": new_id(),
        "pharmacy_id": pharmacy_id,
        "supplier": supplier,
        "invoice_no": invoice_no,
        "received_at": _aware(now),
        "lines": [
            {
                "drug_id": drug_id,
                "batch_no": batch_no,
                "expiry": expiry,
                "quantity": quantity,
                "unit": unit,
                "price": price,
            }
        ],
    }
    return store.record("stock.receive", args, lang=lang)


def move(
    store: Any,
    *,
    pharmacy_id: str,
    kind: str,
    reason: str,
    drug_id: str,
    batch_no: str,
    quantity: int,
    now: dt.datetime,
    to_pharmacy_id: str | None = None,
    destination: str = "",
    lang: str = "zh_CN",
) -> Any:
    """``stock.move``: out of the ledger, a transfer to another pharmacy, or scrap (a reason always)."""
    args: dict[str, Any] = {
        "id": new_id(),
        "pharmacy_id": pharmacy_id,
        "kind": kind,
        "reason": reason,
        "destination": destination,
        "occurred_at": _aware(now),
        "lines": [{"drug_id": drug_id, "batch_no": batch_no, "quantity": quantity}],
    }
    if kind == "transfer":
        args["to_pharmacy_id"] = to_pharmacy_id
    return store.record("stock.move", args, lang=lang)


def count(
    store: Any,
    *,
    pharmacy_id: str,
    counted: list[tuple[str, str, int]],
    counted_at: dt.datetime,
    note: str = "",
    lang: str = "zh_CN",
) -> Any:
    """``stock.count``: (drug, batch, counted) lines; the adjustment is computed as of ``counted_at``."""
    args = {
        "id": new_id(),
        "pharmacy_id": pharmacy_id,
        "counted_at": _aware(counted_at),
        "note": note,
        "lines": [{"drug_id": d, "batch_no": b, "counted": c} for d, b, c in counted],
    }
    return store.record("stock.count", args, lang=lang)


# --- refunds and delivery -------------------------------------------------------------------------------


def request_refund(
    store: Any,
    *,
    rx_id: str,
    reason_code: str,
    reason: str,
    lines: list[tuple[int, int, bool]],
    lang: str = "zh_CN",
) -> Any:
    args = {
        "id": new_id(),
        "rx_id": rx_id,
        "reason_code": reason_code,
        "reason": reason,
        "lines": [{"line_no": n, "quantity": q, "restock": r} for n, q, r in lines],
    }
    return store.record("rx.refund_request", args, lang=lang)


def review_refund(
    store: Any, *, refund_id: str, decision: str, note: str, now: dt.datetime, lang: str = "zh_CN"
) -> Any:
    args = {"refund_id": refund_id, "decision": decision, "note": note, "returned_at": _aware(now)}
    return store.record("rx.refund_review", args, lang=lang)


def create_delivery(
    store: Any,
    *,
    rx_id: str,
    pharmacy_id: str,
    receiver: dict[str, str],
    dispense_id: str | None,
    note: str = "",
    lang: str = "zh_CN",
) -> str:
    delivery_id = new_id()
    args: dict[str, Any] = {
        "id": delivery_id,
        "rx_id": rx_id,
        "pharmacy_id": pharmacy_id,
        "receiver": receiver,
        "note": note,
    }
    if dispense_id:
        args["dispense_id"] = dispense_id
    store.record("delivery.create", args, lang=lang)
    return delivery_id


def ship_delivery(
    store: Any,
    *,
    delivery_id: str,
    courier: str,
    waybill_no: str,
    sort_code: str,
    handed_over: bool,
    now: dt.datetime,
    lang: str = "zh_CN",
) -> Any:
    args = {
        "delivery_id": delivery_id,
        "courier": courier,
        "waybill_no": waybill_no,
        "sort_code": sort_code,
        "handed_over": handed_over,
        "at": _aware(now),
    }
    return store.record("delivery.ship", args, lang=lang)


def track_delivery(store: Any, *, delivery_id: str, events: list[Any], lang: str = "zh_CN") -> str | None:
    """``delivery.track`` with what the courier reported (``delivery.TrackingEvent``s); returns the
    status afterwards, or None when there was nothing to record."""
    if not events:
        return None
    args = {
        "delivery_id": delivery_id,
        "events": [
            {"status": e.status, "at": _aware(e.at), "place": e.place[:100], "text": e.text[:200]}
            for e in events[-100:]
        ],
    }
    entry = store.record("delivery.track", args, lang=lang)
    return str((entry.local_result or {}).get("status", "")) or None


def cancel_delivery(store: Any, *, delivery_id: str, reason: str, lang: str = "zh_CN") -> Any:
    """``delivery.cancel`` (refused once the parcel has shipped); the courier is told first by the caller."""
    return store.record("delivery.cancel", {"delivery_id": delivery_id, "reason": reason}, lang=lang)
