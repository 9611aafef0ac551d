"""A file-backed ``keyring`` backend for tests: secrets in one JSON file, as an OS key store keeps them
on disk (the CI machines have no Secret Service). ``file_keyring(path)`` installs it for a block."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    """Secrets in ``path`` (JSON ``{"service\\x00account": secret}``), rewritten whole on each change."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        return dict(json.loads(self.path.read_text(encoding="utf-8")))

    def _save(self, secrets: dict[str, str]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(secrets, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.path)

    def get_password(self, service: str, username: str) -> str | None:
        with self._lock:
            return self._load().get(f"{service}\x00{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._lock:
            secrets = self._load()
            secrets[f"{service}\x00{username}"] = password
            self._save(secrets)

    def delete_password(self, service: str, username: str) -> None:
        with self._lock:
            secrets = self._load()
            if secrets.pop(f"{service}\x00{username}", None) is None:
                raise PasswordDeleteError(username)
            self._save(secrets)


@contextlib.contextmanager
def file_keyring(path: Path) -> Iterator[FileKeyring]:
    previous = keyring.get_keyring()
    backend = FileKeyring(path)
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
