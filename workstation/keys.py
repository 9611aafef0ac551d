"""The doctor's personal signing key on this PC: sealed under a PIN, kept in the app's data folder.

The file ``<data folder>/signing_keys/<username>.json`` holds only the ``EncryptedKey`` (public key in the
clear, private key sealed by the PIN), so a copied file is useless without the PIN. First use sets a PIN,
makes the key pair and registers the public key with ``signing_key.register`` (recorded offline if need
be; the sealed key travels with it so the doctor can sign on another PC). Everything here blocks
(scrypt, file writes): call it on the DB thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from shared.domain.entities import SigningKey
from shared.security.keyfile import REGISTER_MUTATION, KeyFile, register_args
from shared.security.signing import EncryptedKey, change_pin, generate_keypair

log = logging.getLogger(__name__)


def _usable_rows(store: Any, staff_id: str) -> list[SigningKey]:
    return [r for r in store.find(SigningKey, staff_id=staff_id) if not r.voided and r.revoked_at is None]


def find_key(store: Any, keys: KeyFile, username: str, staff_id: str) -> tuple[EncryptedKey, str] | None:
    """(sealed key, registered key id) the doctor signs with, or None when a PIN must be set first.

    This PC's file is used when its public key is registered and not revoked (a key registered
    offline counts: its registration waits in the outbox). Otherwise the newest unrevoked key the
    doctor registered with its sealed copy (set on another PC) is used and saved here.
    """
    rows = _usable_rows(store, staff_id)
    local = keys.load(username)
    if local is not None:
        match = [r for r in rows if r.public_key == local.public_key]
        if match:
            return local, match[0].id
    for row in sorted(rows, key=lambda r: r.registered_at, reverse=True):
        if not row.sealed_key:
            continue
        try:
            sealed = EncryptedKey.model_validate(row.sealed_key)
        except ValueError:
            log.warning("unreadable sealed key %s", row.id)
            continue
        keys.save(username, sealed)
        return sealed, row.id
    return None


def create_key(
    store: Any, keys: KeyFile, username: str, staff_id: str, pin: str, lang: str
) -> tuple[EncryptedKey, str]:
    """Make the key pair under ``pin``, register it, keep it in this PC's file; (key, key id)."""
    key = generate_keypair(pin, lang=lang)
    args = register_args(staff_id, key, pin)
    store.record(REGISTER_MUTATION, args, lang=lang)
    keys.save(username, key)
    return key, str(args["id"])


def change_key_pin(
    store: Any, keys: KeyFile, username: str, staff_id: str, old_pin: str, new_pin: str, lang: str
) -> EncryptedKey:
    """Re-seal this PC's key under a new PIN (same key pair: registered key and signatures stay valid)
    and store the newly sealed copy with the server (``signing_key.reseal``), so the doctor's other PCs
    take the new PIN too."""
    current = keys.load(username)
    if current is None:
        found = find_key(store, keys, username, staff_id)
        current = found[0] if found else None
    if current is None:
        from shared.errors import NotFound
        from shared.i18n import tr

        raise NotFound(tr("ws.pin.no_key", lang))
    new = change_pin(current, old_pin, new_pin, lang=lang)
    rows = [r for r in _usable_rows(store, staff_id) if r.public_key == new.public_key]
    if rows:
        store.record(
            "signing_key.reseal", {"key_id": rows[0].id, "sealed_key": new.model_dump(mode="json")}, lang=lang
        )
    keys.save(username, new)
    return new


@dataclass(frozen=True)
class KeyHolder:
    """A staff member's active key, for the administrator's reset list."""

    key_id: str
    staff_id: str
    name: str
    username: str
    fingerprint: str


def key_holders(store: Any) -> list[KeyHolder]:
    """Every unrevoked signing key with its holder, by name (DB thread)."""
    from shared.domain.entities import Staff

    out: list[KeyHolder] = []
    with store.reading() as view:
        for row in view.all(SigningKey):
            if row.revoked_at is not None:
                continue
            staff = view.get(Staff, row.staff_id)
            out.append(
                KeyHolder(
                    row.id,
                    row.staff_id,
                    staff.name if staff else row.staff_id,
                    staff.username if staff else "",
                    row.fingerprint,
                )
            )
    return sorted(out, key=lambda h: (h.name, h.username))


def revoke_key(store: Any, key_id: str, reason: str, lang: str) -> None:
    """``signing_key.revoke`` (administrators): the holder sets a new PIN and key at the next signature."""
    store.record("signing_key.revoke", {"key_id": key_id, "reason": reason[:200]}, lang=lang)
