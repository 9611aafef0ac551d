"""The pharmacist's personal signing key on this PC: sealed under a PIN, kept in the user's data folder.

The file holds only the ``EncryptedKey`` (public key in the clear, private key sealed by the PIN), so
a copied file is useless without the PIN. First use creates it and registers the public key with the
server through the ``signing_key.register`` mutation (recorded offline if need be).
"""

from __future__ import annotations

import logging
from typing import Any

from shared.security.keyfile import REGISTER_MUTATION, KeyFile, register_args
from shared.security.signing import EncryptedKey, generate_keypair

log = logging.getLogger(__name__)


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
