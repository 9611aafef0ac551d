"""Each server process trusts a checked token for ``token_cache_seconds``; past half of that it re-checks
the token in the background while still answering from its cache. Two real server processes on one
SQLite file: a logout on one reaches the other through that re-check, and a valid token keeps working
across several re-checks."""

from __future__ import annotations

import datetime as dt
import functools
import operator
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_stub.services.auth import Principal, PrincipalCache, _token_hash
from shared.domain.entities import Staff
from tests.support.api import ApiUser
from tests.support.server import ServerProcess

TTL = 2.0  # seconds, so the test sees several re-checks


@pytest.fixture
def two_servers(demo_db_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {"CLINIC_TOKEN_CACHE_SECONDS": str(TTL)}
    first = ServerProcess(demo_db_url, tmp_path / "first.log", env=env).start()
    second = ServerProcess(demo_db_url, tmp_path / "second.log", env=env).start()
    yield first, second
    second.stop()
    first.stop()


def _status_on(server: ServerProcess, user: ApiUser) -> int:
    return user.http.get(f"{server.url}/api/v1/sync/pull", params={"cursor": 0, "limit": 1}).status_code


def test_a_logout_elsewhere_reaches_a_process_that_cached_the_token(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = two_servers
    leaving = ApiUser(first.url, "nurse1")
    staying = ApiUser(first.url, "nurse2")
    try:
        assert _status_on(second, leaving) == 200 and _status_on(second, staying) == 200  # cached there
        assert leaving.http.post(f"{first.url}/api/v1/auth/logout").status_code == 204
        assert _status_on(first, leaving) == 401  # the process that logged it out forgets it at once

        # The other process answers from its cache until a request past half the ttl has it re-check the
        # token; from then on it refuses. The valid token is re-checked too and never refused.
        statuses: list[int] = []
        deadline = time.monotonic() + 4 * TTL
        while time.monotonic() < deadline and (not statuses or statuses[-1] != 401):
            statuses.append(_status_on(second, leaving))
            assert _status_on(second, staying) == 200
            time.sleep(0.1)
        assert statuses[-1] == 401, statuses
        body = leaving.http.get(f"{second.url}/api/v1/sync/pull").json()
        assert body["code"] == "token_invalid"

        time.sleep(TTL)  # past the ttl of the entry renewed meanwhile: still accepted
        assert _status_on(second, staying) == 200
    finally:
        leaving.close()
        staying.close()


def test_an_entry_past_half_its_ttl_is_served_and_claimed_for_one_re_check() -> None:
    cache = PrincipalCache(ttl=30)
    cached_at = dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.UTC)
    principal = Principal(
        staff=Staff(id="s1", username="nurse1", name="护士一", roles=["nurse"]),
        device_id="pc-1",
        campus_id=None,
        token_hash=_token_hash("token-1"),
        expires_at=cached_at + dt.timedelta(hours=12),
    )
    cache.put(principal, cached_at)
    at = functools.partial(operator.add, cached_at)

    assert cache.get("token-1", at(dt.timedelta(seconds=10))) == principal
    assert not cache.claim_refresh(principal.token_hash, at(dt.timedelta(seconds=10)))  # still fresh
    assert cache.get("token-1", at(dt.timedelta(seconds=20))) == principal  # served while re-checked
    assert cache.claim_refresh(principal.token_hash, at(dt.timedelta(seconds=20)))
    assert not cache.claim_refresh(principal.token_hash, at(dt.timedelta(seconds=21)))  # one re-check
    cache.release(principal.token_hash)  # the re-check failed (database busy): the next caller tries
    assert cache.claim_refresh(principal.token_hash, at(dt.timedelta(seconds=22)))
    cache.put(principal, at(dt.timedelta(seconds=23)))  # renewed
    assert not cache.claim_refresh(principal.token_hash, at(dt.timedelta(seconds=30)))
    assert cache.get("token-1", at(dt.timedelta(seconds=52))) == principal
    assert cache.get("token-1", at(dt.timedelta(seconds=54))) is None  # past the renewed ttl
