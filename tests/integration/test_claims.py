"""The server re-checks every claim a PC makes, against a real server on loopback (demo data seeded):
campus of the login and of every object a mutation touches, ownership and separation of duties, the
evidence behind a dispense, the kiosk's check-in window. PostgreSQL runs the storage-bound ones too."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import httpx

from server_stub.db.engine import Database
from server_stub.services.entities import ServerState, bulk_insert
from shared.domain.entities import (
    Appointment,
    ClinicalOrder,
    Entity,
    PickupCodeState,
    Prescription,
    Queue,
    QueueTicket,
    Staff,
    Visit,
)
from shared.domain.pharmacy import pickup_state_id
from shared.domain.queue_rules import check_in_window
from shared.ids import new_id, reference_id
from tests.pharmacy_domain.support import (
    EAST,
    EAST_PHARMACY,
    MAIN,
    MAIN_PHARMACY,
    PHARMACIST,
    PHARMACIST2,
    PICKUP_CODE,
    pickup_code_row,
    prescription,
    review_args,
    signing_key_row,
)
from tests.support.api import DEMO_PASSWORD, ApiUser
from tests.support.server import ServerProcess

AMLO = "苯磺酸氨氯地平片"
MORPHINE = "盐酸吗啡片"
DOCTOR1 = reference_id("staff", "doctor1")


def put(server: ServerProcess, *rows: Entity) -> None:
    """Insert rows into the running server's database, as the clinical side would have left them."""
    db = Database.open(server.db_url, pool_size=1)
    try:
        with db.write() as conn:
            bulk_insert(conn, list(rows))
    finally:
        db.dispose()


def read(server: ServerProcess, fn: Any) -> Any:
    db = Database.open(server.db_url, pool_size=1)
    try:
        with db.read() as conn:
            return fn(ServerState(conn))
    finally:
        db.dispose()


def login(server: ServerProcess, username: str, **kw: Any) -> ApiUser:
    return ApiUser(server.url, username, **kw)


def approved(*items: tuple[str, int], campus: str = MAIN, pharmacy: str = MAIN_PHARMACY) -> Prescription:
    """An approved prescription as the review leaves it (its pickup code goes in with ``put``)."""
    rx = prescription(*items, status="approved", campus_id=campus, pharmacy_id=pharmacy)
    return rx.model_copy(update={"reviewed_by": PHARMACIST, "reviewed_at": rx.signed_at})


def dispense_args(rx: Prescription, **extra: Any) -> dict[str, Any]:
    return {"id": new_id(), "rx_id": rx.id, "pharmacy_id": rx.pharmacy_id, **extra}


def handed(server: ServerProcess, rx: Prescription) -> list[dict[str, Any]]:
    """``lines`` as the desk sends them: every line in full, from a shelf batch of the MAIN pharmacy."""
    from shared.domain.entities import StockBatch
    from shared.domain.pharmacy import rx_line_facts

    lines = []
    for fact in rx_line_facts(rx):
        batch = read(
            server,
            lambda s, f=fact: max(
                (b for b in s.find(StockBatch, pharmacy_id=MAIN_PHARMACY, drug_id=f.drug_id)),
                key=lambda b: (b.expiry >= dt.date.today() + dt.timedelta(days=60), b.quantity),
            ),
        )
        lines.append(
            {
                "line_no": fact.line_no,
                "quantity": fact.prescribed,
                "batches": [{"batch_no": batch.batch_no, "quantity": fact.prescribed}],
            }
        )
    return lines


def dispense_row(server: ServerProcess, dispense_id: str) -> dict[str, Any]:
    from shared.domain.entities import Dispense

    row = read(server, lambda s: s.get(Dispense, dispense_id))
    assert row is not None
    return row.model_dump(mode="json")  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------- dispense


def test_a_claimed_pickup_check_without_evidence_goes_to_a_second_pharmacists_review(
    any_server: ServerProcess,
) -> None:
    rx = approved((AMLO, 7))
    put(any_server, rx, pickup_code_row(rx))
    pharmacist = login(any_server, "pharmacist1")
    other = login(any_server, "pharmacist3")
    try:
        args = dispense_args(rx, pickup_verified=True)  # the PC says so; nothing shows it
        outcome = pharmacist.push_one("rx.dispense", args)
        assert outcome["status"] == "applied_with_warning", outcome
        record = dispense_row(any_server, args["id"])
        assert record["pickup_verified"] is False
        assert [c["kind"] for c in record["conflicts"]] == ["pickup_unverified"]
        assert record["conflict_status"] == "open"
        closing = {"dispense_id": args["id"], "note": "核对身份证后补录"}
        own = pharmacist.push_one("dispense.resolve", closing)
        assert own["status"] == "rejected" and own["code"] == "same_person", own
        second = other.push_one("dispense.resolve", closing)
        assert second["status"] == "applied", second
        assert dispense_row(any_server, args["id"])["conflict_status"] == "resolved"
    finally:
        pharmacist.close()
        other.close()


def test_the_pickup_code_carried_or_verified_before_is_checked_and_used_once(
    any_server: ServerProcess,
) -> None:
    carried, checked, wrong = approved((AMLO, 7)), approved((AMLO, 7)), approved((AMLO, 7))
    put(any_server, carried, checked, wrong, *(pickup_code_row(r) for r in (carried, checked, wrong)))
    pharmacist = login(any_server, "pharmacist1")
    other_desk = login(any_server, "pharmacist1")  # the same pharmacist's second PC
    try:
        first = dispense_args(carried, pickup_code=PICKUP_CODE)
        assert pharmacist.push_one("rx.dispense", first)["status"] == "applied"
        assert dispense_row(any_server, first["id"])["pickup_verified"] is True
        code = read(any_server, lambda s: s.get(PickupCodeState, pickup_state_id(carried.id)))
        assert code.events[-1].kind == "dispensed" and code.used_at is not None
        # The same code again, from another PC that was offline: it stands, unverified, for review.
        again = dispense_args(carried, pickup_code=PICKUP_CODE, lines=handed(any_server, carried))
        outcome = other_desk.push_one("rx.dispense", again)
        assert outcome["status"] == "applied_with_warning", outcome
        record = dispense_row(any_server, again["id"])
        assert record["pickup_verified"] is False and record["conflict_status"] == "open"
        assert {"rx_not_dispensable", "over_dispensed", "pickup_unverified"} <= {
            c["kind"] for c in record["conflicts"]
        }

        verified = pharmacist.push_one("rx.pickup_verify", {"rx_id": checked.id, "code": PICKUP_CODE})
        assert verified["result"]["ok"] is True, verified
        after_check = dispense_args(checked)  # no code: the verification before it is the evidence
        assert pharmacist.push_one("rx.dispense", after_check)["status"] == "applied"
        assert dispense_row(any_server, after_check["id"])["pickup_verified"] is True

        guessed = dispense_args(wrong, pickup_code="135790", pickup_verified=True)
        assert pharmacist.push_one("rx.dispense", guessed)["status"] == "applied_with_warning"
        assert dispense_row(any_server, guessed["id"])["pickup_verified"] is False
    finally:
        pharmacist.close()
        other_desk.close()


def test_a_dispense_that_cannot_have_happened_is_refused(server: ServerProcess) -> None:
    draft = prescription((AMLO, 7), status="draft")
    signed = prescription((AMLO, 7), status="signed")
    rejected = prescription((AMLO, 7), status="rejected")
    never = prescription((AMLO, 7), status="cancelled")  # cancelled before anyone approved it
    big, twice = approved((AMLO, 7)), approved((AMLO, 7))
    east = approved((AMLO, 7), campus=EAST, pharmacy=EAST_PHARMACY)
    put(
        server,
        draft,
        signed,
        rejected,
        never,
        big,
        twice,
        east,
        *(pickup_code_row(r) for r in (big, twice, east)),
    )
    pharmacist = login(server, "pharmacist1")
    east_pharmacist = login(server, "pharmacist2")
    try:
        for rx in (draft, signed, rejected, never):
            outcome = pharmacist.push_one("rx.dispense", dispense_args(rx, pickup_code=PICKUP_CODE))
            assert outcome["status"] == "rejected" and outcome["code"] == "rx_never_approved", outcome
        huge = {"line_no": 0, "batches": [{"batch_no": "X1", "quantity": 1_000_000, "expiry": "2027-06-30"}]}
        outcome = pharmacist.push_one(
            "rx.dispense", dispense_args(big, pickup_code=PICKUP_CODE, lines=[huge])
        )
        assert outcome["status"] == "rejected" and outcome["code"] == "more_than_prescribed", outcome
        assert pharmacist.push_one("rx.dispense", dispense_args(twice, pickup_code=PICKUP_CODE))[
            "status"
        ] in (
            "applied",
            "applied_with_warning",
        )
        second = dispense_args(twice, pickup_code=PICKUP_CODE, lines=handed(server, twice))
        outcome = pharmacist.push_one("rx.dispense", second)  # this PC knew it had handed it all over
        assert outcome["status"] == "rejected" and outcome["code"] == "already_dispensed", outcome
        # Another campus's pharmacy, and another campus's prescription.
        at_east = dispense_args(big, pickup_code=PICKUP_CODE, pharmacy_id=EAST_PHARMACY)
        outcome = pharmacist.push_one("rx.dispense", at_east)
        assert outcome["status"] == "rejected" and outcome["code"] == "wrong_campus", outcome
        outcome = east_pharmacist.push_one("rx.dispense", dispense_args(big, pickup_code=PICKUP_CODE))
        assert outcome["status"] == "rejected" and outcome["code"] == "wrong_campus", outcome
        outcome = pharmacist.push_one("rx.dispense", dispense_args(east, pickup_code=PICKUP_CODE))
        assert outcome["status"] == "rejected" and outcome["code"] == "wrong_campus", outcome
    finally:
        pharmacist.close()
        east_pharmacist.close()


def test_controlled_drugs_need_a_verified_code_and_an_approved_prescription(server: ServerProcess) -> None:
    rx = approved((MORPHINE, 3))
    cancelled = approved((MORPHINE, 3)).model_copy(update={"status": "cancelled"})
    put(server, rx, cancelled, pickup_code_row(rx), pickup_code_row(cancelled))
    pharmacist = login(server, "pharmacist1")
    taken = {"line_no": 0, "batches": [{"batch_no": "MF-1", "quantity": 10, "expiry": "2027-06-30"}]}
    try:
        for claim in ({"pickup_verified": True}, {"handover": "delivery"}, {"pickup_code": "135790"}):
            outcome = pharmacist.push_one("rx.dispense", dispense_args(rx, lines=[taken], **claim))
            assert outcome["status"] == "rejected" and outcome["code"] == "controlled_unverified", outcome
        outcome = pharmacist.push_one(
            "rx.dispense", dispense_args(cancelled, lines=[taken], pickup_code=PICKUP_CODE)
        )
        assert outcome["status"] == "rejected" and outcome["code"] == "controlled_unverified", outcome
        shown = dispense_args(rx, lines=[taken], pickup_code=PICKUP_CODE)
        outcome = pharmacist.push_one("rx.dispense", shown)
        assert outcome["status"] != "rejected", outcome
        assert dispense_row(server, shown["id"])["pickup_verified"] is True
    finally:
        pharmacist.close()


def test_the_stored_pickup_digest_is_a_slow_salted_hash(server: ServerProcess) -> None:
    rx = prescription((AMLO, 7))
    put(server, rx, signing_key_row())
    pharmacist = login(server, "pharmacist1")
    try:
        outcome = pharmacist.push_one("rx.review", review_args(rx, pickup_code="582014"))
        assert outcome["status"] == "applied", outcome
    finally:
        pharmacist.close()
    stored = read(server, lambda s: s.get(PickupCodeState, pickup_state_id(rx.id))).digest
    fast = hashlib.sha256(f"pickup\x1f{rx.id}\x1f582014".encode()).hexdigest()
    assert fast not in stored  # one SHA-256 per guess gave the code up in seconds
    # scrypt with 16 MiB per guess, salted with the prescription: a million guesses take core-hours
    slow = hashlib.scrypt(
        b"582014", salt=f"clinic-pickup\x1f{rx.id}".encode(), n=2**14, r=8, p=1, maxmem=2**26, dklen=32
    )
    assert stored == "s1$" + slow.hex()


# ------------------------------------------------------------------------ ownership, duties, roles


def _visit_with_rx(server: ServerProcess) -> tuple[Visit, Prescription]:
    doctor = read(server, lambda s: s.get(Staff, DOCTOR1))
    now = dt.datetime.now(dt.UTC)
    visit = Visit(
        id=new_id(),
        patient_id=reference_id("patient", "1"),
        campus_id=MAIN,
        department_id=doctor.department_id,
        doctor_id=DOCTOR1,
        visit_date=now.date(),
        opened_at=now,
        opened_by=DOCTOR1,
    )
    rx = prescription((AMLO, 7), status="signed", patient_id=visit.patient_id).model_copy(
        update={"visit_id": visit.id}
    )
    put(server, visit, rx)
    return visit, rx


def test_withdrawing_a_visit_never_cancels_another_doctors_signed_prescription(server: ServerProcess) -> None:
    visit, rx = _visit_with_rx(server)
    withdraw = {"visit_id": visit.id, "reason": "患者离开"}
    for username in ("nurse1", "doctor2", "admin"):  # a MAIN nurse, another MAIN doctor, the admin
        user = login(server, username)
        try:
            outcome = user.push_one("visit.withdraw", withdraw)
        finally:
            user.close()
        assert outcome["status"] == "rejected" and outcome["code"] in ("not_owner", "forbidden"), outcome
    assert read(server, lambda s: s.get(Prescription, rx.id)).status == "signed"
    doctor = login(server, "doctor1")
    try:
        outcome = doctor.push_one("visit.withdraw", withdraw)
    finally:
        doctor.close()
    assert outcome["status"] == "applied", outcome
    assert read(server, lambda s: s.get(Prescription, rx.id)).status == "cancelled"


def test_an_order_is_cancelled_by_its_doctor_and_admin_neither_cancels_records_results_nor_takes_money(
    server: ServerProcess,
) -> None:
    from tests.clinical.support import exam_item_id

    visit, rx = _visit_with_rx(server)
    doctor, colleague, admin = login(server, "doctor1"), login(server, "doctor2"), login(server, "admin")
    try:
        order = {"id": new_id(), "visit_id": visit.id, "exam_item_id": exam_item_id("LAB0001")}
        assert doctor.push_one("order.create", order)["status"] == "applied"
        cancel = {"order_id": order["id"], "reason": "重复开单"}
        outcome = colleague.push_one("order.cancel", cancel)
        assert outcome["status"] == "rejected" and outcome["code"] == "not_owner", outcome
        for name, args in (
            ("order.cancel", cancel),
            ("rx.cancel", {"rx_id": rx.id, "reason": "管理员撤销"}),
            ("order.result", {"order_id": order["id"], "result_text": "正常"}),
            ("rx.pay", {"rx_id": rx.id, "payment_ref": "CASH000000000001", "method": "cash", "amount": "1"}),
        ):
            outcome = admin.push_one(name, args)
            assert outcome["status"] == "rejected" and outcome["code"] == "forbidden", (name, outcome)
        outcome = colleague.push_one("rx.cancel", {"rx_id": rx.id, "reason": "代撤"})
        assert outcome["status"] == "rejected", outcome
        assert doctor.push_one("order.cancel", cancel)["status"] == "applied"
    finally:
        doctor.close()
        colleague.close()
        admin.close()
    assert read(server, lambda s: s.get(ClinicalOrder, order["id"])).status == "cancelled"
    assert read(server, lambda s: s.get(Prescription, rx.id)).status == "signed"


# ------------------------------------------------------------------------------------------ campus


def test_login_works_only_at_an_assigned_campus_with_one_message_for_the_rest(
    any_server: ServerProcess,
) -> None:
    http = httpx.Client(base_url=any_server.url, timeout=30.0)
    try:
        messages = set()
        for campus in (EAST, "no-such-campus"):
            response = http.post(
                "/api/v1/auth/login",
                json={
                    "username": "nurse1",
                    "password": DEMO_PASSWORD,
                    "device_id": "pc-1",
                    "campus_id": campus,
                },
            )
            assert response.status_code == 401, response.text
            assert response.json()["code"] == "campus_refused"
            messages.add(response.json()["message"])
        assert len(messages) == 1
    finally:
        http.close()
    home = login(any_server, "nurse1")
    both = login(any_server, "admin", campus_id=EAST)  # IT is assigned to both campuses
    try:
        assert home.campus_id == MAIN and both.campus_id == EAST
    finally:
        home.close()
        both.close()


def _east_ticket(server: ServerProcess) -> str:
    nurse = login(server, "nurse2")  # EAST
    queue_id = read(
        server, lambda s: next(q.id for q in s.find(Queue, campus_id=EAST) if q.kind == "department")
    )
    ticket_id = new_id()
    try:
        args = {"id": ticket_id, "queue_id": queue_id, "patient_id": reference_id("patient", "2")}
        outcome = nurse.push_one("queue.check_in", args)
    finally:
        nurse.close()
    assert outcome["status"] in ("applied", "applied_with_warning"), outcome
    return ticket_id


def test_a_main_nurse_cannot_touch_an_east_ticket_nor_an_east_pharmacist_a_main_prescription(
    server: ServerProcess,
) -> None:
    ticket_id = _east_ticket(server)
    main_nurse = login(server, "nurse1")
    try:
        outcome = main_nurse.push_one("queue.cancel", {"ticket_id": ticket_id, "note": "误挂号"})
    finally:
        main_nurse.close()
    assert outcome["status"] == "rejected" and outcome["code"] == "wrong_campus", outcome
    rx = prescription((AMLO, 7))  # signed at MAIN
    put(server, rx, signing_key_row(PHARMACIST2))
    east = login(server, "pharmacist2")
    try:
        outcome = east.push_one("rx.review", review_args(rx, reviewer_id=PHARMACIST2))
    finally:
        east.close()
    assert outcome["status"] == "rejected" and outcome["code"] == "wrong_campus", outcome
    assert read(server, lambda s: s.get(Prescription, rx.id)).status == "signed"


# ------------------------------------------------------------------------------------------- kiosk


def test_a_kiosk_is_always_held_to_the_check_in_window_and_can_end_its_session(server: ServerProcess) -> None:
    now = dt.datetime.now(dt.UTC)

    def outside(state: ServerState) -> Appointment:
        """A MAIN appointment today whose check-in window does not hold now (the one farthest away)."""
        queue = next(q for q in state.find(Queue, campus_id=MAIN) if q.kind == "department")
        candidates = []
        for appointment in state.find(Appointment, campus_id=MAIN):
            if abs(appointment.slot_time - now) > dt.timedelta(hours=20):
                continue  # another day's
            if state.find(QueueTicket, appointment_id=appointment.id):
                continue  # already checked in: a repeat scan reprints its ticket
            opens, closes = check_in_window(queue, appointment)
            if not opens <= now <= closes:
                candidates.append(appointment)
        return max(candidates, key=lambda a: abs((a.slot_time - now).total_seconds()))

    appointment = read(server, outside)
    kiosk = login(server, "kiosk1")
    try:
        response = kiosk.http.post(
            "/api/v1/queue/check-in", json={"appointment_number": appointment.number, "within_window": False}
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "outside_check_in_window"
        assert kiosk.http.post("/api/v1/auth/logout").status_code == 204
        assert kiosk.http.get("/api/v1/queue").status_code == 401  # the token is revoked
    finally:
        kiosk.close()
