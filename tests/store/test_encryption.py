"""Local caches encrypted at rest (SQLCipher, key in the OS key store): the disk alone reveals nothing,
plain caches convert in place without losing their outbox, and the store keeps its settings."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.domain.entities import Patient
from shared.store import LocalStore, crypto
from tests.store.helpers import NURSE, changes
from tests.support.keyring_file import FileKeyring, file_keyring

NAME = "欧阳娜华"
ID_NUMBER = "11010519491231002X"
PHONE = "13912345678"


@pytest.fixture
def os_keys(tmp_path: Path) -> Iterator[FileKeyring]:
    with file_keyring(tmp_path / "os-key-store" / "keyring.json") as backend:
        yield backend


def _patient() -> Patient:
    return Patient(
        id="p-secret", name=NAME, sex="F", birth_date=dt.date(1949, 12, 31), id_number=ID_NUMBER, phone=PHONE
    )


def _fill(store: LocalStore) -> None:
    store.set_session(NURSE, NURSE.campus_id)
    page, cursor = changes(_patient())
    store.apply_changes(page, cursor=cursor)
    store.record(
        "patient.register",
        {"id": "p-offline", "name": "张三丰", "sex": "M", "birth_date": "1950-01-02", "phone": "13800000001"},
    )


def _disk_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


def test_a_stolen_disk_reveals_nothing_of_an_encrypted_store(tmp_path: Path, os_keys: FileKeyring) -> None:
    folder = tmp_path / "data"
    path = folder / "workstation.db"
    store = LocalStore.open(path, app="workstation", key="os")
    assert store.encrypted
    _fill(store)
    disk = _disk_bytes(folder)  # with the WAL as it is while the app runs
    store.close()
    disk += _disk_bytes(folder)
    for secret in (NAME, ID_NUMBER, PHONE, "张三丰", "13800000001"):
        assert secret.encode() not in disk
    with pytest.raises(sqlite3.DatabaseError), sqlite3.connect(path) as conn:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    assert not list(folder.glob("*key*")) and os_keys.path.parent != folder
    with LocalStore.open(path, app="workstation", key="os") as again:
        assert again.get(Patient, "p-secret") == _patient()
        assert [e.name for e in again.outbox("pending")] == ["patient.register"]


def test_a_plain_store_is_converted_in_place_with_its_outbox(tmp_path: Path, os_keys: FileKeyring) -> None:
    path = tmp_path / "data" / "workstation.db"
    plain = LocalStore.open(path, app="workstation")
    _fill(plain)
    before = [(e.mutation_id, e.client_seq, e.status) for e in plain.outbox()]
    device = plain.device_id
    plain.close()
    assert crypto.is_plain(path)

    with LocalStore.open(path, app="workstation", key="os") as store:
        assert store.encrypted and not crypto.is_plain(path)
        assert [(e.mutation_id, e.client_seq, e.status) for e in store.outbox()] == before
        assert store.get(Patient, "p-secret") == _patient() and store.device_id == device
        assert store.integrity_check() == ["ok"]
    assert NAME.encode() not in _disk_bytes(path.parent)


def test_an_encrypted_store_keeps_wal_full_sync_and_its_one_writer(
    tmp_path: Path, os_keys: FileKeyring
) -> None:
    with LocalStore.open(tmp_path / "w.db", app="workstation", key="os") as store:
        _fill(store)
        writer = store.write(
            lambda conn: (
                conn.execute("PRAGMA journal_mode").fetchone()[0],
                conn.execute("PRAGMA synchronous").fetchone()[0],
            )
        )
        with store.reading() as view:
            reader = (
                view.conn.execute("PRAGMA journal_mode").fetchone()[0],
                view.conn.execute("PRAGMA synchronous").fetchone()[0],
            )
        assert writer == reader == ("wal", 2)  # 2 = FULL
        backup = store.backup_to(tmp_path / "copy.db")
    assert not crypto.is_plain(backup) and NAME.encode() not in backup.read_bytes()
    with LocalStore.open(
        backup, app="workstation", key=crypto.os_key("workstation", tmp_path / "w.db")
    ) as copy:
        assert copy.get(Patient, "p-secret") is not None


def test_without_an_os_key_store_the_store_opens_plain_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with LocalStore.open(tmp_path / "p.db", app="workstation", key="os") as store:
            assert not store.encrypted
    finally:
        keyring.set_keyring(previous)
    assert "unencrypted" in caplog.text


def test_it_backups_and_restores_of_an_encrypted_store_stay_encrypted(
    tmp_path: Path, os_keys: FileKeyring
) -> None:
    from shared.update import local_data

    folder = tmp_path / "data"
    with LocalStore.open(folder / "workstation.db", app="workstation", key="os") as store:
        _fill(store)
    backup_folder = local_data.backup(folder, tmp_path / "backups")
    copy = backup_folder / "workstation.db"
    assert not crypto.is_plain(copy) and NAME.encode() not in copy.read_bytes()
    assert local_data.unsynced(copy, folder / "workstation.db") == {"pending": 1}
    (folder / "workstation.db").unlink()
    local_data.restore(copy, folder)
    with LocalStore.open(folder / "workstation.db", app="workstation", key="os") as store:
        assert store.get(Patient, "p-secret") is not None and store.pending_count() == 1
