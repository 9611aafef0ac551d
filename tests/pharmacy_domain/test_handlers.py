"""The pharmacy handlers run in memory (``MemoryState``): the same functions the server and the desk run."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from server_stub.seed.stock import MemoryState
from shared.domain.entities import (
    Dispense,
    Pharmacy,
    PickupCodeState,
    PickupEvent,
    Prescription,
    Refund,
    StockBatch,
    StockMovement,
    Stocktake,
)
from shared.domain.mutations import Effect, MutationContext, Rejected
from shared.domain.pharmacy import batch_id, pickup_state_id
from shared.domain.pharmacy_queries import balance_mismatches, on_hand_from_ledger
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

TODAY = dt.date(2026, 11, 22)
NOW = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)
AMOX = "阿莫西林胶囊"  # boxes of 24 capsules
AMLO = "苯磺酸氨氯地平片"  # boxes of 7 tablets


def ctx(now: dt.datetime = NOW, staff: str = PHARMACIST) -> MutationContext:
    return MutationContext(
        staff_id=staff,
        roles=frozenset({"pharmacist"}),
        device_id="desk-1",
        campus_id=MAIN,
        now=now,
        today=now.date(),
    )


@pytest.fixture
def state() -> MemoryState:
    pharmacies = [
        Pharmacy(id=MAIN_PHARMACY, campus_id=MAIN, code="MAIN-WY", name="本部门诊西药房"),
        Pharmacy(id=EAST_PHARMACY, campus_id=EAST, code="EAST-WY", name="东院门诊药房"),
    ]
    return MemoryState([*pharmacies, drug(AMOX), drug(AMLO), signing_key_row()])


def run(state: MemoryState, name: str, args: dict[str, Any], at: dt.datetime = NOW) -> Effect:
    return state.run(name, args, ctx(at))


def receive(state: MemoryState, name: str, *batches: tuple[str, str, int], days_ago: int = 30) -> None:
    """Receive (batch, expiry, packs) of a drug, ``days_ago`` before NOW."""
    run(
        state,
        "stock.receive",
        {
            "id": new_id(),
            "pharmacy_id": MAIN_PHARMACY,
            "supplier": "国药控股",
            "received_at": (NOW - dt.timedelta(days=days_ago)).isoformat(),
            "lines": [
                {"drug_id": drug(name).id, "batch_no": b, "expiry": e, "quantity": q, "price": "10.20"}
                for b, e, q in batches
            ],
        },
        NOW - dt.timedelta(days=days_ago),
    )


def batch(state: MemoryState, name: str, batch_no: str, pharmacy: str = MAIN_PHARMACY) -> StockBatch:
    row = state.get(StockBatch, batch_id(pharmacy, drug(name).id, batch_no))
    assert row is not None
    return row


CODE = "482913"


def approved(state: MemoryState, *items: tuple[str, int]) -> Prescription:
    """An approved prescription with the pickup code ``CODE`` issued an hour before NOW."""
    rx = prescription(*items, status="approved")
    state.rows["rx", rx.id] = rx
    issued = NOW - dt.timedelta(hours=1)
    state.rows["pickup_code", pickup_state_id(rx.id)] = PickupCodeState(
        id=pickup_state_id(rx.id),
        campus_id=rx.campus_id,
        rx_id=rx.id,
        pharmacy_id=rx.pharmacy_id,
        digest=code_digest(rx.id, CODE),
        issued_at=issued,
        expires_at=issued + dt.timedelta(days=7),
        events=[PickupEvent(no=1, kind="issue", at=issued, by=PHARMACIST)],
    )
    return rx


def test_receipt_books_packs_as_minimum_units_with_cost_per_unit(state: MemoryState) -> None:
    receive(state, AMOX, ("A1", "2027-06-30", 3))
    row = batch(state, AMOX, "A1")
    assert row.quantity == 72 and str(row.unit_cost) == "0.4250" and row.supplier == "国药控股"


def test_receiving_an_already_expired_batch_is_refused(state: MemoryState) -> None:
    with pytest.raises(Rejected) as refused:
        receive(state, AMOX, ("OLD", "2026-10-01", 1), days_ago=0)
    assert refused.value.code == "expired_on_arrival"


def test_dispense_takes_first_expiry_first_and_never_an_expired_batch(state: MemoryState) -> None:
    receive(
        state,
        AMOX,
        ("EXPIRED", "2026-11-20", 5),
        ("LATE", "2027-09-30", 5),
        ("SOON", "2027-01-31", 1),
        days_ago=60,
    )
    rx = approved(state, (AMOX, 5))  # 2×3×5 = 30 capsules → 2 boxes = 48
    shown = {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY, "pickup_code": CODE}
    effect = run(state, "rx.dispense", shown)
    record = next(w for w in effect.writes if isinstance(w, Dispense))
    taken = [(a.batch_no, a.quantity) for a in record.lines[0].allocations]
    assert taken == [("SOON", 24), ("LATE", 24)]
    assert batch(state, AMOX, "EXPIRED").quantity == 120
    assert record.complete and record.conflict_status == "none"
    assert state.get(Prescription, rx.id).status == "dispensed"  # type: ignore[union-attr]


def test_short_stock_dispenses_part_and_tracks_the_remainder(state: MemoryState) -> None:
    receive(state, AMOX, ("ONLY", "2027-06-30", 1))
    rx = approved(state, (AMOX, 7))  # 42 capsules → 2 boxes = 48
    effect = run(state, "rx.dispense", {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY})
    assert effect.result["complete"] is False and effect.result["remaining"] == {"0": 24}
    assert any("尚欠 24" in w for w in effect.warnings)
    assert state.get(Prescription, rx.id).status == "partly_dispensed"  # type: ignore[union-attr]
    receive(state, AMOX, ("NEXT", "2027-08-31", 1), days_ago=0)
    second = run(state, "rx.dispense", {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY})
    assert second.result["complete"] is True
    assert state.get(Prescription, rx.id).status == "dispensed"  # type: ignore[union-attr]


def test_override_needs_a_reason_and_an_unexpired_batch(state: MemoryState) -> None:
    receive(
        state,
        AMOX,
        ("EARLY", "2027-01-31", 2),
        ("LATE", "2027-09-30", 2),
        ("GONE", "2026-11-01", 2),
        days_ago=90,
    )
    rx = approved(state, (AMOX, 3))
    line: dict[str, Any] = {"line_no": 0, "override_batch_no": "LATE", "override_reason": "患者要求同批号"}
    effect = run(
        state, "rx.dispense", {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY, "lines": [line]}
    )
    record = next(w for w in effect.writes if isinstance(w, Dispense))
    assert [(a.batch_no, a.override_reason) for a in record.lines[0].allocations] == [
        ("LATE", "患者要求同批号")
    ]
    rx2 = approved(state, (AMOX, 3))
    for bad, code in (
        ({"override_reason": ""}, "stock_reason_required"),
        ({"override_batch_no": "GONE"}, "stock_batch_expired"),
    ):
        with pytest.raises(Rejected) as refused:
            run(
                state,
                "rx.dispense",
                {"id": new_id(), "rx_id": rx2.id, "pharmacy_id": MAIN_PHARMACY, "lines": [{**line, **bad}]},
            )
        assert refused.value.code == code


def test_stocktake_adjusts_against_the_ledger_as_of_the_count(state: MemoryState) -> None:
    receive(state, AMLO, ("L1", "2027-12-31", 10))  # 70 tablets
    counted_at = NOW - dt.timedelta(hours=2)
    rx = approved(state, (AMLO, 7))
    # A dispense that happened after the count reaches the server first.
    run(
        state,
        "rx.dispense",
        {
            "id": new_id(),
            "rx_id": rx.id,
            "pharmacy_id": MAIN_PHARMACY,
            "dispensed_at": (NOW - dt.timedelta(hours=1)).isoformat(),
        },
    )
    assert batch(state, AMLO, "L1").quantity == 63
    effect = run(
        state,
        "stock.count",
        {
            "id": new_id(),
            "pharmacy_id": MAIN_PHARMACY,
            "counted_at": counted_at.isoformat(),
            "lines": [{"drug_id": drug(AMLO).id, "batch_no": "L1", "counted": 68}],
        },
    )
    take = next(w for w in effect.writes if isinstance(w, Stocktake))
    assert (take.lines[0].book, take.lines[0].adjustment) == (70, -2)
    assert batch(state, AMLO, "L1").quantity == 61  # 68 counted, minus the 7 handed out after the count


def test_balances_always_equal_the_ledger_fold(state: MemoryState) -> None:
    receive(state, AMOX, ("A", "2027-03-31", 2), ("B", "2027-05-31", 1))
    rx = approved(state, (AMOX, 7))
    run(state, "rx.dispense", {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY})
    run(
        state,
        "stock.move",
        {
            "id": new_id(),
            "pharmacy_id": MAIN_PHARMACY,
            "kind": "transfer",
            "reason": "东院缺货",
            "to_pharmacy_id": EAST_PHARMACY,
            "lines": [{"drug_id": drug(AMOX).id, "batch_no": "B", "quantity": 10}],
        },
    )
    run(
        state,
        "stock.move",
        {
            "id": new_id(),
            "pharmacy_id": MAIN_PHARMACY,
            "kind": "scrap",
            "reason": "破损",
            "lines": [{"drug_id": drug(AMOX).id, "batch_no": "B", "quantity": 30}],
        },
    )
    movements = state.find(StockMovement)
    batches = state.find(StockBatch)
    assert balance_mismatches(batches, movements) == []
    fold = on_hand_from_ledger(movements)
    assert fold.drug(EAST_PHARMACY, drug(AMOX).id) == 10
    assert batch(state, AMOX, "B").quantity == -16 and batch(state, AMOX, "B", EAST_PHARMACY).quantity == 10


def test_wrong_pickup_codes_are_recorded_and_the_fifth_locks(state: MemoryState) -> None:
    rx = prescription((AMOX, 3))
    state.rows["rx", rx.id] = rx
    run(state, "rx.review", review_args(rx, pickup_code="482913", at=NOW))
    for _ in range(5):
        effect = run(state, "rx.pickup_verify", {"rx_id": rx.id, "code": "111112"})
        assert effect.result["ok"] is False and effect.warnings
    code = state.get(PickupCodeState, pickup_state_id(rx.id))
    assert code is not None and code.locked and code.attempts == 5
    assert [e.kind for e in code.events] == ["issue", "wrong", "wrong", "wrong", "wrong", "wrong"]
    assert run(state, "rx.pickup_verify", {"rx_id": rx.id, "code": "482913"}).result["reason"] == "locked"
    run(state, "rx.pickup_reissue", {"rx_id": rx.id, "pickup_code": "730461", "reason": "核对身份证后重发"})
    assert run(state, "rx.pickup_verify", {"rx_id": rx.id, "code": "730 461"}).result["ok"] is True


def test_refund_of_part_of_a_line_and_its_limit(state: MemoryState) -> None:
    receive(state, AMLO, ("L1", "2027-12-31", 2))
    rx = approved(state, (AMLO, 14))
    run(state, "rx.dispense", {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY})
    refund_id = new_id()
    run(
        state,
        "rx.refund_request",
        {
            "id": refund_id,
            "rx_id": rx.id,
            "reason_code": "doctor_change",
            "lines": [{"line_no": 0, "quantity": 7}],
        },
    )
    with pytest.raises(Rejected) as refused:
        run(
            state,
            "rx.refund_request",
            {
                "id": new_id(),
                "rx_id": rx.id,
                "reason_code": "other",
                "reason": "再退",
                "lines": [{"line_no": 0, "quantity": 8}],
            },
        )
    assert refused.value.code == "refund_too_much"
    review = {"refund_id": refund_id, "decision": "approve"}
    with pytest.raises(Rejected) as refused:
        run(state, "rx.refund_review", review)  # the pharmacist who asked does not approve it
    assert refused.value.code == "same_person"
    state.run("rx.refund_review", review, ctx(staff=PHARMACIST3))
    assert state.get(Refund, refund_id).status == "approved"  # type: ignore[union-attr]
    assert batch(state, AMLO, "L1").quantity == 7
    assert state.get(Prescription, rx.id).status == "dispensed"  # type: ignore[union-attr]


def test_a_code_used_for_a_partial_dispense_still_opens_the_remainder(state: MemoryState) -> None:
    receive(state, AMOX, ("ONLY", "2027-06-30", 1))
    rx = prescription((AMOX, 7))  # 42 capsules → two boxes of 24; one box on the shelf
    state.rows["rx", rx.id] = rx
    run(state, "rx.review", review_args(rx, pickup_code="482913", at=NOW))
    issued = state.get(PickupCodeState, pickup_state_id(rx.id)).issued_at  # type: ignore[union-attr]
    soon = issued + dt.timedelta(days=6)  # the first visit, a day before the code's week is up
    assert run(
        state, "rx.pickup_verify", {"rx_id": rx.id, "code": "482913", "at": soon.isoformat()}, soon
    ).result["ok"]
    first_id = new_id()
    first = run(
        state,
        "rx.dispense",
        {"id": first_id, "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY, "dispensed_at": soon.isoformat()},
        soon,
    )
    assert first.result["complete"] is False and first.result["remaining"] == {"0": 24}
    record = state.get(Dispense, first_id)
    assert record is not None and not record.complete
    assert (record.lines[0].prescribed, record.lines[0].dispensed, record.lines[0].remaining) == (48, 24, 24)
    assert state.get(Prescription, rx.id).status == "partly_dispensed"  # type: ignore[union-attr]
    code = state.get(PickupCodeState, pickup_state_id(rx.id))
    assert code is not None and code.used_at is None and code.events[-1].kind == "reopened"
    assert code.events[-1].note == first_id  # which dispense reopened it

    # The patient comes back after the code's first week (restocking took four more days): it still opens.
    later = issued + dt.timedelta(days=10)
    receive(state, AMOX, ("NEXT", "2027-08-31", 1), days_ago=0)
    verify = {"rx_id": rx.id, "code": "482913", "at": later.isoformat()}
    assert run(state, "rx.pickup_verify", verify, later).result["ok"] is True
    second = run(
        state,
        "rx.dispense",
        {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY, "dispensed_at": later.isoformat()},
        later,
    )
    assert second.result["complete"] is True and second.result["remaining"] == {}
    assert state.get(Prescription, rx.id).status == "dispensed"  # type: ignore[union-attr]
    again = run(state, "rx.pickup_verify", verify, later)
    assert again.result["ok"] is False and again.result["reason"] == "used"
    code = state.get(PickupCodeState, pickup_state_id(rx.id))
    assert code is not None and code.used_at is not None
    assert [e.kind for e in code.events] == [
        "issue",
        "verified",
        "dispensed",
        "reopened",
        "verified",
        "dispensed",
        "refused",
    ]
    handed = [
        (a.batch_no, a.quantity) for d in state.find(Dispense, rx_id=rx.id) for a in d.lines[0].allocations
    ]
    assert sorted(handed) == [("NEXT", 24), ("ONLY", 24)]


def test_a_partial_dispense_without_the_code_keeps_it_for_the_remainder(state: MemoryState) -> None:
    receive(state, AMOX, ("ONLY", "2027-06-30", 1))
    receive(state, AMLO, ("L1", "2027-12-31", 4))
    rx = prescription((AMLO, 14), (AMOX, 7))  # two boxes of 7 tablets (in stock), two of 24 capsules (one)
    state.rows["rx", rx.id] = rx
    run(state, "rx.review", review_args(rx, pickup_code="590317", at=NOW))
    first = run(
        state,
        "rx.dispense",
        {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY, "handover": "delivery"},
    )
    # Only the short line is owed; the code was never used, so nothing is reopened.
    assert first.result["remaining"] == {"1": 24}
    code = state.get(PickupCodeState, pickup_state_id(rx.id))
    assert code is not None and code.used_at is None and [e.kind for e in code.events] == ["issue"]
    # Without new stock a second try hands out nothing and records nothing.
    with pytest.raises(Rejected) as refused:
        run(state, "rx.dispense", {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY})
    assert refused.value.code == "out_of_stock"
    assert len(state.find(Dispense, rx_id=rx.id)) == 1
    # The remainder against the code: only the owed line is dispensed.
    receive(state, AMOX, ("NEXT", "2027-08-31", 2), days_ago=0)
    assert run(state, "rx.pickup_verify", {"rx_id": rx.id, "code": "590317"}).result["ok"] is True
    rest = run(state, "rx.dispense", {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY})
    done = state.get(Dispense, rest.result["dispense_id"])
    assert done is not None and done.complete
    assert [(line.line_no, line.dispensed) for line in done.lines] == [(1, 24)]
    assert batch(state, AMOX, "NEXT").quantity == 24 and batch(state, AMLO, "L1").quantity == 14
    assert state.get(Prescription, rx.id).status == "dispensed"  # type: ignore[union-attr]
