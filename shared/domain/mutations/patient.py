"""Patient mutations: ``patient.register`` and ``patient.update`` with their validation rules."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import Field

from shared.domain.allergies import allergy_status
from shared.domain.entities import AllergyStatus, IdType, Patient, Sex
from shared.domain.identity import identity_problems, normalise_id_number
from shared.domain.mutations.base import (
    Effect,
    MutationArgs,
    MutationContext,
    NoCampus,
    Rejected,
    Shared,
    StateReader,
    check_base_version,
    declare_claims,
    mutation,
    next_version,
    require,
)
from shared.domain.search_keys import pinyin_initials
from shared.i18n import kind_name

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


class PatientFields(MutationArgs):
    name: str = Field(min_length=1, max_length=64)
    sex: Sex
    birth_date: dt.date
    id_type: IdType = "resident_id"
    id_number: str | None = Field(default=None, max_length=32)
    phone: str | None = Field(default=None, max_length=20)
    allergies: list[str] = Field(default_factory=list, max_length=50)
    allergy_status: AllergyStatus | None = None  # None: "listed" with allergies, else "not asked"


class RegisterPatient(PatientFields):
    id: str = Field(min_length=1, max_length=64)
    mrn: str | None = Field(default=None, max_length=32)


class UpdatePatient(MutationArgs):
    patient_id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=64)
    sex: Sex | None = None
    birth_date: dt.date | None = None
    id_type: IdType | None = None
    id_number: str | None = Field(default=None, max_length=32)
    phone: str | None = Field(default=None, max_length=20)
    allergies: list[str] | None = Field(default=None, max_length=50)
    allergy_status: AllergyStatus | None = None


def _normalized(fields: dict[str, Any], ctx: MutationContext) -> dict[str, Any]:
    """Validate and normalise patient fields; derive the search keys.

    The identity rule (a valid ID number, and sex and birth date as it encodes them) is
    ``shared.domain.identity.identity_problems``, the same the registration dialog shows next to its
    fields; the first problem refuses the mutation with ``detail.field`` naming the field."""
    out = dict(fields)
    out["name"] = " ".join(str(out["name"]).split())
    id_number = normalise_id_number(out.get("id_number") or "") or None
    out["id_number"] = id_number
    problems = identity_problems(
        id_type=out.get("id_type") or "resident_id",
        id_number=id_number,
        sex=out["sex"],
        birth_date=out["birth_date"],
        today=ctx.today,
    )
    if problems:
        first = problems[0]
        raise Rejected(
            first.message(ctx.lang),
            code=first.code,
            detail={
                "field": first.field,
                "problems": [{"field": p.field, "message": p.message(ctx.lang)} for p in problems],
            },
        )
    phone = re.sub(r"[\s()]", "", out.get("phone") or "") or None
    if phone and not (_MOBILE.match(phone) or _LANDLINE.match(phone)):
        raise Rejected(ctx.t("patient.bad_phone", phone=phone), code="bad_phone", detail={"field": "phone"})
    out["phone"] = phone
    out["allergies"] = sorted({a.strip() for a in out.get("allergies") or [] if a and a.strip()})
    status = out.get("allergy_status")
    if status == "listed" and not out["allergies"]:
        raise Rejected(
            ctx.t("patient.allergies_missing"), code="invalid_input", detail={"field": "allergies"}
        )
    if status in ("none", "not_asked") and out["allergies"]:
        raise Rejected(
            ctx.t("patient.allergies_contradict", status=ctx.t(f"allergy.{status}")),
            code="invalid_input",
            detail={"field": "allergies"},
        )
    if status is not None or out["allergies"]:
        out["allergy_status"] = allergy_status(status, out["allergies"])
    out["name_pinyin"] = pinyin_initials(out["name"])
    out["id_number_tail"] = id_number[-4:] if id_number else ""
    return out


def _reject_duplicate_id(
    state: StateReader, fields: dict[str, Any], ctx: MutationContext, self_id: str
) -> None:
    id_number = fields.get("id_number")
    if not id_number:
        return
    for other in state.find(Patient, id_number_tail=id_number[-4:]):
        if other.id != self_id and not other.voided and other.id_number == id_number:
            raise Rejected(
                ctx.t("patient.duplicate_id_number", mrn=other.mrn or other.id),
                code="duplicate_patient",
                detail={"patient_id": other.id, "field": "id_number"},
            )


@mutation(
    "patient.register",
    RegisterPatient,
    roles=("nurse", "doctor", "admin", "pharmacist"),
    summary="Register a new patient (walk-in or at the desk).",
    reads_id_of="patient",
    takes_numbers=("mrn",),
)
def register_patient(state: StateReader, args: RegisterPatient, ctx: MutationContext) -> Effect:
    if state.get(Patient, args.id) is not None:
        raise Rejected(
            ctx.t("entity.duplicate_id", kind=kind_name("patient", ctx.lang), id=args.id), code="duplicate_id"
        )
    fields = _normalized(args.model_dump(exclude={"id", "mrn"}), ctx)
    _reject_duplicate_id(state, fields, ctx, args.id)
    mrn = args.mrn
    if mrn is None:
        number = state.next_number("mrn")
        mrn = None if number is None else f"{ctx.today:%Y}{number:07d}"
    patient = Patient(id=args.id, mrn=mrn, registered_by=ctx.staff_id, updated_at=ctx.now, **fields)
    return Effect(writes=[patient], result={"patient_id": patient.id, "mrn": mrn})


@mutation(
    "patient.update",
    UpdatePatient,
    roles=("nurse", "doctor", "admin"),
    summary="Correct a patient's details (checked against base_version).",
)
def update_patient(state: StateReader, args: UpdatePatient, ctx: MutationContext) -> Effect:
    current = require(state, Patient, args.patient_id, ctx)
    check_base_version(current, ctx)
    changes = args.model_dump(exclude={"patient_id"}, exclude_unset=True)
    merged = {
        key: changes.get(key, getattr(current, key))
        for key in (
            "name",
            "sex",
            "birth_date",
            "id_type",
            "id_number",
            "phone",
            "allergies",
            "allergy_status",
        )
    }
    if "allergies" in changes and "allergy_status" not in changes:
        merged["allergy_status"] = None  # a new list without a status: derived from the list again
    fields = _normalized(merged, ctx)
    _reject_duplicate_id(state, fields, ctx, current.id)
    updated = next_version(current, ctx, **fields)
    return Effect(writes=[updated], result={"patient_id": updated.id, "version": updated.version})


# Where each mutation's objects are and whose they are (checked before the handler; see base.py).
_PATIENTS = NoCampus("patients are the hospital's, seen at any campus")
declare_claims(
    {
        "patient.register": (_PATIENTS, Shared("any desk registers a patient")),
        "patient.update": (_PATIENTS, Shared("registration details are kept by any nurse, doctor or desk")),
    }
)
