"""The clinical mutations as pure functions over an in-memory view (the same code runs on server and PC)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace as dt_replace
from decimal import Decimal

import pytest
from pydantic import ValidationError

from server_stub.seed.reference import diagnoses, drugs, exam_items
from shared.domain.clinical import draft_of, next_rx_number, parse_rx_number, rx_number, rx_signed_content
from shared.domain.entities import (
    ClinicalOrder,
    Department,
    EmrNote,
    NoteTemplate,
    Patient,
    Prescription,
    SigningKey,
    Staff,
    Visit,
)
from shared.domain.mutations import Rejected
from shared.ids import new_id
from shared.security.signing import canonical_bytes, generate_keypair, verify
from tests.clinical.support import (
    AMOX,
    CARDIOLOGY,
    DOCTOR1,
    DOCTOR2,
    MAIN,
    PIN,
    MemoryState,
    context,
    create_args,
    doctor_key,
    draft,
    exam_item_id,
    first_drugs,
    icd,
    key_row,
    line,
    note_sign_args,
    now,
    other_key,
    register_args,
    sign_args,
)

NURSE = "nurse-1"
ADMIN = "admin-1"


def _world() -> tuple[MemoryState, Patient, Staff, Visit]:
    doctor = Staff(
        id=DOCTOR1,
        username="doctor1",
        name="王医生",
        roles=["doctor"],
        campus_id=MAIN,
        department_id=CARDIOLOGY,
        prescribing_rights=["ordinary"],
    )
    colleague = Staff(
        id=DOCTOR2, username="doctor2", name="李医生", roles=["doctor"], campus_id=MAIN, department_id="other"
    )
    nurse = Staff(id=NURSE, username="nurse1", name="护士", roles=["nurse"], campus_id=MAIN)
    admin = Staff(id=ADMIN, username="admin", name="管理员", roles=["admin"], campus_id=MAIN)
    dept = Department(id=CARDIOLOGY, campus_id=MAIN, code="MAIN-NK", name="心血管内科")
    patient = Patient(
        id=new_id(),
        mrn="20260000001",
        name="张三",
        sex="M",
        birth_date=dt.date(1970, 3, 1),
        allergies=["青霉素"],
    )
    now = dt.datetime.now(dt.UTC)
    visit = Visit(
        id=new_id(),
        patient_id=patient.id,
        campus_id=MAIN,
        department_id=CARDIOLOGY,
        doctor_id=DOCTOR1,
        visit_date=now.date(),
        opened_at=now,
    )
    state = MemoryState(
        [doctor, colleague, nurse, admin, dept, patient, visit, *drugs(), *diagnoses(), *exam_items()]
    )
    return state, patient, doctor, visit


@pytest.fixture
def world() -> tuple[MemoryState, Patient, Staff, Visit]:
    return _world()


def _signed_rx(world: tuple[MemoryState, Patient, Staff, Visit], names: list[str]) -> tuple[str, str]:
    state, patient, doctor, visit = world
    key = key_row(DOCTOR1, doctor_key())
    state.put(key)
    rx = draft(
        patient,
        doctor,
        [line(n) for n in names],
        device_id="pc-1",
        visit_id=visit.id,
        diagnoses_=[icd("I10")],
    )
    state.run("rx.create", create_args(rx), context())
    state.run("rx.sign", sign_args(rx, key.id), context())
    return rx.id, key.id


def _draft_rx(world: tuple[MemoryState, Patient, Staff, Visit], names: list[str]) -> tuple[str, None]:
    state, patient, doctor, visit = world
    existing = [r.number for r in state.find(Prescription)]
    rx = draft(
        patient,
        doctor,
        [line(n) for n in names],
        device_id="pc-1",
        existing=existing,
        visit_id=visit.id,
        diagnoses_=[icd("I10")],
    )
    state.run("rx.create", create_args(rx), context())
    return rx.id, None


# --------------------------------------------------------------------------------------- numbers


def test_prescription_numbers_of_two_pcs_never_collide_and_count_per_pc() -> None:
    day = dt.date(2026, 11, 22)
    a1 = next_rx_number([], "pc-a", day)
    b1 = next_rx_number([a1], "pc-b", day)
    a2 = next_rx_number([a1, b1], "pc-a", day)
    assert len({a1, b1, a2}) == 3
    assert parse_rx_number(a2) == (day, parse_rx_number(a1)[1], 2)  # type: ignore[index]
    assert parse_rx_number(b1)[2] == 1  # type: ignore[index]
    assert a1 == rx_number("pc-a", day, 1) and len(a1) <= 32
    assert parse_rx_number("R261322-ABCDEF-0001") is None  # month 13


# ----------------------------------------------------------------------------------- prescriptions


def test_a_checked_prescription_is_created_as_draft_and_signs_with_the_doctors_key(world) -> None:
    state, patient, doctor, visit = world
    names = first_drugs(3)
    rx_id, key_id = _signed_rx(world, names)
    row = state.get(Prescription, rx_id)
    assert row is not None and row.status == "signed" and row.sign_count == 1
    assert row.signing_key_id == key_id and row.department_id == CARDIOLOGY
    assert row.signed_at is not None and row.signature_algorithm == "ed25519"
    content = canonical_bytes(rx_signed_content(row, row.signed_at))
    assert verify(content, row.signature, doctor_key().public_key)
    assert Decimal(row.total_amount) == sum(
        Decimal(str(ln["drug"]["price"])) * ln["quantity"] for ln in row.lines
    )


def test_a_signature_over_other_content_or_by_another_key_is_refused(world) -> None:
    state, patient, doctor, visit = world
    key = key_row(DOCTOR1, doctor_key())
    state.put(key)
    rx = draft(patient, doctor, [line(first_drugs(1)[0])], device_id="pc-1", visit_id=visit.id)
    state.run("rx.create", create_args(rx), context())
    tampered = rx.model_copy(update={"lines": (rx.lines[0].model_copy(update={"quantity": 9}),)})
    with pytest.raises(Rejected) as err:
        state.run("rx.sign", sign_args(tampered, key.id), context())
    assert err.value.code == "bad_signature" and "does not verify" in err.value.message
    with pytest.raises(Rejected) as err:
        state.run("rx.sign", sign_args(rx, key.id, other_key()), context())
    assert err.value.code == "bad_signature"
    assert state.get(Prescription, rx.id).status == "draft"  # type: ignore[union-attr]


def test_a_revoked_or_foreign_key_cannot_sign(world) -> None:
    state, patient, doctor, visit = world
    mine, theirs = key_row(DOCTOR1, doctor_key()), key_row(DOCTOR2, other_key())
    state.put(mine, theirs)
    rx = draft(patient, doctor, [line(first_drugs(1)[0])], device_id="pc-1", visit_id=visit.id)
    state.run("rx.create", create_args(rx), context())
    with pytest.raises(Rejected) as err:
        state.run("rx.sign", sign_args(rx, theirs.id, other_key()), context())
    assert err.value.code == "bad_signing_key"
    state.run(
        "signing_key.revoke", {"key_id": mine.id, "reason": "PIN forgotten"}, context(ADMIN, roles=("admin",))
    )
    with pytest.raises(Rejected) as err:
        state.run("rx.sign", sign_args(rx, mine.id, at=now() + dt.timedelta(seconds=2)), context())
    assert err.value.code == "signing_key_revoked" and "revoked" in err.value.message


def test_a_blocking_finding_refuses_the_prescription(world) -> None:
    state, patient, doctor, visit = world
    rx = draft(patient, doctor, [line(AMOX)], device_id="pc-1", visit_id=visit.id)  # allergic to penicillin
    with pytest.raises(Rejected) as err:
        state.run("rx.create", create_args(rx), context())
    assert err.value.code == "rx_blocked"
    assert [f["code"] for f in err.value.detail] == ["rx.allergy"]  # type: ignore[union-attr]
    assert state.get(Prescription, rx.id) is None


def test_an_allergy_recorded_after_the_doctor_looked_is_still_caught(world) -> None:
    state, patient, doctor, visit = world
    unaware = patient.model_copy(update={"allergies": []})
    rx = draft(unaware, doctor, [line(AMOX)], device_id="pc-1", visit_id=visit.id)
    with pytest.raises(Rejected) as err:
        state.run("rx.create", create_args(rx), context())
    assert err.value.code == "rx_blocked"


def test_a_warning_needs_an_acknowledgement(world) -> None:
    state, patient, doctor, visit = world
    name = next(
        d.generic_name
        for d in drugs()
        if d.skin_test and "青霉" not in d.generic_name and "西林" not in d.generic_name
    )
    rx = draft(patient, doctor, [line(name)], device_id="pc-1", visit_id=visit.id)
    with pytest.raises(Rejected) as err:
        state.run("rx.create", create_args(rx, acknowledge_all=False), context())
    assert err.value.code == "rx_unacknowledged"
    effect = state.run("rx.create", create_args(rx), context())
    row = state.get(Prescription, rx.id)
    assert effect.result["number"] == rx.number and row is not None
    assert [a["code"] for a in row.acknowledgements] == ["rx.skin_test_pending"]


def test_a_controlled_drug_cannot_be_passed_off_as_an_ordinary_one(world) -> None:
    state, patient, doctor, visit = world
    name = next(d.generic_name for d in drugs() if d.controlled_class == "psychotropic2")
    real = line(name)
    disguised = real.model_copy(update={"drug": real.drug.model_copy(update={"controlled_class": "none"})})
    rx = draft(patient, doctor, [disguised], device_id="pc-1", visit_id=visit.id)
    with pytest.raises(Rejected) as err:
        state.run("rx.create", create_args(rx), context())
    codes = {f["code"] for f in err.value.detail}  # type: ignore[union-attr]
    assert err.value.code == "rx_blocked" and {"rx.class_not_allowed", "rx.no_right"} <= codes


def test_a_number_must_carry_this_pcs_tag_and_be_free(world) -> None:
    state, patient, doctor, visit = world
    rx = draft(patient, doctor, [line(first_drugs(1)[0])], device_id="pc-2", visit_id=visit.id)
    with pytest.raises(Rejected) as err:
        state.run("rx.create", create_args(rx), context(device_id="pc-1"))
    assert err.value.code == "foreign_rx_number"
    state.run("rx.create", create_args(rx), context(device_id="pc-2"))
    again = draft(patient, doctor, [line(first_drugs(2)[1])], device_id="pc-2", visit_id=visit.id)
    again = again.model_copy(update={"number": rx.number})
    with pytest.raises(Rejected) as err:
        state.run("rx.create", create_args(again), context(device_id="pc-2"))
    assert err.value.code == "rx_number_taken"


def test_a_rejected_prescription_is_amended_and_signed_again(world) -> None:
    state, patient, doctor, visit = world
    names = first_drugs(3)
    rx_id, key_id = _signed_rx(world, names[:2])
    row = state.get(Prescription, rx_id)
    assert row is not None
    state.put(
        row.model_copy(update={"status": "rejected", "review_reason": "剂量不当", "version": row.version + 1})
    )
    with pytest.raises(Rejected) as err:  # the pharmacist's reject is version 3: editing version 2 is stale
        state.run(
            "rx.amend",
            {"rx_id": rx_id, "lines": [line(names[2]).model_dump(mode="json")]},
            context(base_version=2),
        )
    assert err.value.code == "version_conflict"
    state.run(
        "rx.amend",
        {"rx_id": rx_id, "lines": [line(names[2]).model_dump(mode="json")]},
        context(base_version=3),
    )
    amended = state.get(Prescription, rx_id)
    assert amended is not None and amended.status == "draft" and amended.signature == ""
    assert amended.review_reason == "剂量不当" and [ln["drug"]["generic_name"] for ln in amended.lines] == [
        names[2]
    ]
    state.run("rx.sign", sign_args(draft_of(amended), key_id), context())
    resigned = state.get(Prescription, rx_id)
    assert resigned is not None and resigned.status == "signed" and resigned.sign_count == 2


def test_cancel_needs_a_reason_and_is_refused_after_dispensing(world) -> None:
    state, *_ = world
    rx_id, _ = _signed_rx(world, first_drugs(1))
    row = state.get(Prescription, rx_id)
    state.put(row.model_copy(update={"status": "dispensed"}))  # type: ignore[union-attr]
    with pytest.raises(Rejected) as err:
        state.run("rx.cancel", {"rx_id": rx_id, "reason": "患者拒绝"}, context())
    assert err.value.code == "bad_transition"
    state.put(row)  # type: ignore[arg-type]
    with pytest.raises(Rejected):
        state.run("rx.cancel", {"rx_id": rx_id, "reason": "x"}, context(DOCTOR2))
    state.run("rx.cancel", {"rx_id": rx_id, "reason": "患者拒绝"}, context())
    assert state.get(Prescription, rx_id).status == "cancelled"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------- signing keys


def test_a_key_is_registered_per_pc_with_public_parts_only_and_revocable_by_owner_or_admin(world) -> None:
    state, *_ = world
    first = state.run("signing_key.register", register_args(DOCTOR1, doctor_key()), context(device_id="pc-1"))
    key = state.get(SigningKey, first.result["key_id"])
    assert key is not None and key.device_id == "pc-1" and key.public_key == doctor_key().public_key
    assert "sealed_key" not in key.model_dump() and key.algorithm == "ed25519"
    # a second PC gets its own key; the first stays active
    second = state.run("signing_key.register", register_args(DOCTOR1, other_key()), context(device_id="pc-2"))
    assert state.get(SigningKey, first.result["key_id"]).revoked_at is None  # type: ignore[union-attr]
    # a new key on the same PC replaces (revokes) that PC's old one
    third_key = generate_keypair(PIN)
    third = state.run("signing_key.register", register_args(DOCTOR1, third_key), context(device_id="pc-2"))
    assert third.result["replaced"] == [second.result["key_id"]]
    # nobody else may revoke a doctor's key; the owner and an admin may
    with pytest.raises(Rejected) as err:
        state.run("signing_key.revoke", {"key_id": key.id, "reason": "x"}, context(DOCTOR2))
    assert err.value.code == "bad_signing_key"
    state.run("signing_key.revoke", {"key_id": key.id, "reason": "lost PC"}, context())
    state.run(
        "signing_key.revoke",
        {"key_id": third.result["key_id"], "reason": "reset"},
        context(ADMIN, roles=("admin",)),
    )
    # a registration carrying a sealed private key (the old protocol) is refused as malformed
    with pytest.raises(ValidationError):
        state.run(
            "signing_key.register",
            register_args(DOCTOR1, generate_keypair(PIN))
            | {"sealed_key": doctor_key().model_dump(mode="json")},
            context(),
        )


def test_a_key_is_registered_only_with_proof_of_holding_it(world) -> None:
    state, *_ = world
    args = register_args(DOCTOR2, doctor_key())  # signed for someone else
    with pytest.raises(Rejected) as err:
        state.run("signing_key.register", args, context())
    assert err.value.code == "bad_key_proof"
    with pytest.raises(Rejected) as err:
        state.run(
            "signing_key.register", register_args(DOCTOR1, doctor_key()) | {"algorithm": "sm9x"}, context()
        )
    assert err.value.code == "unknown_signature_algorithm"


def test_the_signature_covers_its_time_and_the_time_must_fit_the_key_and_the_pc(world) -> None:
    """A back-dated signature (before the key existed, with a revoked key, before the PC's last contact),
    a time moved after signing, a future time and another PC's key are all refused."""
    state, *_ = world
    now_ = now()
    key = key_row(DOCTOR1, doctor_key(), device_id="pc-1")
    key = key.model_copy(update={"registered_at": now_ - dt.timedelta(hours=2)})
    state.put(key)

    def attempt(at: dt.datetime, ctx: object = None, **change: object) -> str:
        rx_id, _ = _draft_rx(world, first_drugs(1))
        row = state.get(Prescription, rx_id)
        assert row is not None
        args = sign_args(draft_of(row), key.id, at=at) | change
        try:
            state.run("rx.sign", args, ctx or context())
        except Rejected as refusal:
            return refusal.code
        return "signed"

    assert attempt(now_ - dt.timedelta(hours=1)) == "signed"
    assert attempt(now_ - dt.timedelta(hours=3)) == "signed_before_key"
    assert attempt(now_ + dt.timedelta(hours=1)) == "signed_in_future"
    moved = (now_ - dt.timedelta(minutes=90)).isoformat()
    assert attempt(now_ - dt.timedelta(hours=1), signed_at=moved) == "bad_signature"
    assert attempt(now_, context(device_id="pc-2")) == "signing_key_other_device"
    contact = now_ - dt.timedelta(minutes=30)
    late = context()
    late = dt_replace(late, last_contact=lambda: contact)
    assert attempt(now_ - dt.timedelta(hours=1), late) == "signed_before_last_contact"
    assert attempt(now_ - dt.timedelta(minutes=20), late) == "signed"
    state.put(key.model_copy(update={"revoked_at": now_ - dt.timedelta(minutes=45), "version": 2}))
    assert attempt(now_ - dt.timedelta(minutes=50)) == "signed"  # before the revocation: valid
    assert attempt(now_ - dt.timedelta(minutes=40)) == "signing_key_revoked"


# ------------------------------------------------------------------------------------------ notes


def _note_args(visit: Visit, **kw: object) -> dict[str, object]:
    args: dict[str, object] = {
        "id": new_id(),
        "visit_id": visit.id,
        "chief_complaint": "头晕两周",
        "present_illness": "血压偏高",
        "diagnoses": [
            {"code": "I10", "name": "原发性高血压"},
            {"code": "", "name": "头晕待查", "supplement": "待查"},
        ],
    }
    args.update(kw)
    return args


def test_a_note_saves_as_draft_signs_and_is_then_only_amended(world) -> None:
    state, patient, doctor, visit = world
    key = key_row(DOCTOR1, doctor_key())
    state.put(key)
    args = _note_args(visit)
    state.run("emr.save", args, context())
    note = state.get(EmrNote, str(args["id"]))
    assert note is not None and [d.primary for d in note.diagnoses] == [True, False]
    state.run("emr.save", args | {"advice": "低盐饮食"}, context(base_version=1))
    with pytest.raises(Rejected) as err:
        state.run("emr.save", _note_args(visit), context())
    assert err.value.code == "note_exists" and err.value.detail == {"note_id": args["id"]}
    note = state.get(EmrNote, str(args["id"]))
    assert note is not None and note.version == 2 and note.advice == "低盐饮食"
    state.run("emr.sign", note_sign_args(note, key.id), context())
    with pytest.raises(Rejected) as err:
        state.run("emr.save", args, context())
    assert err.value.code == "note_signed"
    amendment = _note_args(visit, amends_id=note.id, advice="低盐饮食，两周复诊")
    state.run("emr.save", amendment, context())
    new = state.get(EmrNote, str(amendment["id"]))
    assert new is not None
    state.run("emr.sign", note_sign_args(new, key.id), context())
    assert state.get(EmrNote, note.id).status == "superseded"  # type: ignore[union-attr]


def test_a_note_needs_a_known_code_one_primary_and_a_complaint_to_sign(world) -> None:
    state, patient, doctor, visit = world
    key = key_row(DOCTOR1, doctor_key())
    state.put(key)
    with pytest.raises(Rejected) as err:
        state.run("emr.save", _note_args(visit, diagnoses=[{"code": "Z99.999", "name": "x"}]), context())
    assert err.value.code == "unknown_icd"
    two = [{"code": "I10", "name": "a", "primary": True}, {"code": "E11.9", "name": "b", "primary": True}]
    with pytest.raises(Rejected) as err:
        state.run("emr.save", _note_args(visit, diagnoses=two), context())
    assert err.value.code == "primary_twice"
    args = _note_args(visit, chief_complaint="", diagnoses=[])
    state.run("emr.save", args, context())
    note = state.get(EmrNote, str(args["id"]))
    with pytest.raises(Rejected) as err:
        state.run("emr.sign", note_sign_args(note, key.id), context())  # type: ignore[arg-type]
    assert err.value.code == "note_incomplete" and "chief complaint" in err.value.message


# ---------------------------------------------------------------------------- orders and withdrawal


def test_orders_and_withdrawal_cancel_what_was_not_done(world) -> None:
    state, patient, doctor, visit = world
    cbc = {"id": new_id(), "visit_id": visit.id, "exam_item_id": exam_item_id("LAB0001"), "note": "发热"}
    state.run("order.create", cbc, context())
    order = state.get(ClinicalOrder, cbc["id"])
    assert order is not None and order.kind == "lab" and order.price > 0 and order.status == "ordered"
    with pytest.raises(Rejected) as err:
        state.run("order.create", cbc | {"id": new_id()}, context())
    assert err.value.code == "already_ordered"
    rx_id, _ = _signed_rx(world, first_drugs(1))
    with pytest.raises(PermissionError):
        state.run("rx.create", {}, context(NURSE, roles=("nurse",)))
    effect = state.run("visit.withdraw", {"visit_id": visit.id, "reason": "患者离院"}, context())
    assert effect.result["cancelled_rx"] == [rx_id] and effect.result["cancelled_orders"] == [cbc["id"]]
    assert state.get(Visit, visit.id).status == "withdrawn"  # type: ignore[union-attr]
    assert state.get(Prescription, rx_id).cancel_reason == "Visit withdrawn: 患者离院"  # type: ignore[union-attr]
    with pytest.raises(Rejected) as err:
        state.run("order.create", cbc | {"id": new_id()}, context())
    assert err.value.code == "visit_withdrawn"


def test_a_visit_with_a_result_cannot_be_withdrawn(world) -> None:
    state, patient, doctor, visit = world
    args = {"id": new_id(), "visit_id": visit.id, "exam_item_id": exam_item_id("LAB0001")}
    state.run("order.create", args, context())
    state.run(
        "order.result",
        {"order_id": args["id"], "result_text": "WBC 12.1", "result_flag": "abnormal"},
        context(NURSE, roles=("nurse",)),
    )
    with pytest.raises(Rejected) as err:
        state.run("visit.withdraw", {"visit_id": visit.id, "reason": "x"}, context())
    assert err.value.code == "visit_has_results"


# -------------------------------------------------------------------------- templates and order sets


def test_personal_templates_belong_to_their_owner_and_department_ones_to_the_department(world) -> None:
    state, *_ = world
    mine = {"id": new_id(), "name": "高血压复诊", "chief_complaint": "复诊取药"}
    state.run("template.save", mine, context())
    with pytest.raises(Rejected) as err:
        state.run("template.save", mine | {"name": "改"}, context(DOCTOR2))
    assert err.value.code == "not_your_template"
    dept = {"id": new_id(), "name": "心内科初诊", "scope": "department", "examination": "BP: /mmHg"}
    state.run("template.save", dept, context())
    with pytest.raises(Rejected):
        state.run("template.delete", {"template_id": dept["id"]}, context(DOCTOR2))
    state.run("template.delete", {"template_id": mine["id"]}, context())
    deleted, kept = state.get(NoteTemplate, mine["id"]), state.get(NoteTemplate, dept["id"])
    assert deleted is not None and deleted.voided and deleted.owner_id == DOCTOR1
    assert kept is not None and not kept.voided and kept.department_id == CARDIOLOGY and kept.owner_id is None


def test_an_order_set_keeps_drug_lines_and_items_that_exist(world) -> None:
    state, *_ = world
    names = first_drugs(2)
    lines = [{"drug_id": next(d.id for d in drugs() if d.generic_name == n), "days": 7} for n in names]
    args = {"id": new_id(), "name": "上感三联", "lines": lines, "exam_item_ids": [exam_item_id("LAB0001")]}
    state.run("order_set.save", args, context())
    with pytest.raises(Rejected) as err:
        state.run("order_set.save", args | {"id": new_id(), "lines": [{"drug_id": "nope"}]}, context())
    assert err.value.code == "unknown_drug"


def test_a_row_without_its_snapshots_is_refused_not_crashed_on(world) -> None:
    state, *_ = world
    rx_id, key_id = _signed_rx(world, first_drugs(1))
    row = state.get(Prescription, rx_id)
    assert row is not None
    state.put(row.model_copy(update={"status": "draft", "patient_facts": {}}))
    with pytest.raises(Rejected) as err:
        state.run("rx.sign", sign_args(draft_of(row), key_id), context())
    assert err.value.code == "rx_without_snapshot"
