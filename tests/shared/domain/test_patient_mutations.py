"""The pure rules of patient.register, patient.update and visit.open."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.domain.entities import Department, Patient, Room, Staff
from shared.domain.identity import check_char, resident_id_facts, resident_id_problem
from shared.domain.mutations import REGISTRY, Rejected
from tests.shared.domain.fakes import MemoryState, context

VALID_ID = "11010519491231002X"


def run(state: MemoryState, name: str, args: dict, **ctx: object):  # type: ignore[no-untyped-def]
    spec = REGISTRY[name]
    return spec.handler(state, spec.args.model_validate(args), context(**ctx))


def register(state: MemoryState, **fields: object):  # type: ignore[no-untyped-def]
    args = {"id": "p-1", "name": "张三丰", "sex": "M", "birth_date": "1949-12-31"}
    args.update(fields)
    return run(state, "patient.register", args)


def test_resident_id_check_digit_is_computed_as_gb11643() -> None:
    assert check_char(VALID_ID[:17]) == "X"
    assert resident_id_problem(VALID_ID) is None
    assert resident_id_problem("110105194912310021") == "check_digit"
    assert resident_id_problem("1101051949123") == "format"
    assert resident_id_facts(VALID_ID) == (dt.date(1949, 12, 31), "F")


def test_register_derives_search_keys_and_takes_a_record_number() -> None:
    effect = register(MemoryState(), id_number=VALID_ID.lower(), sex="F", phone="138 1234 5678")
    patient = effect.writes[0]
    assert isinstance(patient, Patient)
    assert patient.name_pinyin == "zsf"
    assert patient.id_number == VALID_ID
    assert patient.id_number_tail == "002X"
    assert patient.phone == "13812345678"
    assert patient.mrn == "20260000001"
    assert effect.warnings == []


def test_register_offline_leaves_the_record_number_to_the_server() -> None:
    effect = register(MemoryState(numbers=False))
    assert effect.writes[0].mrn is None


def test_register_warns_when_sex_differs_from_the_id_number() -> None:
    effect = register(MemoryState(), id_number=VALID_ID, sex="M")
    assert effect.writes and effect.warnings


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"id_number": "110105194912310021"}, "bad_id_number"),
        ({"phone": "12345"}, "bad_phone"),
        ({"birth_date": "2099-01-01"}, "birth_in_future"),
    ],
)
def test_register_rejects_bad_details_with_a_reason(fields: dict, code: str) -> None:
    with pytest.raises(Rejected) as caught:
        register(MemoryState(), **fields)
    assert caught.value.code == code
    assert caught.value.message


def test_register_refuses_an_id_number_that_another_patient_has() -> None:
    state = MemoryState()
    state.put(register(state, id_number=VALID_ID, sex="F").writes[0])
    with pytest.raises(Rejected) as caught:
        register(state, id="p-2", id_number=VALID_ID, sex="F")
    assert caught.value.code == "duplicate_patient"


def test_update_on_a_stale_version_is_rejected_with_the_server_state() -> None:
    state = MemoryState()
    patient = register(state).writes[0]
    state.put(patient.model_copy(update={"version": 3}))
    with pytest.raises(Rejected) as caught:
        run(state, "patient.update", {"patient_id": "p-1", "phone": "13900000000"}, base_version=2)
    assert caught.value.code == "version_conflict"
    assert caught.value.detail["server_state"]["version"] == 3


def test_update_bumps_the_version_and_keeps_untouched_fields() -> None:
    state = MemoryState()
    state.put(register(state, allergies=["青霉素"]).writes[0])
    effect = run(state, "patient.update", {"patient_id": "p-1", "phone": "13900000000"}, base_version=1)
    updated = effect.writes[0]
    assert (updated.version, updated.phone, updated.allergies, updated.name) == (
        2,
        "13900000000",
        ["青霉素"],
        "张三丰",
    )


def _clinic() -> MemoryState:
    return MemoryState(
        Department(id="d-1", campus_id="campus-1", code="NK", name="内科"),
        Department(id="d-2", campus_id="campus-1", code="WK", name="外科"),
        Room(id="r-1", campus_id="campus-1", department_id="d-1", code="NK-1", name="内科1诊室"),
        Staff(id="s-1", username="doctor1", name="李医生", roles=["doctor"]),
        Staff(id="s-2", username="nurse1", name="王护士", roles=["nurse"]),
        Patient(id="p-1", name="张三", sex="M", birth_date=dt.date(1990, 1, 1)),
    )


def test_visit_open_records_department_room_and_day() -> None:
    effect = run(
        _clinic(),
        "visit.open",
        {"id": "v-1", "patient_id": "p-1", "department_id": "d-1", "room_id": "r-1", "doctor_id": "s-1"},
    )
    visit = effect.writes[0]
    assert (visit.campus_id, visit.visit_date, visit.status) == ("campus-1", dt.date(2026, 11, 22), "open")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"patient_id": "nobody"}, "not_found"),
        ({"room_id": "r-1", "department_id": "d-2"}, "department_mismatch"),
        ({"doctor_id": "s-2"}, "not_a_doctor"),
    ],
)
def test_visit_open_rejects_inconsistent_requests(args: dict, code: str) -> None:
    base = {"id": "v-1", "patient_id": "p-1", "department_id": "d-1"}
    with pytest.raises(Rejected) as caught:
        run(_clinic(), "visit.open", {**base, **args})
    assert caught.value.code == code


def test_a_second_open_visit_in_the_same_department_on_the_same_day_is_rejected() -> None:
    state = _clinic()
    state.put(run(state, "visit.open", {"id": "v-1", "patient_id": "p-1", "department_id": "d-1"}).writes[0])
    with pytest.raises(Rejected) as caught:
        run(state, "visit.open", {"id": "v-2", "patient_id": "p-1", "department_id": "d-1"})
    assert caught.value.code == "visit_already_open"
