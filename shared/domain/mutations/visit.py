"""Visit mutations: ``visit.open`` starts a consultation record for a patient in a department."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.domain.entities import Appointment, Department, Patient, Room, Staff, Visit
from shared.domain.mutations.base import (
    CampusOf,
    Effect,
    MutationArgs,
    MutationContext,
    Rejected,
    Shared,
    StateReader,
    declare_claims,
    mutation,
    require,
)
from shared.i18n import kind_name


class OpenVisit(MutationArgs):
    id: str = Field(min_length=1, max_length=64)
    patient_id: str = Field(min_length=1, max_length=64)
    department_id: str = Field(min_length=1, max_length=64)
    doctor_id: str | None = Field(default=None, max_length=64)
    room_id: str | None = Field(default=None, max_length=64)
    appointment_id: str | None = Field(default=None, max_length=64)
    source: Literal["walk_in", "appointment", "referral", "emergency", "online"] = "walk_in"


@mutation("visit.open", OpenVisit, roles=("nurse", "doctor", "admin"), summary="Open a visit for a patient.")
def open_visit(state: StateReader, args: OpenVisit, ctx: MutationContext) -> Effect:
    if state.get(Visit, args.id) is not None:
        raise Rejected(
            ctx.t("entity.duplicate_id", kind=kind_name("visit", ctx.lang), id=args.id), code="duplicate_id"
        )
    require(state, Patient, args.patient_id, ctx)
    department = require(state, Department, args.department_id, ctx)
    if args.room_id:
        room = require(state, Room, args.room_id, ctx)
        if room.department_id != department.id:
            raise Rejected(ctx.t("visit.department_mismatch"), code="department_mismatch")
    if args.doctor_id:
        doctor = require(state, Staff, args.doctor_id, ctx)
        if "doctor" not in doctor.roles:
            raise Rejected(ctx.t("visit.not_a_doctor", name=doctor.name), code="not_a_doctor")
    source = args.source
    if args.appointment_id:
        appointment = require(state, Appointment, args.appointment_id, ctx)
        if appointment.patient_id != args.patient_id:
            raise Rejected(ctx.t("visit.appointment_mismatch"), code="appointment_mismatch")
        source = "appointment"
    for other in state.find(Visit, patient_id=args.patient_id, visit_date=ctx.today):
        if other.department_id == department.id and other.status == "open" and not other.voided:
            raise Rejected(
                ctx.t("visit.already_open"), code="visit_already_open", detail={"visit_id": other.id}
            )
    visit = Visit(
        id=args.id,
        patient_id=args.patient_id,
        campus_id=department.campus_id,
        department_id=department.id,
        doctor_id=args.doctor_id,
        room_id=args.room_id,
        appointment_id=args.appointment_id,
        source=source,
        visit_date=ctx.today,
        opened_at=ctx.now,
        opened_by=ctx.staff_id,
        updated_at=ctx.now,
    )
    return Effect(writes=[visit], result={"visit_id": visit.id})


# Where each mutation's objects are and whose they are (checked before the handler; see base.py).
declare_claims(
    {
        "visit.open": (
            CampusOf(department_id=Department, room_id=Room, appointment_id=Appointment),
            Shared("any nurse or doctor at the department's campus opens a visit"),
        ),
    }
)
