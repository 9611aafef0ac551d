"""Builders for pharmacy tests: signed prescriptions from real reference data, pharmacist keys, reviews."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from server_stub.seed.reference import drugs, frequencies, routes
from shared.domain.entities import Drug, PickupCodeState, PickupEvent, Prescription, SigningKey
from shared.domain.pharmacy import pickup_state_id, review_signed_content
from shared.domain.pickup import code_digest
from shared.domain.prescribing import new_line
from shared.ids import new_id, reference_id
from shared.security.signing import EncryptedKey, canonical_bytes, fingerprint, generate_keypair, sign

PIN = "246810"
MAIN = reference_id("campus", "MAIN")
EAST = reference_id("campus", "EAST")
MAIN_PHARMACY = reference_id("pharmacy", "MAIN-WY")
EAST_PHARMACY = reference_id("pharmacy", "EAST-WY")
PHARMACIST = reference_id("staff", "pharmacist1")
PHARMACIST2 = reference_id("staff", "pharmacist2")  # at EAST
PHARMACIST3 = reference_id("staff", "pharmacist3")
DOCTOR = reference_id("staff", "doctor1")


@functools.cache
def drug_table() -> dict[str, Drug]:
    return {d.generic_name: d for d in drugs()}


def drug(name: str) -> Drug:
    return drug_table()[name]


def rx_lines(*items: tuple[str, int]) -> list[dict[str, Any]]:
    """Prescription lines (JSON dumps of ``RxLine``) for (drug name, days) pairs."""
    freq = {f.code: f for f in frequencies()}
    rts = {r.code: r for r in routes()}
    return [
        new_line(drug(name), frequencies=freq, routes=rts, days=days).model_dump(mode="json")
        for name, days in items
    ]


def prescription(
    *items: tuple[str, int],
    status: str = "signed",
    patient_id: str = "patient-1",
    campus_id: str = MAIN,
    pharmacy_id: str = MAIN_PHARMACY,
    number: str | None = None,
) -> Prescription:
    rx_id = new_id()
    now = dt.datetime.now(dt.UTC)
    return Prescription(
        id=rx_id,
        campus_id=campus_id,
        number=number or f"RX{rx_id[-10:]}",
        patient_id=patient_id,
        doctor_id=DOCTOR,
        pharmacy_id=pharmacy_id,
        day=now.date(),
        written_at=now,
        lines=rx_lines(*items),
        status=status,  # type: ignore[arg-type]
        signature="doctor-signature",
        signed_at=now,
        sign_count=1,
        updated_at=now,
    )


PICKUP_CODE = "482913"


def pickup_code_row(rx: Prescription, code: str = PICKUP_CODE) -> PickupCodeState:
    """The pickup code an approval leaves (issued an hour ago), as the server stores it: digest only."""
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    return PickupCodeState(
        id=pickup_state_id(rx.id),
        campus_id=rx.campus_id,
        rx_id=rx.id,
        pharmacy_id=rx.pharmacy_id,
        digest=code_digest(rx.id, code),
        issued_at=issued,
        expires_at=issued + dt.timedelta(days=7),
        events=[PickupEvent(no=1, kind="issue", at=issued, by=PHARMACIST)],
    )


@functools.cache
def pharmacist_key() -> EncryptedKey:
    return generate_keypair(PIN)


def signing_key_row(staff_id: str = PHARMACIST, key: EncryptedKey | None = None) -> SigningKey:
    sealed = key or pharmacist_key()
    return SigningKey(
        id=reference_id("signing_key", f"{staff_id}:{sealed.public_key}"),
        staff_id=staff_id,
        public_key=sealed.public_key,
        fingerprint=fingerprint(sealed.public_key),
        registered_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )


def review_args(
    rx: Prescription,
    *,
    decision: str = "approve",
    reason_code: str = "",
    reason: str = "",
    reviewer_id: str = PHARMACIST,
    key: EncryptedKey | None = None,
    key_row: SigningKey | None = None,
    pickup_code: str | None = "482913",
    tamper: bool = False,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """``rx.review`` args signed with the pharmacist's key at ``at`` (default: now; ``tamper`` changes
    the content after signing)."""
    sealed = key or pharmacist_key()
    row = key_row or signing_key_row(reviewer_id, sealed)
    at = at or dt.datetime.now(dt.UTC).replace(microsecond=0)
    content = review_signed_content(
        rx,
        decision=decision,  # type: ignore[arg-type]
        reason_code=reason_code,
        reason=reason,
        reviewer_id=reviewer_id,
        reviewed_at=at,
    )
    signature = sign(canonical_bytes(content), sealed, PIN)
    return {
        "rx_id": rx.id,
        "decision": decision,
        "reason_code": reason_code,
        "reason": reason + (" (edited)" if tamper else ""),
        "reviewed_at": at.isoformat(),
        "signing_key_id": row.id,
        "signature": signature,
        "pickup_code": pickup_code if decision == "approve" else None,
    }
