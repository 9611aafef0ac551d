"""One refusal for every signature rule (``shared.domain.signatures``), used by ``rx.sign``, ``emr.sign``
and ``rx.review`` alike: ``require_signature`` returns the key or raises ``Rejected`` with a code and a
message in the caller's language.

Codes: ``bad_signing_key`` (unknown, voided or another person's key), ``signed_before_key`` (a time
before the key's registration), ``signing_key_revoked`` (revoked at or before the claimed time),
``signing_key_other_device`` (the key belongs to another PC), ``signed_in_future`` (after the server's
receive time + skew), ``signed_before_last_contact`` (before this PC's last contact - skew: it would
have arrived then), ``bad_signature_algorithm``, ``bad_signature`` (does not verify over the content,
which includes the time).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.domain import signatures as rules
from shared.domain.entities import SigningKey
from shared.domain.mutations.base import MutationContext, Rejected, StateReader
from shared.i18n import register

_MESSAGES: dict[str, tuple[str, str, str]] = {
    "signing.before_registration": (
        "签名时间 {at} 早于该签名密钥的登记时间 {registered}",
        "The signing time {at} is before the key was registered ({registered})",
        "簽名時間 {at} 早於該簽名密鑰的登記時間 {registered}",
    ),
    "signing.other_device": (
        "该签名密钥属于另一台电脑，不能在本机签名",
        "This signing key belongs to another PC and cannot sign here",
        "該簽名密鑰屬於另一台電腦，不能在本機簽名",
    ),
    "signing.in_future": (
        "签名时间 {at} 晚于服务器收到的时间，请校准本机时钟",
        "The signing time {at} is later than the server received it; check this PC's clock",
        "簽名時間 {at} 晚於伺服器收到的時間，請校準本機時鐘",
    ),
    "signing.before_last_contact": (
        "签名时间 {at} 早于本机上次与服务器联系的时间 {contact}，不可能是当时离线所签",
        "The signing time {at} is before this PC's last contact with the server ({contact}): it cannot "
        "have been signed offline then",
        "簽名時間 {at} 早於本機上次與伺服器聯繫的時間 {contact}，不可能是當時離線所簽",
    ),
    "signing.algorithm_mismatch": (
        "签名算法与登记的密钥不一致",
        "The signature's algorithm is not the registered key's",
        "簽名演算法與登記的密鑰不一致",
    ),
}
for _key, (_zh, _en, _tw) in _MESSAGES.items():
    register(_key, {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def _minutes(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def refusal(reason: str, key: SigningKey | None, at: dt.datetime, ctx: MutationContext) -> Rejected:
    """The ``Rejected`` for a reason of ``shared.domain.signatures``."""
    if reason == rules.REVOKED and key is not None and key.revoked_at is not None:
        return Rejected(
            ctx.t("signing.key_revoked", at=_minutes(key.revoked_at)),
            code="signing_key_revoked",
            detail={"revoked_at": key.revoked_at.isoformat()},
        )
    if reason == rules.BEFORE_REGISTRATION and key is not None:
        return Rejected(
            ctx.t("signing.before_registration", at=_minutes(at), registered=_minutes(key.registered_at)),
            code="signed_before_key",
        )
    if reason == rules.OTHER_DEVICE:
        return Rejected(ctx.t("signing.other_device"), code="signing_key_other_device")
    if reason == rules.IN_FUTURE:
        return Rejected(ctx.t("signing.in_future", at=_minutes(at)), code="signed_in_future")
    if reason == rules.BEFORE_LAST_CONTACT:
        contact = ctx.last_contact_at()
        return Rejected(
            ctx.t("signing.before_last_contact", at=_minutes(at), contact=_minutes(contact or at)),
            code="signed_before_last_contact",
        )
    if reason == rules.ALGORITHM_MISMATCH:
        return Rejected(ctx.t("signing.algorithm_mismatch"), code="bad_signature_algorithm")
    if reason == rules.CHANGED:
        return Rejected(ctx.t("signing.bad_signature"), code="bad_signature")
    return Rejected(ctx.t("signing.unknown_key"), code="bad_signing_key")


def require_signature(
    state: StateReader,
    *,
    key_id: str,
    at: dt.datetime,
    content: Any,
    signature: str,
    algorithm: str,
    ctx: MutationContext,
) -> SigningKey:
    """The caller's key ``key_id`` when the signature over ``content`` claimed made at ``at`` holds
    every rule; else ``Rejected``. On the server the claimed time is also checked against the receive
    time and this PC's last contact (``ctx.last_contact``)."""
    key = state.get(SigningKey, key_id)
    problem = rules.key_problem(key, signer_id=ctx.staff_id, at=at)
    if problem is not None:
        raise refusal(problem, key, at, ctx)
    assert key is not None
    problem = rules.device_problem(key, ctx.device_id) or rules.signing_time_problem(
        at, received_at=ctx.now, last_contact=ctx.last_contact_at()
    )
    if problem is not None:
        raise refusal(problem, key, at, ctx)
    verdict = rules.verify_signed(
        state,
        key_id=key_id,
        signer_id=ctx.staff_id,
        at=at,
        content=content,
        signature=signature,
        algorithm=algorithm,
    )
    if not verdict.ok:
        raise refusal(verdict.reason, key, at, ctx)
    return key
