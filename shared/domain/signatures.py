"""The rules a signature must meet, written once: the server's handlers (``rx.sign``, ``rx.review``,
``emr.sign``), the same handlers run on a PC, and the pharmacy's offline check of a doctor's signature
all call these.

A signature is good when its key is registered, not voided, belongs to the signer, was registered
before the claimed signing time (give or take ``SKEW``) and not revoked at or before it, the algorithm
recorded with it is the key's, and it verifies (through the algorithm's provider) over the signed
content, which includes the signing time. When the signature arrives (``signing_time_problem``) its
claimed time must also be possible: not after the server's receive time + ``SKEW``, and not before the
device's last contact with the server - ``SKEW`` (a PC pushes its whole outbox before each pull, so a
signature made before a pull it took part in would have arrived then).

Pure and deterministic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from shared.domain.clinical import rx_signed_content
from shared.domain.entities import Prescription, SigningKey
from shared.security.providers import key_fingerprint, verify_signature
from shared.security.signing import canonical_bytes

SKEW: Final = dt.timedelta(minutes=5)

# reasons, in the order they are checked
MISSING = "missing"
UNKNOWN_KEY = "unknown_key"
NOT_SIGNERS_KEY = "not_signers_key"
BEFORE_REGISTRATION = "before_registration"
REVOKED = "revoked"
ALGORITHM_MISMATCH = "algorithm_mismatch"
CHANGED = "changed"
IN_FUTURE = "in_future"
BEFORE_LAST_CONTACT = "before_last_contact"
OTHER_DEVICE = "other_device"


@dataclass(frozen=True)
class SignatureVerdict:
    """Whether a signature holds (``reason`` "ok" or one of the reasons above) and the key it names."""

    ok: bool
    reason: str
    key: SigningKey | None = None

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.key.public_key, groups=4) if self.key is not None else ""


def key_problem(key: SigningKey | None, *, signer_id: str, at: dt.datetime) -> str | None:
    """Why ``key`` cannot carry ``signer_id``'s signature made at ``at``, or None."""
    if key is None or key.voided:
        return UNKNOWN_KEY
    if key.staff_id != signer_id:
        return NOT_SIGNERS_KEY
    if at < key.registered_at - SKEW:
        return BEFORE_REGISTRATION
    if key.revoked_at is not None and key.revoked_at <= at:
        return REVOKED
    return None


def verify_signed(
    state: Any,
    *,
    key_id: str | None,
    signer_id: str,
    at: dt.datetime,
    content: Any,
    signature: str,
    algorithm: str = "",
) -> SignatureVerdict:
    """The verdict on ``signature`` over ``content`` (a mapping or a model with ``signed_content``),
    claimed made by ``signer_id`` at ``at`` with the key ``key_id`` (looked up in ``state``)."""
    if not signature:
        return SignatureVerdict(False, MISSING)
    key = state.get(SigningKey, key_id) if key_id else None
    problem = key_problem(key, signer_id=signer_id, at=at)
    if problem is not None:
        return SignatureVerdict(False, problem, key)
    assert key is not None
    if algorithm and algorithm != key.algorithm:
        return SignatureVerdict(False, ALGORITHM_MISMATCH, key)
    if not verify_signature(key.algorithm, key.public_key, canonical_bytes(content), signature):
        return SignatureVerdict(False, CHANGED, key)
    return SignatureVerdict(True, "ok", key)


def signing_time_problem(
    signed_at: dt.datetime, *, received_at: dt.datetime, last_contact: dt.datetime | None
) -> str | None:
    """Why a signature claiming ``signed_at`` cannot have been made by a PC whose last contact before
    this push was ``last_contact`` (None: unknown), arriving at ``received_at``; or None."""
    if signed_at > received_at + SKEW:
        return IN_FUTURE
    if last_contact is not None and signed_at < last_contact - SKEW:
        return BEFORE_LAST_CONTACT
    return None


def device_problem(key: SigningKey, device_id: str) -> str | None:
    """A key registered for one PC signs only in that PC's mutations (its private key never leaves it)."""
    if key.device_id and key.device_id != device_id:
        return OTHER_DEVICE
    return None


def rx_signature(state: Any, rx: Prescription) -> SignatureVerdict:
    """The doctor's signature on a prescription row, as the pharmacy and the printouts check it."""
    if not rx.signature or rx.signed_at is None:
        return SignatureVerdict(False, MISSING)
    try:
        content = rx_signed_content(rx, rx.signed_at)
    except ValidationError:  # a row without the snapshot it was signed with
        return SignatureVerdict(False, CHANGED)
    return verify_signed(
        state,
        key_id=rx.signing_key_id,
        signer_id=rx.doctor_id,
        at=rx.signed_at,
        content=content,
        signature=rx.signature,
        algorithm=rx.signature_algorithm,
    )
