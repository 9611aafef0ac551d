"""The pharmacist's personal signing key on this PC: sealed under a PIN, kept in the user's data folder.

The file holds only the ``EncryptedKey`` (public key in the clear, private key sealed by the PIN), so
a copied file is useless without the PIN. First use creates it and registers the public key with the
server through the ``signing_key.register`` mutation (recorded offline if need be).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from shared.ids import new_id
from shared.security.signing import EncryptedKey, canonical_bytes, generate_keypair, sign

log = logging.getLogger(__name__)

REGISTER_MUTATION = "signing_key.register"


class KeyFile:
    """``<folder>/<username>.json``; reads and writes are small and done on the DB thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, username: str) -> Path:
        safe = "".join(ch for ch in username if ch.isalnum() or ch in "-_.") or "user"
        return self.folder / f"{safe}.json"

    def load(self, username: str) -> EncryptedKey | None:
        path = self.path(username)
        if not path.exists():
            return None
        return EncryptedKey.model_validate_json(path.read_text(encoding="utf-8"))

    def save(self, username: str, key: EncryptedKey) -> Path:
        path = self.path(username)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(key.model_dump_json(), encoding="utf-8")
        tmp.replace(path)
        return path


def register_args(staff_id: str, key: EncryptedKey, pin: str) -> dict[str, Any]:
    """Arguments for ``signing_key.register``: the public key, a proof signed with it, the sealed key."""
    from shared.domain.clinical import key_registration_content

    proof = sign(canonical_bytes(key_registration_content(staff_id, key.public_key)), key, pin)
    return {
        "id": new_id(),
        "public_key": key.public_key,
        "proof": proof,
        "sealed_key": key.model_dump(mode="json"),
    }


def create_key(store: Any, keys: KeyFile, username: str, staff_id: str, pin: str) -> EncryptedKey:
    """Make the key pair, register its public key (a mutation, recorded offline if need be), then keep
    the sealed key in this PC's file. Runs on the DB thread; ``Rejected`` leaves no file behind."""
    key = generate_keypair(pin)
    store.record(REGISTER_MUTATION, register_args(staff_id, key, pin))
    keys.save(username, key)
    return key


def find_key(store: Any, keys: KeyFile, username: str, staff_id: str) -> EncryptedKey | None:
    """This PC's key file, else the newest unrevoked key the pharmacist registered sealed (roaming)."""
    local = keys.load(username)
    if local is not None:
        return local
    from shared.domain.entities import SigningKey

    rows = [
        r
        for r in store.find(SigningKey, staff_id=staff_id)
        if not r.voided and r.revoked_at is None and getattr(r, "sealed_key", None)
    ]
    for row in sorted(rows, key=lambda r: r.registered_at, reverse=True):
        try:
            return EncryptedKey.model_validate(row.sealed_key)
        except ValueError:
            log.warning("unreadable sealed key %s", row.id)
    return None
