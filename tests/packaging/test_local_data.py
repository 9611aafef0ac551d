"""``clinic local-data``: a PC's local databases backed up while open, with their unsynced work counted,
and restored over a replacement PC's folder with a safety copy of what was there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.store import LocalStore
from shared.update.local_data import backup, restore, unsynced
from tests.store.helpers import open_store


def register(store: LocalStore, n: int) -> None:
    store.record("patient.register", {"id": f"p-{n}", "name": "张三", "sex": "M", "birth_date": "1970-01-01"})


def test_a_backup_of_an_open_store_keeps_the_unsynced_work_and_restores_on_another_pc(tmp_path: Path) -> None:
    old_pc = tmp_path / "old-pc"
    old_pc.mkdir()
    with open_store(old_pc / "workstation.db") as store:
        register(store, 1)
        register(store, 2)
        made = backup(old_pc, tmp_path / "usb-stick")  # while the app still has the file open
        client_id = store.client_id
    manifest = json.loads((made / "manifest.json").read_text())
    assert manifest["databases"]["workstation.db"]["unsynced"] == {"pending": 2}

    new_pc = tmp_path / "new-pc"
    with LocalStore.open(new_pc / "workstation.db", app="workstation"):
        pass  # the replacement PC was started once already: its empty database is kept aside, not lost
    live, safety = restore(made / "workstation.db", new_pc)

    assert safety is not None and safety.exists() and unsynced(safety) == {}
    with LocalStore.open(live, app="workstation") as store:
        assert store.pending_count() == 2 and store.client_id == client_id  # its outbox goes on syncing


def test_a_damaged_backup_is_refused_and_nothing_is_replaced(tmp_path: Path) -> None:
    pc = tmp_path / "pc"
    with open_store(pc / "workstation.db") as store:
        register(store, 1)
    bad = tmp_path / "workstation.db"
    data = bytearray((pc / "workstation.db").read_bytes())
    bad.write_bytes(bytes(data[:4096]) + b"\x00" * (len(data) - 4096))
    before = (pc / "workstation.db").read_bytes()
    with pytest.raises(Exception, match="damaged|malformed|not a database"):
        restore(bad, pc)
    assert (pc / "workstation.db").read_bytes() == before


def test_clinic_local_data_on_the_command_line(tmp_path: Path) -> None:
    pc = tmp_path / "pc"
    with open_store(pc / "triage.db") as store:
        register(store, 1)
    env = {
        **os.environ,
        "CLINIC_SITE_CONFIG": str(tmp_path / "none.toml"),
        "CLINIC_USER_CONFIG": str(tmp_path / "u"),
    }
    run = [sys.executable, "-m", "shared.cli", "local-data"]
    made = subprocess.run(
        [*run, "backup", "--data-folder", str(pc), "--to", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert made.returncode == 0 and '"pending": 1' in made.stdout
    status = subprocess.run(
        [*run, "status", "--data-folder", str(pc)], capture_output=True, text=True, timeout=60, env=env
    )
    assert "triage.db" in status.stdout and "'pending': 1" in status.stdout
