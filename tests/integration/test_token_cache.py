"""Each server process trusts a checked token for ``token_cache_seconds``; past half of that it re-checks
the token in the background while still answering from its cache. Two real server processes on one
SQLite file: a logout on one reaches the other through that re-check, and a valid token keeps working
across several re-checks. Tokens that come due together are re-checked in one read."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import operator
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from server_stub.api.deps import TokenRechecks
from server_stub.db.engine import Database
from server_stub.services import auth
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


def _log_in(db: Database, username: str) -> str:
    with db.write() as conn:
        result = auth.login(
            conn,
            username=username,
            password="Demo-2026",
            device_id=f"pc-{username}",
            campus_id=None,
            now=dt.datetime.now(dt.UTC),
            ttl=dt.timedelta(hours=8),
            threshold=5,
            lockout=dt.timedelta(minutes=15),
            lang="en",
        )
    return result.token


def test_tokens_due_together_are_re_checked_in_one_read(demo_db_url: str) -> None:
    db = Database.open(demo_db_url, pool_size=2)
    users = ["nurse1", "nurse2", "doctor1", "doctor2", "pharmacist1"]
    tokens = {name: _log_in(db, name) for name in users}
    cache = PrincipalCache(ttl=30)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=20)  # past half the ttl
    for token in tokens.values():
        with db.read() as conn:
            cache.put(auth.authenticate(conn, token=token, now=long_ago, lang="en"), long_ago)
    leaving = cache.get(tokens["doctor1"], long_ago)
    assert leaving is not None
    with db.write() as conn:  # logged out on another server process
        auth.logout(conn, principal=leaving, now=dt.datetime.now(dt.UTC))

    selects: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    async def due_together() -> None:
        rechecks = TokenRechecks(cache, db, gather_seconds=0.05)
        for token in tokens.values():
            principal = cache.get(token, dt.datetime.now(dt.UTC))
            assert principal is not None and cache.claim_refresh(
                principal.token_hash, dt.datetime.now(dt.UTC)
            )
            rechecks.want(principal.token_hash)
        while rechecks._running:
            await asyncio.sleep(0.02)

    event.listen(db.reader, "before_cursor_execute", record)
    try:
        asyncio.run(due_together())
    finally:
        event.remove(db.reader, "before_cursor_execute", record)
        db.dispose()
    assert len(selects) == 2, selects  # the tokens, then their staff
    now = dt.datetime.now(dt.UTC)
    assert cache.get(tokens["doctor1"], now) is None, "the token logged out elsewhere is forgotten"
    for name in set(users) - {"doctor1"}:
        assert cache.get(tokens[name], now) is not None
        assert not cache.claim_refresh(_token_hash(tokens[name]), now), f"{name}'s entry was renewed"
