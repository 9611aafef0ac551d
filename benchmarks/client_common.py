"""Shared plumbing for the client benchmarks: a server on a copy of a database, a logged-in client PC."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import keyring
from machine import describe  # benchmarks/machine.py (scripts run with benchmarks/ on sys.path)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server_stub.config import sqlite_url  # noqa: E402
from shared.store import LocalStore  # noqa: E402
from shared.sync import ApiTransport, SyncEngine, TokenStore  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from tests.sync.support import MemoryKeyring  # noqa: E402

PASSWORD = "Demo-2026"


def machine() -> str:
    return describe()


@contextlib.contextmanager
def server_on_copy(source: Path, *, workers: int = 1) -> Iterator[ServerProcess]:
    """A server (``workers`` processes) on an online-backup copy of ``source`` (the original stays
    untouched)."""
    folder = Path(tempfile.mkdtemp(prefix="clinic-bench-"))
    target = folder / "server.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    server = ServerProcess(sqlite_url(target), folder / "server.log", workers=workers).start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


def client(
    store_path: Path, url: str, username: str = "nurse1"
) -> tuple[LocalStore, ApiTransport, SyncEngine]:
    keyring.set_keyring(MemoryKeyring())
    store = LocalStore.open(store_path, app="workstation")
    transport = ApiTransport(url, timeout=60.0)
    engine = SyncEngine(store, transport, tokens=TokenStore(), push_batch=500, pull_limit=5000)
    engine.login(username, PASSWORD)
    return store, transport, engine


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]
