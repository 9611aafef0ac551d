"""Eight devices pushing at once while another pulls: the feed never skips a committed row, on SQLite
and on PostgreSQL, with one server process or several behind the same database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_stub.seed.demo import seed_demo
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess

PUSHERS = 8
BATCHES = 6
PER_BATCH = 5


def _hammer(url: str, *, settle: float = 0.0) -> None:
    """``settle``: with several server processes a pull may land on one whose in-memory feed tail has
    not yet read a sibling's last commits (it does within its poll interval), so the reader goes on
    pulling up to this long for them; every page must still continue the sequence without a gap."""
    reader = ApiUser(url, "admin")
    _, start_cursor = reader.pull_all()
    users = [ApiUser(url, f"nurse{n % 4 + 1}") for n in range(PUSHERS)]
    written: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    seen: dict[str, int] = {}
    cursors: list[int] = []

    def push(user: ApiUser) -> None:
        for _ in range(BATCHES):
            envelopes = [
                user.envelope("patient.register", patient_args(name="并发测试")) for _ in range(PER_BATCH)
            ]
            response = user.push(*envelopes)
            if response.status_code != 200:
                errors.append(response.text)
                return
            with lock:
                written.extend(e["args"]["id"] for e in envelopes)

    def pull() -> None:
        cursor = start_cursor
        while True:
            finished = done.is_set()
            page = reader.pull(cursor, limit=7)  # small pages so paging happens under concurrent commits
            for change in page["changes"]:
                seen[change["id"]] = change["seq"]
            assert page["next_cursor"] >= cursor
            cursor = page["next_cursor"]
            cursors.append(cursor)
            if finished and not page["has_more"]:
                if set(written) <= set(seen) or time.monotonic() > deadline:
                    return
                time.sleep(0.05)

    deadline = float("inf")

    reader_thread = threading.Thread(target=pull)
    reader_thread.start()
    threads = [threading.Thread(target=push, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    deadline = time.monotonic() + settle
    done.set()
    reader_thread.join(120)
    assert not errors
    assert len(written) == PUSHERS * BATCHES * PER_BATCH
    missing = set(written) - set(seen)
    assert not missing, f"{len(missing)} committed rows never reached the reader"
    assert cursors == sorted(cursors)


def test_concurrent_pushers_leave_no_gap_in_the_pull_sequence_on_sqlite(server: ServerProcess) -> None:
    _hammer(server.url)


@pytest.fixture
def pg_server(pg_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    seed_demo(pg_url, patients=40)
    process = ServerProcess(pg_url, tmp_path / "server.log").start()
    yield process
    process.stop()


@pytest.mark.postgres
def test_concurrent_pushers_leave_no_gap_in_the_pull_sequence_on_postgresql(pg_server: ServerProcess) -> None:
    import httpx

    assert httpx.get(f"{pg_server.url}/healthz").json()["database"] == "postgresql"
    _hammer(pg_server.url)


@pytest.mark.postgres
def test_push_replay_and_lockout_behave_the_same_on_postgresql(pg_server: ServerProcess) -> None:
    import httpx

    nurse = ApiUser(pg_server.url, "nurse1")
    envelope = nurse.envelope("patient.register", patient_args(name="王五"))
    first = nurse.push(envelope).json()["outcomes"][0]
    assert first["status"] == "applied"
    assert nurse.push(envelope).json()["outcomes"][0]["replayed"] is True
    body = {"username": "doctor4", "password": "nope", "device_id": "pc"}
    statuses = [httpx.post(f"{pg_server.url}/api/v1/auth/login", json=body).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 401]
    right = httpx.post(f"{pg_server.url}/api/v1/auth/login", json={**body, "password": "Demo-2026"})
    assert right.status_code == 401 and right.json()["code"] == "login_failed", "locked from this PC"


@pytest.fixture
def pg_two_workers(pg_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    seed_demo(pg_url, patients=40)
    process = ServerProcess(pg_url, tmp_path / "server.log", workers=2).start()
    yield process
    process.stop()


@pytest.mark.postgres
def test_two_server_processes_on_postgresql_leave_no_gap_and_lose_nothing(
    pg_two_workers: ServerProcess,
) -> None:
    _hammer(pg_two_workers.url, settle=5.0)


def test_two_server_processes_on_sqlite_leave_no_gap_and_lose_nothing(
    demo_db_url: str, tmp_path: Path
) -> None:
    process = ServerProcess(demo_db_url, tmp_path / "server.log", workers=2).start()
    try:
        _hammer(process.url, settle=5.0)
    finally:
        process.stop()
