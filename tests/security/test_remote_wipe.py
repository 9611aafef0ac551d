"""Remote wipe against a real server: IT marks a retired PC; at its next contact the server answers
with a wipe instruction and the app deletes its encrypted cache, the cache's key and its login."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.store import LocalStore, crypto
from shared.sync.engine import SyncEngine
from shared.sync.status import SyncStatus
from shared.sync.tokens import TokenStore
from shared.sync.transport import ApiTransport
from tests.support.api import DEMO_PASSWORD, ApiUser
from tests.support.keyring_file import FileKeyring, file_keyring
from tests.support.server import ServerProcess


@pytest.fixture
def os_keys(tmp_path: Path) -> Iterator[FileKeyring]:
    with file_keyring(tmp_path / "os-key-store" / "keyring.json") as backend:
        yield backend


def _clinic(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_a_pc_marked_for_a_wipe_deletes_its_data_key_and_login_at_its_next_contact(
    server: ServerProcess, tmp_path: Path, os_keys: FileKeyring
) -> None:
    folder = tmp_path / "data"
    store = LocalStore.open(folder / "workstation.db", app="workstation", key="os")
    statuses: list[SyncStatus] = []
    transport = ApiTransport(server.url, timeout=10.0)
    engine = SyncEngine(store, transport, tokens=TokenStore(), on_status=statuses.append)
    engine.login("nurse1", DEMO_PASSWORD)
    engine.bootstrap()
    device = store.device_id
    (folder / "verifiers.json").write_text("{}")  # offline-unlock verifiers and a spooled print job
    (folder / "print_spool").mkdir()
    (folder / "print_spool" / "job-1.pdf").write_bytes(b"%PDF- patient label")
    assert crypto.os_key("workstation", folder / "workstation.db", create=False) is not None
    assert any(key.startswith("ClinicSuite/") for key in os_keys.entries())  # the login token
    other = ApiUser(server.url, "nurse1")  # another PC of the same user: not affected

    marked = _clinic("device-wipe", device, "--reason", "PC retired", "--db", server.db_url)
    assert marked.returncode == 0, marked.stderr
    deadline = time.monotonic() + 30
    while (folder / "workstation.db").exists() and time.monotonic() < deadline:
        engine.sync_once()  # the server re-reads the marks within seconds
        time.sleep(0.3)
    transport.close()

    assert not [p for p in folder.iterdir() if p.name.startswith("workstation.db")]
    assert not (folder / "verifiers.json").exists() and not list((folder / "print_spool").iterdir())
    assert crypto.os_key("workstation", folder / "workstation.db", create=False) is None
    assert not any(key.startswith("ClinicSuite/") for key in os_keys.entries())
    assert "信息科" in statuses[-1].message or "IT retired" in statuses[-1].message
    again = httpx.post(
        f"{server.url}/api/v1/auth/login",
        json={"username": "nurse1", "password": DEMO_PASSWORD, "device_id": device},
    )
    assert again.status_code == 403 and again.json()["code"] == "device_wipe"
    assert other.pull()["next_cursor"] >= 0
