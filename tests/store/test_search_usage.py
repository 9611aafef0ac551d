"""Drug and ICD search ranked by what this doctor and the department actually use (their own
prescriptions and visit notes in the local store), over the real demo formulary and ICD dictionary."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_stub.seed.reference import diagnoses, drugs
from shared.domain.entities import Diagnosis, Drug, EmrNote, Entity, NoteDiagnosis, Prescription
from shared.store import LocalStore
from tests.store.helpers import DOCTOR, changes, open_store

ME, COLLEAGUE, OTHER_DEPARTMENT = DOCTOR.id, "staff-doctor-2", "staff-doctor-9"
DEPT, ELSEWHERE = "dept-resp", "dept-ortho"
NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
_n = itertools.count(1)


@pytest.fixture(scope="module")
def reference() -> tuple[dict[str, Drug], dict[str, Diagnosis]]:
    return {d.generic_name: d for d in drugs()}, {d.name_zh: d for d in diagnoses()}


@pytest.fixture
def store(tmp_path: Path, reference: tuple[dict[str, Drug], dict[str, Diagnosis]]) -> Iterator[LocalStore]:
    store = open_store(tmp_path / "local.db", DOCTOR)
    drug_rows, dx_rows = reference
    page, cursor = changes(*drug_rows.values(), *dx_rows.values(), start=1)
    store.apply_changes(page, cursor=cursor)
    yield store
    store.close()


def rx(doctor: str, department: str, *drug_rows: Drug) -> Prescription:
    n = next(_n)
    return Prescription(
        id=f"rx-{n}",
        campus_id="campus-1",
        number=f"R{n:06d}",
        patient_id="p-1",
        doctor_id=doctor,
        department_id=department,
        day=NOW.date(),
        written_at=NOW,
        lines=[{"drug": {"id": d.id, "generic_name": d.generic_name}} for d in drug_rows],
        status="signed",
    )


def note(doctor: str, department: str, *dx: Diagnosis) -> EmrNote:
    n = next(_n)
    return EmrNote(
        id=f"note-{n}",
        campus_id="campus-1",
        visit_id=f"visit-{n}",
        patient_id="p-1",
        doctor_id=doctor,
        department_id=department,
        diagnoses=[NoteDiagnosis(code=d.code, name=d.name_zh, primary=i == 0) for i, d in enumerate(dx)],
        created_at=NOW,
        saved_at=NOW,
        status="signed",
    )


def add(store: LocalStore, *rows: Entity) -> None:
    page, cursor = changes(*rows, start=100_000 + next(_n) * 100)
    store.apply_changes(page, cursor=cursor)


def names(rows: list[Drug] | list[Diagnosis]) -> list[str]:
    return [getattr(r, "generic_name", None) or r.name_zh for r in rows]  # type: ignore[union-attr]


def test_blf_ranks_the_ibuprofen_this_department_prescribes_above_baclofen(
    store: LocalStore, reference: tuple[dict[str, Drug], dict[str, Diagnosis]]
) -> None:
    drug = reference[0]
    plain = names(store.search_drugs("blf"))
    assert set(plain[:4]) == {"布洛芬缓释胶囊", "布洛芬片", "布洛芬混悬液", "巴氯芬片"}
    # colleagues in the department prescribe ibuprofen SR often; this doctor writes ibuprofen tablets;
    # baclofen is written only in another department
    add(
        store,
        *(rx(COLLEAGUE, DEPT, drug["布洛芬缓释胶囊"]) for _ in range(5)),
        rx(ME, DEPT, drug["布洛芬片"], drug["阿莫西林胶囊"]),
        *(rx(OTHER_DEPARTMENT, ELSEWHERE, drug["巴氯芬片"]) for _ in range(9)),
    )
    usage = store.search_usage(Drug, doctor_id=ME, department_id=DEPT)
    ranked = names(store.search_drugs("blf", usage=usage))
    assert ranked[:2] == ["布洛芬片", "布洛芬缓释胶囊"], "the doctor's own first, then the department's"
    assert ranked.index("巴氯芬片") > ranked.index("布洛芬缓释胶囊")
    assert usage.counts[drug["布洛芬片"].id] == (1, 1)
    assert usage.counts[drug["布洛芬缓释胶囊"].id] == (0, 5)
    assert drug["巴氯芬片"].id not in usage.counts, "another department's habits do not count"


def test_an_exact_initials_match_still_comes_before_a_used_prefix_match(
    store: LocalStore, reference: tuple[dict[str, Drug], dict[str, Diagnosis]]
) -> None:
    drug = reference[0]
    add(store, *(rx(ME, DEPT, drug["布洛芬缓释胶囊"]) for _ in range(5)))
    usage = store.search_usage(Drug, doctor_id=ME, department_id=DEPT)
    # "布洛芬" is exactly the Chinese name key of nothing, but "布洛芬片" is an exact name
    assert names(store.search_drugs("布洛芬片", usage=usage))[0] == "布洛芬片"
    assert names(store.search_drugs("布洛芬", usage=usage))[0] == "布洛芬缓释胶囊"


def test_icd_search_puts_the_departments_diagnoses_first(
    store: LocalStore, reference: tuple[dict[str, Drug], dict[str, Diagnosis]]
) -> None:
    dx = reference[1]
    plain = names(store.search_diagnoses("sgm"))
    assert plain == ["青霉素过敏史"], "only a fragment of its initials matches: nothing else to offer"
    assert names(store.search_diagnoses("gm"))[0] == "过敏反应", "shortest first"
    add(
        store,
        *(note(COLLEAGUE, DEPT, dx["过敏性荨麻疹"]) for _ in range(4)),
        note(ME, DEPT, dx["过敏性哮喘"], dx["青霉素过敏史"]),
    )
    usage = store.search_usage(Diagnosis, doctor_id=ME, department_id=DEPT)
    ranked = names(store.search_diagnoses("gm", usage=usage))
    assert ranked[:3] == ["过敏性哮喘", "过敏性荨麻疹", "过敏反应"], ranked
    # a fragment match the doctor uses is offered before fragments nobody here uses
    frag = names(store.search_diagnoses("xc", usage=usage))
    assert "过敏性哮喘" in frag and frag.index("过敏性哮喘") == min(
        frag.index(n) for n in frag if n in ("过敏性哮喘", "过敏性荨麻疹", "过敏性紫癜")
    )


def test_usage_reaches_items_beyond_the_index_window(
    store: LocalStore, reference: tuple[dict[str, Drug], dict[str, Diagnosis]]
) -> None:
    drug = reference[0]
    # "y" is a prefix of hundreds of keys; the one the doctor uses sorts late in the index
    wanted = drug["右佐匹克隆片"]
    add(store, rx(ME, DEPT, wanted), rx(ME, DEPT, wanted))
    usage = store.search_usage(Drug, doctor_id=ME, department_id=DEPT)
    assert names(store.search_drugs("y", limit=5, usage=usage))[0] == "右佐匹克隆片"
