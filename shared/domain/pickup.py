"""Pickup codes (取药码): issued when a prescription is approved (and paid), checked before the drugs leave.

The choice: a **random** six-digit code drawn with ``secrets`` when the prescription is approved, kept
with the prescription as a digest only. Random-and-stored works offline on any pharmacy PC (the code
travels in the ``rx.review`` mutation; no shared secret has to sit on every PC, as a code derived from
a secret would need), and a reissue simply draws a new code.

The digest is a **slow, salted, memory-hard hash** (scrypt, N=2^14, r=8: 16 MiB and ~30 ms per try on
one core; salt = the prescription id, so no table serves two prescriptions). It used to be one SHA-256,
which gave the code up in about 3 s to anyone holding a row; now the same search costs about 10^6 x 30
ms, some 8-9 core-hours per code, on hardware where scrypt's memory cost keeps GPUs from doing much
better — against codes that live at most ``CODE_LIFETIME``, are used once, and reach only pharmacy PCs.
A keyed hash (HMAC with a server-held key) would be out of reach altogether, but the pharmacy PC must
verify a code **offline** against the digest it holds, so that key would have to sit on every pharmacy
PC, where a thief of the PC finds it next to the digests; we keep no such secret on PCs and pay the
slow hash instead (one hash per check at the counter, one per active code of the pharmacy when a code
is typed without choosing the prescription). The server never believes a PC that a code was shown: a
dispense carries the code (or follows an ``rx.pickup_verify``), and the handler checks it against the
digest the server stored. Digests made before this change (plain SHA-256) still verify until their
codes expire.

Verification compares digests in constant time, counts wrong tries and locks the code after
``MAX_ATTEMPTS``; a locked or expired code needs a pharmacist to reissue one (a new code, attempts
reset). The patient shows the code typed or as the QR ``clinic:pickup:<rx id>:<code>``.

When: at approval (``rx.review``), or — at a pharmacy with ``Pharmacy.payment_required`` — once the
prescription is paid (``rx.pay``, with the payment the desk's payment adapter confirmed); the PC draws
the code with ``issue_pickup_code`` either way and the handler stores its digest.

**Local digests in a PC's pending view.** A PC runs the handlers of its pending mutations (its own at
record time and on every re-run, and a clinic hub's LAN list) against its local view, and each
``rx.review`` / ``rx.pay`` / ``rx.pickup_reissue`` among them hashed its code with scrypt again: a
pharmacy PC replaying a day's LAN list spent half its time there. Within ``local_digests`` (the store
wraps its handler runs in it) ``code_digest`` makes a fast **keyed** digest instead: HMAC-SHA256 under a
random key of that store (``local1:<key id>:<hex>``). That key is no secret held *for* the PCs as the
rejected design above would need: each store makes its own, keeps it in its (encrypted) state table and
never sends it, and it only hashes codes that already rest on that PC in plain text (the args of the
outbox entries and LAN entries the pending view is built from), so a thief of the PC learns nothing the
digests did not already give away with the args beside them. Once a mutation is confirmed its rows come
from the central API with the scrypt digest, and the local ones are gone with the overlay. The central
API never makes or believes a local digest: it re-runs every handler from the args, outside
``local_digests``, and hashes with scrypt itself; and a local digest verifies only within
``local_digests`` of the store whose key made it (a local digest in confirmed data, from another store,
or with a key id nobody registered simply does not match). Digests stay scrypt everywhere else.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

from shared.errors import BusinessRuleViolation, ValidationFailed
from shared.i18n import register, state_name, tr

CODE_DIGITS = 6
MAX_ATTEMPTS = 5
CODE_LIFETIME = dt.timedelta(days=7)
QR_PREFIX = "clinic:pickup:"
ISSUABLE_STATUSES = frozenset({"approved", "partly_dispensed"})

_MESSAGES = {
    "pickup.not_approved": {
        "zh_CN": "处方尚未审核通过（当前状态：{status}），不能生成取药码",
        "en": "The prescription is not approved (status: {status}); no pickup code yet",
        "zh_TW": "處方尚未審核通過（當前狀態：{status}），不能產生取藥碼",
    },
    "pickup.not_paid": {
        "zh_CN": "处方尚未缴费，不能生成取药码",
        "en": "The prescription is not paid; no pickup code yet",
        "zh_TW": "處方尚未繳費，不能產生取藥碼",
    },
    "pickup.wrong_code": {
        "zh_CN": "取药码错误，还可尝试 {remaining} 次",
        "en": "Wrong pickup code; {remaining} tries left",
        "zh_TW": "取藥碼錯誤，還可嘗試 {remaining} 次",
    },
    "pickup.locked": {
        "zh_CN": "取药码错误次数过多已锁定，请核对患者身份后重新生成取药码",
        "en": "Too many wrong pickup codes; check the patient's identity and issue a new code",
        "zh_TW": "取藥碼錯誤次數過多已鎖定，請核對患者身份後重新產生取藥碼",
    },
    "pickup.expired": {
        "zh_CN": "取药码已过期，请重新生成",
        "en": "The pickup code has expired; issue a new one",
        "zh_TW": "取藥碼已過期，請重新產生",
    },
    "pickup.used": {
        "zh_CN": "该取药码已使用（{at}）",
        "en": "This pickup code was already used ({at})",
        "zh_TW": "該取藥碼已使用（{at}）",
    },
    "pickup.bad_format": {
        "zh_CN": "取药码应为 6 位数字",
        "en": "A pickup code is 6 digits",
        "zh_TW": "取藥碼應為 6 位數字",
    },
    "pickup.reason_required": {
        "zh_CN": "重新生成取药码必须填写原因",
        "en": "Reissuing a pickup code needs a reason",
        "zh_TW": "重新產生取藥碼必須填寫原因",
    },
}
for _key, _texts in _MESSAGES.items():
    register(_key, _texts)


class PickupRefused(BusinessRuleViolation):
    """The code was not accepted; ``code`` says why (wrong, locked, expired, used)."""

    code = "pickup_refused"


DIGEST_PREFIX = "s1$"  # scrypt, the parameters below
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}


_UNSEEN: contextvars.ContextVar[bool] = contextvars.ContextVar("pickup_digests_unseen", default=False)
UNSEEN_DIGEST = DIGEST_PREFIX + "0" * 64


@contextlib.contextmanager
def digests_unseen() -> Iterator[None]:
    """Within: ``code_digest`` answers ``UNSEEN_DIGEST`` without hashing. Only for a caller that blanks
    every digest before anything can read it (a PC replaying a clinic hub's LAN list for a user who gets
    pickup-code digests blank, see ``shared.store.store._lan_replay_from``): there the slow hash of
    each ``rx.review`` was thrown away."""
    token = _UNSEEN.set(True)
    try:
        yield
    finally:
        _UNSEEN.reset(token)


LOCAL_PREFIX = "local1:"  # HMAC-SHA256 under a store's own key: "local1:<key id>:<hex>"
_LOCAL_KEYS: dict[str, bytes] = {}  # key id -> key, of the stores opened in this process
_LOCAL: contextvars.ContextVar[str | None] = contextvars.ContextVar("pickup_local_key", default=None)


def new_local_key() -> tuple[str, bytes]:
    """A fresh (key id, key) for a new store's local digests."""
    return secrets.token_hex(8), secrets.token_bytes(32)


def register_local_key(key_id: str, key: bytes) -> None:
    """Make a store's key known to this process (``LocalStore.open``; several stores may be open)."""
    if not key_id or ":" in key_id or len(key) < 16:
        raise ValueError("a local digest key needs an id without ':' and at least 16 bytes")
    _LOCAL_KEYS[key_id] = key


@contextlib.contextmanager
def local_digests(key_id: str) -> Iterator[None]:
    """Within: ``code_digest`` makes the fast keyed digest under the key ``key_id`` names, and
    ``digest_matches`` believes local digests of that key (only). Only for a PC building its pending
    view (``shared.store``), never on the central API (see the module docstring)."""
    if key_id not in _LOCAL_KEYS:
        raise ValueError(f"no local digest key {key_id!r} is registered in this process")
    token = _LOCAL.set(key_id)
    try:
        yield
    finally:
        _LOCAL.reset(token)


def code_digest(prescription_id: str, code: str) -> str:
    """What is stored instead of the code: slow and salted with the prescription, so one digest cannot
    serve two prescriptions and reversing it costs hours, not seconds (see the module docstring); the
    store's keyed digest within ``local_digests``."""
    if _UNSEEN.get():
        return UNSEEN_DIGEST
    key_id = _LOCAL.get()
    if key_id is not None:
        return _local_digest(key_id, _LOCAL_KEYS[key_id], prescription_id, code)
    return _slow_digest(prescription_id, code)


def _local_digest(key_id: str, key: bytes, prescription_id: str, code: str) -> str:
    message = f"clinic-pickup\x1f{prescription_id}\x1f{code}".encode()
    return f"{LOCAL_PREFIX}{key_id}:{hmac.new(key, message, hashlib.sha256).hexdigest()}"


def _local_matches(prescription_id: str, code: str, digest: str) -> bool:
    """A local digest matches only within ``local_digests`` of the key it names (so never on the
    central API, never from another store, never with an unknown key id)."""
    key_id, _, _ = digest[len(LOCAL_PREFIX) :].partition(":")
    key = _LOCAL_KEYS.get(key_id)
    if key is None or _LOCAL.get() != key_id:
        return False
    return hmac.compare_digest(_local_digest(key_id, key, prescription_id, code), digest)


@functools.lru_cache(maxsize=4096)
def _slow_digest(prescription_id: str, code: str) -> str:
    """``code_digest`` itself.

    Remembered per process for the pairs already hashed: the central API hashes a pushed code ahead
    of its handler (``server_stub.services.push.hash_codes_ahead``) and the handler hashes it again, and
    a PC checks a code against a confirmed (scrypt) digest on every re-run of its pending
    ``rx.dispense`` (30 ms quiet, 0.3 s on a busy PC; a PC's pending view makes local digests, see
    ``local_digests``). A guess at a code is a new pair, so it still pays the full hash; the codes kept
    here are the ones the mutations in this process already carry in plain text."""
    salt = f"clinic-pickup\x1f{prescription_id}".encode()
    derived = hashlib.scrypt(code.encode(), salt=salt, **_SCRYPT)  # type: ignore[arg-type]
    return DIGEST_PREFIX + derived.hex()


def digest_matches(prescription_id: str, code: str, digest: str) -> bool:
    """Whether ``code`` is the one ``digest`` was made from (constant-time compare; old SHA-256 digests
    of codes issued before the slow hash still match until those codes expire; a local digest only
    within ``local_digests`` of its key)."""
    if digest.startswith(DIGEST_PREFIX):
        return hmac.compare_digest(_slow_digest(prescription_id, code), digest)
    if digest.startswith(LOCAL_PREFIX):
        return _local_matches(prescription_id, code, digest)
    legacy = hashlib.sha256(f"pickup\x1f{prescription_id}\x1f{code}".encode()).hexdigest()
    return hmac.compare_digest(legacy, digest)


def normalize_code(entered: str) -> str:
    """Digits only (scanners and people add spaces and dashes); full-width digits count."""
    digits = "".join(ch for ch in entered if ch.isdigit())
    return digits.translate(str.maketrans("０１２３４５６７８９", "0123456789"))


@dataclass(frozen=True)
class PickupCode:
    """The stored state of a prescription's pickup code (everything but the code itself)."""

    prescription_id: str
    digest: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    attempts: int = 0
    locked: bool = False
    used_at: dt.datetime | None = None
    generation: int = 1


@dataclass(frozen=True)
class Verification:
    """The outcome of one check and the state to store afterwards (also when refused)."""

    ok: bool
    state: PickupCode
    reason: Literal["ok", "wrong", "locked", "expired", "used", "bad_format"]
    message: str
    remaining: int

    def raise_if_refused(self) -> None:
        if not self.ok:
            raise PickupRefused(self.message, code=f"pickup_{self.reason}", detail=self.remaining)


def _new_code(prescription_id: str, avoid: Iterable[str], randbelow: Callable[[int], int]) -> str:
    """A code whose digest is not among ``avoid`` and that is not an easily guessed one."""
    taken = set(avoid)
    while True:
        code = f"{randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        if code_digest(prescription_id, code) not in taken and not easy_to_guess(code):
            return code


def issue_pickup_code(
    prescription_id: str,
    *,
    rx_status: str,
    paid: bool,
    payment_required: bool = True,
    now: dt.datetime,
    avoid: Iterable[str] = (),
    lifetime: dt.timedelta = CODE_LIFETIME,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> tuple[str, PickupCode]:
    """A new code for an approved (and, where payment is required, paid) prescription.

    Returns the code (to print, show or text to the patient once) and the state to store. ``avoid``
    holds digests of codes active at this pharmacy, so a typed code alone rarely matches two
    prescriptions (a match on several is resolved by the patient's name; see ``find_by_code``).
    """
    if rx_status not in ISSUABLE_STATUSES:
        raise BusinessRuleViolation(
            tr("pickup.not_approved", status=state_name("prescription", rx_status)),
            code="pickup_not_approved",
        )
    if payment_required and not paid:
        raise BusinessRuleViolation(tr("pickup.not_paid"), code="pickup_not_paid")
    code = _new_code(prescription_id, avoid, randbelow)
    state = PickupCode(prescription_id, code_digest(prescription_id, code), now, now + lifetime)
    return code, state


def easy_to_guess(code: str) -> bool:
    """Codes people try first (000000, 123456): never issued."""
    return len(set(code)) == 1 or code in ("123456", "654321", "012345")


def reissue_pickup_code(
    current: PickupCode,
    *,
    reason: str,
    now: dt.datetime,
    lifetime: dt.timedelta = CODE_LIFETIME,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> tuple[str, PickupCode]:
    """A pharmacist replaces a locked, lost or expired code (the reason goes into the audit trail)."""
    if not reason.strip():
        raise ValidationFailed(tr("pickup.reason_required"), code="pickup_reason_required")
    code = _new_code(current.prescription_id, [current.digest], randbelow)
    state = PickupCode(
        current.prescription_id,
        code_digest(current.prescription_id, code),
        now,
        now + lifetime,
        generation=current.generation + 1,
    )
    return code, state


def verify_pickup_code(
    state: PickupCode, entered: str, *, now: dt.datetime, max_attempts: int = MAX_ATTEMPTS
) -> Verification:
    """Check ``entered`` against the stored digest (constant time) and count a wrong try.

    A correct code marks the state used (a second handover with the same code is refused); the
    ``max_attempts``-th wrong try locks it. A badly formed entry (not six digits) is refused without
    counting, so a slip of the finger on the scanner does not cost the patient a try.
    """
    remaining = max(0, max_attempts - state.attempts)
    if state.locked:
        return Verification(False, state, "locked", tr("pickup.locked"), 0)
    if state.used_at is not None:
        return Verification(
            False, state, "used", tr("pickup.used", at=state.used_at.strftime("%Y-%m-%d %H:%M")), remaining
        )
    if now > state.expires_at:
        return Verification(False, state, "expired", tr("pickup.expired"), remaining)
    code = normalize_code(entered)
    if len(code) != CODE_DIGITS:
        return Verification(False, state, "bad_format", tr("pickup.bad_format"), remaining)
    if digest_matches(state.prescription_id, code, state.digest):
        return Verification(True, replace(state, used_at=now), "ok", "", remaining)
    attempts = state.attempts + 1
    left = max(0, max_attempts - attempts)
    if left == 0:
        return Verification(
            False, replace(state, attempts=attempts, locked=True), "locked", tr("pickup.locked"), 0
        )
    return Verification(
        False, replace(state, attempts=attempts), "wrong", tr("pickup.wrong_code", remaining=left), left
    )


def find_by_code(active: Iterable[PickupCode], entered: str) -> list[PickupCode]:
    """Prescriptions whose active code is ``entered`` (a typed code with no prescription chosen).

    Usually one; two when offline desks drew the same code for different prescriptions, and then the
    pharmacist picks by the patient's name. Verify the chosen one with ``verify_pickup_code``.
    """
    code = normalize_code(entered)
    return [
        s
        for s in active
        if not s.locked and s.used_at is None and digest_matches(s.prescription_id, code, s.digest)
    ]


def pickup_qr_payload(prescription_id: str, code: str) -> str:
    """What the patient's QR (on the receipt or phone) holds: the prescription and its code."""
    return f"{QR_PREFIX}{prescription_id}:{code}"


def parse_pickup_scan(scanned: str) -> tuple[str | None, str]:
    """(prescription id or None, code) from a scanned QR or a typed code."""
    text = scanned.strip()
    if text.startswith(QR_PREFIX):
        rx_id, _, code = text[len(QR_PREFIX) :].rpartition(":")
        return (rx_id or None), normalize_code(code)
    return None, normalize_code(text)
