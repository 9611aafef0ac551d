"""Helpers for sync tests: an in-memory keyring backend and a factory for logged-in client PCs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from shared.domain.entities import ENTITY_BY_KIND
from shared.store import LocalStore
from shared.store.store import utcnow
from shared.sync import ApiTransport, SyncEngine, SyncStatus, TokenStore
from tests.support.api import DEMO_PASSWORD, ApiUser


class MemoryKeyring(KeyringBackend):
    """A keyring that keeps secrets in a dict: never prompts, never touches the OS."""

    priority = 10  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@contextlib.contextmanager
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@dataclass
class ClientPC:
    """One app install: its store, transport and engine, plus what the callbacks received."""

    store: LocalStore
    transport: ApiTransport
    engine: SyncEngine
    statuses: list[SyncStatus] = field(default_factory=list)
    changed_kinds: list[set[str]] = field(default_factory=list)

    def close(self) -> None:
        self.transport.close()
        self.store.close()

    def sync(self) -> SyncStatus:
        return self.engine.sync_once()


def make_client(
    path: Path,
    base_url: str,
    username: str | None = "nurse1",
    *,
    bootstrap: bool = True,
    **engine_kwargs: Any,
) -> ClientPC:
    store = LocalStore.open(path, app="workstation", clock=engine_kwargs.pop("clock", None) or utcnow)
    transport = ApiTransport(base_url, timeout=engine_kwargs.pop("timeout", 10.0))
    statuses: list[SyncStatus] = []
    kinds: list[set[str]] = []
    engine_kwargs.setdefault("backoff_base", 0.05)
    engine_kwargs.setdefault("backoff_max", 0.5)
    engine = SyncEngine(
        store,
        transport,
        on_status=statuses.append,
        on_changes=kinds.append,
        tokens=TokenStore(),
        **engine_kwargs,
    )
    pc = ClientPC(store, transport, engine, statuses, kinds)
    if username:
        engine.login(username, DEMO_PASSWORD)
        if bootstrap:
            engine.bootstrap()
    return pc


def server_state(base_url: str, username: str = "admin") -> dict[tuple[str, str], dict[str, Any]]:
    """Every entity the server would send this user, at its latest version (its bootstrap snapshot)."""
    user = ApiUser(base_url, username)
    try:
        changes = user.snapshot()
    finally:
        user.close()
    return {(c["kind"], c["id"]): c["data"] for c in changes}


def local_state(store: LocalStore, kinds: set[str] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """The local view of every kind, as JSON-mode dicts (voided rows included)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, entity_type in ENTITY_BY_KIND.items():
        if kinds is not None and kind not in kinds:
            continue
        for entity in store.all(entity_type, include_voided=True):
            out[(kind, entity.id)] = entity.model_dump(mode="json")
    return out
