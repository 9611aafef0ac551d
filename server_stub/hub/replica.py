"""The replica: the central feed of the hub's campus, pulled with the hub's own credential (bootstrap
into an empty database, resumable at its checkpoints, then long-poll pulls), the latest version of each
entity kept with its feed sequence. Fields come unrestricted; the hub restricts per PC when it serves."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
from collections.abc import Callable

import httpx

from server_stub.hub.board import Wakeup
from server_stub.hub.store import HubDb, HubStore
from server_stub.hub.upstream import Upstream
from shared.protocol.models import API_PREFIX, Change, PullResponse

log = logging.getLogger(__name__)


class Backoff:
    """Exponential backoff with jitter for transient upstream errors."""

    def __init__(self, first: float = 0.5, ceiling: float = 30.0) -> None:
        self.first = first
        self.ceiling = ceiling
        self.failures = 0

    def next(self) -> float:
        delay = min(self.ceiling, self.first * 2**self.failures)
        self.failures += 1
        return delay * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not a secret

    def reset(self) -> None:
        self.failures = 0


class UpstreamRefused(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"central API answered {status}: {body[:300]!r}")
        self.status = status
        self.code = ""
        with contextlib.suppress(ValueError, AttributeError):
            self.code = str(json.loads(body).get("code") or "")


class Replica:
    """Keeps the replica current while the central API is reachable. ``head`` is the replica's cursor."""

    def __init__(
        self,
        db: HubDb,
        upstream: Upstream,
        wakeup: Wakeup,
        *,
        wait: float = 20.0,
        limit: int = 2000,
        on_change: Callable[[list[Change]], None] | None = None,
    ) -> None:
        """``on_change``: called with every page of changes once it is stored."""
        self.on_change = on_change
        self.db = db
        self.upstream = upstream
        self.wakeup = wakeup
        self.wait = wait
        self.limit = limit
        self.head = 0
        # bootstrapped and ``head`` read from the store: the replica holds no change after ``head``
        self.known = False
        self.problem: str | None = None

    async def run(self) -> None:
        self.head = await self.db.run(HubStore.replica_cursor)
        self.known = await self.db.run(HubStore.meta, "bootstrapped") == "1"
        backoff = Backoff()
        while True:
            if self.upstream.revoked or not self.upstream.up:
                await asyncio.sleep(0.5)
                continue
            try:
                if await self.db.run(HubStore.meta, "bootstrapped") != "1":
                    await self._bootstrap()
                else:
                    await self._pull()
                backoff.reset()
                self.problem = None
            except UpstreamRefused as refusal:
                self.problem = str(refusal)
                if refusal.status == 401:
                    self.upstream.mark_revoked(refusal.code or "401")
                elif refusal.status == 410:  # older than the central API's retention: load it again
                    log.warning("replica cursor expired at the central API; bootstrapping again")
                    self.known = False
                    await self.db.run(HubStore.set_metas, {"bootstrapped": "0", "bootstrap_after": "0"})
                    continue
                else:
                    log.warning("replica: %s", refusal)
                await asyncio.sleep(backoff.next())
            except (httpx.HTTPError, ValueError) as error:
                self.problem = f"{type(error).__name__}: {error}"
                if isinstance(error, httpx.TransportError):
                    self.upstream.mark_down(f"replica {type(error).__name__}")
                else:
                    log.warning("replica pull failed: %s", error)
                await asyncio.sleep(backoff.next())

    async def _pull(self) -> None:
        cursor = await self.db.run(HubStore.replica_cursor)
        answer = await self.upstream.client.get(
            f"{API_PREFIX}/sync/pull",
            params={"cursor": cursor, "limit": self.limit, "wait": self.wait},
            headers=self.upstream.hub_auth,
            timeout=self.wait + 15,
        )
        if answer.status_code != 200:
            raise UpstreamRefused(answer.status_code, answer.content)
        self.upstream.mark_up()
        page = PullResponse.model_validate_json(answer.content)
        if page.changes or page.next_cursor > cursor:
            await self._store(page.changes, page.next_cursor)

    def _changed(self, changes: list[Change]) -> None:
        if self.on_change is not None and changes:
            self.on_change(changes)

    async def _store(self, changes: list[Change], cursor: int) -> None:
        await self.db.run(HubStore.store_changes, changes, cursor)
        self._changed(changes)
        self.head = max(self.head, cursor)
        self.known = True  # after a pull or at the end of a bootstrap
        self.wakeup.fire()

    async def _bootstrap(self) -> None:
        """The central snapshot, chunk by chunk: each verified chunk and its checkpoint in one transaction,
        so a bootstrap cut off half-way resumes after its last checkpoint."""
        after = int(await self.db.run(HubStore.meta, "bootstrap_after") or 0)
        log.info("replica: bootstrapping from the central API after %d", after)
        pending: list[bytes] = []
        async with self.upstream.client.stream(
            "GET",
            f"{API_PREFIX}/sync/bootstrap",
            params={"after": after},
            headers=self.upstream.hub_auth,
            timeout=httpx.Timeout(60.0, connect=2.0),
        ) as answer:
            if answer.status_code != 200:
                raise UpstreamRefused(answer.status_code, await answer.aread())
            async for line in answer.aiter_lines():
                if not line:
                    continue
                raw = line.encode()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "item":
                    pending.append(raw)
                elif kind == "checkpoint":
                    digest = hashlib.sha256(b"\n".join(pending)).hexdigest()
                    if digest != message["sha256"] or len(pending) != message["count"]:
                        raise ValueError("bootstrap chunk does not match its checkpoint")
                    changes = [Change.model_validate(json.loads(item)["change"]) for item in pending]
                    await self.db.run(HubStore.store_changes, changes, 0)
                    self._changed(changes)
                    await self.db.run(HubStore.set_metas, {"bootstrap_after": str(message["seq"])})
                    pending = []
                elif kind == "end":
                    await self.db.run(
                        HubStore.set_metas, {"bootstrapped": "1", "bootstrap_after": str(message["cursor"])}
                    )
                    await self._store([], int(message["cursor"]))
                    self.upstream.mark_up()
                    log.info(
                        "replica: bootstrap done at cursor %d (%d items)", message["cursor"], message["total"]
                    )
                    return
        raise httpx.ReadError("bootstrap stream ended without its end line")
