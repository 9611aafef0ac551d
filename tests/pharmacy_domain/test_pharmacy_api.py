"""Review, dispensing, refunds, stocktake and delivery against a real server on loopback (demo data seeded,
opening stock included). Prescriptions and the pharmacist's registered key are put in the server's
database as the clinical side would have left them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from server_stub.db.engine import Database
from server_stub.services.entities import bulk_insert, write_entities
from shared.domain.delivery import StubCourier, TrackingEvent
from shared.domain.entities import Delivery, Entity, Prescription
from shared.domain.mutations.delivery import delivery_order
from shared.domain.pickup import code_digest
from shared.ids import new_id
from shared.security.signing import generate_keypair
from tests.pharmacy_domain.support import (
    MAIN_PHARMACY,
    PHARMACIST3,
    PICKUP_CODE,
    PIN,
    drug,
    pickup_code_row,
    prescription,
    review_args,
    signing_key_row,
)
from tests.support.api import ApiUser
from tests.support.server import ServerProcess

AMOX = "阿莫西林胶囊"
AMLO = "苯磺酸氨氯地平片"


def put(server: ServerProcess, *rows: Entity) -> None:
    """Write rows into the running server's database (new rows inserted, others one version up). A new
    approved prescription comes with the pickup code its approval issued (``PICKUP_CODE``)."""
    fresh_approved = [
        r for r in rows if isinstance(r, Prescription) and r.status == "approved" and r.version == 1
    ]
    rows = (*rows, *(pickup_code_row(r) for r in fresh_approved))
    db = Database.open(server.db_url, pool_size=1)
    try:
        with db.write() as conn:
            fresh = [r for r in rows if r.version == 1]
            bulk_insert(conn, fresh)
            write_entities(conn, [r for r in rows if r.version > 1])
    finally:
        db.dispose()


class State:
    """The server's current rows as a pharmacist's PC sees them after a pull."""

    def __init__(self, user: ApiUser) -> None:
        changes, _ = user.pull_all()
        self.rows: dict[tuple[str, str], dict[str, Any]] = {(c["kind"], c["id"]): c["data"] for c in changes}

    def of(self, kind: str, **equals: Any) -> list[dict[str, Any]]:
        return [
            row
            for (k, _), row in self.rows.items()
            if k == kind and all(row.get(f) == v for f, v in equals.items())
        ]

    def one(self, kind: str, entity_id: str) -> dict[str, Any]:
        return self.rows[kind, entity_id]


@pytest.fixture
def pharmacist(server: ServerProcess) -> Iterator[ApiUser]:
    put(server, signing_key_row())
    user = ApiUser(server.url, "pharmacist1")
    yield user
    user.close()


def batches(state: State, name: str) -> list[dict[str, Any]]:
    rows = state.of("stock_batch", pharmacy_id=MAIN_PHARMACY, drug_id=drug(name).id)
    return sorted(rows, key=lambda b: (b["expiry"], b["batch_no"]))


def receive(
    user: ApiUser, name: str, batch_no: str, expiry: str, packs: int, received_at: dt.datetime | None = None
) -> None:
    outcome = user.push_one(
        "stock.receive",
        {
            "id": new_id(),
            "pharmacy_id": MAIN_PHARMACY,
            "supplier": "国药控股华安有限公司",
            "received_at": received_at.isoformat() if received_at else None,
            "lines": [
                {
                    "drug_id": drug(name).id,
                    "batch_no": batch_no,
                    "expiry": expiry,
                    "quantity": packs,
                    "price": "9.80",
                }
            ],
        },
    )
    assert outcome["status"] == "applied", outcome


def dispense(user: ApiUser, rx: Prescription, **extra: Any) -> dict[str, Any]:
    """``rx.dispense`` at the counter, the patient showing the pickup code (unless ``extra`` says else)."""
    args = {"id": new_id(), "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY, "pickup_code": PICKUP_CODE, **extra}
    return user.push_one("rx.dispense", args)


def test_review_with_a_valid_signature_approves_and_issues_a_pickup_code(
    server: ServerProcess, pharmacist: ApiUser
) -> None:
    rx = prescription((AMOX, 3))
    put(server, rx)
    outcome = pharmacist.push_one("rx.review", review_args(rx, pickup_code="582014"))
    assert outcome["status"] == "applied", outcome
    state = State(pharmacist)
    row = state.one("rx", rx.id)
    assert row["status"] == "approved" and row["review_signature"]
    assert row["pickup_code_hash"] == code_digest(rx.id, "582014")
    code = state.of("pickup_code", rx_id=rx.id)[0]
    assert "582014" not in str(code) and code["digest"] == row["pickup_code_hash"]


def test_review_with_a_bad_signature_or_someone_elses_key_is_refused(
    server: ServerProcess, pharmacist: ApiUser
) -> None:
    rx = prescription((AMOX, 3))
    other_key = generate_keypair(PIN)
    other_row = signing_key_row(PHARMACIST3, other_key)
    put(server, rx, other_row)
    tampered = pharmacist.push_one(
        "rx.review", review_args(rx, decision="reject", reason_code="dose", reason="剂量偏大", tamper=True)
    )
    assert tampered["status"] == "rejected" and tampered["code"] == "bad_signature"
    assert "签名验证失败" in tampered["message"]
    borrowed = pharmacist.push_one("rx.review", review_args(rx, key=other_key, key_row=other_row))
    assert borrowed["status"] == "rejected" and borrowed["code"] == "bad_signing_key"
    no_reason = pharmacist.push_one("rx.review", review_args(rx, decision="reject"))
    assert no_reason["code"] == "reason_required"
    rejected = pharmacist.push_one(
        "rx.review", review_args(rx, decision="reject", reason_code="dose", reason="剂量偏大")
    )
    assert rejected["status"] == "applied", rejected
    assert State(pharmacist).one("rx", rx.id)["status"] == "rejected"


def test_dispense_is_first_expiry_first_out_and_skips_expired_batches(
    server: ServerProcess, pharmacist: ApiUser
) -> None:
    receive(pharmacist, AMLO, "EXP-OLD", (dt.date.today() + dt.timedelta(days=2)).isoformat(), 1)
    state = State(pharmacist)
    # The demo's opening stock has expired batches; pick a drug that has one with stock in it.
    expired = next(
        b
        for b in state.of("stock_batch", pharmacy_id=MAIN_PHARMACY)
        if b["expiry"] < dt.date.today().isoformat() and b["quantity"] > 0
    )
    name = next(d["generic_name"] for d in state.of("drug", id=expired["drug_id"]))
    rx = prescription((name, 3), status="approved")
    put(server, rx)
    before = batches(state, name)
    outcome = dispense(pharmacist, rx)
    assert outcome["status"] == "applied", outcome
    after = State(pharmacist)
    record = after.of("dispense", rx_id=rx.id)[0]
    taken = [(a["batch_no"], a["quantity"]) for a in record["lines"][0]["allocations"]]
    usable = [b for b in before if b["expiry"] >= dt.date.today().isoformat() and b["quantity"] > 0]
    wanted = record["lines"][0]["prescribed"]
    expected = []
    for b in usable:
        if wanted == 0:
            break
        take = min(wanted, b["quantity"])
        expected.append((b["batch_no"], take))
        wanted -= take
    assert taken == expected and expired["batch_no"] not in dict(taken)
    assert after.one("stock_batch", expired["id"])["quantity"] == expired["quantity"]
    movements = after.of("stock_movement", rx_id=rx.id)
    assert sorted((m["batch_no"], -m["quantity"]) for m in movements) == sorted(taken)
    assert after.one("rx", rx.id)["status"] == "dispensed"


def test_a_short_line_is_dispensed_in_part_and_the_remainder_kept(
    server: ServerProcess, pharmacist: ApiUser
) -> None:
    rx = prescription((AMLO, 7), status="approved")
    rx.lines[0]["quantity"] = 5000  # far more boxes than the shelf holds
    put(server, rx)
    usable = sum(
        b["quantity"] for b in batches(State(pharmacist), AMLO) if b["expiry"] >= dt.date.today().isoformat()
    )
    outcome = dispense(pharmacist, rx)
    assert outcome["status"] == "applied_with_warning", outcome
    assert outcome["result"]["remaining"] == {"0": 5000 * 7 - usable}
    state = State(pharmacist)
    assert state.one("rx", rx.id)["status"] == "partly_dispensed"
    assert all(b["quantity"] <= 0 for b in batches(state, AMLO) if b["expiry"] >= dt.date.today().isoformat())


def test_an_offline_dispense_of_a_cancelled_prescription_stands_and_goes_to_review(
    server: ServerProcess, pharmacist: ApiUser
) -> None:
    rx = prescription((AMLO, 7), status="approved")
    put(server, rx)
    first = batches(State(pharmacist), AMLO)[-1]
    # Meanwhile (the desk is offline) the doctor cancels the prescription on the server.
    doctor = ApiUser(server.url, "doctor1")
    try:
        cancelled = doctor.push_one("rx.cancel", {"rx_id": rx.id, "reason": "医生撤销处方"})
    finally:
        doctor.close()
    assert cancelled["status"] == "applied", cancelled
    handed_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    outcome = dispense(
        pharmacist,
        rx,
        dispensed_at=handed_at.isoformat(),
        lines=[{"line_no": 0, "batches": [{"batch_no": first["batch_no"], "quantity": 7}]}],
    )
    assert outcome["status"] == "applied_with_warning", outcome
    assert any("已转入待处理列表" in w for w in outcome["warnings"])
    state = State(pharmacist)
    record = state.of("dispense", rx_id=rx.id)[0]
    assert record["conflict_status"] == "open"
    assert [c["kind"] for c in record["conflicts"]] == ["rx_not_dispensable"]
    assert state.one("rx", rx.id)["status"] == "cancelled"
    assert state.one("stock_batch", first["id"])["quantity"] == first["quantity"] - 7
    closing = {"dispense_id": record["id"], "note": "已电话联系医生，药品已发出"}
    own = pharmacist.push_one("dispense.resolve", closing)  # not the pharmacist who dispensed
    assert own["status"] == "rejected" and own["code"] == "same_person", own
    second = ApiUser(server.url, "pharmacist3")
    try:
        resolved = second.push_one("dispense.resolve", closing)
    finally:
        second.close()
    assert resolved["status"] == "applied", resolved
    assert State(pharmacist).one("dispense", record["id"])["conflict_status"] == "resolved"


def test_two_offline_desks_dispensing_the_same_last_stock_go_negative_and_are_flagged(
    server: ServerProcess, pharmacist: ApiUser
) -> None:
    receive(pharmacist, AMOX, "LAST-ONE", "2027-01-31", 1)  # 24 capsules
    rx1 = prescription((AMOX, 3), status="approved", patient_id="patient-1")
    rx2 = prescription((AMOX, 3), status="approved", patient_id="patient-2")
    put(server, rx1, rx2)
    put(server, signing_key_row(PHARMACIST3, generate_keypair(PIN)))
    other_desk = ApiUser(server.url, "pharmacist3")
    try:
        take_all = [{"line_no": 0, "batches": [{"batch_no": "LAST-ONE", "quantity": 24}]}]
        a = dispense(pharmacist, rx1, lines=take_all)
        b = dispense(other_desk, rx2, lines=take_all)
    finally:
        other_desk.close()
    assert a["status"] == "applied", a
    assert b["status"] == "applied_with_warning", b
    assert b["result"]["conflicts"][0]["kind"] == "negative_stock"
    state = State(pharmacist)
    batch = next(x for x in batches(state, AMOX) if x["batch_no"] == "LAST-ONE")
    assert batch["quantity"] == -24
    flagged = [m for m in state.of("stock_movement", rx_id=rx2.id) if m["flagged"]]
    assert len(flagged) == 1 and flagged[0]["quantity"] == -24
    assert state.of("dispense", rx_id=rx2.id)[0]["conflict_status"] == "open"


def test_an_approved_refund_puts_the_drugs_back_into_their_batch(
    server: ServerProcess, pharmacist: ApiUser
) -> None:
    receive(pharmacist, AMLO, "RF-1", "2026-12-31", 3)
    rx = prescription((AMLO, 14), status="approved")
    put(server, rx)
    outcome = dispense(
        pharmacist, rx, lines=[{"line_no": 0, "override_batch_no": "RF-1", "override_reason": "近效期优先"}]
    )
    assert outcome["status"] == "applied", outcome
    refund_id = new_id()
    asked = pharmacist.push_one(
        "rx.refund_request",
        {
            "id": refund_id,
            "rx_id": rx.id,
            "reason_code": "adverse_reaction",
            "reason": "服药后头晕",
            "lines": [{"line_no": 0, "quantity": 14}],
        },
    )
    assert asked["status"] == "applied", asked
    review = {"refund_id": refund_id, "decision": "approve", "note": "同意"}
    own = pharmacist.push_one("rx.refund_review", review)  # who asked does not approve
    assert own["status"] == "rejected" and own["code"] == "same_person", own
    second = ApiUser(server.url, "pharmacist3")
    approved = second.push_one("rx.refund_review", review)
    assert approved["status"] == "applied", approved
    state = State(pharmacist)
    batch = next(x for x in batches(state, AMLO) if x["batch_no"] == "RF-1")
    assert batch["quantity"] == 21
    returns = [m for m in state.of("stock_movement", rx_id=rx.id) if m["kind"] == "return"]
    dispensed = {m["id"] for m in state.of("stock_movement", rx_id=rx.id) if m["kind"] == "dispense"}
    assert sum(m["quantity"] for m in returns) == 14 and {m["reverses"] for m in returns} <= dispensed
    assert state.one("rx", rx.id)["status"] == "refunded"
    again = second.push_one("rx.refund_review", {"refund_id": refund_id, "decision": "approve"})
    second.close()
    assert again["status"] == "rejected" and again["code"] == "bad_transition"


def test_stocktake_books_the_difference_as_of_the_count(server: ServerProcess, pharmacist: ApiUser) -> None:
    counted_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    receive(pharmacist, AMLO, "CNT-1", "2027-10-31", 4, counted_at - dt.timedelta(hours=2))  # 28 tablets
    rx = prescription((AMLO, 7), status="approved")
    put(server, rx)
    after_count = (counted_at + dt.timedelta(minutes=10)).isoformat()
    dispense(
        pharmacist,
        rx,
        dispensed_at=after_count,
        lines=[{"line_no": 0, "batches": [{"batch_no": "CNT-1", "quantity": 7}]}],
    )
    take_id = new_id()
    outcome = pharmacist.push_one(
        "stock.count",
        {
            "id": take_id,
            "pharmacy_id": MAIN_PHARMACY,
            "counted_at": counted_at.isoformat(),
            "lines": [{"drug_id": drug(AMLO).id, "batch_no": "CNT-1", "counted": 25}],
        },
    )
    assert outcome["status"] == "applied", outcome
    assert outcome["result"]["adjustments"] == [
        {"drug_id": drug(AMLO).id, "batch_no": "CNT-1", "book": 28, "adjustment": -3}
    ]
    state = State(pharmacist)
    assert next(x for x in batches(state, AMLO) if x["batch_no"] == "CNT-1")["quantity"] == 18
    take = state.one("stocktake", take_id)
    assert take["lines"][0]["counted"] == 25


def test_delivery_is_created_booked_with_the_stub_courier_and_tracked(
    server: ServerProcess, pharmacist: ApiUser
) -> None:
    rx = prescription((AMLO, 7), status="dispensed")
    put(server, rx)
    receiver = {
        "name": "王小明",
        "mobile": "13912345678",
        "province": "浙江省",
        "city": "华安市",
        "district": "西湖区",
        "detail": "文三路 188 号 3 单元 502",
    }
    bad = pharmacist.push_one(
        "delivery.create",
        {
            "id": new_id(),
            "rx_id": rx.id,
            "pharmacy_id": MAIN_PHARMACY,
            "receiver": {**receiver, "mobile": "1234", "detail": ""},
        },
    )
    assert bad["status"] == "rejected" and "手机号" in bad["message"] and "详细地址" in bad["message"]
    delivery_id = new_id()
    created = pharmacist.push_one(
        "delivery.create",
        {"id": delivery_id, "rx_id": rx.id, "pharmacy_id": MAIN_PHARMACY, "receiver": receiver},
    )
    assert created["status"] == "applied", created
    row = Delivery.model_validate(State(pharmacist).one("delivery", delivery_id))
    assert row.status == "confirmed" and row.items[0].quantity == 1 and row.items[0].unit == "盒"
    courier = StubCourier()  # the desk books the courier off the GUI thread, then records the booking
    booking = courier.create_order(delivery_order(row))
    shipped = pharmacist.push_one(
        "delivery.ship",
        {
            "delivery_id": delivery_id,
            "courier": booking.courier,
            "waybill_no": booking.waybill_no,
            "sort_code": booking.sort_code,
            "handed_over": True,
        },
    )
    assert shipped["status"] == "applied" and shipped["result"]["status"] == "shipped", shipped
    courier.push(booking.waybill_no, TrackingEvent("delivered", dt.datetime.now(dt.UTC), text="已签收"))
    events = [
        {"status": e.status, "at": e.at.isoformat(), "text": e.text}
        for e in courier.track(booking.waybill_no)
    ]
    tracked = pharmacist.push_one("delivery.track", {"delivery_id": delivery_id, "events": events})
    assert tracked["result"]["status"] == "delivered", tracked
    final = State(pharmacist).one("delivery", delivery_id)
    assert final["waybill_no"] == booking.waybill_no
    assert [h["status"] for h in final["history"]] == ["draft", "confirmed", "placed", "shipped", "delivered"]
    cancel = pharmacist.push_one("delivery.cancel", {"delivery_id": delivery_id, "reason": "患者改为自取"})
    assert cancel["status"] == "rejected"


def test_only_pharmacists_may_move_stock(server: ServerProcess) -> None:
    doctor = ApiUser(server.url, "doctor1")
    try:
        outcome = doctor.push_one(
            "stock.move",
            {
                "id": new_id(),
                "pharmacy_id": MAIN_PHARMACY,
                "kind": "scrap",
                "reason": "x",
                "lines": [{"drug_id": drug(AMOX).id, "batch_no": "B", "quantity": 1}],
            },
        )
    finally:
        doctor.close()
    assert outcome["status"] == "rejected" and outcome["code"] == "forbidden"


def test_bad_pharmacy_input_is_refused_with_a_clear_message_and_writes_nothing(
    server: ServerProcess, pharmacist: ApiUser
) -> None:
    rx = prescription((AMLO, 7), status="approved")
    put(server, rx)
    before = State(pharmacist)
    receipt_id = new_id()
    expired = pharmacist.push_one(
        "stock.receive",
        {"id": receipt_id, "pharmacy_id": MAIN_PHARMACY, "supplier": "国药控股",
         "lines": [{"drug_id": drug(AMLO).id, "batch_no": "OLD-1", "expiry": "2020-01-31", "quantity": 1, "price": "1"}]},
    )  # fmt: skip
    assert (
        expired["code"] == "expired_on_arrival"
        and "OLD-1" in expired["message"]
        and "已过期" in expired["message"]
    )
    naive = dispense(pharmacist, rx, dispensed_at="2026-11-22T09:00:00")
    assert naive["code"] == "invalid_args" and "dispensed_at" in naive["message"]
    no_line = dispense(pharmacist, rx, lines=[{"line_no": 3}])
    assert no_line["code"] == "bad_line" and "第 4 行" in no_line["message"]
    no_reason = dispense(pharmacist, rx, lines=[{"line_no": 0, "override_batch_no": "X"}])
    assert no_reason["code"] == "stock_reason_required"
    too_much = pharmacist.push_one(
        "rx.refund_request",
        {
            "id": new_id(),
            "rx_id": rx.id,
            "reason_code": "patient_request",
            "lines": [{"line_no": 0, "quantity": 1}],
        },
    )
    assert too_much["code"] == "refund_too_much" and "最多可退 0" in too_much["message"]
    after = State(pharmacist)
    assert after.of("stock_movement", source_id=receipt_id) == []
    assert after.of("dispense", rx_id=rx.id) == [] and after.of("refund", rx_id=rx.id) == []
    assert after.one("rx", rx.id) == before.one("rx", rx.id)


def test_payment_before_the_code_round_trips_through_the_server(
    server: ServerProcess, pharmacist: ApiUser
) -> None:
    """东院门诊药房 takes payment before the pickup code (demo seed): approval issues none, ``rx.pay`` does;
    the same payment reference again changes nothing, a wrong amount and a nurse are refused."""
    from server_stub.services.entities import ServerState
    from shared.domain.entities import Pharmacy, PickupCodeState
    from shared.domain.pharmacy import pickup_state_id
    from tests.pharmacy_domain.support import EAST, EAST_PHARMACY, PHARMACIST2

    rx = prescription((AMOX, 3), pharmacy_id=EAST_PHARMACY, campus_id=EAST).model_copy(
        update={"total_amount": "31.50"}
    )
    put(server, rx, signing_key_row(PHARMACIST2))
    pharmacist = ApiUser(server.url, "pharmacist2")  # works at 东院 (EAST), where the prescription is

    def read(fn: Any) -> Any:
        db = Database.open(server.db_url, pool_size=1)
        try:
            with db.read() as conn:
                return fn(ServerState(conn))
        finally:
            db.dispose()

    assert read(lambda s: s.get(Pharmacy, EAST_PHARMACY).payment_required) is True
    review = pharmacist.push_one("rx.review", review_args(rx, pickup_code=None, reviewer_id=PHARMACIST2))
    assert review["status"] == "applied", review
    assert review["result"]["pickup_code_issued"] is False and review["result"]["payment_required"] is True
    assert read(lambda s: s.get(PickupCodeState, pickup_state_id(rx.id))) is None

    pay = {
        "rx_id": rx.id,
        "payment_ref": "QRPY000000000042",
        "method": "qr",
        "amount": "31.50",
        "pickup_code": "730518",
    }
    nurse = ApiUser(server.url, "nurse1")
    try:
        refused = nurse.push_one("rx.pay", pay)
    finally:
        nurse.close()
    assert refused["status"] == "rejected", refused
    wrong = pharmacist.push_one("rx.pay", {**pay, "amount": "30.00"})
    assert wrong["status"] == "rejected" and wrong["code"] == "wrong_amount", wrong

    paid = pharmacist.push_one("rx.pay", pay)
    assert paid["status"] == "applied" and paid["result"]["pickup_code_issued"] is True, paid
    row = read(lambda s: s.get(Prescription, rx.id))
    assert row.payment_ref == "QRPY000000000042" and row.amount_paid == "31.50" and row.payment_method == "qr"
    assert row.paid_at is not None and row.pickup_code_hash == code_digest(rx.id, "730518")
    code_row = read(lambda s: s.get(PickupCodeState, pickup_state_id(rx.id)))
    assert code_row is not None and code_row.digest == code_digest(rx.id, "730518")

    again = pharmacist.push_one("rx.pay", {**pay, "pickup_code": "111222"})
    assert again["status"] == "applied" and again["result"]["repeated"] is True, again
    assert read(lambda s: s.get(Prescription, rx.id)).version == row.version
    other = pharmacist.push_one("rx.pay", {**pay, "payment_ref": "CASH000000000001"})
    assert other["status"] == "rejected" and other["code"] == "already_paid", other


def test_an_administrator_sets_payment_first_and_pharmacists_see_it(
    server: ServerProcess, pharmacist: ApiUser
) -> None:
    from shared.domain.entities import Pharmacy

    refused = pharmacist.push_one(
        "pharmacy.configure", {"pharmacy_id": MAIN_PHARMACY, "payment_required": True}
    )
    assert refused["status"] == "rejected", refused
    admin = ApiUser(server.url, "admin")
    try:
        done = admin.push_one("pharmacy.configure", {"pharmacy_id": MAIN_PHARMACY, "payment_required": True})
    finally:
        admin.close()
    assert done["status"] == "applied" and done["result"]["changed"] is True, done
    seen = State(pharmacist).one("pharmacy", MAIN_PHARMACY)
    assert seen["payment_required"] is True and Pharmacy.model_validate(seen).version == 2
    rx = prescription((AMOX, 3))
    put(server, rx)
    review = pharmacist.push_one("rx.review", review_args(rx, pickup_code="482913"))
    assert review["status"] == "applied" and review["result"]["payment_required"] is True, review
