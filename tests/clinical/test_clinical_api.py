"""Prescriptions, signatures, notes and orders through a real server on loopback (demo data seeded): the
generic push runs the shared handlers, so what a PC checks optimistically the server enforces."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from shared.domain.clinical import draft_of, next_rx_number, parse_rx_number, rx_signed_content
from shared.domain.entities import Patient, Prescription, Staff
from shared.domain.pharmacy import review_signed_content
from shared.ids import new_id, reference_id
from shared.security.signing import canonical_bytes, generate_keypair, sign, verify
from tests.clinical.support import (
    AMOX,
    PIN,
    create_args,
    doctor_key,
    draft,
    first_drugs,
    icd,
    line,
    now,
    other_key,
    register_args,
    sign_args,
)
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess

MAIN_PHARMACY = reference_id("pharmacy", "MAIN-WY")


def _user(server: ServerProcess, username: str, **kw: Any) -> ApiUser:
    user = ApiUser(server.url, username, **kw)
    user.http.headers["Accept-Language"] = "en"
    return user


@pytest.fixture
def doctor(server: ServerProcess) -> Iterator[ApiUser]:
    user = _user(server, "doctor1")
    outcome = user.push_one("signing_key.register", register_args(user.staff["id"], doctor_key()))
    assert outcome["status"] == "applied", outcome
    user.key_id = outcome["result"]["key_id"]  # type: ignore[attr-defined]
    yield user
    user.close()


def _patient_and_visit(user: ApiUser, **patient: Any) -> tuple[Patient, str]:
    args = patient_args(**patient)
    assert user.push_one("patient.register", args)["status"] in ("applied", "applied_with_warning")
    visit_id = new_id()
    opened = user.push_one(
        "visit.open",
        {
            "id": visit_id,
            "patient_id": args["id"],
            "department_id": user.staff["department_id"],
            "doctor_id": user.staff["id"],
        },
    )
    assert opened["status"] == "applied", opened
    row = Patient(
        id=args["id"],
        name=args["name"],
        sex=args["sex"],
        birth_date=dt.date.fromisoformat(args["birth_date"]),
        allergies=sorted(set(patient.get("allergies", []))),
    )
    return row, visit_id


def _staff(user: ApiUser) -> Staff:
    return Staff.model_validate({k: v for k, v in user.staff.items() if k in Staff.model_fields})


def _rows(user: ApiUser, kind: str) -> dict[str, dict[str, Any]]:
    changes, _ = user.pull_all()
    return {c["id"]: c["data"] for c in changes if c["kind"] == kind}


def test_a_signed_prescription_is_accepted_and_verifiable_by_the_pharmacy(
    server: ServerProcess, doctor: ApiUser
) -> None:
    patient, visit_id = _patient_and_visit(doctor)
    rx = draft(
        patient,
        _staff(doctor),
        [line(n) for n in first_drugs(3)],
        device_id=doctor.device_id,
        visit_id=visit_id,
        diagnoses_=[icd("I10")],
    )
    response = doctor.push(
        doctor.envelope("rx.create", create_args(rx, pharmacy_id=MAIN_PHARMACY)),
        doctor.envelope("rx.sign", sign_args(rx, doctor.key_id)),  # type: ignore[attr-defined]
    )
    outcomes = response.json()["outcomes"]
    assert [o["status"] for o in outcomes] == ["applied", "applied"], outcomes
    assert outcomes[1]["result"]["status"] == "signed"
    pharmacist = _user(server, "pharmacist1")
    try:
        row = Prescription.model_validate(_rows(pharmacist, "rx")[rx.id])
        keys = _rows(pharmacist, "signing_key")
    finally:
        pharmacist.close()
    assert row.status == "signed" and row.number == rx.number and row.pharmacy_id == MAIN_PHARMACY
    public_key = keys[row.signing_key_id]["public_key"]  # type: ignore[index]
    assert row.signed_at is not None and row.signature_algorithm == "ed25519"
    assert verify(canonical_bytes(rx_signed_content(row, row.signed_at)), row.signature, public_key)
    assert not verify(canonical_bytes(draft_of(row)), row.signature, public_key)  # the time is signed too


def test_a_tampered_prescription_or_a_wrong_key_is_rejected_with_a_clear_message(doctor: ApiUser) -> None:
    patient, visit_id = _patient_and_visit(doctor)
    rx = draft(
        patient, _staff(doctor), [line(first_drugs(1)[0])], device_id=doctor.device_id, visit_id=visit_id
    )
    assert doctor.push_one("rx.create", create_args(rx))["status"] == "applied"
    tampered = rx.model_copy(update={"lines": (rx.lines[0].model_copy(update={"days": 2}),)})
    outcome = doctor.push_one("rx.sign", sign_args(tampered, doctor.key_id))  # type: ignore[attr-defined]
    assert outcome["status"] == "rejected" and outcome["code"] == "bad_signature"
    assert outcome["message"] == "Signature does not verify: the content changed or the key does not match"
    outcome = doctor.push_one("rx.sign", sign_args(rx, doctor.key_id, other_key()))  # type: ignore[attr-defined]
    assert (outcome["status"], outcome["code"]) == ("rejected", "bad_signature")
    doctor.http.headers["Accept-Language"] = "zh-CN"
    outcome = doctor.push_one("rx.sign", sign_args(tampered, doctor.key_id))  # type: ignore[attr-defined]
    assert outcome["message"] == "电子签名验证失败：内容与签名不符或公钥不匹配"
    assert doctor.push_one("rx.sign", sign_args(rx, doctor.key_id))["status"] == "applied"  # type: ignore[attr-defined]


def test_a_blocking_check_refuses_rx_create(doctor: ApiUser) -> None:
    patient, visit_id = _patient_and_visit(doctor, allergies=["青霉素"])
    rx = draft(patient, _staff(doctor), [line(AMOX)], device_id=doctor.device_id, visit_id=visit_id)
    outcome = doctor.push_one("rx.create", create_args(rx))
    assert (outcome["status"], outcome["code"]) == ("rejected", "rx_blocked")
    assert outcome["message"] == "The prescription has 1 blocking problem(s) and cannot be signed"
    assert [f["code"] for f in outcome["detail"]] == ["rx.allergy"]
    assert rx.id not in _rows(doctor, "rx")


def test_a_rejection_by_the_pharmacist_is_amended_and_signed_again(
    server: ServerProcess, doctor: ApiUser
) -> None:
    patient, visit_id = _patient_and_visit(doctor)
    names = first_drugs(3)
    rx = draft(
        patient, _staff(doctor), [line(n) for n in names[:2]], device_id=doctor.device_id, visit_id=visit_id
    )
    doctor.push(
        doctor.envelope("rx.create", create_args(rx)),
        doctor.envelope("rx.sign", sign_args(rx, doctor.key_id)),  # type: ignore[attr-defined]
    )
    pharmacist = _user(server, "pharmacist1")
    try:
        sealed = generate_keypair(PIN)
        registered = pharmacist.push_one(
            "signing_key.register", register_args(pharmacist.staff["id"], sealed)
        )
        assert registered["status"] == "applied", registered
        row = Prescription.model_validate(_rows(pharmacist, "rx")[rx.id])
        at = now()
        content = review_signed_content(
            row,
            decision="reject",
            reason_code="dose",
            reason="",
            reviewer_id=pharmacist.staff["id"],
            reviewed_at=at,
        )
        review = pharmacist.push_one(
            "rx.review",
            {
                "rx_id": rx.id,
                "decision": "reject",
                "reason_code": "dose",
                "reason": "",
                "reviewed_at": at.isoformat(),
                "signing_key_id": registered["result"]["key_id"],
                "signature": sign(canonical_bytes(content), sealed, PIN),
            },
        )
        assert review["status"] == "applied", review
    finally:
        pharmacist.close()
    rejected = Prescription.model_validate(_rows(doctor, "rx")[rx.id])
    assert rejected.status == "rejected" and rejected.review_reason_code == "dose"
    new_lines = [line(names[0], days=2).model_dump(mode="json"), line(names[2]).model_dump(mode="json")]
    amended = doctor.push_one("rx.amend", {"rx_id": rx.id, "lines": new_lines}, base_version=rejected.version)
    assert amended["status"] == "applied", amended
    row = Prescription.model_validate(_rows(doctor, "rx")[rx.id])
    assert row.status == "draft" and row.signature == ""
    signed = doctor.push_one("rx.sign", sign_args(draft_of(row), doctor.key_id))  # type: ignore[attr-defined]
    assert signed["status"] == "applied", signed
    row = Prescription.model_validate(_rows(doctor, "rx")[rx.id])
    assert (row.status, row.sign_count) == ("signed", 2)
    assert [ln["days"] for ln in row.lines] == [2, 3]


def test_prescriptions_written_offline_on_two_pcs_get_distinct_numbers(server: ServerProcess) -> None:
    """Each PC numbers from its own view only (as when offline); pushed later, none collides."""
    first, second = _user(server, "doctor1"), _user(server, "doctor1")
    other = _user(server, "doctor2")
    try:
        users = [first, second, other]
        for user, sealed in zip(users, (doctor_key(), None, other_key()), strict=True):
            if sealed is not None:
                outcome = user.push_one("signing_key.register", register_args(user.staff["id"], sealed))
                assert outcome["status"] == "applied", outcome
        patient, visit_id = _patient_and_visit(first)
        envelopes: dict[ApiUser, list[dict[str, Any]]] = {u: [] for u in users}
        numbers: list[str] = []
        for user in users:
            mine: list[str] = []
            for name in first_drugs(3):
                rx = draft(patient, _staff(user), [line(name)], device_id=user.device_id, existing=mine)
                mine.append(rx.number)
                envelopes[user].append(user.envelope("rx.create", create_args(rx)))
            numbers += mine
        for user in (other, second, first):
            outcomes = user.push(*envelopes[user]).json()["outcomes"]
            assert {o["status"] for o in outcomes} == {"applied"}, outcomes
        assert len(set(numbers)) == 9
        assert sorted(parse_rx_number(n)[2] for n in numbers) == [1, 1, 1, 2, 2, 2, 3, 3, 3]  # type: ignore[index]
        stored = {row["number"] for row in _rows(first, "rx").values()}
        assert set(numbers) <= stored
        day = dt.date.today()
        assert next_rx_number(stored, first.device_id, day) != next_rx_number(stored, second.device_id, day)
    finally:
        for user in (first, second, other):
            user.close()


def test_roles_a_nurse_cannot_prescribe_and_only_a_keys_owner_or_an_admin_revokes_it(
    server: ServerProcess, doctor: ApiUser
) -> None:
    patient, visit_id = _patient_and_visit(doctor)
    nurse = _user(server, "nurse1")
    try:
        rx = draft(
            patient, _staff(doctor), [line(first_drugs(1)[0])], device_id=nurse.device_id, visit_id=visit_id
        )
        outcome = nurse.push_one("rx.create", create_args(rx))
        assert (outcome["status"], outcome["code"]) == ("rejected", "forbidden")
        outcome = nurse.push_one("visit.withdraw", {"visit_id": visit_id, "reason": "患者离开"})
        assert outcome["status"] == "applied", outcome
    finally:
        nurse.close()
    other = _user(server, "doctor2")
    try:  # another doctor may not revoke this doctor's key (its owner and an admin may)
        outcome = other.push_one("signing_key.revoke", {"key_id": doctor.key_id, "reason": "x"})  # type: ignore[attr-defined]
        assert (outcome["status"], outcome["code"]) == ("rejected", "bad_signing_key")
    finally:
        other.close()
    admin = _user(server, "admin")
    try:
        outcome = admin.push_one("signing_key.revoke", {"key_id": doctor.key_id, "reason": "忘记 PIN"})  # type: ignore[attr-defined]
        assert outcome["status"] == "applied", outcome
    finally:
        admin.close()
    again = doctor.push_one("signing_key.register", register_args(doctor.staff["id"], other_key()))
    assert again["status"] == "applied", again


def test_a_consult_note_and_orders_round_trip(doctor: ApiUser) -> None:
    from tests.clinical.support import exam_item_id, note_sign_args

    patient, visit_id = _patient_and_visit(doctor)
    note_id = new_id()
    args = {
        "id": note_id,
        "visit_id": visit_id,
        "chief_complaint": "咳嗽三天，伴低热",
        "diagnoses": [{"code": "J06.9", "name": "急性上呼吸道感染"}],
    }
    assert doctor.push_one("emr.save", args)["status"] == "applied"
    assert doctor.push_one("emr.save", args | {"advice": "多饮水"}, base_version=1)["status"] == "applied"
    stale = doctor.push_one("emr.save", args | {"advice": "旧"}, base_version=1)
    assert (stale["status"], stale["code"]) == ("rejected", "version_conflict")
    order = {"id": new_id(), "visit_id": visit_id, "exam_item_id": exam_item_id("LAB0001"), "urgent": True}
    assert doctor.push_one("order.create", order)["status"] == "applied"
    from shared.domain.entities import EmrNote

    note = EmrNote.model_validate(_rows(doctor, "emr_note")[note_id])
    signed = doctor.push_one("emr.sign", note_sign_args(note, doctor.key_id))  # type: ignore[attr-defined]
    assert signed["status"] == "applied", signed
    rows = _rows(doctor, "emr_note")[note_id], _rows(doctor, "clinical_order")[order["id"]]
    assert rows[0]["status"] == "signed" and rows[0]["diagnoses"][0]["primary"] is True
    assert rows[1]["item_name"] == "血常规（五分类）" and rows[1]["urgent"] is True
