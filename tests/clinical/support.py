"""Builders for clinical tests: prescriptions drafted from the real reference data, doctor keys, signed
mutation arguments, and an in-memory ``StateReader`` that runs the shared handlers like a PC's view."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TypeVar

from server_stub.seed.reference import diagnoses, drugs, exam_items, frequencies, routes
from shared import clinic_time
from shared.domain.clinical import (
    key_registration_content,
    next_rx_number,
    note_signed_content,
    rx_signature_content,
)
from shared.domain.entities import Drug, EmrNote, Entity, Patient, SigningKey, Staff
from shared.domain.mutations import REGISTRY, Effect, MutationContext
from shared.domain.prescribing import (
    DiagnosisFacts,
    PatientFacts,
    PrescriberFacts,
    PrescriptionDraft,
    RxLine,
    new_line,
)
from shared.domain.rx_checks import acknowledge, check_prescription
from shared.ids import new_id, reference_id
from shared.security.signing import EncryptedKey, canonical_bytes, fingerprint, generate_keypair, sign

E = TypeVar("E", bound=Entity)

PIN = "135790"
MAIN = reference_id("campus", "MAIN")
CARDIOLOGY = reference_id("department", "MAIN-NK")
DOCTOR1 = reference_id("staff", "doctor1")
DOCTOR2 = reference_id("staff", "doctor2")
AMOX = "阿莫西林胶囊"


@functools.cache
def drug_table() -> dict[str, Drug]:
    return {d.generic_name: d for d in drugs()}


def drug(name: str) -> Drug:
    return drug_table()[name]


@functools.cache
def usage_tables() -> tuple[dict[str, Any], dict[str, Any]]:
    return {f.code: f for f in frequencies()}, {r.code: r for r in routes()}


def line(name: str, days: int = 3, **kw: Any) -> RxLine:
    freq, rts = usage_tables()
    return new_line(drug(name), frequencies=freq, routes=rts, days=days, **kw)


def first_drugs(count: int, *, controlled: str = "none", skin_test: bool = False) -> list[str]:
    """Names of the first ``count`` formulary drugs of a class (distinct ingredients, oral, no dose range)."""
    out: list[str] = []
    seen: set[str] = set()
    for d in drug_table().values():
        if d.controlled_class != controlled or d.skin_test != skin_test or d.default_route != "po":
            continue
        if d.dose_min is not None or d.dose_max is not None or d.generic_name[:2] in seen:
            continue
        seen.add(d.generic_name[:2])
        out.append(d.generic_name)
        if len(out) == count:
            break
    return out


def icd(code: str) -> DiagnosisFacts:
    row = next(d for d in diagnoses() if d.code == code)
    return DiagnosisFacts(code=row.code, name=row.name_zh)


def exam_item_id(code: str) -> str:
    return next(i.id for i in exam_items() if i.code == code)


@functools.cache
def doctor_key() -> EncryptedKey:
    return generate_keypair(PIN)


@functools.cache
def other_key() -> EncryptedKey:
    return generate_keypair(PIN)


def register_args(staff_id: str, sealed: EncryptedKey, pin: str = PIN) -> dict[str, Any]:
    """``signing_key.register`` arguments: the public key and a proof signed with it (no private part);
    ``pin`` unlocks ``sealed`` (a pharmacist's key has its own)."""
    proof = sign(canonical_bytes(key_registration_content(staff_id, sealed.public_key)), sealed, pin)
    return {"id": new_id(), "public_key": sealed.public_key, "proof": proof}


def key_row(
    staff_id: str, sealed: EncryptedKey, *, key_id: str | None = None, device_id: str = ""
) -> SigningKey:
    return SigningKey(
        id=key_id or new_id(),
        staff_id=staff_id,
        public_key=sealed.public_key,
        fingerprint=fingerprint(sealed.public_key),
        registered_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        device_id=device_id,
    )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def draft(
    patient: Patient,
    doctor: Staff,
    lines: Iterable[RxLine],
    *,
    device_id: str,
    existing: Iterable[str] = (),
    rx_type: str = "ordinary",
    visit_id: str | None = None,
    diagnoses_: Iterable[DiagnosisFacts] = (),
    weight_kg: Decimal | None = None,
    written_at: dt.datetime | None = None,
) -> PrescriptionDraft:
    written = written_at or now()
    return PrescriptionDraft(
        id=new_id(),
        number=next_rx_number(existing, device_id, clinic_time.day_of(written)),
        rx_type=rx_type,  # type: ignore[arg-type]
        patient=PatientFacts.from_patient(patient, weight_kg=weight_kg),
        prescriber=PrescriberFacts.from_staff(doctor),
        visit_id=visit_id,
        diagnoses=tuple(diagnoses_),
        written_at=written,
        lines=tuple(lines),
    )


def create_args(
    rx: PrescriptionDraft, *, acknowledge_all: bool = True, pharmacy_id: str | None = None
) -> dict[str, Any]:
    """``rx.create`` arguments for a draft; every warning acknowledged unless told otherwise."""
    findings = check_prescription(rx)
    acks = acknowledge(findings, rx.prescriber.staff_id, now()) if acknowledge_all else []
    return {
        "id": rx.id,
        "number": rx.number,
        "visit_id": rx.visit_id,
        "patient_id": rx.patient.id,
        "pharmacy_id": pharmacy_id,
        "rx_type": rx.rx_type,
        "written_at": rx.written_at.isoformat(),
        "patient": rx.patient.model_dump(mode="json"),
        "diagnoses": [d.model_dump(mode="json") for d in rx.diagnoses],
        "lines": [ln.model_dump(mode="json") for ln in rx.lines],
        "acknowledgements": [a.model_dump(mode="json") for a in acks],
    }


def sign_args(
    rx: PrescriptionDraft, key_id: str, sealed: EncryptedKey | None = None, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    signed_at = at or now()
    signature = sign(canonical_bytes(rx_signature_content(rx, signed_at)), sealed or doctor_key(), PIN)
    return {
        "rx_id": rx.id,
        "signing_key_id": key_id,
        "signed_at": signed_at.isoformat(),
        "signature": signature,
    }


def note_sign_args(note: EmrNote, key_id: str, sealed: EncryptedKey | None = None) -> dict[str, Any]:
    at = now()
    signature = sign(canonical_bytes(note_signed_content(note, at)), sealed or doctor_key(), PIN)
    return {"note_id": note.id, "signing_key_id": key_id, "signed_at": at.isoformat(), "signature": signature}


class MemoryState:
    """A ``StateReader`` over rows in a dict: runs the shared handlers as a PC's local view would."""

    def __init__(self, rows: Iterable[Entity] = ()) -> None:
        self.rows: dict[tuple[str, str], Entity] = {}
        self.put(*rows)

    def put(self, *rows: Entity) -> None:
        for row in rows:
            self.rows[row.KIND, row.id] = row

    def get(self, kind: type[E], entity_id: str) -> E | None:
        row = self.rows.get((kind.KIND, entity_id))
        return row if isinstance(row, kind) else None

    def find(self, kind: type[E], **equals: Any) -> list[E]:
        unknown = set(equals) - {"id", *kind.INDEXES, *kind.UNIQUE}
        if unknown:  # as ``LocalView.find``: handlers may only look rows up by indexed fields
            raise ValueError(f"{kind.KIND} cannot be searched by {sorted(unknown)}")
        return [
            row
            for (k, _), row in sorted(self.rows.items())
            if k == kind.KIND
            and isinstance(row, kind)
            and all(getattr(row, f) == v for f, v in equals.items())
        ]

    def next_number(self, counter: str) -> int | None:
        return None

    def run(self, name: str, args: dict[str, Any], ctx: MutationContext) -> Effect:
        spec = REGISTRY[name]
        if not spec.roles & ctx.roles:
            raise PermissionError(name)
        effect = spec.handler(self, spec.args.model_validate(args), ctx)
        self.put(*effect.writes)
        return effect


def context(
    staff_id: str = DOCTOR1,
    *,
    roles: tuple[str, ...] = ("doctor",),
    device_id: str = "pc-1",
    base_version: int | None = None,
) -> MutationContext:
    at = dt.datetime.now(dt.UTC)
    return MutationContext(
        staff_id=staff_id,
        roles=frozenset(roles),
        device_id=device_id,
        campus_id=MAIN,
        now=at,
        today=at.astimezone().date(),
        base_version=base_version,
        lang="en",
    )
