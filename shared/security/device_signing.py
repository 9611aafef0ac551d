"""The one home of "which key does this person sign with on this PC" for every app (Qt-free).

``find_key(store, keys, staff_id)`` looks at this PC's key in the OS key store (``DeviceKeys``) and at
what the local store knows of its registration (``SigningKey`` rows, the outbox entry of
``signing_key.register``) and answers a ``KeyStatus``:

- ``none``: no key here (first signature on this PC, or the old one was revoked, refused or erased
  after too many wrong PINs): ask for a new PIN and ``create_key``;
- ``pending``: made and recorded, the server has not confirmed it yet: the app waits (online) before
  signing, because the server refuses a signature claiming a time before the key's registration;
- ``ready``: registered and usable: ``KeyStatus.signer`` unlocks it with the PIN.

``create_key`` makes the pair in the key store and records ``signing_key.register`` (public key and a
proof signed with the new key). Everything blocks (argon2id, the key store): call it on the DB thread.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from shared import clinic_time
from shared.domain.clinical import key_registration_content
from shared.domain.entities import SigningKey
from shared.domain.mutations.base import Rejected
from shared.i18n import DEFAULT_LANGUAGE
from shared.ids import new_id
from shared.security.device_keys import DeviceKeyRecord, DeviceKeys, KeyWiped, UnlockedKey
from shared.security.providers import key_fingerprint, provider_for
from shared.security.signing import canonical_bytes

log = logging.getLogger(__name__)

REGISTER_MUTATION = "signing_key.register"
REVOKE_MUTATION = "signing_key.revoke"
UNRESOLVED = ("pending", "sent")

KeyState = Literal["none", "pending", "ready"]


@dataclass(frozen=True)
class DeviceSigner:
    """This PC's registered key of one person, not yet unlocked. ``unlock(pin)`` opens it for one
    action; a wrong PIN counts against the key store's attempt limit."""

    keys: DeviceKeys
    record: DeviceKeyRecord

    @property
    def key_id(self) -> str:
        return self.record.key_id

    @property
    def algorithm(self) -> str:
        return self.record.algorithm

    @property
    def public_key(self) -> str:
        return self.record.public_key

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.record.public_key)

    def unlock(self, pin: str, lang: str = DEFAULT_LANGUAGE) -> UnlockedKey:
        return self.keys.unlock(self.record.staff_id, pin, lang=lang)


@dataclass(frozen=True)
class KeyStatus:
    state: KeyState
    signer: DeviceSigner | None = None
    revoked: bool = False  # the key here was revoked (by its owner or an administrator): say so


def find_key(store: Any, keys: DeviceKeys, staff_id: str, lang: str = DEFAULT_LANGUAGE) -> KeyStatus:
    """This PC's key of ``staff_id`` and where its registration stands (see the module docstring).
    A key the server refused or revoked is erased here."""
    record = keys.load(staff_id, lang)
    if record is None:
        return KeyStatus("none")
    entry = store.entry(record.registration_id) if record.registration_id else None
    row = store.get(SigningKey, record.key_id)
    if entry is not None and entry.status == "rejected":
        log.warning("the server refused this PC's signing key of %s: %s", staff_id, entry.message)
        keys.forget(staff_id)
        return KeyStatus("none")
    if row is None or row.voided or row.public_key != record.public_key or row.staff_id != staff_id:
        if entry is not None and entry.status in (*UNRESOLVED, "applied"):  # the row comes with a pull
            return KeyStatus("pending", DeviceSigner(keys, record))
        keys.forget(staff_id)  # recorded on a PC whose outbox was lost, or an unknown key
        return KeyStatus("none")
    if row.revoked_at is not None:
        keys.forget(staff_id)
        return KeyStatus("none", revoked=True)
    if entry is not None and entry.status in UNRESOLVED:
        return KeyStatus("pending", DeviceSigner(keys, record))
    return KeyStatus("ready", DeviceSigner(keys, record))


def create_key(
    store: Any, keys: DeviceKeys, staff_id: str, pin: str, lang: str = DEFAULT_LANGUAGE
) -> DeviceSigner:
    """A new key for ``staff_id`` on this PC under ``pin`` (the PIN policy applies) and its
    ``signing_key.register`` in the outbox; the app pushes it and waits for the server's answer
    (``find_key`` says ``ready``) before signing. A local refusal erases the new key."""
    key_id = new_id()
    record, private = keys.create(staff_id, pin, key_id=key_id, lang=lang)
    provider = provider_for(record.algorithm)
    assert provider is not None  # DeviceKeys.create checked it
    proof = provider.sign(private, canonical_bytes(key_registration_content(staff_id, record.public_key)))
    del private
    try:
        entry = store.record(
            REGISTER_MUTATION,
            {"id": key_id, "algorithm": record.algorithm, "public_key": record.public_key, "proof": proof},
            lang=lang,
        )
    except Rejected:
        keys.forget(staff_id)
        raise
    keys.note_registration(staff_id, entry.mutation_id, lang)
    saved = keys.load(staff_id, lang)
    assert saved is not None
    return DeviceSigner(keys, saved)


def unlock(signer: DeviceSigner, store: Any, pin: str, lang: str = DEFAULT_LANGUAGE) -> UnlockedKey:
    """``signer.unlock(pin)``; when too many wrong PINs erased the key, its registration is revoked too
    (``signing_key.revoke`` by its owner) before ``KeyWiped`` goes on to the caller."""
    try:
        return signer.unlock(pin, lang)
    except KeyWiped:
        try:
            store.record(
                REVOKE_MUTATION, {"key_id": signer.key_id, "reason": "too many wrong PINs"}, lang=lang
            )
        except Rejected as refusal:
            log.warning("could not revoke the erased key %s: %s", signer.key_id, refusal.message)
        raise


def change_pin(
    keys: DeviceKeys, staff_id: str, old_pin: str, new_pin: str, lang: str = DEFAULT_LANGUAGE
) -> None:
    """Re-seal this PC's key under a new PIN (same key pair; nothing goes to the server)."""
    keys.change_pin(staff_id, old_pin, new_pin, lang=lang)


def signing_time(store: Any) -> dt.datetime:
    """The time to sign with: this PC's clock corrected by the offset it last measured against the
    server (the server checks a signature's time against its own clock, ``shared.domain.signatures``)."""
    now = clinic_time.now()
    try:
        offset = float(store.state("clock_offset") or 0.0)
    except (TypeError, ValueError):
        offset = 0.0
    return now + dt.timedelta(seconds=offset) if abs(offset) < 7 * 24 * 3600 else now


LEGACY_KEY_FOLDER = "signing_keys"


def remove_legacy_key_files(data_folder: Path) -> int:
    """Erase ``<data folder>/signing_keys``, where earlier versions kept PIN-sealed private keys as files
    (those keys were revoked by the server's migration 0013); returns how many files went."""
    folder = data_folder / LEGACY_KEY_FOLDER
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    try:
        folder.rmdir()
    except OSError as error:
        log.warning("could not remove %s: %s", folder, error)
    if removed:
        log.info("removed %d legacy signing key file(s) from %s", removed, folder)
    return removed
