"""This PC's signing keys, one per person, kept in the OS key store (never in synced data or a file).

A private key never leaves the PC and person it was made for. ``DeviceKeys(device_id)`` keeps, for each
staff member who signs on this install, one entry in the OS key store (``keyring``: Windows Credential
Manager protected by DPAPI for the logged-in Windows user, the macOS Keychain, the Secret Service on
Linux) under the service ``ClinicSuite signing`` and the account ``<device id>/<staff id>``. The entry
is JSON (``DeviceKeyRecord``): the public key in the clear, the private key sealed with AES-256-GCM
under a key derived from the PIN by argon2id (64 MiB, 3 passes by default), the seal bound (associated
data) to the algorithm, public key, staff member, device id and OS user, plus a count of wrong PINs.

PIN policy: at least ``MIN_PIN_LENGTH`` characters, not one repeated digit nor a straight run
(123456, 987654). ``MAX_ATTEMPTS`` wrong PINs in a row erase the entry (``KeyWiped``): the person
sets a new PIN and this PC registers a new key with the server (online). The count lives in the same
key-store entry, so it survives restarts; what it cannot stop (an attacker who copies the key store
itself and runs argon2id offline) is said in the README.

The public key is registered with the server through ``signing_key.register`` while online (the
server knows this PC's key by ``key_id`` once registered; ``shared.security.device_signing``).
Everything here blocks (argon2id takes a fraction of a second, the key store may be slow): call it on
the DB thread.
"""

from __future__ import annotations

import base64
import datetime as dt
import getpass
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import keyring
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError, PasswordDeleteError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import ValidationFailed
from shared.i18n import DEFAULT_LANGUAGE, register, tr
from shared.security.providers import DEFAULT_ALGORITHM, SignatureProvider, key_fingerprint, provider_for
from shared.security.signing import MIN_PIN_LENGTH, SigningError, WrongPin

log = logging.getLogger(__name__)

SERVICE: Final = "ClinicSuite signing"
RECORD_FORMAT: Final = "clinic-devicekey-argon2id-aesgcm-v1"
MAX_ATTEMPTS: Final = 5

register(
    "devicekey.no_store",
    {
        "zh_CN": "本机没有可用的系统密钥库，不能保存签名密钥：{detail}",
        "en": "This PC has no usable OS key store, so no signing key can be kept: {detail}",
        "zh_TW": "本機沒有可用的系統密鑰庫，不能保存簽名密鑰：{detail}",
    },
)
register(
    "devicekey.wrong_pin",
    {
        "zh_CN": "签名 PIN 码错误，还可再试 {left} 次",
        "en": "Wrong signing PIN; {left} attempt(s) left",
        "zh_TW": "簽名 PIN 碼錯誤，還可再試 {left} 次",
    },
)
register(
    "devicekey.wiped",
    {
        "zh_CN": "签名 PIN 连续错误 {max} 次，本机的签名密钥已清除；请联网后重新设置 PIN",
        "en": "{max} wrong signing PINs in a row: this PC's signing key was erased; set a new PIN while online",
        "zh_TW": "簽名 PIN 連續錯誤 {max} 次，本機的簽名密鑰已清除；請連網後重新設定 PIN",
    },
)
register(
    "devicekey.trivial_pin",
    {
        "zh_CN": "PIN 码过于简单（重复或连续的数字），请换一个",
        "en": "The PIN is too easy to guess (repeated or consecutive digits); choose another",
        "zh_TW": "PIN 碼過於簡單（重複或連續的數字），請換一個",
    },
)
register(
    "devicekey.unknown_algorithm",
    {
        "zh_CN": "本版本不支持签名算法 {algorithm}",
        "en": "This build does not support the signature algorithm {algorithm}",
        "zh_TW": "本版本不支援簽名演算法 {algorithm}",
    },
)


class KeyWiped(SigningError):
    """Too many wrong PINs: the key was erased from the key store."""

    code = "signing_key_wiped"


class NoKeyStore(SigningError):
    code = "no_key_store"


@dataclass(frozen=True)
class KdfParams:
    """argon2id cost: ``time_cost`` passes over ``memory_kib`` KiB with ``parallelism`` lanes."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 1


DEFAULT_KDF: Final = KdfParams()


class DeviceKeyRecord(BaseModel):
    """One key-store entry (JSON). ``key_id`` is the server's ``SigningKey`` id of this public key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["clinic-devicekey-argon2id-aesgcm-v1"] = RECORD_FORMAT
    algorithm: str = Field(min_length=1, max_length=15)
    key_id: str = Field(min_length=1, max_length=64)
    staff_id: str = Field(min_length=1, max_length=64)
    device_id: str = Field(min_length=1, max_length=128)
    public_key: str = Field(min_length=1, max_length=512)
    kdf_salt: str
    kdf_time: int = Field(ge=1, le=20)
    kdf_memory_kib: int = Field(ge=8, le=1024 * 1024)
    kdf_parallelism: int = Field(ge=1, le=16)
    nonce: str
    ciphertext: str
    failures: int = Field(default=0, ge=0)
    created_at: dt.datetime
    registration_id: str = Field(default="", max_length=64)  # the outbox entry of signing_key.register

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.public_key)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        return ""


def check_pin_policy(pin: str, lang: str = DEFAULT_LANGUAGE) -> None:
    """Refuse a PIN shorter than ``MIN_PIN_LENGTH`` or one digit repeated / a straight run of digits."""
    if len(pin) < MIN_PIN_LENGTH:
        raise ValidationFailed(tr("signing.weak_pin", lang, min=MIN_PIN_LENGTH), code="weak_pin")
    if pin.isdigit():
        steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
        if steps in ({0}, {1}, {-1}):
            raise ValidationFailed(tr("devicekey.trivial_pin", lang), code="weak_pin")


@dataclass(frozen=True)
class UnlockedKey:
    """A key opened by its PIN for one action: signs without asking again. Never stored or sent."""

    record: DeviceKeyRecord
    provider: SignatureProvider
    private: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        return self.record.key_id

    @property
    def algorithm(self) -> str:
        return self.record.algorithm

    def sign(self, data: bytes) -> str:
        return self.provider.sign(self.private, data)


class DeviceKeys:
    """The signing keys of one app install (``device_id``) in the OS key store.

    ``backend`` is a ``keyring`` backend; None uses the one ``keyring`` chose (tests install a file
    backed one with ``keyring.set_keyring``)."""

    def __init__(
        self,
        device_id: str,
        *,
        backend: KeyringBackend | None = None,
        kdf: KdfParams = DEFAULT_KDF,
        max_attempts: int = MAX_ATTEMPTS,
        service: str = SERVICE,
    ) -> None:
        self.device_id = device_id
        self._backend = backend
        self.kdf = kdf
        self.max_attempts = max_attempts
        self.service = service

    # -- key store access ---------------------------------------------------------------------------
    def _store(self) -> Any:
        return self._backend if self._backend is not None else keyring.get_keyring()

    def _account(self, staff_id: str) -> str:
        return f"{self.device_id}/{staff_id}"

    def _read(self, staff_id: str, lang: str) -> str | None:
        try:
            return self._store().get_password(self.service, self._account(staff_id))  # type: ignore[no-any-return]
        except KeyringError as error:
            raise NoKeyStore(tr("devicekey.no_store", lang, detail=str(error))) from error

    def _write(self, record: DeviceKeyRecord, lang: str) -> None:
        try:
            self._store().set_password(self.service, self._account(record.staff_id), record.model_dump_json())
        except KeyringError as error:
            raise NoKeyStore(tr("devicekey.no_store", lang, detail=str(error))) from error

    def forget(self, staff_id: str) -> None:
        """Erase this PC's key of ``staff_id`` (nothing if there is none)."""
        try:
            self._store().delete_password(self.service, self._account(staff_id))
        except PasswordDeleteError:
            pass
        except KeyringError as error:
            log.warning("could not erase the signing key of %s: %s", staff_id, error)

    def load(self, staff_id: str, lang: str = DEFAULT_LANGUAGE) -> DeviceKeyRecord | None:
        """This PC's key of ``staff_id`` (public parts readable without the PIN), or None."""
        text = self._read(staff_id, lang)
        if not text:
            return None
        try:
            record = DeviceKeyRecord.model_validate_json(text)
        except ValidationError:
            log.warning("unreadable signing key entry for %s; ignored", staff_id)
            return None
        if record.staff_id != staff_id or record.device_id != self.device_id:
            return None  # an entry copied from another account or PC
        return record

    # -- sealing ------------------------------------------------------------------------------------
    def _aad(self, algorithm: str, public_key: str, staff_id: str) -> bytes:
        parts = (RECORD_FORMAT, algorithm, public_key, staff_id, self.device_id, _os_user())
        return "|".join(parts).encode("utf-8")

    @staticmethod
    def _derive(pin: str, salt: bytes, time_cost: int, memory_kib: int, parallelism: int) -> bytes:
        return hash_secret_raw(
            pin.encode("utf-8"),
            salt,
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            type=Type.ID,
        )

    def _seal(
        self,
        *,
        staff_id: str,
        key_id: str,
        algorithm: str,
        private: bytes,
        public_key: str,
        pin: str,
        created_at: dt.datetime,
    ) -> DeviceKeyRecord:
        salt, nonce = os.urandom(16), os.urandom(12)
        kdf = self.kdf
        secret = self._derive(pin, salt, kdf.time_cost, kdf.memory_kib, kdf.parallelism)
        blob = AESGCM(secret).encrypt(nonce, private, self._aad(algorithm, public_key, staff_id))
        return DeviceKeyRecord(
            algorithm=algorithm,
            key_id=key_id,
            staff_id=staff_id,
            device_id=self.device_id,
            public_key=public_key,
            kdf_salt=_b64(salt),
            kdf_time=kdf.time_cost,
            kdf_memory_kib=kdf.memory_kib,
            kdf_parallelism=kdf.parallelism,
            nonce=_b64(nonce),
            ciphertext=_b64(blob),
            created_at=created_at,
        )

    def _open(self, record: DeviceKeyRecord, pin: str, lang: str) -> bytes:
        """The private key, counting a wrong PIN in the key store (erasing it at ``max_attempts``)."""
        secret = self._derive(
            pin, _unb64(record.kdf_salt), record.kdf_time, record.kdf_memory_kib, record.kdf_parallelism
        )
        try:
            private = AESGCM(secret).decrypt(
                _unb64(record.nonce),
                _unb64(record.ciphertext),
                self._aad(record.algorithm, record.public_key, record.staff_id),
            )
        except InvalidTag:
            failures = record.failures + 1
            if failures >= self.max_attempts:
                self.forget(record.staff_id)
                log.warning("signing key of %s erased after %d wrong PINs", record.staff_id, failures)
                raise KeyWiped(tr("devicekey.wiped", lang, max=self.max_attempts)) from None
            self._write(record.model_copy(update={"failures": failures}), lang)
            left = self.max_attempts - failures
            raise WrongPin(
                tr("devicekey.wrong_pin", lang, left=left), detail={"attempts_left": left}
            ) from None
        if record.failures:
            self._write(record.model_copy(update={"failures": 0}), lang)
        return private

    # -- what the apps do ---------------------------------------------------------------------------
    def create(
        self,
        staff_id: str,
        pin: str,
        *,
        key_id: str,
        algorithm: str = DEFAULT_ALGORITHM,
        now: dt.datetime | None = None,
        lang: str = DEFAULT_LANGUAGE,
    ) -> tuple[DeviceKeyRecord, bytes]:
        """A new key pair for ``staff_id`` on this PC, sealed under ``pin`` into the key store (replacing
        any earlier one); returns the record and the private key (only to sign the registration proof
        at once; drop it afterwards)."""
        check_pin_policy(pin, lang)
        provider = provider_for(algorithm)
        if provider is None:
            raise SigningError(tr("devicekey.unknown_algorithm", lang, algorithm=algorithm), code="bad_key")
        pair = provider.generate()
        record = self._seal(
            staff_id=staff_id,
            key_id=key_id,
            algorithm=algorithm,
            private=pair.private,
            public_key=pair.public_key,
            pin=pin,
            created_at=now or dt.datetime.now(dt.UTC),
        )
        self._write(record, lang)
        return record, pair.private

    def unlock(self, staff_id: str, pin: str, *, lang: str = DEFAULT_LANGUAGE) -> UnlockedKey:
        """This PC's key of ``staff_id`` opened with ``pin`` for one action (drop it afterwards).
        ``WrongPin`` (attempts left in the message), ``KeyWiped`` at the last attempt, ``SigningError``
        without a key."""
        record = self.load(staff_id, lang)
        if record is None:
            raise SigningError(tr("signing.bad_key", lang), code="no_signing_key")
        provider = provider_for(record.algorithm)
        if provider is None:
            raise SigningError(
                tr("devicekey.unknown_algorithm", lang, algorithm=record.algorithm), code="bad_key"
            )
        return UnlockedKey(record, provider, self._open(record, pin, lang))

    def sign(
        self, staff_id: str, data: bytes, pin: str, *, lang: str = DEFAULT_LANGUAGE
    ) -> tuple[str, DeviceKeyRecord]:
        """(signature, record) of ``data`` with this PC's key of ``staff_id`` (``unlock`` + sign)."""
        unlocked = self.unlock(staff_id, pin, lang=lang)
        return unlocked.sign(data), unlocked.record

    def note_registration(self, staff_id: str, registration_id: str, lang: str = DEFAULT_LANGUAGE) -> None:
        """Remember which outbox entry registers this PC's key (to know when the server confirmed it)."""
        record = self.load(staff_id, lang)
        if record is not None:
            self._write(record.model_copy(update={"registration_id": registration_id}), lang)

    def change_pin(
        self, staff_id: str, old_pin: str, new_pin: str, *, lang: str = DEFAULT_LANGUAGE
    ) -> DeviceKeyRecord:
        """The same key pair sealed under ``new_pin`` (registered key and signatures stay valid)."""
        check_pin_policy(new_pin, lang)
        record = self.load(staff_id, lang)
        if record is None:
            raise SigningError(tr("signing.bad_key", lang), code="no_signing_key")
        private = self._open(record, old_pin, lang)
        resealed = self._seal(
            staff_id=staff_id,
            key_id=record.key_id,
            algorithm=record.algorithm,
            private=private,
            public_key=record.public_key,
            pin=new_pin,
            created_at=record.created_at,
        )
        self._write(resealed, lang)
        return resealed

    def attempts_left(self, staff_id: str, lang: str = DEFAULT_LANGUAGE) -> int:
        record = self.load(staff_id, lang)
        return 0 if record is None else self.max_attempts - record.failures


__all__ = [
    "DEFAULT_KDF",
    "MAX_ATTEMPTS",
    "DeviceKeyRecord",
    "DeviceKeys",
    "KdfParams",
    "KeyWiped",
    "NoKeyStore",
    "UnlockedKey",
    "check_pin_policy",
]
