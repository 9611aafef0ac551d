"""Personal Ed25519 signing keys protected by a PIN, and the canonical bytes that signatures cover.

Contract
--------
``generate_keypair(pin)`` makes a key pair and returns it as an ``EncryptedKey``: the public key in the
clear (register it with the server as ``Staff.signing_public_key``) and the private key encrypted with
AES-256-GCM under a key derived from the PIN by scrypt (salt and cost stored alongside, the public key
bound in as associated data). ``sign(data, key, pin)`` decrypts, signs and forgets the private key;
a wrong PIN raises ``WrongPin``. ``change_pin`` re-encrypts the same key pair, so existing signatures
and the registered public key stay valid. A forgotten PIN cannot be recovered: an administrator
``admin_reset``s, which makes a new key pair and names the old public key as revoked (the server stops
accepting it for new signatures; old signatures still verify against the key recorded with them).

A PIN is short: the encryption keeps a stolen key file from being used casually, not from an offline
brute force of a 6-digit PIN. The apps therefore never keep an ``EncryptedKey`` in synced data or a
file: a PC's signing key lives in the OS key store, sealed under argon2id with an attempt limit
(``shared.security.device_keys``). ``sign`` and ``verify`` go through the algorithm's provider
(``shared.security.providers``), as every signature in the suite does.

``canonical_bytes(value)`` is the exact byte string a signature covers: UTF-8, compact JSON with sorted
keys, of ``value.signed_content()`` when the value has one (``PrescriptionDraft`` documents its fields),
else of the model's JSON dump or the mapping itself. Decimals print without trailing zeros (0.50 → "0.5"),
dates and times as ISO 8601 (aware times in UTC), so a row re-read from any database signs the same.
All functions are pure and thread-safe; scrypt costs tens of milliseconds, so call them off the GUI thread.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import AuthFailed, SuiteError, ValidationFailed
from shared.i18n import DEFAULT_LANGUAGE, register, tr
from shared.security.providers import (
    DEFAULT_ALGORITHM,
    SignatureProvider,
    provider_for,
    verify_signature,
)

KEY_FORMAT: Final = "clinic-ed25519-scrypt-aesgcm-v1"
MIN_PIN_LENGTH = 6
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1

register(
    "signing.wrong_pin",
    {"zh_CN": "签名 PIN 码错误", "en": "Wrong signing PIN", "zh_TW": "簽名 PIN 碼錯誤"},
)
register(
    "signing.weak_pin",
    {
        "zh_CN": "PIN 码至少 {min} 位",
        "en": "The PIN must have at least {min} characters",
        "zh_TW": "PIN 碼至少 {min} 位",
    },
)
register(
    "signing.bad_key",
    {
        "zh_CN": "签名密钥文件损坏或格式不支持",
        "en": "The signing key is damaged or in an unsupported format",
        "zh_TW": "簽名密鑰檔案損壞或格式不支援",
    },
)
register(
    "signing.bad_signature",
    {
        "zh_CN": "电子签名验证失败：内容与签名不符或公钥不匹配",
        "en": "Signature does not verify: the content changed or the key does not match",
        "zh_TW": "電子簽名驗證失敗：內容與簽名不符或公鑰不匹配",
    },
)


class SigningError(SuiteError):
    code = "signing_failed"


class WrongPin(AuthFailed):
    """The PIN does not open the private key."""

    code = "wrong_pin"


class BadSignature(SigningError):
    code = "bad_signature"


class EncryptedKey(BaseModel):
    """A personal key pair at rest: public key in the clear, private key sealed with the PIN. JSON-able."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["clinic-ed25519-scrypt-aesgcm-v1"] = KEY_FORMAT
    public_key: str = Field(description="raw 32-byte Ed25519 public key, base64")
    kdf_salt: str
    kdf_n: int = Field(ge=2**10, le=2**22)
    kdf_r: int = Field(ge=1, le=32)
    kdf_p: int = Field(ge=1, le=16)
    nonce: str
    ciphertext: str
    created_at: dt.datetime

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)


class KeyRotation(BaseModel):
    """What an administrator's reset produces: the new sealed key and the public key to revoke."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: EncryptedKey
    revoked_public_key: str | None
    revoked_fingerprint: str | None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _check_pin(pin: str, lang: str) -> None:
    if len(pin) < MIN_PIN_LENGTH:
        raise ValidationFailed(tr("signing.weak_pin", lang, min=MIN_PIN_LENGTH), code="weak_pin")


def _derive(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(pin.encode("utf-8"))


def _aad(public_key: str) -> bytes:
    return f"{KEY_FORMAT}|{public_key}".encode("ascii")


def _seal(private: Ed25519PrivateKey, pin: str, created_at: dt.datetime) -> EncryptedKey:
    public = _b64(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    salt, nonce = os.urandom(16), os.urandom(12)
    key = _derive(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return EncryptedKey(
        public_key=public,
        kdf_salt=_b64(salt),
        kdf_n=SCRYPT_N,
        kdf_r=SCRYPT_R,
        kdf_p=SCRYPT_P,
        nonce=_b64(nonce),
        ciphertext=_b64(AESGCM(key).encrypt(nonce, raw, _aad(public))),
        created_at=created_at,
    )


def _open(sealed: EncryptedKey, pin: str, lang: str) -> Ed25519PrivateKey:
    try:
        salt, nonce, blob = _unb64(sealed.kdf_salt), _unb64(sealed.nonce), _unb64(sealed.ciphertext)
    except ValueError as exc:
        raise SigningError(tr("signing.bad_key", lang), code="bad_key") from exc
    key = _derive(pin, salt, sealed.kdf_n, sealed.kdf_r, sealed.kdf_p)
    try:
        raw = AESGCM(key).decrypt(nonce, blob, _aad(sealed.public_key))
    except InvalidTag as exc:
        raise WrongPin(tr("signing.wrong_pin", lang)) from exc
    private = Ed25519PrivateKey.from_private_bytes(raw)
    if _b64(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)) != sealed.public_key:
        raise SigningError(tr("signing.bad_key", lang), code="bad_key")
    return private


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def generate_keypair(
    pin: str, *, now: dt.datetime | None = None, lang: str = DEFAULT_LANGUAGE
) -> EncryptedKey:
    """A new personal key pair sealed with ``pin`` (at least ``MIN_PIN_LENGTH`` characters)."""
    _check_pin(pin, lang)
    return _seal(Ed25519PrivateKey.generate(), pin, now or _now())


def change_pin(
    sealed: EncryptedKey, old_pin: str, new_pin: str, *, lang: str = DEFAULT_LANGUAGE
) -> EncryptedKey:
    """The same key pair sealed with ``new_pin``; ``WrongPin`` if ``old_pin`` does not open it."""
    _check_pin(new_pin, lang)
    private = _open(sealed, old_pin, lang)
    return _seal(private, new_pin, sealed.created_at)


def admin_reset(
    new_pin: str,
    *,
    revoked_public_key: str | None = None,
    now: dt.datetime | None = None,
    lang: str = DEFAULT_LANGUAGE,
) -> KeyRotation:
    """An administrator's reset for a forgotten PIN: a new key pair; the old public key is to be revoked."""
    key = generate_keypair(new_pin, now=now, lang=lang)
    return KeyRotation(
        key=key,
        revoked_public_key=revoked_public_key,
        revoked_fingerprint=fingerprint(revoked_public_key) if revoked_public_key else None,
    )


def sign(data: bytes, sealed: EncryptedKey, pin: str, *, lang: str = DEFAULT_LANGUAGE) -> str:
    """Base64 Ed25519 signature of ``data`` (use ``canonical_bytes``); ``WrongPin`` on a wrong PIN."""
    raw = _open(sealed, pin, lang).private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return _ed25519().sign(raw, data)


def verify(data: bytes, signature: str, public_key: str, algorithm: str = DEFAULT_ALGORITHM) -> bool:
    """Whether ``signature`` over ``data`` verifies under ``public_key`` with ``algorithm``'s provider."""
    return verify_signature(algorithm, public_key, data, signature)


def _ed25519() -> SignatureProvider:
    provider = provider_for("ed25519")
    assert provider is not None  # registered when shared.security.providers is imported
    return provider


def require_valid(
    data: bytes,
    signature: str,
    public_key: str,
    *,
    algorithm: str = DEFAULT_ALGORITHM,
    lang: str = DEFAULT_LANGUAGE,
) -> None:
    """Raise ``BadSignature`` unless the signature verifies."""
    if not verify(data, signature, public_key, algorithm):
        raise BadSignature(tr("signing.bad_signature", lang))


def fingerprint(public_key: str, *, groups: int = 8) -> str:
    """SHA-256 of the raw public key as upper-case hex in groups of four: '3F2A 9C1B …' (``groups`` of them)."""
    digest = hashlib.sha256(_unb64(public_key)).hexdigest().upper()
    return " ".join(digest[i : i + 4] for i in range(0, 4 * groups, 4))


def _canonical(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _canonical(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        raise TypeError("floats are not allowed in signed content; use Decimal")
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"cannot sign a value of type {type(value).__name__}")


def canonical_bytes(value: BaseModel | Mapping[str, Any]) -> bytes:
    """The exact bytes a signature covers: sorted-key compact UTF-8 JSON of the signed content."""
    content = value.signed_content() if hasattr(value, "signed_content") else value
    return json.dumps(_canonical(content), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
