"""A clinic hub logs in, with its link cut, staff who logged in online anywhere lately, not only through
it: it fetches its campus's verifiers from the central API (``GET /api/v1/hub/verifiers``, hub credential
only) and keeps every offline-login rule. Real central API, hub and cuttable link on loopback."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server_stub.hub.store import CentralVerifier, HubStore
from tests.hub.conftest import Clinic, hub_before
from tests.support.api import DEMO_PASSWORD, ApiUser
from tests.support.hub import HubProcess, enrol_hub, until
from tests.support.server import ServerProcess

VERIFIERS = "/api/v1/hub/verifiers"


@pytest.fixture
def quick(module_server: ServerProcess, tmp_path: Path) -> Iterator[Clinic]:
    """An enrolled hub that fetches the verifiers every second (the default is every 5 minutes)."""
    extra = ["--verifier-refresh-seconds", "1"]
    with hub_before(module_server, tmp_path, enrol_hub(module_server), extra=extra) as made:
        yield made


def _login(url: str, username: str, password: str) -> httpx.Response:
    body = {"username": username, "password": password, "device_id": "pc-verifiers-1"}
    return httpx.post(f"{url}/api/v1/auth/login", json=body, headers={"Accept-Language": "en"}, timeout=30)


def _fetched_since(hub: HubProcess, moment: dt.datetime) -> dict[str, Any]:
    """The hub's status once it took a verifier list it asked for after ``moment``."""

    def fresh() -> dict[str, Any] | None:
        facts = hub.status()
        asked = facts.get("verifiers_asked_at")
        return facts if asked and dt.datetime.fromisoformat(asked) > moment else None

    return dict(until(fresh, what="a verifier fetch"))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _staff(central_url: str) -> dict[str, dict[str, Any]]:
    security = ApiUser(central_url, "security")
    rows = security.http.get("/api/v1/admin/staff").json()
    return {row["username"]: row for row in rows}


def _listed(central_url: str, credential: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{central_url}{VERIFIERS}",
        params=params,
        headers={"Authorization": f"Bearer {credential}"},
        timeout=30,
    )


def _pick(staff: dict[str, dict[str, Any]], prefix: str, *, main: bool, skip: int = 0) -> str:
    """A ``prefix``<n> account of the MAIN campus (``main``) or of another, the ``skip``-th such."""
    found = sorted(
        (u for u, row in staff.items() if u.startswith(prefix) and (row["campus"] == "MAIN") == main),
        key=lambda u: int(u.removeprefix(prefix)),
    )
    return found[skip]


def test_staff_who_logged_in_at_the_central_api_log_in_at_the_hub_with_the_link_cut(quick: Clinic) -> None:
    staff = _staff(quick.central.url)
    nurse_name, other = _pick(staff, "nurse", main=True), _pick(staff, "pharmacist", main=True)
    before = _now()
    ApiUser(quick.central.url, nurse_name)  # straight at the central API, never through the hub
    ApiUser(quick.central.url, other)
    facts = _fetched_since(quick.hub, before)
    assert int(facts["verifiers"]) >= 2 and not facts.get("verifiers_problem")
    until(quick.hub.caught_up, what="replica caught up")
    shown = subprocess.run(
        [sys.executable, "-m", "shared.cli", "hub", "status", "--url", quick.hub.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and "held for offline logins" in shown.stdout, shown.stderr

    quick.link.cut()
    quick.hub.wait_upstream(False)
    offline = _login(quick.hub.url, nurse_name, DEMO_PASSWORD)
    assert offline.status_code == 200, offline.text
    assert offline.json()["token"].startswith("hubt_") and offline.json()["staff"]["username"] == nurse_name
    nurse = httpx.Client(
        base_url=quick.hub.url, headers={"Authorization": f"Bearer {offline.json()['token']}"}, timeout=30
    )
    assert nurse.get("/api/v1/sync/pull").status_code == 200
    wrong = [_login(quick.hub.url, other, "not-it") for _ in range(5)]
    assert [w.status_code for w in wrong] == [401] * 5
    locked = _login(quick.hub.url, other, DEMO_PASSWORD)
    assert locked.status_code == 423 and locked.json()["code"] == "account_locked"
    # never logged in anywhere: the hub holds nothing and cannot decide (the PC's own unlock may)
    stranger = _login(quick.hub.url, _pick(staff, "doctor", main=True, skip=8), DEMO_PASSWORD)
    assert stranger.status_code == 503 and stranger.json()["code"] == "central_unreachable"


def test_only_active_staff_of_the_hubs_campus_who_logged_in_lately_are_shipped_and_only_to_a_hub(
    quick: Clinic,
) -> None:
    central = quick.central.url
    staff = _staff(central)
    elsewhere = _pick(staff, "nurse", main=False)
    listed = _pick(staff, "nurse", main=True, skip=1)
    closing = _pick(staff, "doctor", main=True, skip=3)
    moving = _pick(staff, "doctor", main=True, skip=4)
    never = _pick(staff, "doctor", main=True, skip=5)
    for username in (elsewhere, listed, closing, moving):
        ApiUser(central, username)
    admin = ApiUser(central, "admin")
    closed = admin.push_one(
        "staff.save",
        {"fields": {"username": closing, "active": "0"}},
        base_version=staff[closing]["version"],
    )
    assert closed["status"] == "applied", closed
    moved = admin.push_one(
        "staff.save",
        {"fields": {"username": moving, "campus": staff[elsewhere]["campus"], "department": ""}},
        base_version=staff[moving]["version"],
    )
    assert moved["status"] == "applied", moved

    answer = _listed(central, quick.hub.credential, days=14)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    names = {v["username"] for v in body["verifiers"]}
    assert listed in names
    assert not names & {elsewhere, closing, moving, never}  # other campus, closed, moved, never logged in
    entry = next(v for v in body["verifiers"] if v["username"] == listed)
    assert set(entry) == {"staff_id", "username", "password_hash", "last_login_at"}
    assert entry["password_hash"].startswith("$argon2") and entry["staff_id"] == staff[listed]["id"]
    assert _listed(central, quick.hub.credential, days=365).json()["days"] == 30  # the server's cap
    time.sleep(1.5)  # the login is now older than the window asked for next
    recent = _listed(central, quick.hub.credential, days=1e-5).json()["verifiers"]
    assert listed not in {v["username"] for v in recent}

    nurse = ApiUser(central, "nurse1")
    refused = _listed(central, nurse.token)
    assert refused.status_code == 403 and refused.json()["code"] == "hub_only"
    assert _listed(central, "not-a-token").status_code == 401
    other = enrol_hub(quick.central, name="stolen hub")
    assert _listed(central, other).status_code == 200
    revoked = subprocess.run(
        [sys.executable, "-m", "shared.cli", "hub-revoke", "--db", quick.central.db_url,
         other.split(".", 1)[0].removeprefix("hub_")],
        capture_output=True, text=True, timeout=60, env={**os.environ, **quick.central.env},
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    gone = _listed(central, other)
    assert gone.status_code == 401, gone.text

    hub_id = quick.hub.credential.split(".", 1)[0].removeprefix("hub_")
    log = admin.http.get("/api/v1/admin/audit/entries", params={"action": "hub.verifiers", "hub_id": hub_id})
    entries = log.json()["entries"]
    assert entries and all(e["detail"]["hub_id"] == hub_id for e in entries)
    assert any(e["detail"]["count"] >= 1 for e in entries)


def test_after_a_password_change_at_the_central_api_the_old_password_fails_at_the_hub(quick: Clinic) -> None:
    username = _pick(_staff(quick.central.url), "doctor", main=True, skip=6)
    ApiUser(quick.central.url, username)
    _fetched_since(quick.hub, _now())
    until(quick.hub.caught_up, what="replica caught up")
    quick.link.cut()
    quick.hub.wait_upstream(False)
    assert _login(quick.hub.url, username, DEMO_PASSWORD).status_code == 200  # the hub holds the password

    quick.link.restore()
    quick.hub.wait_upstream(True)
    security = ApiUser(quick.central.url, "security")
    reset = security.http.post(f"/api/v1/admin/staff/{username}/reset-password")
    assert reset.status_code == 200, reset.text
    _fetched_since(quick.hub, _now())
    quick.link.cut()
    quick.hub.wait_upstream(False)
    stale = _login(quick.hub.url, username, DEMO_PASSWORD)  # no password at all now: nothing to check
    assert stale.status_code == 503 and stale.json()["code"] == "central_unreachable"

    quick.link.restore()
    quick.hub.wait_upstream(True)
    body = {"username": username, "setup_code": reset.json()["setup_code"], "new_password": "Clinic-new-42",
            "device_id": "pc-verifiers-2"}  # fmt: skip
    assert httpx.post(f"{quick.central.url}/api/v1/auth/setup", json=body, timeout=30).status_code == 200
    _fetched_since(quick.hub, _now())
    quick.link.cut()
    quick.hub.wait_upstream(False)
    old = _login(quick.hub.url, username, DEMO_PASSWORD)
    assert old.status_code == 401 and old.json()["code"] == "login_failed"
    new = _login(quick.hub.url, username, "Clinic-new-42")
    assert new.status_code == 200, new.text


def test_the_central_list_replaces_hashes_keeps_locks_and_newer_logins_and_drops_the_unlisted(
    tmp_path: Path,
) -> None:
    store = HubStore(tmp_path / "hub.db")
    try:
        for name in ("ann", "bob", "cat", "dan"):
            store.remember(
                username=name, password_hash=f"hub-{name}", staff={"id": f"s-{name}"}, campus_id="M"
            )
        until_then = store.note_failure("bob", threshold=1, lockout=dt.timedelta(minutes=15))
        assert until_then is not None
        asked_at = _now()
        store.remember(username="dan", password_hash="hub-dan-new", staff={"id": "s-dan"}, campus_id="M")
        earlier = asked_at - dt.timedelta(hours=1)
        listed = [
            CentralVerifier("ann", "s-ann", "central-ann", earlier),
            CentralVerifier("bob", "s-bob", "central-bob", earlier),
            CentralVerifier("dan", "s-dan", "central-dan", earlier),
            CentralVerifier("eve", "s-eve", "central-eve", asked_at + dt.timedelta(minutes=5)),
        ]
        stored, dropped = store.take_central_verifiers(
            listed, campus_id="M", asked_at=asked_at, fetched_at=_now()
        )
        assert (stored, dropped) == (3, 1)
        ann, bob, cat, dan, eve = (store.verifier(n) for n in ("ann", "bob", "cat", "dan", "eve"))
        assert ann is not None and ann.password_hash == "central-ann" and ann.remembered_at < asked_at
        assert ann.remembered_at > earlier  # the hub's own login through it was newer: its time stays
        assert bob is not None and bob.password_hash == "central-bob" and bob.locked_until == until_then
        assert cat is None  # not listed any more: forgotten
        assert dan is not None and dan.password_hash == "hub-dan-new"  # remembered while the list was asked
        assert eve is not None and eve.staff == {"id": "s-eve", "username": "eve"}
        assert eve.remembered_at == asked_at  # a central clock ahead of the hub's is not believed
        assert store.verifier_count() == 4 and store.meta("verifiers_listed") == "4"
    finally:
        store.close()
