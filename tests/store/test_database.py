"""The store's SQLite file: settings on every connection, start-up checks, migrations with a backup, one writer."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from shared.errors import StoreError
from shared.store import LocalStore, schema
from tests.store.helpers import open_store, patient


def test_every_connection_uses_wal_with_full_synchronous_and_a_busy_timeout(tmp_path: Path) -> None:
    store = LocalStore.open(tmp_path / "a.db", app="workstation")
    try:
        with store.reading() as view:
            conn = view.conn
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
        writer_settings = store.write(
            lambda conn: (
                conn.execute("PRAGMA synchronous").fetchone()[0],
                conn.execute("PRAGMA busy_timeout").fetchone()[0],
            )
        )
        assert writer_settings[0] == 2 and writer_settings[1] >= 5000
    finally:
        store.close()


def test_a_new_file_gets_the_newest_schema_and_a_stable_identity(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with LocalStore.open(path, app="workstation") as store:
        device_id, client_id = store.device_id, store.client_id
    with LocalStore.open(path, app="workstation") as store:
        assert (store.device_id, store.client_id) == (device_id, client_id)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert not list(tmp_path.glob("*.bak")), "a new file needs no backup"


def test_migrating_an_existing_file_takes_an_online_backup_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.db"
    with open_store(path) as store:
        store.record(
            "patient.register", {"id": "p-1", "name": "张三", "sex": "M", "birth_date": "1970-01-01"}
        )
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, "CREATE TABLE note (id TEXT PRIMARY KEY)"))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    old = len(schema.MIGRATIONS) - 1
    with LocalStore.open(path, app="workstation") as store:
        assert store.pending_count() == 1
        assert store.write(lambda conn: conn.execute("SELECT count(*) FROM note").fetchone()[0]) == 0
    backups = list(tmp_path.glob(f"a.db.v{old}.*.bak"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == old
        assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_file_from_a_newer_app_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    LocalStore.open(path, app="workstation").close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 5}")
    with pytest.raises(StoreError) as caught:
        LocalStore.open(path, app="workstation")
    assert caught.value.code == "store_too_new"


def test_a_damaged_file_is_reported_plainly_at_start(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with open_store(path) as store:
        for n in range(300):
            store.record(
                "patient.register", {"id": f"p-{n}", "name": "张三", "sex": "M", "birth_date": "1970-01-01"}
            )
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 2, min(len(data), 4096 * 6)):
        data[offset] = 0xA5
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as caught:
        LocalStore.open(path, app="workstation")
    assert caught.value.code == "store_corrupt"
    assert str(path) in caught.value.message


def test_writes_from_many_threads_are_serialized_with_contiguous_client_seq(tmp_path: Path) -> None:
    store = open_store(tmp_path / "a.db")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(25):
                store.record(
                    "patient.register",
                    {"id": f"p-{worker}-{n}", "name": "张三", "sex": "M", "birth_date": "1970-01-01"},
                )
                store.search_patients("zs", 5)
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors
        seqs = [entry.client_seq for entry in store.outbox()]
        assert seqs == list(range(1, 201))
        assert len(store.all(type(patient("x", "x")))) == 200
    finally:
        store.close()


def test_backup_to_copies_a_live_store_through_the_online_backup_api(tmp_path: Path) -> None:
    with open_store(tmp_path / "a.db") as store:
        store.record(
            "patient.register", {"id": "p-1", "name": "张三", "sex": "M", "birth_date": "1970-01-01"}
        )
        target = store.backup_to(tmp_path / "copy.db")
    with LocalStore.open(target, app="workstation") as copy:
        assert copy.pending_count() == 1
        assert copy.integrity_check() == ["ok"]


def test_a_schema_1_file_gains_the_hub_columns_and_keeps_its_outbox(tmp_path: Path) -> None:
    """Schema 2 (the clinic hub): a file from the version before opens with its outbox intact."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    schema_1 = schema.MIGRATIONS[0]
    conn.executescript(schema_1)
    conn.execute(
        "INSERT INTO outbox (mutation_id, client_seq, name, args, occurred_at, staff_id, status, created_at) "
        "VALUES ('m-1', 1, 'patient.register', '{}', '2027-01-01T00:00:00+00:00', 's', 'sent', "
        "'2027-01-01T00:00:00+00:00')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with LocalStore.open(path, app="workstation") as store:
        (entry,) = store.outbox()
        assert entry.status == "sent" and entry.shared_at is None and not entry.shared
        assert store.pending_count() == 1 and store.shared_count() == 0 and store.lan_count() == 0
