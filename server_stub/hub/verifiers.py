"""The hub's copy of the central API's login verifiers for its campus (``GET /api/v1/hub/verifiers``):
so staff who logged in online anywhere lately, not only through this hub, can log in at the hub while
the link is down.

Fetched while the link is up: at start, each time the link comes back, and every ``every`` seconds; in
the background, so no PC's request waits for it. Each answer is the whole list: the store takes it
(``HubStore.take_central_verifiers``) and forgets the accounts it no longer names. A refusal (a hub not
enrolled, a revoked credential, an older central API) leaves what the hub holds as it is and is shown
as ``verifiers_problem`` in ``clinic hub status``. Event loop only."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import httpx

from server_stub.hub.store import CentralVerifier, HubDb, HubStore
from server_stub.hub.upstream import Upstream
from shared.protocol.models import API_PREFIX, HubVerifiers
from shared.security.verifier import normalize_username

log = logging.getLogger(__name__)


class VerifierFetcher:
    """Keeps the hub's verifiers following the central API's list (see the module docstring)."""

    def __init__(self, db: HubDb, upstream: Upstream, *, days: float, every: float = 300.0) -> None:
        self.db = db
        self.upstream = upstream
        self.days = days
        self.every = every
        self.problem: str | None = None
        self.fetched_at: dt.datetime | None = None

    async def run(self) -> None:
        was_up = False
        due = 0.0  # loop time of the next fetch while the link stays up
        loop = asyncio.get_running_loop()
        while True:
            up = self.upstream.up and not self.upstream.revoked
            if up and (not was_up or loop.time() >= due):
                try:
                    await self.fetch()
                except Exception as error:  # noqa: BLE001 - a busy disk must not end the fetcher
                    self._failed(f"{type(error).__name__}: {error}")
                due = loop.time() + (self.every if self.problem is None else min(self.every, 30.0))
            was_up = up
            await asyncio.sleep(0.5)

    async def fetch(self) -> bool:
        """One fetch and merge; True when the hub's verifiers now follow the central API's list."""
        asked_at = dt.datetime.now(dt.UTC)
        try:
            answer = await self.upstream.client.get(
                f"{API_PREFIX}/hub/verifiers", params={"days": self.days}, headers=self.upstream.hub_auth
            )
        except httpx.HTTPError as error:
            return self._failed(f"{type(error).__name__}: {error}")
        if answer.status_code != 200:
            # a 401 (revoked) is the replica's to notice: it says so for the whole hub
            return self._failed(f"central API answered {answer.status_code}: {answer.text[:200]}")
        try:
            listed = HubVerifiers.model_validate_json(answer.content)
        except ValueError as error:
            return self._failed(f"unreadable verifier list: {error}")
        entries = [
            CentralVerifier(
                username=normalize_username(v.username),
                staff_id=v.staff_id,
                password_hash=v.password_hash,
                last_login_at=v.last_login_at,
            )
            for v in listed.verifiers
        ]
        now = dt.datetime.now(dt.UTC)
        stored, dropped = await self.db.run(
            HubStore.take_central_verifiers,
            entries,
            campus_id=listed.campus_id,
            asked_at=asked_at,
            fetched_at=now,
        )
        self.problem = None
        self.fetched_at = now
        log.info(
            "verifiers from the central API: %d listed, %d stored, %d dropped", len(entries), stored, dropped
        )
        return True

    def _failed(self, problem: str) -> bool:
        if problem != self.problem:
            log.warning("could not fetch the login verifiers (the hub keeps those it holds): %s", problem)
        self.problem = problem
        return False
