"""Offline password verifiers: remember after an online login, verify offline, expire, forget."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type

from shared.domain.entities import Staff
from shared.security.verifier import JsonFileVerifierStore, MemoryVerifierStore, OfflineVerifier

# Small parameters keep the tests fast; production uses argon2-cffi's RFC 9106 defaults.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def staff(**overrides: object) -> Staff:
    data: dict[str, object] = {"id": "s-1", "username": "doctor1", "name": "张医生", "roles": ["doctor"]}
    data.update(overrides)
    return Staff.model_validate(data)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(tmp_path: Path, clock: Clock) -> OfflineVerifier:
    return OfflineVerifier(JsonFileVerifierStore(tmp_path / "verifiers.json"), hasher=FAST, clock=clock)


def test_a_remembered_password_unlocks_offline_and_returns_the_staff(verifier: OfflineVerifier) -> None:
    verifier.remember("doctor1", "Demo-2026", staff())
    found = verifier.verify("doctor1", "Demo-2026")
    assert found == staff()
    assert verifier.can_unlock("doctor1")


def test_usernames_compare_like_people_type_them(verifier: OfflineVerifier) -> None:
    verifier.remember("Doctor1 ", "Demo-2026", staff())
    assert verifier.verify(" DOCTOR1", "Demo-2026") == staff()


def test_a_wrong_password_or_unknown_user_gives_none(verifier: OfflineVerifier) -> None:
    verifier.remember("doctor1", "Demo-2026", staff())
    assert verifier.verify("doctor1", "demo-2026") is None
    assert verifier.verify("nurse1", "Demo-2026") is None
    assert verifier.verify("doctor1", "") is None
    assert not verifier.can_unlock("nurse1")


def test_the_verifier_expires_fourteen_days_after_the_last_online_login(
    verifier: OfflineVerifier, clock: Clock
) -> None:
    verifier.remember("doctor1", "Demo-2026", staff())
    clock.now += dt.timedelta(days=14) - dt.timedelta(minutes=1)
    assert verifier.verify("doctor1", "Demo-2026") is not None
    clock.now += dt.timedelta(minutes=2)
    assert verifier.verify("doctor1", "Demo-2026") is None
    assert not verifier.can_unlock("doctor1")
    verifier.remember("doctor1", "Demo-2026", staff())  # a new online login renews it
    assert verifier.verify("doctor1", "Demo-2026") is not None


def test_a_clock_wound_back_does_not_extend_the_verifier(verifier: OfflineVerifier, clock: Clock) -> None:
    verifier.remember("doctor1", "Demo-2026", staff())
    clock.now -= dt.timedelta(days=30)
    assert verifier.verify("doctor1", "Demo-2026") is None


def test_repeated_wrong_offline_passwords_forget_the_user(tmp_path: Path, clock: Clock) -> None:
    verifier = OfflineVerifier(MemoryVerifierStore(), hasher=FAST, clock=clock, max_failures=3)
    verifier.remember("doctor1", "Demo-2026", staff())
    assert verifier.verify("doctor1", "x") is None
    assert verifier.verify("doctor1", "y") is None
    assert verifier.verify("doctor1", "Demo-2026") is not None  # success resets the count
    for wrong in ("a", "b", "c"):
        assert verifier.verify("doctor1", wrong) is None
    assert verifier.verify("doctor1", "Demo-2026") is None
    assert not verifier.can_unlock("doctor1")


def test_an_inactive_account_is_never_remembered(verifier: OfflineVerifier) -> None:
    verifier.remember("doctor1", "Demo-2026", staff())
    verifier.remember("doctor1", "Demo-2026", staff(active=False))
    assert verifier.verify("doctor1", "Demo-2026") is None


def test_forget_removes_the_user(verifier: OfflineVerifier) -> None:
    verifier.remember("doctor1", "Demo-2026", staff())
    verifier.forget("doctor1")
    assert verifier.verify("doctor1", "Demo-2026") is None


def test_the_file_holds_an_argon2id_hash_not_the_password_and_only_its_owner_reads_it(
    tmp_path: Path, verifier: OfflineVerifier
) -> None:
    verifier.remember("doctor1", "Demo-2026", staff())
    path = tmp_path / "verifiers.json"
    text = path.read_text(encoding="utf-8")
    assert "Demo-2026" not in text
    record = json.loads(text)["users"]["doctor1"]
    assert record["password_hash"].startswith("$argon2id$")
    assert "张医生" in record["staff_json"]
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_records_survive_a_new_process_reading_the_same_file(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "nested" / "verifiers.json"
    OfflineVerifier(JsonFileVerifierStore(path), hasher=FAST, clock=clock).remember(
        "nurse1", "pw", staff(username="nurse1")
    )
    again = OfflineVerifier(JsonFileVerifierStore(path), hasher=FAST, clock=clock)
    assert again.verify("nurse1", "pw") == staff(username="nurse1")
    assert again.cached_staff("nurse1") == staff(username="nurse1")


def test_a_damaged_file_costs_only_an_online_login(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "verifiers.json"
    path.write_text("{not json", encoding="utf-8")
    verifier = OfflineVerifier(JsonFileVerifierStore(path), hasher=FAST, clock=clock)
    assert verifier.verify("doctor1", "Demo-2026") is None
    verifier.remember("doctor1", "Demo-2026", staff())
    assert verifier.verify("doctor1", "Demo-2026") == staff()


def test_weaker_old_hashes_are_upgraded_on_a_successful_unlock(clock: Clock) -> None:
    store = MemoryVerifierStore()
    OfflineVerifier(store, hasher=FAST, clock=clock).remember("doctor1", "pw", staff())
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1, type=Type.ID)
    assert OfflineVerifier(store, hasher=stronger, clock=clock).verify("doctor1", "pw") is not None
    record = store.load("doctor1")
    assert record is not None and "t=2" in record.password_hash
