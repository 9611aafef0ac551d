"""Sync tests never touch the OS keyring: every test gets an in-memory backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sync.support import MemoryKeyring, memory_keyring


@pytest.fixture(autouse=True)
def in_memory_keyring() -> Iterator[MemoryKeyring]:
    with memory_keyring() as backend:
        yield backend
