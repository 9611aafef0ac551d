"""A staff member's personal signing key on a PC: ``<folder>/<username>.json`` holds only the
``EncryptedKey`` (public key in the clear, private key sealed by the PIN), so a copied file is useless
without the PIN; and the arguments that register its public key with the server (``signing_key.register``).
Reads and writes are small but block: call them on the DB thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.domain.clinical import key_registration_content
from shared.ids import new_id
from shared.security.signing import EncryptedKey, canonical_bytes, sign

REGISTER_MUTATION = "signing_key.register"


class KeyFile:
    """The key files of one folder, one per username (written beside and renamed, never half-written)."""

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

    def remove(self, username: str) -> None:
        self.path(username).unlink(missing_ok=True)


def register_args(staff_id: str, key: EncryptedKey, pin: str) -> dict[str, Any]:
    """``signing_key.register`` arguments: the public key, a proof signed with it, the sealed key (so its
    owner can sign on another PC)."""
    proof = sign(canonical_bytes(key_registration_content(staff_id, key.public_key)), key, pin)
    return {
        "id": new_id(),
        "public_key": key.public_key,
        "proof": proof,
        "sealed_key": key.model_dump(mode="json"),
    }
