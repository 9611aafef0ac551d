"""The token-file fallback (PCs without an OS keyring): the file alone never gives up the login."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from keyring.backends import fail

from shared.sync.tokens import TOKEN_FILE_ENV, TOKEN_KEY_FILE_ENV, TokenStore

TOKEN = "secret-login-token-0123456789"


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)
    monkeypatch.delenv(TOKEN_KEY_FILE_ENV, raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def _machine_ids() -> list[bytes]:
    found = []
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError):
            found.append(Path(candidate).read_text().strip().encode())
    import uuid

    return [*found, f"node-{uuid.getnode():x}".encode()]


def _what_a_reader_of_the_file_can_decrypt(path: Path) -> list[str]:
    """The old scheme's attack: everything needed (salt, machine id) was readable beside the file."""
    content = json.loads(path.read_text())
    opened = []
    salt = base64.b64decode(content["salt"]) if "salt" in content else b""
    for secret in _machine_ids():
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"clinic-suite token file").derive(
            secret
        )
        for sealed in dict(content.get("tokens") or {}).values():
            with contextlib.suppress(InvalidToken):
                opened.append(Fernet(base64.urlsafe_b64encode(key)).decrypt(sealed.encode()).decode())
    return opened


def test_a_copy_of_the_token_file_alone_does_not_give_up_the_login(tmp_path: Path) -> None:
    token_file = tmp_path / "data" / "tokens.json"
    key_file = tmp_path / "provisioned" / "token.key"
    tokens = TokenStore(fallback_file=token_file, key_file=key_file)
    assert tokens.problem is None
    tokens.save("workstation:pc-1", TOKEN)
    assert TOKEN not in token_file.read_text()
    assert _what_a_reader_of_the_file_can_decrypt(token_file) == []
    assert TokenStore(fallback_file=token_file, key_file=key_file).load("workstation:pc-1") == TOKEN
    stolen = tmp_path / "elsewhere" / "tokens.json"
    stolen.parent.mkdir()
    stolen.write_text(token_file.read_text())
    assert (
        TokenStore(fallback_file=stolen, key_file=tmp_path / "other" / "k").load("workstation:pc-1") is None
    )
    assert (key_file.stat().st_mode & 0o777) == 0o600 and (token_file.stat().st_mode & 0o777) == 0o600


def test_without_a_separate_key_the_login_is_not_written_to_disk(tmp_path: Path) -> None:
    token_file = tmp_path / "tokens.json"
    tokens = TokenStore(fallback_file=token_file)
    assert tokens.problem and TOKEN_KEY_FILE_ENV in tokens.problem
    with contextlib.suppress(Exception):
        tokens.save("workstation:pc-1", TOKEN)
    assert tokens.load("workstation:pc-1") == TOKEN  # the session works until the app closes
    assert not token_file.exists()
    beside = TokenStore(fallback_file=token_file, key_file=tmp_path / "token.key")  # key in the same folder
    assert beside.problem
    with contextlib.suppress(Exception):
        beside.save("workstation:pc-1", TOKEN)
    assert not token_file.exists()


def test_a_file_written_by_the_old_scheme_is_not_trusted(tmp_path: Path) -> None:
    token_file = tmp_path / "data" / "tokens.json"
    token_file.parent.mkdir()
    salt = b"0123456789abcdef"
    old = {"salt": base64.b64encode(salt).decode(), "tokens": {"workstation:pc-1": "gAAAAAB-not-used"}}
    token_file.write_text(json.dumps(old))
    tokens = TokenStore(fallback_file=token_file, key_file=tmp_path / "key" / "token.key")
    assert tokens.load("workstation:pc-1") is None
    tokens.delete("workstation:pc-1")
    assert "salt" not in json.loads(token_file.read_text())
