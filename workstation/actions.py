"""What the doctor does, as mutations recorded in the local store (run on the DB thread through ops).

Each function records one or more mutations with ``store.record`` (the shared handler runs against the
local view first, so a refusal raises ``Rejected`` here and nothing is stored) and returns what the
screen needs next. Signing opens the PIN-sealed key here, never on the GUI thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared import clinic_time
from shared.domain.clinical import next_rx_number, note_signed_content, rx_signed_content
from shared.domain.entities import EmrNote, NoteDiagnosis, Prescription, QueueTicket, Visit
from shared.domain.mutations.base import Rejected
from shared.domain.prescribing import DiagnosisFacts, PatientFacts, RxLine
from shared.domain.rx_checks import Acknowledgement
from shared.ids import new_id
from shared.security.device_keys import UnlockedKey
from shared.security.device_signing import DeviceSigner, signing_time, unlock
from shared.security.signing import canonical_bytes
from workstation.rx_plan import Plan, acknowledgements_for


def now_local() -> dt.datetime:
    """An aware local time (mutations refuse naive times; prints show local dates)."""
    return clinic_time.now()


# ------------------------------------------------------------------------------------------- queue


def queue_step(store: Any, name: str, ticket_id: str, lang: str, **args: Any) -> dict[str, Any]:
    """``queue.call`` / ``recall`` / ``skip`` / ``return`` / ``finish`` on one ticket; the local result
    with any warnings (e.g. another desk called this ticket already)."""
    entry = store.record(name, {"ticket_id": ticket_id, **args}, lang=lang)
    return {**(entry.local_result or {}), "warnings": list(entry.warnings or [])}


def start_consult(store: Any, ticket_id: str, room_id: str | None, lang: str) -> str:
    """Open (or reuse) the visit of a called ticket and start the consultation; returns the visit id."""
    ticket = store.get(QueueTicket, ticket_id)
    if ticket is None:
        raise Rejected(f"ticket {ticket_id} not found", code="not_found")
    visit_id = ticket.visit_id if ticket.visit_id and store.get(Visit, ticket.visit_id) else None
    if visit_id is None:
        visit_id = open_visit(store, ticket, room_id, lang)
    if ticket.status in ("waiting", "called"):
        store.record(
            "queue.start",
            {"ticket_id": ticket.id, "room_id": room_id, "visit_id": visit_id},
            lang=lang,
        )
    return visit_id


def open_visit(store: Any, ticket: QueueTicket, room_id: str | None, lang: str) -> str:
    from shared.domain.entities import Queue, Staff

    session = store.session()
    staff: Staff = session.staff
    queue = store.get(Queue, ticket.queue_id)
    department_id = (queue.department_id if queue else None) or staff.department_id
    args = {
        "id": new_id(),
        "patient_id": ticket.patient_id,
        "department_id": department_id,
        "doctor_id": staff.id,
        "room_id": room_id,
        "appointment_id": ticket.appointment_id,
        "source": "appointment" if ticket.appointment_id else "walk_in",
    }
    try:
        store.record("visit.open", args, lang=lang)
    except Rejected as refused:
        detail = refused.detail if isinstance(refused.detail, dict) else {}
        if refused.code == "visit_already_open" and detail.get("visit_id"):
            return str(detail["visit_id"])
        raise
    return str(args["id"])


def withdraw(store: Any, visit_id: str, ticket_id: str | None, reason: str, lang: str) -> dict[str, Any]:
    """``visit.withdraw`` with the reason, then finish the ticket so the room is free."""
    entry = store.record("visit.withdraw", {"visit_id": visit_id, "reason": reason}, lang=lang)
    if ticket_id:
        ticket = store.get(QueueTicket, ticket_id)
        if ticket is not None and ticket.status in ("in_consultation", "called"):
            store.record("queue.finish", {"ticket_id": ticket_id, "note": reason[:500]}, lang=lang)
    return dict(entry.local_result or {})


# -------------------------------------------------------------------------------------------- notes


@dataclass(frozen=True)
class NoteContent:
    sections: dict[str, str]
    diagnoses: list[NoteDiagnosis]


def save_note(store: Any, note_id: str, visit_id: str, content: NoteContent, lang: str) -> EmrNote:
    """Create or update the visit's draft note (``emr.save``); returns the note as the local view has it."""
    current = store.get(EmrNote, note_id)
    args = {"id": note_id, "visit_id": visit_id, **content.sections, "diagnoses": content.diagnoses}
    store.record("emr.save", args, base_version=current.version if current else None, lang=lang)
    note = store.get(EmrNote, note_id)
    assert note is not None
    return note


def sign_note(
    store: Any,
    note_id: str,
    visit_id: str,
    content: NoteContent,
    key: DeviceSigner,
    key_id: str,
    pin: str,
    lang: str,
) -> EmrNote:
    """Save the latest text, then sign the note (``emr.sign``) over its canonical content."""
    unlocked = unlock(key, store, pin, lang)  # a wrong PIN stops here, before anything is recorded
    note = store.get(EmrNote, note_id)
    if note is None or note.status == "draft":
        note = save_note(store, note_id, visit_id, content, lang)
    signed_at = signing_time(store)
    signature = unlocked.sign(canonical_bytes(note_signed_content(note, signed_at)))
    store.record(
        "emr.sign",
        {
            "note_id": note.id,
            "signing_key_id": unlocked.key_id,
            "signed_at": signed_at,
            "algorithm": unlocked.algorithm,
            "signature": signature,
        },
        lang=lang,
    )
    signed = store.get(EmrNote, note.id)
    assert signed is not None
    return signed


def save_template(store: Any, name: str, scope: str, content: NoteContent, lang: str) -> str:
    template_id = new_id()
    store.record(
        "template.save",
        {
            "id": template_id,
            "name": name,
            "scope": scope,
            **content.sections,
            "diagnoses": content.diagnoses,
        },
        lang=lang,
    )
    return template_id


# ------------------------------------------------------------------------------------------ orders


def create_order(store: Any, visit_id: str, exam_item_id: str, urgent: bool, note: str, lang: str) -> str:
    order_id = new_id()
    store.record(
        "order.create",
        {"id": order_id, "visit_id": visit_id, "exam_item_id": exam_item_id, "urgent": urgent, "note": note},
        lang=lang,
    )
    return order_id


def cancel_order(store: Any, order_id: str, reason: str, lang: str) -> None:
    store.record("order.cancel", {"order_id": order_id, "reason": reason}, lang=lang)


# ---------------------------------------------------------------------------------- prescriptions


def _sign_rx(store: Any, rx_id: str, unlocked: UnlockedKey, lang: str) -> Prescription:
    row = store.get(Prescription, rx_id)
    assert row is not None
    signed_at = signing_time(store)
    signature = unlocked.sign(canonical_bytes(rx_signed_content(row, signed_at)))
    store.record(
        "rx.sign",
        {
            "rx_id": rx_id,
            "signing_key_id": unlocked.key_id,
            "signed_at": signed_at,
            "algorithm": unlocked.algorithm,
            "signature": signature,
        },
        lang=lang,
    )
    signed = store.get(Prescription, rx_id)
    assert signed is not None
    return signed


def write_and_sign(
    store: Any,
    plan: Plan,
    acknowledged: set[tuple[str, int | None]],
    *,
    patient_id: str,
    visit_id: str | None,
    pharmacy_id: str | None,
    key: DeviceSigner,
    key_id: str,
    pin: str,
    renewed_from_id: str | None,
    lang: str,
) -> list[Prescription]:
    """``rx.create`` then ``rx.sign`` for every planned prescription; returns the signed rows.

    The PIN is checked before anything is recorded. Each prescription is signed over the content of
    the row the local handler wrote, exactly what the server rebuilds from the same arguments.
    """
    unlocked = unlock(key, store, pin, lang)  # a wrong PIN stops here, before anything is recorded
    session = store.session()
    staff_id = session.staff.id
    day = clinic_time.today()
    numbers = [r.number for r in store.find(Prescription, day=day)]
    done: list[Prescription] = []
    for planned in plan.prescriptions:
        number = next_rx_number(numbers, store.device_id, day)
        numbers.append(number)
        rx_id = new_id()
        draft = planned.draft
        at = now_local()
        store.record(
            "rx.create",
            {
                "id": rx_id,
                "number": number,
                "visit_id": visit_id,
                "patient_id": patient_id,
                "pharmacy_id": pharmacy_id,
                "rx_type": planned.group.rx_type,
                "written_at": draft.written_at,
                "patient": draft.patient.model_dump(mode="json"),
                "diagnoses": [d.model_dump(mode="json") for d in draft.diagnoses],
                "lines": [line.model_dump(mode="json") for line in draft.lines],
                "acknowledgements": [
                    a.model_dump(mode="json")
                    for a in acknowledgements_for(planned, acknowledged, staff_id, at)
                ],
                "renewed_from_id": renewed_from_id,
            },
            lang=lang,
        )
        done.append(_sign_rx(store, rx_id, unlocked, lang))
    return done


def amend_and_sign(
    store: Any,
    rx_id: str,
    lines: Sequence[RxLine],
    acknowledgements: Sequence[Acknowledgement],
    *,
    rx_type: str,
    diagnoses: Sequence[DiagnosisFacts],
    patient: PatientFacts,
    key: DeviceSigner,
    key_id: str,
    pin: str,
    lang: str,
) -> Prescription:
    """A rejected (or draft) prescription changed (``rx.amend``) and signed again (``rx.sign``)."""
    unlocked = unlock(key, store, pin, lang)
    row = store.get(Prescription, rx_id)
    if row is None:
        raise Rejected(f"prescription {rx_id} not found", code="not_found")
    store.record(
        "rx.amend",
        {
            "rx_id": rx_id,
            "lines": [line.model_dump(mode="json") for line in lines],
            "acknowledgements": [a.model_dump(mode="json") for a in acknowledgements],
            "rx_type": rx_type,
            "diagnoses": [d.model_dump(mode="json") for d in diagnoses],
            "patient": patient.model_dump(mode="json"),
        },
        base_version=row.version,
        lang=lang,
    )
    return _sign_rx(store, rx_id, unlocked, lang)


def cancel_rx(store: Any, rx_id: str, reason: str, lang: str) -> None:
    store.record("rx.cancel", {"rx_id": rx_id, "reason": reason}, lang=lang)


def save_order_set(
    store: Any,
    name: str,
    scope: str,
    rx_type: str,
    lines: Sequence[RxLine],
    exam_item_ids: Sequence[str],
    lang: str,
) -> str:
    order_set_id = new_id()
    store.record(
        "order_set.save",
        {
            "id": order_set_id,
            "name": name,
            "scope": scope,
            "rx_type": rx_type,
            "lines": [
                {
                    "drug_id": line.drug.id,
                    "drug_code": line.drug.code,
                    "drug_name": line.drug.generic_name,
                    "dose": str(line.dose),
                    "dose_unit": line.dose_unit,
                    "route": line.route.code,
                    "frequency": line.frequency.code,
                    "days": line.days,
                    "quantity": line.quantity if line.quantity_overridden else None,
                    "note": line.note,
                }
                for line in lines
            ],
            "exam_item_ids": list(exam_item_ids),
        },
        lang=lang,
    )
    return order_set_id
