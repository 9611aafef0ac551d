"""Payment before the pickup code (``rx.pay``): the pure handlers in memory, as the server and desk run them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from server_stub.seed.stock import MemoryState
from shared.domain.entities import Pharmacy, PickupCodeState, Prescription
from shared.domain.mutations import REGISTRY, Effect, MutationContext, Rejected
from shared.domain.pharmacy import pickup_state_id
from shared.domain.pickup import code_digest
from shared.ids import new_id
from tests.pharmacy_domain.support import (
    EAST,
    EAST_PHARMACY,
    MAIN,
    MAIN_PHARMACY,
    PHARMACIST,
    PHARMACIST3,
    drug,
    prescription,
    review_args,
    signing_key_row,
)

NOW = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)
AMOX = "阿莫西林胶囊"


def ctx(
    now: dt.datetime = NOW,
    roles: frozenset[str] = frozenset({"pharmacist"}),
    staff: str = PHARMACIST,
    campus: str = MAIN,
) -> MutationContext:
    return MutationContext(
        staff_id=staff, roles=roles, device_id="desk-1", campus_id=campus, now=now, today=now.date()
    )


@pytest.fixture
def state() -> MemoryState:
    pharmacies = [
        Pharmacy(
            id=MAIN_PHARMACY, campus_id=MAIN, code="MAIN-WY", name="本部门诊西药房", payment_required=True
        ),
        Pharmacy(id=EAST_PHARMACY, campus_id=EAST, code="EAST-WY", name="东院门诊药房"),
    ]
    return MemoryState([*pharmacies, drug(AMOX), signing_key_row()])


def run(state: MemoryState, name: str, args: dict[str, Any]) -> Effect:
    return state.run(name, args, ctx())


def rx_in(state: MemoryState, *, pharmacy_id: str = MAIN_PHARMACY, status: str = "signed") -> Prescription:
    rx = prescription((AMOX, 3), status=status, pharmacy_id=pharmacy_id).model_copy(
        update={"total_amount": "25.60"}
    )
    state.rows["rx", rx.id] = rx
    return rx


def pay_args(
    rx: Prescription, *, ref: str = "CASH000000000001", amount: str = "25.60", code: str = "730518"
) -> dict:
    return {
        "rx_id": rx.id,
        "payment_ref": ref,
        "method": "cash",
        "amount": amount,
        "paid_at": NOW.isoformat(),
        "pickup_code": code,
    }


def current(state: MemoryState, rx: Prescription) -> Prescription:
    row = state.get(Prescription, rx.id)
    assert row is not None
    return row


def test_where_payment_comes_first_approval_issues_no_code_and_payment_issues_it(state: MemoryState) -> None:
    rx = rx_in(state)
    review = run(state, "rx.review", review_args(rx, pickup_code=None, at=NOW))
    assert review.result["pickup_code_issued"] is False and review.result["payment_required"] is True
    assert current(state, rx).status == "approved" and current(state, rx).pickup_code_hash == ""
    assert state.get(PickupCodeState, pickup_state_id(rx.id)) is None

    paid = run(state, "rx.pay", pay_args(rx))
    assert paid.result["pickup_code_issued"] is True and paid.result["amount"] == "25.60"
    row = current(state, rx)
    assert row.paid_at == NOW and row.paid_by == PHARMACIST and row.payment_ref == "CASH000000000001"
    assert row.payment_method == "cash" and row.amount_paid == "25.60"
    code = state.get(PickupCodeState, pickup_state_id(rx.id))
    assert code is not None and code.digest == code_digest(rx.id, "730518") == row.pickup_code_hash
    assert code.events[0].kind == "issue" and code.events[0].note == "CASH000000000001"


def test_a_code_sent_with_the_approval_is_not_issued_where_payment_comes_first(state: MemoryState) -> None:
    rx = rx_in(state)
    review = run(state, "rx.review", review_args(rx, pickup_code="482913", at=NOW))
    assert review.result["pickup_code_issued"] is False
    assert state.get(PickupCodeState, pickup_state_id(rx.id)) is None


def test_unpaid_prescriptions_get_no_code_and_paying_without_a_code_is_refused(state: MemoryState) -> None:
    rx = rx_in(state)
    run(state, "rx.review", review_args(rx, pickup_code=None, at=NOW))
    args = pay_args(rx)
    del args["pickup_code"]
    with pytest.raises(Rejected) as refused:
        run(state, "rx.pay", args)
    assert refused.value.code == "pickup_code_required"
    assert current(state, rx).paid_at is None


def test_where_payment_is_not_required_approval_issues_the_code_and_payment_only_records(
    state: MemoryState,
) -> None:
    rx = rx_in(state, pharmacy_id=EAST_PHARMACY)
    review = run(state, "rx.review", review_args(rx, pickup_code="482913", at=NOW))
    assert review.result["pickup_code_issued"] is True and review.result["payment_required"] is False
    issued = state.get(PickupCodeState, pickup_state_id(rx.id))
    assert issued is not None
    paid = run(state, "rx.pay", pay_args(rx, code="111222"))
    assert paid.result["pickup_code_issued"] is False
    after = state.get(PickupCodeState, pickup_state_id(rx.id))
    assert after == issued  # the code drawn at approval stays the patient's code
    assert current(state, rx).paid_at == NOW


def test_approving_without_a_code_is_still_refused_where_payment_is_not_required(state: MemoryState) -> None:
    rx = rx_in(state, pharmacy_id=EAST_PHARMACY)
    with pytest.raises(Rejected) as refused:
        run(state, "rx.review", review_args(rx, pickup_code=None, at=NOW))
    assert refused.value.code == "pickup_code_required"


@pytest.mark.parametrize("status", ["signed", "rejected", "draft", "cancelled", "refunded"])
def test_payment_is_refused_unless_the_prescription_is_approved(state: MemoryState, status: str) -> None:
    rx = rx_in(state, status=status)
    with pytest.raises(Rejected) as refused:
        run(state, "rx.pay", pay_args(rx))
    assert refused.value.code == "bad_transition"
    assert current(state, rx).paid_at is None


def test_a_wrong_amount_is_refused_with_the_amount_due(state: MemoryState) -> None:
    rx = rx_in(state, status="approved")
    with pytest.raises(Rejected) as refused:
        run(state, "rx.pay", pay_args(rx, amount="25.00"))
    assert refused.value.code == "wrong_amount" and refused.value.detail == {"due": "25.60"}
    assert "25.60" in refused.value.message


def test_payment_is_idempotent_by_reference_and_a_second_payment_is_refused(state: MemoryState) -> None:
    rx = rx_in(state)
    run(state, "rx.review", review_args(rx, pickup_code=None, at=NOW))
    run(state, "rx.pay", pay_args(rx))
    version = current(state, rx).version
    again = run(state, "rx.pay", pay_args(rx, code="999111"))
    assert again.writes == [] and again.result["repeated"] is True
    assert current(state, rx).version == version
    code = state.get(PickupCodeState, pickup_state_id(rx.id))
    assert code is not None and code.digest == code_digest(rx.id, "730518")  # not replaced
    with pytest.raises(Rejected) as refused:
        run(state, "rx.pay", pay_args(rx, ref="QRPY000000000009"))
    assert refused.value.code == "already_paid" and refused.value.detail == {
        "payment_ref": "CASH000000000001"
    }


def test_only_the_pharmacy_counter_takes_payment() -> None:
    assert REGISTRY["rx.pay"].roles == frozenset({"pharmacist"})  # an admin does not take money


def test_dispensing_an_unpaid_prescription_stands_with_a_warning(state: MemoryState) -> None:
    rx = rx_in(state, status="approved")
    args = {
        "id": new_id(),
        "rx_id": rx.id,
        "pharmacy_id": MAIN_PHARMACY,
        "lines": [{"line_no": 0, "batches": [{"batch_no": "X1", "quantity": 24, "expiry": "2027-06-30"}]}],
    }
    effect = run(state, "rx.dispense", args)
    assert any("尚未缴费" in w for w in effect.warnings)


def test_refund_after_payment_returns_the_drugs_and_keeps_the_payment_on_record(state: MemoryState) -> None:
    run(
        state,
        "stock.receive",
        {
            "id": new_id(),
            "pharmacy_id": MAIN_PHARMACY,
            "supplier": "国药控股",
            "received_at": (NOW - dt.timedelta(days=10)).isoformat(),
            "lines": [
                {
                    "drug_id": drug(AMOX).id,
                    "batch_no": "A1",
                    "expiry": "2027-06-30",
                    "quantity": 5,
                    "price": "10.20",
                }
            ],
        },
    )
    rx = rx_in(state)
    run(state, "rx.review", review_args(rx, pickup_code=None, at=NOW))
    run(state, "rx.pay", pay_args(rx))
    shown = {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY, "pickup_code": "730518"}
    dispensed = run(state, "rx.dispense", shown)
    assert dispensed.result["complete"] is True and not dispensed.warnings
    given = dispensed.writes[1].lines[0].dispensed  # type: ignore[attr-defined]
    refund_id = new_id()
    run(
        state,
        "rx.refund_request",
        {
            "id": refund_id,
            "rx_id": rx.id,
            "reason_code": "adverse_reaction",
            "lines": [{"line_no": 0, "quantity": given}],
        },
    )
    second = ctx(staff=PHARMACIST3)  # a second pharmacist reviews the refund
    state.run("rx.refund_review", {"refund_id": refund_id, "decision": "approve", "note": "退款"}, second)
    row = current(state, rx)
    assert row.status == "refunded"
    assert row.payment_ref == "CASH000000000001" and row.amount_paid == "25.60"  # the payment stays on record
    with pytest.raises(Rejected) as refused:
        run(state, "rx.pay", pay_args(rx, ref="CASH000000000002"))
    assert refused.value.code == "already_paid"
    assert Decimal(row.amount_paid) == Decimal("25.60")


def test_an_administrator_switches_a_pharmacy_to_payment_first(state: MemoryState) -> None:
    assert REGISTRY["pharmacy.configure"].roles == frozenset({"admin"})
    admin = ctx(roles=frozenset({"admin"}), campus=EAST)  # logged in at the pharmacy's campus
    effect = state.run("pharmacy.configure", {"pharmacy_id": EAST_PHARMACY, "payment_required": True}, admin)
    assert effect.result == {"pharmacy_id": EAST_PHARMACY, "changed": True}
    row = state.get(Pharmacy, EAST_PHARMACY)
    assert row is not None and row.payment_required and row.version == 2
    again = state.run("pharmacy.configure", {"pharmacy_id": EAST_PHARMACY, "payment_required": True}, admin)
    assert again.writes == [] and again.result["changed"] is False
    rx = rx_in(state, pharmacy_id=EAST_PHARMACY)
    assert (
        run(state, "rx.review", review_args(rx, pickup_code=None, at=NOW)).result["payment_required"] is True
    )
