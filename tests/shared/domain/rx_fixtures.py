"""Real reference data (drugs, frequencies, routes from shared/demo_data) and a draft builder for rx tests."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from server_stub.seed.reference import drugs, frequencies, routes
from shared.domain.entities import Drug, Frequency, Route
from shared.domain.prescribing import (
    DiagnosisFacts,
    PatientFacts,
    PrescriberFacts,
    PrescriptionDraft,
    RxLine,
    new_line,
)
from shared.domain.rx_rules import RxType

WRITTEN_AT = dt.datetime(2026, 11, 22, 9, 15)


@functools.cache
def drug_table() -> dict[str, Drug]:
    return {d.generic_name: d for d in drugs()}


@functools.cache
def frequency_table() -> dict[str, Frequency]:
    return {f.code: f for f in frequencies()}


@functools.cache
def route_table() -> dict[str, Route]:
    return {r.code: r for r in routes()}


def drug(name: str) -> Drug:
    return drug_table()[name]


def line(name: str, days: int = 3, **kwargs: Any) -> RxLine:
    return new_line(drug(name), frequencies=frequency_table(), routes=route_table(), days=days, **kwargs)


def born(years: int, on: dt.date = WRITTEN_AT.date()) -> dt.date:
    """A birth date that makes the patient exactly ``years`` old (birthday yesterday)."""
    return on.replace(year=on.year - years) - dt.timedelta(days=1)


def patient(
    age: int = 35, allergies: tuple[str, ...] = (), weight: Decimal | None = None, name: str = "欧阳娜娜"
) -> PatientFacts:
    return PatientFacts(
        id="patient-1",
        name=name,
        sex="F",
        birth_date=born(age),
        mrn="M000123",
        allergies=allergies,
        weight_kg=weight,
    )


def prescriber(*rights: str, name: str = "李明华") -> PrescriberFacts:
    return PrescriberFacts(
        staff_id="staff-doctor1",
        name=name,
        title="主治医师",
        rights=tuple(rights or ("ordinary",)),  # type: ignore[arg-type]
    )


def draft(
    *lines: RxLine,
    rx_type: RxType = "ordinary",
    pat: PatientFacts | None = None,
    doctor: PrescriberFacts | None = None,
    number: str = "RX2611220001",
) -> PrescriptionDraft:
    return PrescriptionDraft(
        id="rx-0001",
        number=number,
        rx_type=rx_type,
        patient=pat or patient(),
        prescriber=doctor or prescriber(),
        visit_id="visit-1",
        department="呼吸内科",
        diagnoses=(DiagnosisFacts(code="J06.900", name="急性上呼吸道感染"),),
        written_at=WRITTEN_AT,
        lines=lines,
    )
