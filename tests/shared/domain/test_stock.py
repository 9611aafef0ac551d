"""The stock ledger: on hand is the sum of movements, FEFO allocation, returns, stocktakes, alerts."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.stock import (
    BatchOverride,
    BatchStock,
    Count,
    Movement,
    OnHand,
    StockBalances,
    allocate_fefo,
    dispense_movements,
    dispensed_quantity,
    expiry_alerts,
    low_stock,
    min_units_to_packs,
    minimum_in_min_units,
    movements_as_of,
    negative_stock,
    on_hand,
    remaining_to_dispense,
    return_movements,
    review_recorded_dispense,
    stock_view,
    stocktake_adjustments,
    transfer_movements,
)
from shared.errors import BusinessRuleViolation, ValidationFailed

TODAY = dt.date(2026, 11, 22)
T0 = dt.datetime(2026, 11, 22, 9, 0)
PH = "pharmacy-1"
_ids = itertools.count(1)


def new_id() -> str:
    return f"m{next(_ids)}"


def mv(
    kind: str,
    quantity: int,
    *,
    drug: str = "amox",
    batch: str = "B1",
    expiry: dt.date = dt.date(2027, 6, 30),
    at: dt.datetime = T0,
    pharmacy: str = PH,
    **extra: object,
) -> Movement:
    return Movement(
        id=new_id(),
        pharmacy_id=pharmacy,
        drug_id=drug,
        batch_no=batch,
        expiry=expiry,
        kind=kind,  # type: ignore[arg-type]
        quantity=quantity,
        occurred_at=at,
        **extra,  # type: ignore[arg-type]
    )


# --- strategies ----------------------------------------------------------------------------------

BATCHES = [("amox", "B1", dt.date(2026, 10, 1)), ("amox", "B2", dt.date(2027, 1, 15)),
           ("amox", "B3", dt.date(2027, 1, 15)), ("ibu", "A9", dt.date(2028, 3, 1))]  # fmt: skip
KIND_SIGNS = {"receipt": 1, "dispense": -1, "return": 1, "transfer_out": -1, "transfer_in": 1, "scrap": -1}


@st.composite
def movements(draw: st.DrawFn, max_size: int = 20) -> list[Movement]:
    out = []
    for _ in range(draw(st.integers(0, max_size))):
        drug, batch, expiry = draw(st.sampled_from(BATCHES))
        kind = draw(st.sampled_from([*KIND_SIGNS, "count_adjustment"]))
        size = draw(st.integers(1, 500))
        sign = KIND_SIGNS.get(kind) or draw(st.sampled_from([1, -1]))
        minutes = draw(st.integers(0, 600))
        pharmacy = draw(st.sampled_from([PH, "pharmacy-2"]))
        out.append(
            mv(
                kind,
                sign * size,
                drug=drug,
                batch=batch,
                expiry=expiry,
                pharmacy=pharmacy,
                at=T0 + dt.timedelta(minutes=minutes),
            )  # fmt: skip
        )
    return out


batch_lists = st.lists(
    st.builds(
        BatchStock,
        pharmacy_id=st.just(PH),
        drug_id=st.just("amox"),
        batch_no=st.sampled_from(["A1", "A2", "B1", "B2", "C7"]),
        expiry=st.dates(dt.date(2026, 9, 1), dt.date(2027, 12, 31)),
        quantity=st.integers(-50, 300),
    ),
    max_size=6,
    unique_by=lambda b: b.batch_no,
)


# --- on hand ---------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(movements())
def test_on_hand_is_the_sum_of_the_movements_per_batch_and_per_drug(ledger: list[Movement]) -> None:
    stock = on_hand(ledger)
    for (pharmacy, drug, batch), b in stock.batches.items():
        expected = sum(
            m.quantity for m in ledger if (m.pharmacy_id, m.drug_id, m.batch_no) == (pharmacy, drug, batch)
        )
        assert b.quantity == expected
    for (pharmacy, drug), quantity in stock.drugs.items():
        assert quantity == sum(m.quantity for m in ledger if (m.pharmacy_id, m.drug_id) == (pharmacy, drug))
    assert sum(stock.drugs.values()) == sum(m.quantity for m in ledger)
    # order does not matter, and the incremental balances agree with the full fold
    assert on_hand(reversed(ledger)).drugs == stock.drugs
    balances = StockBalances.rebuild(ledger)
    assert balances.snapshot() == stock
    for pharmacy, drug in stock.drugs:
        assert balances.drug(pharmacy, drug) == stock.drug(pharmacy, drug)
        assert balances.batches_of(pharmacy, drug) == stock.batches_of(pharmacy, drug)


def test_a_movement_with_the_wrong_sign_for_its_kind_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        mv("dispense", 5)
    with pytest.raises(ValidationFailed):
        mv("receipt", -5)
    with pytest.raises(ValidationFailed):
        mv("count_adjustment", 0)
    with pytest.raises(ValidationFailed):
        mv("gift", 1)


def test_packs_and_minimum_units_convert_both_ways() -> None:
    assert min_units_to_packs(50, 24) == (2, 2)
    assert min_units_to_packs(-50, 24) == (-2, -2)
    assert minimum_in_min_units(30, 24) == 720


# --- FEFO ------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(batch_lists, st.integers(1, 1000), st.dates(dt.date(2026, 9, 1), dt.date(2027, 12, 31)))
def test_fefo_never_takes_an_expired_batch_and_always_empties_the_earliest_first(
    batches: list[BatchStock], quantity: int, today: dt.date
) -> None:
    allocation = allocate_fefo(batches, quantity, today)
    by_no = {b.batch_no: b for b in batches}
    usable = sorted(
        (b for b in batches if b.quantity > 0 and today <= b.expiry), key=lambda b: (b.expiry, b.batch_no)
    )
    assert allocation.allocated + allocation.shortfall == quantity
    assert allocation.allocated == min(quantity, sum(b.quantity for b in usable))
    for line in allocation.lines:
        batch = by_no[line.batch_no]
        assert today <= batch.expiry, "took from an expired batch"
        assert 0 < line.quantity <= batch.quantity
    # the lines are a prefix of the usable batches in (expiry, batch number) order, each emptied but the last
    taken = [line.batch_no for line in allocation.lines]
    assert taken == [b.batch_no for b in usable[: len(taken)]]
    for line in allocation.lines[:-1]:
        assert line.quantity == by_no[line.batch_no].quantity
    if allocation.shortfall:
        assert len(taken) == len(usable)


def test_fefo_on_an_example_skips_the_expired_batch_and_breaks_ties_by_batch_number() -> None:
    batches = [
        BatchStock(PH, "amox", "Z9", dt.date(2027, 1, 15), 10),
        BatchStock(PH, "amox", "OLD", dt.date(2026, 11, 21), 100),
        BatchStock(PH, "amox", "A1", dt.date(2027, 1, 15), 10),
        BatchStock(PH, "amox", "TODAY", TODAY, 3),
    ]
    allocation = allocate_fefo(batches, 25, TODAY)
    assert [(line.batch_no, line.quantity) for line in allocation.lines] == [
        ("TODAY", 3),
        ("A1", 10),
        ("Z9", 10),
    ]
    assert allocation.shortfall == 2 and not allocation.complete


def test_the_pharmacist_can_take_a_chosen_batch_first_with_a_reason() -> None:
    batches = [
        BatchStock(PH, "amox", "B1", dt.date(2027, 1, 1), 5),
        BatchStock(PH, "amox", "B2", dt.date(2028, 1, 1), 4),
    ]
    allocation = allocate_fefo(batches, 6, TODAY, BatchOverride("B2", "原包装整盒发放"))
    assert [(line.batch_no, line.quantity, line.override_reason) for line in allocation.lines] == [
        ("B2", 4, "原包装整盒发放"),
        ("B1", 2, ""),
    ]
    with pytest.raises(ValidationFailed):
        allocate_fefo(batches, 6, TODAY, BatchOverride("B2", "  "))
    with pytest.raises(BusinessRuleViolation):
        allocate_fefo(batches, 6, TODAY, BatchOverride("NOPE", "reason"))
    expired = [*batches, BatchStock(PH, "amox", "OLD", dt.date(2026, 1, 1), 50)]
    with pytest.raises(BusinessRuleViolation) as refused:
        allocate_fefo(expired, 6, TODAY, BatchOverride("OLD", "reason"))
    assert refused.value.code == "stock_batch_expired"


# --- dispensing and returns -------------------------------------------------------------------------


def test_a_partial_dispense_writes_movements_and_tracks_the_remainder() -> None:
    ledger = [mv("receipt", 30, batch="B1", expiry=dt.date(2027, 1, 1)), mv("receipt", 10, batch="B2")]
    stock = on_hand(ledger)
    allocation = allocate_fefo(stock.batches_of(PH, "amox"), 48, TODAY)
    moves = dispense_movements(
        allocation, rx_line_id="line-1", occurred_at=T0, new_id=new_id,
        unit_costs={("amox", "B1"): Decimal("0.45")},
    )  # fmt: skip
    assert [(m.batch_no, m.quantity, m.kind, m.rx_line_id) for m in moves] == [
        ("B1", -30, "dispense", "line-1"),
        ("B2", -10, "dispense", "line-1"),
    ]
    assert moves[0].unit_cost == Decimal("0.45")
    ledger += moves
    assert on_hand(ledger).drug(PH, "amox") == 0
    assert dispensed_quantity(ledger, "line-1") == 40
    assert remaining_to_dispense(48, ledger, "line-1") == 8


def test_returned_stock_goes_back_to_the_batch_it_came_from() -> None:
    ledger = [mv("receipt", 20, batch="B1", expiry=dt.date(2027, 1, 1)), mv("receipt", 20, batch="B2")]
    allocation = allocate_fefo(on_hand(ledger).batches_of(PH, "amox"), 30, TODAY)
    dispensed = dispense_movements(allocation, rx_line_id="line-1", occurred_at=T0, new_id=new_id)
    ledger += dispensed
    back = return_movements(dispensed, 12, ledger=ledger, occurred_at=T0, reason="患者退药", new_id=new_id)
    assert [(m.batch_no, m.quantity, m.kind, m.reverses) for m in back] == [
        ("B2", 10, "return", dispensed[1].id),
        ("B1", 2, "return", dispensed[0].id),
    ]
    assert all(m.expiry == d.expiry for m, d in zip(back, reversed(dispensed), strict=True))
    ledger += back
    stock = on_hand(ledger)
    assert stock.batches[PH, "amox", "B1"].quantity == 2
    assert stock.batches[PH, "amox", "B2"].quantity == 20
    assert remaining_to_dispense(30, ledger, "line-1") == 12
    with pytest.raises(BusinessRuleViolation):
        return_movements(dispensed, 19, ledger=ledger, occurred_at=T0, reason="again", new_id=new_id)
    with pytest.raises(ValidationFailed):
        return_movements(dispensed, 1, ledger=ledger, occurred_at=T0, reason="", new_id=new_id)


def test_a_transfer_moves_the_batch_between_pharmacies() -> None:
    ledger = [mv("receipt", 20)]
    out, into = transfer_movements(
        on_hand(ledger).batches_of(PH, "amox")[0],
        8,
        to_pharmacy_id="pharmacy-2",
        occurred_at=T0,
        transfer_id="t1",
    )
    stock = on_hand([*ledger, out, into])
    assert stock.drug(PH, "amox") == 12 and stock.drug("pharmacy-2", "amox") == 8
    assert stock.batches["pharmacy-2", "amox", "B1"].expiry == dt.date(2027, 6, 30)


def test_concurrent_offline_dispenses_both_stand_and_the_negative_stock_is_flagged() -> None:
    ledger = [mv("receipt", 10)]
    batches = on_hand(ledger).batches_of(PH, "amox")
    # two PCs, offline, each sees 10 on hand and dispenses 8 of it
    first = dispense_movements(
        allocate_fefo(batches, 8, TODAY), rx_line_id="a", occurred_at=T0, new_id=new_id
    )
    second = dispense_movements(
        allocate_fefo(batches, 8, TODAY), rx_line_id="b", occurred_at=T0, new_id=new_id
    )
    ledger += first
    review = review_recorded_dispense(second, ledger_before=ledger, prescribed=8, rx_status="approved")
    ledger += second
    assert [item.kind for item in review] == ["negative_stock"]
    stock = on_hand(ledger)
    assert stock.drug(PH, "amox") == -6
    assert [(n.batch_no, n.quantity) for n in negative_stock(stock)] == [("", -6), ("B1", -6)]


def test_a_dispense_after_a_cancellation_or_twice_on_one_line_goes_to_review() -> None:
    ledger = [mv("receipt", 100)]
    moves = dispense_movements(
        allocate_fefo(on_hand(ledger).batches_of(PH, "amox"), 8, TODAY),
        rx_line_id="a",
        occurred_at=T0,
        new_id=new_id,
    )
    cancelled = review_recorded_dispense(moves, ledger_before=ledger, prescribed=8, rx_status="cancelled")
    assert [item.kind for item in cancelled] == ["rx_not_dispensable"]
    twice = review_recorded_dispense(
        moves, ledger_before=[*ledger, *moves], prescribed=8, rx_status="approved"
    )
    assert [item.kind for item in twice] == ["over_dispensed"]
    late = [mv("dispense", -1, batch="X", expiry=dt.date(2026, 1, 1), rx_line_id="c")]
    flagged = {
        item.kind
        for item in review_recorded_dispense(late, ledger_before=ledger, prescribed=5, rx_status="approved")
    }
    assert flagged == {"unknown_batch", "expired_batch", "negative_stock"}


# --- stocktake -------------------------------------------------------------------------------------


def quantity_of(stock: OnHand, key: tuple[str, str, str]) -> int:
    batch = stock.batches.get(key)
    return batch.quantity if batch is not None else 0


@settings(max_examples=100, deadline=None)
@given(movements(), movements(max_size=8), st.lists(st.integers(0, 400), min_size=4, max_size=4))
def test_a_stocktake_brings_each_batch_to_its_count_as_of_the_count_even_with_later_movements(
    before: list[Movement], later: list[Movement], counts: list[int]
) -> None:
    counted_at = T0 + dt.timedelta(minutes=601)
    later = [
        Movement(
            **{
                **{s: getattr(m, s) for s in Movement.__slots__},
                "occurred_at": counted_at + dt.timedelta(hours=1),
            }
        )  # type: ignore[arg-type]
        for m in later
    ]
    ledger = before + later  # later movements may reach the server before the count does
    counted = [
        Count(PH, drug, batch, n, expiry) for (drug, batch, expiry), n in zip(BATCHES, counts, strict=True)
    ]
    adjustments = stocktake_adjustments(
        movements_as_of(ledger, counted_at), counted, stocktake_id="st-1", counted_at=counted_at
    )
    as_of = on_hand(movements_as_of([*ledger, *adjustments], counted_at))
    now = on_hand([*ledger, *adjustments])
    for c in counted:
        key = (PH, c.drug_id, c.batch_no)
        assert quantity_of(as_of, key) == c.counted
        later_sum = sum(m.quantity for m in later if (m.pharmacy_id, m.drug_id, m.batch_no) == key)
        assert quantity_of(now, key) == c.counted + later_sum
    assert all(m.kind == "count_adjustment" and m.stocktake_id == "st-1" for m in adjustments)
    # recomputing gives the same movements (same ids): the server and the counting PC agree
    again = stocktake_adjustments(
        movements_as_of(ledger, counted_at), counted, stocktake_id="st-1", counted_at=counted_at
    )
    assert again == adjustments


def test_a_complete_count_zeroes_batches_that_were_not_found() -> None:
    ledger = [mv("receipt", 10, batch="B1"), mv("receipt", 5, batch="B2")]
    adjustments = stocktake_adjustments(
        ledger, [Count(PH, "amox", "B1", 10)], stocktake_id="s", counted_at=T0, complete_drugs=True
    )
    assert [(m.batch_no, m.quantity) for m in adjustments] == [("B2", -5)]
    with pytest.raises(ValidationFailed):
        stocktake_adjustments(ledger, [Count(PH, "amox", "NEW", 3)], stocktake_id="s", counted_at=T0)
    found = stocktake_adjustments(
        ledger, [Count(PH, "amox", "NEW", 3, dt.date(2028, 1, 1))], stocktake_id="s", counted_at=T0
    )
    assert [(m.batch_no, m.quantity, m.expiry) for m in found] == [("NEW", 3, dt.date(2028, 1, 1))]


# --- alerts and the stock view -------------------------------------------------------------------------


def test_expiry_alerts_cover_expired_and_the_next_90_days_only_for_batches_with_stock() -> None:
    batches = [
        BatchStock(PH, "a", "gone", TODAY - dt.timedelta(days=1), 5),
        BatchStock(PH, "a", "today", TODAY, 5),
        BatchStock(PH, "a", "d90", TODAY + dt.timedelta(days=90), 5),
        BatchStock(PH, "a", "d91", TODAY + dt.timedelta(days=91), 5),
        BatchStock(PH, "a", "empty", TODAY - dt.timedelta(days=3), 0),
    ]
    alerts = expiry_alerts(batches, TODAY)
    assert [(a.batch.batch_no, a.level, a.days_left) for a in alerts] == [
        ("gone", "expired", -1),
        ("today", "expiring", 0),
        ("d90", "expiring", 90),
    ]


def test_low_stock_lists_drugs_under_their_minimum_including_those_never_stocked() -> None:
    result = low_stock({"a": 5, "b": 50, "c": 10}, {"a": 10, "b": 20, "c": 10, "d": 3, "e": 0})
    assert [(s.drug_id, s.on_hand, s.shortage) for s in result] == [("a", 5, 5), ("d", 0, 3)]


def test_the_stock_view_leaves_expired_stock_out_of_the_low_stock_check() -> None:
    ledger = [
        mv("receipt", 40, batch="OLD", expiry=dt.date(2026, 1, 1)),
        mv("receipt", 5, batch="NEW"),
        mv("receipt", 3, drug="ibu", batch="I1"),
        mv("dispense", -5, drug="ibu", batch="I1"),
    ]
    view = stock_view(on_hand(ledger), PH, TODAY, {"amox": 20, "ibu": 1})
    assert view.by_drug == {"amox": 45, "ibu": -2}
    assert [(s.drug_id, s.on_hand) for s in view.low] == [("amox", 5), ("ibu", 0)]
    assert [a.batch.batch_no for a in view.expiry] == ["OLD"]
    assert {(n.drug_id, n.batch_no) for n in view.negative} == {("ibu", ""), ("ibu", "I1")}
