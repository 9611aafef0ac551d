"""Cheap reads for big lists (``rows``/``values``) and ``find`` that never cuts silently."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from shared.domain.entities import Patient
from shared.store import LocalStore
from tests.store.helpers import changes, open_store, patient


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = open_store(tmp_path / "local.db")
    confirmed = [
        patient(f"p-{n:04d}", "张三", phone=f"1380000{n:04d}", allergies=["青霉素"]) for n in range(1200)
    ]
    page, cursor = changes(*confirmed)
    store.apply_changes(page, cursor=cursor)
    yield store  # type: ignore[misc]
    store.close()


def test_find_returns_every_match_past_a_thousand_and_caps_only_when_asked(store: LocalStore) -> None:
    found = store.find(Patient, name="张三")
    assert len(found) == 1200 and [p.id for p in found] == sorted(p.id for p in found)
    assert [p.id for p in store.find(Patient, name="张三", limit=3)] == ["p-0000", "p-0001", "p-0002"]
    assert store.find(Patient, name="张三", limit=0) == []


def test_rows_project_the_named_fields_as_stored_json_values(store: LocalStore) -> None:
    rows = {r["id"]: r for r in store.rows(Patient, ["name", "birth_date", "allergies", "voided", "mrn"])}
    assert len(rows) == 1200
    assert rows["p-0007"] == {
        "id": "p-0007",
        "name": "张三",
        "birth_date": "1980-05-01",  # dates as their JSON text
        "allergies": ["青霉素"],  # nested values decoded
        "voided": False,
        "mrn": None,
    }
    assert store.rows(Patient, ["phone"], phone="13800000042") == [{"id": "p-0042", "phone": "13800000042"}]
    assert store.values(Patient, ["phone"], id="p-0042") == [["p-0042", "13800000042"]]
    assert store.rows(Patient, [], id="p-0001") == [{"id": "p-0001"}]


def test_rows_show_pending_writes_over_confirmed_rows(store: LocalStore) -> None:
    store.record("patient.update", {"patient_id": "p-0003", "name": "李四"}, base_version=1)
    store.record("patient.register", {"id": "p-new", "name": "王五", "sex": "M", "birth_date": "1990-01-02"})
    rows = {r["id"]: r for r in store.rows(Patient, ["name", "version"])}
    assert len(rows) == 1201
    assert rows["p-0003"] == {"id": "p-0003", "name": "李四", "version": 2}  # the pending edit, once
    assert rows["p-new"]["name"] == "王五"
    assert [r["id"] for r in store.rows(Patient, ["name"], name="李四")] == ["p-0003"]
    assert "p-0003" not in {r["id"] for r in store.rows(Patient, ["name"], name="张三")}
    assert store.get(Patient, "p-0003").name == rows["p-0003"]["name"]  # type: ignore[union-attr]


def test_rows_refuse_unknown_fields_and_unsearchable_filters(store: LocalStore) -> None:
    with pytest.raises(ValueError, match="no fields"):
        store.rows(Patient, ["name); DROP TABLE entity; --"])
    with pytest.raises(ValueError, match="cannot be searched"):
        store.rows(Patient, ["name"], birth_date=dt.date(1980, 5, 1))
