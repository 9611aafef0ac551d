"""Where the login token lives: the OS keyring, a configured encrypted file, or memory with a plain warning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from shared.sync.tokens import TOKEN_FILE_ENV, TOKEN_KEY_FILE_ENV, KeyringUnavailable, TokenStore
from tests.sync.support import MemoryKeyring


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def test_tokens_go_to_the_os_keyring_when_one_works(in_memory_keyring: MemoryKeyring) -> None:
    tokens = TokenStore()
    tokens.save("workstation:pc-1", "secret-token")
    assert in_memory_keyring.secrets[("ClinicSuite", "workstation:pc-1")] == "secret-token"
    assert TokenStore().load("workstation:pc-1") == "secret-token"
    assert tokens.problem is None
    tokens.delete("workstation:pc-1")
    assert TokenStore().load("workstation:pc-1") is None


def test_without_a_keyring_the_problem_is_said_plainly_and_the_token_lives_in_memory_only(
    no_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)
    tokens = TokenStore()
    assert tokens.problem and "keyring" in tokens.problem and TOKEN_FILE_ENV in tokens.problem
    with pytest.raises(KeyringUnavailable):
        tokens.save("workstation:pc-1", "secret-token")
    assert tokens.load("workstation:pc-1") == "secret-token", "the session still works until a restart"
    assert TokenStore().load("workstation:pc-1") is None
    assert tokens.backend == "memory"


def test_an_explicitly_configured_file_keeps_the_token_encrypted(
    no_keyring: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.json"
    monkeypatch.setenv(TOKEN_FILE_ENV, str(path))
    monkeypatch.setenv(TOKEN_KEY_FILE_ENV, str(tmp_path / "provisioned" / "token.key"))  # kept apart
    tokens = TokenStore()
    assert tokens.problem is None and tokens.backend.startswith("file:")
    tokens.save("workstation:pc-1", "secret-token")
    assert "secret-token" not in path.read_text()
    assert (path.stat().st_mode & 0o777) == 0o600
    assert TokenStore().load("workstation:pc-1") == "secret-token"
    TokenStore(fallback_file=path).delete("workstation:pc-1")
    assert TokenStore(fallback_file=path).load("workstation:pc-1") is None
