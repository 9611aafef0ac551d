"""Small builders for store tests: a logged-in store on a real SQLite file and confirmed-change pages."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

from shared.domain.entities import Department, Diagnosis, Drug, Entity, Patient, Staff
from shared.protocol.models import Change
from shared.store import LocalStore

NURSE = Staff(id="staff-nurse-1", username="nurse1", name="王护士", roles=["nurse"], campus_id="campus-1")
DOCTOR = Staff(id="staff-doctor-1", username="doctor1", name="李医生", roles=["doctor"], campus_id="campus-1")
_seq = itertools.count(1)


def open_store(path: Path, staff: Staff = NURSE, **kwargs: Any) -> LocalStore:
    store = LocalStore.open(path, app="workstation", **kwargs)
    store.set_session(staff, staff.campus_id)
    return store


def changes(*entities: Entity, start: int | None = None) -> tuple[list[Change], int]:
    """Changes as the server would send them, with increasing feed sequences; returns (changes, cursor)."""
    out = []
    for n, entity in enumerate(entities):
        seq = (start + n) if start is not None else next(_seq) + 1000
        out.append(
            Change(
                seq=seq,
                kind=entity.KIND,
                id=entity.id,
                version=entity.version,
                data=entity.model_dump(mode="json"),
            )
        )
    return out, out[-1].seq if out else 0


def patient(pid: str, name: str, **fields: Any) -> Patient:
    from shared.domain.search_keys import pinyin_initials

    values: dict[str, Any] = {
        "sex": "F",
        "birth_date": dt.date(1980, 5, 1),
        "name_pinyin": pinyin_initials(name),
    }
    values.update(fields)
    return Patient(id=pid, name=name, **values)


def department(did: str = "dept-1", campus_id: str = "campus-1") -> Department:
    return Department(id=did, campus_id=campus_id, code=f"D-{did}", name="心血管内科", name_en="Cardiology")


def drug(code: str, generic: str, *, trade: str = "", english: str = "") -> Drug:
    from decimal import Decimal

    from shared.domain.search_keys import pinyin_initials

    return Drug(
        id=f"drug-{code}",
        code=code,
        generic_name=generic,
        trade_name=trade,
        english_name=english,
        pinyin=pinyin_initials(generic),
        spec="0.25g*24粒",
        form="胶囊",
        pack_unit="盒",
        pack_qty=24,
        min_unit="粒",
        dose_per_min_unit=Decimal("0.25"),
        dose_unit="g",
        default_dose=Decimal("0.5"),
        default_route="po",
        default_frequency="tid",
        price=Decimal("12.5"),
    )


def diagnosis(code: str, name_zh: str, name_en: str = "") -> Diagnosis:
    from shared.domain.search_keys import pinyin_initials

    return Diagnosis(
        id=f"icd-{code}", code=code, name_zh=name_zh, name_en=name_en, pinyin=pinyin_initials(name_zh)
    )
