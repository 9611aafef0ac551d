"""Crashes: the server killed mid-push, the client process killed mid-write; after each the store is sound."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.store import LocalStore
from shared.sync import SyncState
from tests.faults.support import (
    assert_exactly_once,
    assert_same_view,
    assert_store_sound,
    count_rows,
    mutation_log,
)
from tests.store.helpers import open_store
from tests.support.api import patient_args
from tests.support.server import ServerProcess
from tests.sync.support import make_client

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.client_worker", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip()  # type: ignore[union-attr]
        if line != "ready":
            self.proc.kill()
            raise RuntimeError(f"worker did not start: {line} {self.proc.stderr.read()}")  # type: ignore[union-attr]

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        assert self.proc.returncode == -signal.SIGKILL


def read_state(db: Path, key: str) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def test_a_client_killed_while_recording_keeps_a_whole_outbox_and_its_overlay(tmp_path: Path) -> None:
    db = tmp_path / "pc.db"
    worker = Worker("record", str(db))
    time.sleep(1.5)
    worker.kill()
    with open_store(db) as store:
        assert_store_sound(store)
        entries = store.outbox()
        assert len(entries) > 10
        assert store.counts()["overlay_rows"] == len(entries), (
            "every recorded mutation has its optimistic row"
        )
        store.record("patient.register", patient_args())
        assert store.outbox()[-1].client_seq == len(entries) + 1


def test_a_client_killed_mid_apply_has_each_page_and_its_cursor_all_or_nothing(tmp_path: Path) -> None:
    db = tmp_path / "pc.db"
    with open_store(db) as store:
        store.begin_bootstrap(head=0, estimated=0)
        store.finish_bootstrap(cursor=0)
        kept = [store.record("patient.register", patient_args()).mutation_id for _ in range(5)]
    worker = Worker("apply", str(db))
    # kill it once a first page is in (it goes on with the next at once): a fixed 2 s sleep killed it
    # before its first page on a busy machine (two test workers and a benchmark beside it)
    deadline = time.monotonic() + 120
    while int(read_state(db, "cursor") or 0) < 1000 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.kill()
    with LocalStore.open(db, app="workstation") as store:
        assert_store_sound(store, expected_mutations=kept)
        cursor = store.cursor()
        assert cursor is not None and cursor >= 1000, "some pages were applied before the kill"
        confirmed = store.counts()["entities"]["patient"]
        assert confirmed == cursor, "rows and cursor moved together"
        assert store.pending_count() == 5


def test_a_client_killed_mid_bootstrap_resumes_and_loses_nothing(
    server: ServerProcess, tmp_path: Path
) -> None:
    db = tmp_path / "pc.db"
    worker = Worker("bootstrap", str(db), server.url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = read_state(db, "bootstrap")
        if state and '"after":0' not in state.replace(" ", ""):
            break
        time.sleep(0.02)
    worker.kill()
    pc = make_client(db, server.url, "nurse3", bootstrap=False)
    try:
        assert_store_sound(pc.store)
        assert len(pc.store.outbox()) == 20
        state = pc.store.bootstrap_state()
        assert state is not None and state.after > 0, "the kill came after a checkpoint"
        status = pc.sync()
        assert status.state is SyncState.ONLINE and status.pending == 0
        assert_exactly_once(server, pc.store)
        assert_same_view(server, pc.store, "nurse3")
    finally:
        pc.close()


@pytest.fixture
def restartable(server: ServerProcess) -> Iterator[list[ServerProcess]]:
    holder = [server]
    yield holder
    holder[-1].stop()


def test_the_server_killed_mid_push_and_restarted_applies_every_mutation_exactly_once(
    restartable: list[ServerProcess], tmp_path: Path
) -> None:
    server = restartable[0]
    pc = make_client(tmp_path / "pc.db", server.url, "nurse3", push_batch=50, timeout=5.0)
    try:
        ids = [
            pc.store.record("patient.register", patient_args(name=f"断电{n}")).mutation_id for n in range(400)
        ]
        pusher = threading.Thread(target=pc.sync)
        pusher.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if count_rows(server, "SELECT count(*) FROM mutation_log WHERE name = 'patient.register'") >= 60:
                break
            time.sleep(0.01)
        server.kill()
        pusher.join(60)
        applied_before = sum(1 for rows in mutation_log(server, ids).values() if rows)
        assert 0 < applied_before < 400, "the kill landed mid-push"
        assert pc.engine.status().state is SyncState.OFFLINE
        assert_store_sound(pc.store, expected_mutations=ids)
        restarted = ServerProcess(server.db_url, server.log_path, port=server.port).start()
        restartable.append(restarted)
        for _ in range(5):
            if pc.sync().pending == 0:
                break
        assert_exactly_once(restarted, pc.store)
        assert count_rows(restarted, "SELECT count(*) FROM patient WHERE name LIKE '断电%'") == 400
        assert_same_view(restarted, pc.store, "nurse3")
    finally:
        pc.close()
