"""The pure rules of patient.register, patient.update and visit.open."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.domain.allergies import allergy_status, allergy_text
from shared.domain.entities import Department, Patient, Room, Staff
from shared.domain.identity import check_char, id_facts, resident_id_facts, resident_id_problem
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


MALE_ID = "110105198507150032"  # born 1985-07-15, sequence 003: a man
LEGACY_ID = "110105491231002"  # 15 digits (before 1999): born 1949-12-31, last digit even: a woman


def test_a_male_id_number_saved_as_a_woman_is_refused_next_to_the_sex_field() -> None:
    assert resident_id_problem(MALE_ID) is None and resident_id_facts(MALE_ID) == (dt.date(1985, 7, 15), "M")
    with pytest.raises(Rejected) as caught:
        register(MemoryState(), id_number=MALE_ID, sex="F", birth_date="1985-07-15")
    assert caught.value.code == "id_mismatch"
    assert caught.value.detail["field"] == "sex"
    assert caught.value.message == "身份证号显示性别为“男”，与所填性别不符"


def test_a_birth_date_other_than_the_id_numbers_is_refused_with_the_date_it_encodes() -> None:
    with pytest.raises(Rejected) as caught:
        register(MemoryState(), id_number=MALE_ID, sex="M", birth_date="1980-01-01")
    assert caught.value.code == "id_mismatch" and caught.value.detail["field"] == "birth_date"
    assert "1985-07-15" in caught.value.message
    both = caught.value.detail["problems"]
    assert [p["field"] for p in both] == ["birth_date"]
    with pytest.raises(Rejected) as twice:
        register(MemoryState(), id_number=MALE_ID, sex="F", birth_date="1980-01-01")
    assert [p["field"] for p in twice.value.detail["problems"]] == ["sex", "birth_date"]


def test_unknown_sex_is_refused_when_the_id_number_says_which() -> None:
    with pytest.raises(Rejected) as caught:
        register(MemoryState(), id_number=MALE_ID, sex="U", birth_date="1985-07-15")
    assert caught.value.detail["field"] == "sex"


def test_a_matching_id_number_registers_and_is_stored_plain() -> None:
    typed = "１１０１０５１９４９１２３１００２ｘ"  # full-width, as some input methods type it
    patient = register(MemoryState(), id_number=typed, sex="F").writes[0]
    assert patient.id_number == VALID_ID and patient.sex == "F"


def test_a_legacy_fifteen_digit_number_gives_birth_date_and_sex() -> None:
    assert resident_id_problem(LEGACY_ID) is None
    assert resident_id_facts(LEGACY_ID) == (dt.date(1949, 12, 31), "F")
    assert id_facts(LEGACY_ID) == (dt.date(1949, 12, 31), "F")
    assert register(MemoryState(), id_number=LEGACY_ID, sex="F").writes[0].id_number == LEGACY_ID
    with pytest.raises(Rejected):
        register(MemoryState(), id_number=LEGACY_ID, sex="M")
    assert resident_id_problem("110105491331002") == "birth_date"  # month 13


def test_other_kinds_of_id_are_not_read_as_resident_ids() -> None:
    patient = register(MemoryState(), id_type="passport", id_number="E12345678", sex="M").writes[0]
    assert patient.id_number == "E12345678"
    assert id_facts("E12345678", "passport") is None


def test_an_update_that_contradicts_the_id_number_is_refused_too() -> None:
    state = MemoryState()
    state.put(register(state, id_number=MALE_ID, sex="M", birth_date="1985-07-15").writes[0])
    with pytest.raises(Rejected) as caught:
        run(state, "patient.update", {"patient_id": "p-1", "sex": "F"}, base_version=1)
    assert caught.value.code == "id_mismatch" and caught.value.detail["field"] == "sex"


def test_allergies_record_not_asked_apart_from_none_apart_from_a_list() -> None:
    assert register(MemoryState()).writes[0].allergy_status is None  # nobody said: read as not asked
    assert allergy_status(None, []) == "not_asked" and allergy_text(None, []) == "未询问"
    none = register(MemoryState(), allergy_status="none").writes[0]
    assert (none.allergy_status, allergy_text(none.allergy_status, none.allergies)) == ("none", "无已知过敏")
    listed = register(MemoryState(), allergies=["青霉素", "头孢类"]).writes[0]
    assert listed.allergy_status == "listed"
    assert allergy_text(listed.allergy_status, listed.allergies, "en") == "头孢类、青霉素"
    assert allergy_text("not_asked", [], "en") == "Not asked"
    with pytest.raises(Rejected) as caught:
        register(MemoryState(), allergy_status="listed")
    assert caught.value.detail["field"] == "allergies"
    with pytest.raises(Rejected):
        register(MemoryState(), allergy_status="none", allergies=["青霉素"])


def test_patients_registered_before_the_allergy_status_read_by_their_list() -> None:
    old = Patient(id="p-9", name="老患者", sex="F", birth_date=dt.date(1950, 1, 1))
    assert allergy_status(old.allergy_status, old.allergies) == "not_asked"
    with_list = old.model_copy(update={"allergies": ["磺胺"]})
    assert allergy_status(with_list.allergy_status, with_list.allergies) == "listed"
    state = MemoryState()
    state.put(register(state, allergy_status="none").writes[0])
    effect = run(state, "patient.update", {"patient_id": "p-1", "allergies": ["青霉素"]}, base_version=1)
    assert effect.writes[0].allergy_status == "listed"  # a new list without a status: listed


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
