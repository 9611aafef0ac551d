"""Nobody outside can lock the clinic out: failed logins are throttled per source address and per
account, a PC an account logged in from before is never locked out by failures from elsewhere, every
failure gets the same answer, and a security administrator (not the system administrator) unlocks.
Real server processes on loopback; other source addresses come through X-Forwarded-For, which the
server trusts from loopback only (a reverse proxy on the same host)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server_stub.seed.demo import seed_demo
from shared.protocol.models import HUB_HEADER
from tests.support.api import DEMO_PASSWORD, ApiUser
from tests.support.hub import enrol_hub
from tests.support.server import ServerProcess

ACCOUNTS = ("doctor1", "nurse1", "pharmacist1", "admin")


def _login(
    server: ServerProcess,
    username: str,
    password: str = DEMO_PASSWORD,
    *,
    device_id: str = "pc-elsewhere",
    secret: str | None = None,
    source: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"username": username, "password": password, "device_id": device_id}
    if secret:
        body["device_secret"] = secret
    headers = {"X-Forwarded-For": source} if source else {}
    return httpx.post(f"{server.url}/api/v1/auth/login", json=body, headers=headers, timeout=60)


@pytest.fixture
def strict_server(demo_db_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server that blocks a source after 6 failures (the default is 30)."""
    env = {"CLINIC_LOGIN_SOURCE_FAILURES": "6"}
    process = ServerProcess(demo_db_url, tmp_path / "server.log", env=env).start()
    yield process
    process.stop()


@pytest.fixture
def pg_server(pg_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    seed_demo(pg_url, patients=20)
    process = ServerProcess(pg_url, tmp_path / "server.log").start()
    yield process
    process.stop()


@pytest.mark.postgres
def test_login_throttling_holds_on_postgresql(pg_server: ServerProcess) -> None:
    test_a_security_admin_unlocks_an_account_and_the_system_admin_cannot(pg_server)
    test_failures_from_elsewhere_never_lock_an_account_out_of_its_known_pcs(pg_server)


def test_failures_from_elsewhere_never_lock_an_account_out_of_its_known_pcs(server: ServerProcess) -> None:
    """Before: anonymous requests locked every account, admin included, on every PC."""
    known = {name: secrets.token_urlsafe(24) for name in ACCOUNTS}
    for name in ACCOUNTS:
        assert _login(server, name, device_id=f"{name}-desk", secret=known[name]).status_code == 200
    for n, name in enumerate(ACCOUNTS):
        for attempt in range(6):
            answer = _login(server, name, "guess", source=f"10.0.{n}.{attempt}")
            assert answer.status_code == 401, answer.text
    for name in ACCOUNTS:
        # elsewhere the account is locked (the right password gets the same refusal) ...
        assert _login(server, name, source="10.9.9.9").json()["code"] == "login_failed"
        # ... but its own PC logs in as always
        at_desk = _login(server, name, device_id=f"{name}-desk", secret=known[name])
        assert at_desk.status_code == 200, (name, at_desk.text)


def test_a_device_id_without_its_secret_is_not_a_known_pc(server: ServerProcess) -> None:
    secret = secrets.token_urlsafe(24)
    assert _login(server, "doctor2", device_id="doctor2-desk", secret=secret).status_code == 200
    for _ in range(5):
        _login(server, "doctor2", "guess", device_id="doctor2-desk", secret=secrets.token_urlsafe(24))
    assert _login(server, "doctor2", device_id="doctor2-desk").status_code == 401
    assert _login(server, "doctor2", device_id="doctor2-desk", secret=secret).status_code == 200


def test_every_failed_login_gets_the_same_answer(server: ServerProcess) -> None:
    unknown = _login(server, "nobody-here", "guess")
    wrong = _login(server, "nurse2", "guess")
    for _ in range(5):
        _login(server, "nurse3", "guess")
    locked = _login(server, "nurse3")
    answers = [unknown, wrong, locked]
    assert {a.status_code for a in answers} == {401}
    assert len({a.text for a in answers}) == 1, [a.text for a in answers]
    message = unknown.json()["message"]
    assert not any(ch.isdigit() for ch in message), "no count of attempts left"


def test_a_source_that_keeps_failing_is_refused_before_any_password_check(
    strict_server: ServerProcess,
) -> None:
    for n in range(6):  # one failure per account: no account is locked
        assert _login(strict_server, f"doctor{n + 1}", "guess", source="10.1.1.1").status_code == 401
    refused = _login(strict_server, "doctor1", source="10.1.1.1")
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_attempts"
    assert int(refused.headers["Retry-After"]) > 0
    # the accounts themselves are fine from anywhere else
    assert _login(strict_server, "doctor1", source="10.1.1.2").status_code == 200


def test_failures_through_a_clinic_hub_count_against_the_pc_behind_it_not_the_hub(
    strict_server: ServerProcess,
) -> None:
    """A hub passes its PCs' logins through from its own address: with its credential in X-Clinic-Hub the
    central API throttles the PC behind it (X-Forwarded-For), so one PC's failures never block the whole
    clinic; a forged or revoked credential counts as no hub at all."""
    credential = enrol_hub(strict_server)
    through_hub = {HUB_HEADER: credential, "X-Forwarded-For": "10.7.0.5"}

    def login(username: str, password: str, headers: dict[str, str]) -> httpx.Response:
        body = {"username": username, "password": password, "device_id": "pc-clinic"}
        return httpx.post(f"{strict_server.url}/api/v1/auth/login", json=body, headers=headers, timeout=60)

    for n in range(6):
        assert login(f"doctor{n + 1}", "guess", through_hub).status_code == 401
    assert login("doctor1", DEMO_PASSWORD, through_hub).status_code == 429
    # the same address without the hub, and another PC behind the same hub, are not blocked
    assert login("doctor1", DEMO_PASSWORD, {"X-Forwarded-For": "10.7.0.5"}).status_code == 200
    assert login("doctor1", DEMO_PASSWORD, {**through_hub, "X-Forwarded-For": "10.7.0.6"}).status_code == 200
    # a forged hub credential is ignored: its failures count against the address itself
    forged = {HUB_HEADER: credential[:-4] + "AAAA", "X-Forwarded-For": "10.8.0.1"}
    for n in range(6):
        assert login(f"doctor{n + 1}", "guess", forged).status_code == 401
    assert login("doctor1", DEMO_PASSWORD, {"X-Forwarded-For": "10.8.0.1"}).status_code == 429


def test_a_security_admin_unlocks_an_account_and_the_system_admin_cannot(server: ServerProcess) -> None:
    for _ in range(5):
        _login(server, "doctor3", "guess")
    assert _login(server, "doctor3").status_code == 401
    admin = ApiUser(server.url, "admin")
    refused = admin.http.post("/api/v1/auth/unlock", json={"username": "doctor3"})
    assert refused.status_code == 403
    security = ApiUser(server.url, "security")
    unlocked = security.http.post("/api/v1/auth/unlock", json={"username": "doctor3"})
    assert unlocked.status_code == 200 and unlocked.json()["cleared"] >= 1
    assert _login(server, "doctor3").status_code == 200
    assert security.http.post("/api/v1/auth/unlock", json={"username": "no-such"}).status_code == 404
    admin.close()
    security.close()


def test_the_unlock_command_clears_a_lock_on_the_server(server: ServerProcess) -> None:
    for _ in range(5):
        _login(server, "pharmacist2", "guess")
    assert _login(server, "pharmacist2").status_code == 401
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shared.cli",
            "unlock-login",
            "--db",
            server.db_url,
            "--username",
            "pharmacist2",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "unlocked" in done.stdout
    assert _login(server, "pharmacist2").status_code == 200
