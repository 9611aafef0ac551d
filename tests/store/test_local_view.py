"""The local view: confirmed rows plus pending mutations run through the same rules as the server."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.domain.entities import Patient, Visit
from shared.domain.mutations import Rejected
from shared.errors import AuthFailed, PermissionDenied, ValidationFailed
from shared.protocol.models import MutationOutcome
from shared.store import LocalStore
from tests.store.helpers import DOCTOR, changes, department, open_store, patient

REGISTER = {"name": "张三丰", "sex": "M", "birth_date": "1949-12-31", "phone": "13812345678"}


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = open_store(tmp_path / "local.db")
    yield store  # type: ignore[misc]
    store.close()


def applied(entry_id: str, client_seq: int, seq: int | None) -> MutationOutcome:
    return MutationOutcome(mutation_id=entry_id, client_seq=client_seq, status="applied", seq=seq)


def test_a_recorded_mutation_is_visible_at_once_and_waits_in_the_outbox(store: LocalStore) -> None:
    entry = store.record("patient.register", {"id": "p-1", **REGISTER})
    assert entry.status == "pending" and entry.client_seq == 1
    assert entry.local_result == {"patient_id": "p-1", "mrn": None}
    assert store.get(Patient, "p-1").name == "张三丰"  # type: ignore[union-attr]
    assert [p.id for p in store.find(Patient, phone="13812345678")] == ["p-1"]
    assert store.pending_count() == 1


def test_a_refusal_by_the_local_rule_raises_and_stores_nothing(store: LocalStore) -> None:
    with pytest.raises(Rejected) as caught:
        store.record("patient.register", {"id": "p-1", **REGISTER, "birth_date": "2999-01-01"})
    assert caught.value.code == "birth_in_future"
    assert store.outbox() == []
    assert store.get(Patient, "p-1") is None


def test_bad_arguments_an_unknown_name_or_a_forbidden_role_are_refused_before_the_outbox(
    tmp_path: Path,
) -> None:
    with open_store(tmp_path / "a.db") as store:
        with pytest.raises(ValidationFailed):
            store.record("patient.register", {"id": "p-1", "name": "x"})
        with pytest.raises(ValidationFailed):
            store.record("no.such_thing", {})
    from shared.domain.entities import Staff

    pharmacist = Staff(id="ph-1", username="pharmacist1", name="药师", roles=["pharmacist"])
    with open_store(tmp_path / "b.db", pharmacist) as store:
        with pytest.raises(PermissionDenied):
            store.record("visit.open", {"id": "v", "patient_id": "p", "department_id": "d"})
        assert store.outbox() == []


def test_nobody_logged_in_means_nothing_can_be_recorded(tmp_path: Path) -> None:
    with LocalStore.open(tmp_path / "a.db", app="workstation") as store, pytest.raises(AuthFailed):
        store.record("patient.register", {"id": "p-1", **REGISTER})


def test_later_mutations_build_on_earlier_pending_ones(store: LocalStore) -> None:
    store.record("patient.register", {"id": "p-1", **REGISTER})
    store.record("patient.update", {"patient_id": "p-1", "name": "张三"}, base_version=1)
    second = store.record("patient.update", {"patient_id": "p-1", "phone": "13900001111"}, base_version=2)
    current = store.get(Patient, "p-1")
    assert current is not None and (current.name, current.phone, current.version) == (
        "张三",
        "13900001111",
        3,
    )
    assert second.client_seq == 3
    assert [p.id for p in store.find(Patient, name="张三")] == ["p-1"]
    assert store.find(Patient, name="张三丰") == []


def test_an_applied_mutation_stays_visible_until_the_pull_covers_it_without_double_counting(
    store: LocalStore,
) -> None:
    page, cursor = _page(department())
    store.apply_changes(page, cursor=cursor)
    entry = store.record("patient.register", {"id": "p-1", **REGISTER})
    store.apply_outcomes([applied(entry.mutation_id, 1, seq=2000)])
    assert store.get(Patient, "p-1") is not None, "no flicker between the push answer and the pull"
    confirmed = patient("p-1", "张三丰", sex="M", phone="13812345678", mrn="20260000001")
    page, _ = changes(confirmed, start=2000)
    store.apply_changes(page, cursor=2000)
    assert store.counts()["overlay_rows"] == 0
    rows = store.find(Patient, phone="13812345678")
    assert len(rows) == 1 and rows[0].mrn == "20260000001", "the server's row replaces the optimistic one"


def test_an_outcome_for_changes_already_pulled_settles_at_once(store: LocalStore) -> None:
    entry = store.record("patient.register", {"id": "p-1", **REGISTER})
    page, cursor = changes(patient("p-1", "张三丰", sex="M", phone="13812345678"), start=3000)
    store.apply_changes(page, cursor=cursor + 5)
    assert store.pending_count() == 1, "the server's answer has not come"
    assert len(store.find(Patient, phone="13812345678")) == 1, (
        "shown once: the pulled row is the same patient"
    )
    store.apply_outcomes([applied(entry.mutation_id, 1, seq=3000)])
    assert store.counts()["overlay_rows"] == 0
    assert store.pending_count() == 0


def test_a_rejection_removes_the_optimistic_rows_and_needs_attention_until_dismissed(
    store: LocalStore,
) -> None:
    entry = store.record("patient.register", {"id": "p-1", **REGISTER})
    rejection = MutationOutcome(
        mutation_id=entry.mutation_id,
        client_seq=1,
        status="rejected",
        code="duplicate_patient",
        message="已登记",
    )
    assert store.apply_outcomes([rejection]) == {"patient"}
    assert store.get(Patient, "p-1") is None
    [attention] = store.needs_attention()
    assert (attention.code, attention.message, attention.status) == (
        "duplicate_patient",
        "已登记",
        "rejected",
    )
    assert store.pending_count() == 0
    store.dismiss(entry.mutation_id)
    assert store.needs_attention() == []
    assert store.entry(entry.mutation_id).status == "rejected"  # type: ignore[union-attr]


def test_a_repeated_outcome_is_harmless(store: LocalStore) -> None:
    entry = store.record("patient.register", {"id": "p-1", **REGISTER})
    store.apply_outcomes([applied(entry.mutation_id, 1, seq=None)])
    store.apply_outcomes([applied(entry.mutation_id, 1, seq=None)])
    assert store.entry(entry.mutation_id).status == "applied"  # type: ignore[union-attr]


def test_find_uses_the_rules_of_the_visit_handler_against_the_local_view(tmp_path: Path) -> None:
    with open_store(tmp_path / "a.db", DOCTOR) as store:
        page, cursor = _page(department(), patient("p-1", "张三"))
        store.apply_changes(page, cursor=cursor)
        store.record("visit.open", {"id": "v-1", "patient_id": "p-1", "department_id": "dept-1"})
        with pytest.raises(Rejected) as caught:
            store.record("visit.open", {"id": "v-2", "patient_id": "p-1", "department_id": "dept-1"})
        assert caught.value.code == "visit_already_open"
        assert [v.id for v in store.all(Visit)] == ["v-1"]


def test_a_rebootstrap_keeps_rows_visible_and_drops_rows_the_snapshot_lacks(store: LocalStore) -> None:
    page, cursor = _page(patient("p-old", "旧患者"), patient("p-keep", "保留"))
    store.apply_changes(page, cursor=cursor)
    store.record("patient.register", {"id": "p-new", **REGISTER})
    state = store.begin_bootstrap(head=50, estimated=1)
    assert store.begin_bootstrap(head=99, estimated=9) == state, "a second call resumes"
    page, _ = changes(patient("p-keep", "保留"), start=40)
    store.apply_bootstrap_chunk(page, checkpoint=40)
    assert store.get(Patient, "p-old") is not None, "still visible while the snapshot downloads"
    store.finish_bootstrap(cursor=50)
    assert store.get(Patient, "p-old") is None
    assert store.search_patients("旧") == []
    assert store.get(Patient, "p-keep") is not None
    assert store.get(Patient, "p-new") is not None, "pending work survives a re-bootstrap"
    assert store.cursor() == 50 and store.pending_count() == 1


def _page(*entities: object) -> tuple[list, int]:  # type: ignore[type-arg]
    page, cursor = changes(*entities)  # type: ignore[arg-type]
    return page, cursor


def test_pulling_is_refused_while_a_bootstrap_is_unfinished(store: LocalStore) -> None:
    from shared.errors import StoreError

    store.begin_bootstrap(head=1, estimated=1)
    page, cursor = changes(patient("p-1", "张三"))
    with pytest.raises(StoreError):
        store.apply_changes(page, cursor=cursor)


def test_a_pending_edit_is_rerun_on_top_of_a_pulled_change_to_the_same_row(store: LocalStore) -> None:
    page, cursor = changes(patient("p-1", "张三丰", phone="13812345678"))
    store.apply_changes(page, cursor=cursor)
    store.record("patient.update", {"patient_id": "p-1", "phone": "13900001111"})
    renamed = patient("p-1", "张三", phone="13812345678", version=2)
    page, cursor = changes(renamed)
    assert "patient" in store.apply_changes(page, cursor=cursor)
    current = store.get(Patient, "p-1")
    assert current is not None
    assert (current.name, current.phone, current.version) == ("张三", "13900001111", 3)
    assert store.pending_count() == 1


def test_a_pending_edit_based_on_an_old_version_stops_showing_once_the_row_moved_on(
    store: LocalStore,
) -> None:
    page, cursor = changes(patient("p-1", "张三丰", phone="13812345678"))
    store.apply_changes(page, cursor=cursor)
    store.record("patient.update", {"patient_id": "p-1", "phone": "13900001111"}, base_version=1)
    page, cursor = changes(patient("p-1", "张三", phone="13812345678", version=2))
    store.apply_changes(page, cursor=cursor)
    current = store.get(Patient, "p-1")
    assert current is not None and (current.name, current.phone) == ("张三", "13812345678")
    assert store.pending_count() == 1, "still pushed: the server gives the verdict and the reason"
