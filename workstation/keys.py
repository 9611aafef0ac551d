"""The doctor's signing key on this PC, and the administrator's key list.

The key lives in the OS key store, one per person and PC (``shared.security.device_keys``); finding
it, creating and registering it, and changing its PIN are ``shared.security.device_signing``'s, the
same for the pharmacy desk. Here: ``key_holders`` / ``revoke_key`` for the administrator's reset.
Everything blocks: call it on the DB thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.domain.entities import SigningKey, Staff
from shared.security.device_signing import change_pin, create_key, find_key

__all__ = ["KeyHolder", "change_pin", "create_key", "find_key", "key_holders", "revoke_key"]


@dataclass(frozen=True)
class KeyHolder:
    """A staff member's active key (one per PC they sign on), for the administrator's reset list."""

    key_id: str
    staff_id: str
    name: str
    username: str
    fingerprint: str
    device_id: str = ""


def key_holders(store: Any) -> list[KeyHolder]:
    """Every unrevoked signing key with its holder, by name (DB thread)."""
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
                    row.device_id,
                )
            )
    return sorted(out, key=lambda h: (h.name, h.username, h.device_id))


def revoke_key(store: Any, key_id: str, reason: str, lang: str) -> None:
    """``signing_key.revoke`` (administrators, or the key's owner): that PC's key stops signing; its
    holder sets a new PIN there at the next signature."""
    store.record("signing_key.revoke", {"key_id": key_id, "reason": reason[:200]}, lang=lang)
