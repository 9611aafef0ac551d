"""One rule for a prescription's signature: ``rx.sign`` (server and PC) and the pharmacy's offline check
agree on every forgery: another person's key, a revoked or voided key, a time before the key, content
or time changed after signing."""

from __future__ import annotations

import datetime as dt

import pytest

from pharmacy_desk.documents import check_signature, draft_of
from shared.domain.clinical import rx_signed_content
from shared.domain.entities import Patient, Prescription, SigningKey, Staff, Visit
from shared.domain.mutations import Rejected
from shared.security.signing import EncryptedKey, canonical_bytes, generate_keypair, sign
from tests.clinical.support import (
    DOCTOR1,
    DOCTOR2,
    PIN,
    MemoryState,
    context,
    create_args,
    doctor_key,
    draft,
    first_drugs,
    key_row,
    line,
    now,
)
from tests.clinical.test_handlers import _world


def _written(state: MemoryState, patient: Patient, doctor: Staff, visit: Visit) -> Prescription:
    rx = draft(patient, doctor, [line(first_drugs(1)[0])], device_id="pc-1", visit_id=visit.id)
    state.run("rx.create", create_args(rx), context())
    row = state.get(Prescription, rx.id)
    assert row is not None
    return row


def _signed_row(row: Prescription, key: SigningKey, sealed: EncryptedKey, at: dt.datetime) -> Prescription:
    """The row as a forger would write it: a signature that verifies with ``sealed``'s key."""
    signature = sign(canonical_bytes(rx_signed_content(row, at)), sealed, PIN)
    return row.model_copy(
        update={"status": "signed", "signature": signature, "signing_key_id": key.id, "signed_at": at}
    )


def _server_says(state: MemoryState, row: Prescription, key: SigningKey) -> str:
    args = {
        "rx_id": row.id,
        "signing_key_id": key.id,
        "signed_at": row.signed_at.isoformat(),  # type: ignore[union-attr]
        "signature": row.signature,
    }
    try:
        state.run("rx.sign", args, context())
    except Rejected as refusal:
        return refusal.code
    return "ok"


@pytest.mark.parametrize(
    ("case", "server_code", "pharmacy_reason"),
    [
        ("valid", "ok", "ok"),
        ("another_doctors_key", "bad_signing_key", "not_signers_key"),
        ("revoked_before", "signing_key_revoked", "revoked"),
        ("voided_key", "bad_signing_key", "no_key"),
        ("before_registration", "signed_before_key", "before_registration"),
    ],
)
def test_the_pharmacy_checks_a_signature_by_the_rules_rx_sign_applies(
    case: str, server_code: str, pharmacy_reason: str
) -> None:
    state, patient, doctor, visit = _world()
    at = now() - dt.timedelta(minutes=30)
    sealed = doctor_key()
    owner = DOCTOR2 if case == "another_doctors_key" else DOCTOR1
    if case == "another_doctors_key":
        sealed = generate_keypair(PIN)
    key = key_row(owner, sealed)
    if case == "revoked_before":
        key = key.model_copy(update={"revoked_at": at - dt.timedelta(minutes=10)})
    if case == "voided_key":
        key = key.model_copy(update={"voided": True})
    if case == "before_registration":
        key = key.model_copy(update={"registered_at": at + dt.timedelta(hours=1)})
    state.put(key)
    row = _signed_row(_written(state, patient, doctor, visit), key, sealed, at)
    assert _server_says(state, row, key) == server_code
    verdict = check_signature(state, row, draft_of(state, row))
    assert (verdict.ok, verdict.reason) == (pharmacy_reason == "ok", pharmacy_reason)


def test_content_or_time_changed_after_signing_fails_the_pharmacys_check() -> None:
    state, patient, doctor, visit = _world()
    key = key_row(DOCTOR1, doctor_key())
    state.put(key)
    at = now() - dt.timedelta(minutes=5)
    row = _signed_row(_written(state, patient, doctor, visit), key, doctor_key(), at)
    assert check_signature(state, row, draft_of(state, row)).ok
    later = row.model_copy(update={"signed_at": at + dt.timedelta(minutes=1)})
    assert check_signature(state, later, draft_of(state, later)).reason == "changed"
    edited = row.model_copy(update={"lines": [{**row.lines[0], "days": 30}]})
    assert check_signature(state, edited, draft_of(state, edited)).reason == "changed"
