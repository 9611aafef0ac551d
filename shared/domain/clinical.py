"""Pure helpers of the clinical mutations: prescription numbers, the signed content of a prescription row
and of a visit note, and the proof that registers a signing key.

Prescription numbers (``R261122-K7QD2M-0003``): ``R``, the writing day (yymmdd), a six-character tag of
the writing PC's ``device_id`` (base32 of its BLAKE2b digest) and that PC's own sequence of the day.
A PC picks the next number from its own local view (its own prescriptions are always there, synced or
in the outbox), so two PCs writing offline never collide: their tags differ. The number is part of what
the doctor signs, so it is chosen on the PC and never changed by the server; ``rx.create`` checks that
the tag is the pushing device's and that nobody holds the number (two PCs whose tags coincide, about one
chance in a billion per pair, would see the later ``rx.create`` refused with ``rx_number_taken``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from typing import Any

from shared.domain.entities import EmrNote, Prescription
from shared.domain.prescribing import DiagnosisFacts, PatientFacts, PrescriberFacts, PrescriptionDraft, RxLine

RX_NUMBER = re.compile(r"^R(?P<day>\d{6})-(?P<tag>[A-Z2-7]{6})-(?P<seq>\d{4,6})$")


def device_tag(device_id: str) -> str:
    """Six base32 characters naming a PC inside prescription numbers."""
    digest = hashlib.blake2b(device_id.encode("utf-8"), digest_size=5).digest()
    return base64.b32encode(digest).decode("ascii")[:6]


def rx_number(device_id: str, day: dt.date, seq: int) -> str:
    return f"R{day:%y%m%d}-{device_tag(device_id)}-{seq:04d}"


def parse_rx_number(number: str) -> tuple[dt.date, str, int] | None:
    """(day, device tag, sequence) of a well-formed number, else ``None``."""
    match = RX_NUMBER.match(number)
    if match is None:
        return None
    try:
        day = dt.datetime.strptime(match["day"], "%y%m%d").date()
    except ValueError:
        return None
    return day, match["tag"], int(match["seq"])


def next_rx_number(existing: Iterable[str], device_id: str, day: dt.date) -> str:
    """The next number this PC issues on ``day``: one after the highest of its own among ``existing``
    (pass every prescription number the local view knows for that day)."""
    prefix = f"R{day:%y%m%d}-{device_tag(device_id)}-"
    highest = 0
    for number in existing:
        if number.startswith(prefix):
            parsed = parse_rx_number(number)
            if parsed is not None:
                highest = max(highest, parsed[2])
    return rx_number(device_id, day, highest + 1)


def draft_of(rx: Prescription) -> PrescriptionDraft:
    """The ``PrescriptionDraft`` a prescription row was written from: its ``signed_content()`` is what the
    doctor's signature covers (``rx.sign`` on the server, the pharmacy's check, the printout)."""
    return PrescriptionDraft(
        id=rx.id,
        number=rx.number,
        rx_type=rx.rx_type,  # type: ignore[arg-type]  # validated by pydantic
        patient=PatientFacts.model_validate(rx.patient_facts),
        prescriber=PrescriberFacts.model_validate(rx.prescriber),
        visit_id=rx.visit_id,
        diagnoses=tuple(DiagnosisFacts.model_validate(d) for d in rx.diagnoses),
        written_at=rx.written_at,
        lines=tuple(RxLine.model_validate(line) for line in rx.lines),
    )


def rx_signature_content(draft: PrescriptionDraft, signed_at: dt.datetime) -> dict[str, Any]:
    """What a doctor's signature of ``draft`` at ``signed_at`` covers (``signing.canonical_bytes``
    serialises it): the draft's ``signed_content()`` with ``v`` 2 and ``signed_at``, so the signing
    time is signed too and cannot be changed afterwards."""
    return {**draft.signed_content(), "v": 2, "signed_at": signed_at}


def rx_signed_content(rx: Prescription, signed_at: dt.datetime) -> dict[str, Any]:
    """What the doctor signs for this row at ``signed_at`` (``rx_signature_content`` of its draft)."""
    return rx_signature_content(draft_of(rx), signed_at)


NOTE_SECTIONS = (
    "chief_complaint",
    "present_illness",
    "past_history",
    "allergy_history",
    "examination",
    "advice",
)


def note_signed_content(note: EmrNote, signed_at: dt.datetime) -> dict[str, Any]:
    """What a visit-note signature covers: ``doc`` ("emr"), ``v`` (1), ``id``, ``visit_id``,
    ``patient_id``, ``doctor_id``, ``amends_id``, the six sections, the diagnoses (``code``, ``name``,
    ``primary``, ``supplement``) and ``signed_at``."""
    return {
        "doc": "emr",
        "v": 1,
        "id": note.id,
        "visit_id": note.visit_id,
        "patient_id": note.patient_id,
        "doctor_id": note.doctor_id,
        "amends_id": note.amends_id,
        **{section: getattr(note, section) for section in NOTE_SECTIONS},
        # the code set is covered once a note names it (notes from before code sets verify as signed)
        "diagnoses": [d.model_dump(exclude=None if d.code_set else {"code_set"}) for d in note.diagnoses],
        "signed_at": signed_at,
    }


def key_registration_content(staff_id: str, public_key: str) -> dict[str, Any]:
    """What the proof in ``signing_key.register`` signs (with the key being registered): shows the PC
    holds the private key of the public key it registers."""
    return {"doc": "signing_key", "v": 1, "staff_id": staff_id, "public_key": public_key}
