"""Quick local searches: patients, drugs and ICD diagnoses by the keys people type."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from shared.store import LocalStore
from tests.store.helpers import changes, diagnosis, drug, open_store, patient


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = open_store(tmp_path / "local.db")
    page, cursor = changes(
        drug("X001", "阿莫西林胶囊", trade="阿莫仙", english="Amoxicillin Capsules"),
        drug("X002", "阿奇霉素片", trade="希舒美", english="Azithromycin Tablets"),
        drug("X003", "布洛芬缓释胶囊", trade="芬必得", english="Ibuprofen SR Capsules"),
        diagnosis("J06.9", "急性上呼吸道感染", "Acute upper respiratory infection"),
        diagnosis("I10", "特发性（原发性）高血压", "Essential (primary) hypertension"),
        patient(
            "p-1",
            "张三丰",
            mrn="20260000123",
            id_number="11010519491231002X",
            id_number_tail="002X",
            birth_date=dt.date(1949, 12, 31),  # as the ID number says: patient.update re-checks it
            phone="13812345678",
        ),
        patient("p-2", "欧阳娜娜", mrn="20260000456", phone="13900001111"),
        patient("p-3", "张无忌", voided=True),
    )
    store.apply_changes(page, cursor=cursor)
    yield store  # type: ignore[misc]
    store.close()


def names(rows: list) -> list[str]:  # type: ignore[type-arg]
    return [getattr(r, "generic_name", None) or getattr(r, "name_zh", None) or r.name for r in rows]


def test_drugs_are_found_by_pinyin_initials_prefix(store: LocalStore) -> None:
    assert names(store.search_drugs("amx")) == ["阿莫西林胶囊"]
    found = names(store.search_drugs("a"))
    assert set(found[:2]) == {"阿莫西林胶囊", "阿奇霉素片"}, "prefix matches first"
    assert found[2:] == ["布洛芬缓释胶囊"], "then substring matches (its English name has an a)"


def test_drugs_are_found_by_a_chinese_fragment_from_the_middle_of_the_name(store: LocalStore) -> None:
    assert names(store.search_drugs("缓释")) == ["布洛芬缓释胶囊"]
    assert set(names(store.search_drugs("胶囊"))) == {"阿莫西林胶囊", "布洛芬缓释胶囊"}


def test_drugs_are_found_by_english_name_trade_name_or_code_case_insensitively(store: LocalStore) -> None:
    assert names(store.search_drugs("IBU")) == ["布洛芬缓释胶囊"]
    assert names(store.search_drugs("希舒美")) == ["阿奇霉素片"]
    assert names(store.search_drugs("x003")) == ["布洛芬缓释胶囊"]
    assert names(store.search_drugs("ｘ００２")) == ["阿奇霉素片"], "full-width input is normalised"


def test_an_exact_code_ranks_before_prefix_matches(store: LocalStore) -> None:
    assert names(store.search_drugs("X00"))[:3] == ["阿莫西林胶囊", "阿奇霉素片", "布洛芬缓释胶囊"]


def test_diagnoses_are_found_by_code_with_or_without_the_dot_name_or_pinyin(store: LocalStore) -> None:
    assert names(store.search_diagnoses("J06.9")) == ["急性上呼吸道感染"]
    assert names(store.search_diagnoses("j069")) == ["急性上呼吸道感染"]
    assert names(store.search_diagnoses("tfx")) == ["特发性（原发性）高血压"]
    assert names(store.search_diagnoses("gxy")) == ["特发性（原发性）高血压"], "initials from the middle"
    assert names(store.search_diagnoses("高血压")) == ["特发性（原发性）高血压"]
    assert names(store.search_diagnoses("hypertension")) == ["特发性（原发性）高血压"]


def test_patients_are_found_by_name_pinyin_mrn_id_tail_or_phone(store: LocalStore) -> None:
    assert [p.id for p in store.search_patients("张")] == ["p-1"], "voided patients are not offered"
    assert [p.id for p in store.search_patients("zsf")] == ["p-1"]
    assert [p.id for p in store.search_patients("阳娜")] == ["p-2"]
    assert [p.id for p in store.search_patients("20260000456")] == ["p-2"]
    assert [p.id for p in store.search_patients("002x")] == ["p-1"]
    assert [p.id for p in store.search_patients("1390000")] == ["p-2"]


def test_a_patient_registered_offline_is_found_before_the_server_confirms_it(store: LocalStore) -> None:
    store.record("patient.register", {"id": "p-9", "name": "张小凡", "sex": "M", "birth_date": "2000-01-01"})
    assert [p.id for p in store.search_patients("张")] == ["p-9", "p-1"], "local work first"
    assert [p.id for p in store.search_patients("zxf")] == ["p-9"]
    store.record("patient.update", {"patient_id": "p-1", "name": "李三丰"})
    assert [p.id for p in store.search_patients("张")] == ["p-9"], (
        "a pending rename shadows the confirmed name"
    )
    assert [p.id for p in store.search_patients("李三")] == ["p-1"]


def test_an_updated_confirmed_row_replaces_its_old_search_keys(store: LocalStore) -> None:
    page, cursor = changes(patient("p-2", "欧阳菲菲", version=2))
    store.apply_changes(page, cursor=cursor)
    assert store.search_patients("欧阳娜娜") == []
    assert [p.name for p in store.search_patients("欧阳")] == ["欧阳菲菲"]


def test_an_empty_query_finds_nothing(store: LocalStore) -> None:
    assert store.search_drugs("  ") == []


def test_a_pulled_change_to_a_drug_is_searchable_at_once(store: LocalStore) -> None:
    assert names(store.search_drugs("缓释")) == ["布洛芬缓释胶囊"]
    renamed = drug("X003", "布洛芬混悬液", trade="美林", english="Ibuprofen Suspension").model_copy(
        update={"version": 2}
    )
    page, cursor = changes(renamed)
    store.apply_changes(page, cursor=cursor)
    assert store.search_drugs("缓释") == []
    assert names(store.search_drugs("混悬")) == ["布洛芬混悬液"]
