"""The relay worker: while the central API is reachable and the log holds unsettled entries, push them
upstream in hub order under the hub's credential (``POST /api/v1/hub/relay``), store each outcome and
re-issue each settled entry to the LAN under a new ``hub_seq``.

Consecutive entries of one client (same device, staff and campus) form one batch. A batch the central
API refuses with ``client_seq_gap`` means the PC pushed elsewhere meanwhile: that client's entries wait
(``HOLD_SECONDS``; the PC pushes again from its oldest unresolved entry anyway) while the others go on.
Transient errors back off with jitter; a refused credential (401) stops relaying until the hub restarts."""

from __future__ import annotations

import asyncio
import logging

import httpx

from server_stub.hub.board import LanBoard
from server_stub.hub.replica import Backoff, UpstreamRefused
from server_stub.hub.store import HubDb, HubStore
from server_stub.hub.upstream import Upstream
from shared.protocol.models import (
    API_PREFIX,
    MAX_PUSH_BATCH,
    MAX_RELAY_BATCHES,
    OLD_MAX_RELAY_BATCHES,
    LanMutation,
    MutationEnvelope,
    MutationOutcome,
    RelayBatch,
    RelayRequest,
    RelayResponse,
)

log = logging.getLogger(__name__)

HOLD_SECONDS = 5.0


def plan_batches(
    entries: list[LanMutation],
    held: set[str],
    *,
    limit: int = MAX_PUSH_BATCH,
    max_batches: int = MAX_RELAY_BATCHES,
) -> list[RelayBatch]:
    """Entries in hub order as relay batches: a run of one client's entries with one device, staff and
    campus is one batch; held clients are skipped; at most ``limit`` mutations and ``max_batches``."""
    batches: list[RelayBatch] = []
    total = 0
    for entry in entries:
        if entry.client_id in held:
            continue
        if total >= limit:
            break
        last = batches[-1] if batches else None
        same = last is not None and (last.client_id, last.device_id, last.staff_id, last.campus_id) == (
            entry.client_id,
            entry.device_id,
            entry.staff_id,
            entry.campus_id,
        )
        if not same:
            if len(batches) >= max_batches:
                break
            last = RelayBatch(
                client_id=entry.client_id,
                device_id=entry.device_id,
                staff_id=entry.staff_id,
                campus_id=entry.campus_id,
                mutations=[],
            )
            batches.append(last)
        assert last is not None
        last.mutations.append(
            MutationEnvelope(
                mutation_id=entry.mutation_id,
                client_seq=entry.client_seq,
                name=entry.name,
                args=entry.args,
                base_version=entry.base_version,
                occurred_at=entry.occurred_at,
            )
        )
        total += 1
    return batches


class Relay:
    def __init__(self, db: HubDb, upstream: Upstream, board: LanBoard) -> None:
        self.db = db
        self.upstream = upstream
        self.board = board
        self._kick = asyncio.Event()
        self._holds: dict[str, float] = {}  # client id -> loop time until which it waits
        self.problem: str | None = None
        self.relayed = 0
        self.max_batches = MAX_RELAY_BATCHES  # OLD_MAX_RELAY_BATCHES once a central API refused more
        # Answered by the central API, their outcomes being stored (``HubStore.settle``) while the next
        # request is on its way; not planned again meanwhile.
        self._settling: set[str] = set()
        self._settle: asyncio.Task[None] | None = None

    def kick(self) -> None:
        self._kick.set()

    async def _idle(self, seconds: float) -> None:
        """Wait up to ``seconds`` for a push (``kick``) or the link coming back (or going)."""
        self._kick.clear()
        self.upstream.changed.clear()
        waits = [
            asyncio.ensure_future(self._kick.wait()),
            asyncio.ensure_future(self.upstream.changed.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def _held(self) -> set[str]:
        now = asyncio.get_running_loop().time()
        self._holds = {client: until for client, until in self._holds.items() if until > now}
        return set(self._holds)

    async def run(self) -> None:
        try:
            await self._run()
        finally:  # outcomes the central API gave are stored before the hub stops
            if self._settle is not None:
                await asyncio.wait({self._settle})

    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            if self.upstream.revoked or not self.upstream.up or not self.board.pending:
                await self._idle(1.0)
                continue
            # from the board (the log's entries in memory, as committed): no database read per request
            entries = self.board.unsettled(2 * MAX_PUSH_BATCH, self._settling)
            batches = plan_batches(entries, self._held(), max_batches=self.max_batches)
            if not batches:
                if self._settle is not None:  # what is left is being settled: wait for it
                    await asyncio.wait({self._settle})
                    continue
                await self._idle(1.0)
                continue
            try:
                if await self._send(batches):
                    backoff.reset()
                    self.problem = None
                else:  # nothing settled (every batch held back): do not spin
                    await asyncio.sleep(backoff.next())
            except UpstreamRefused as refusal:
                self.problem = str(refusal)
                if refusal.status == 401:
                    self.upstream.mark_revoked(refusal.code or "401")
                    continue
                log.warning("relay refused: %s", refusal)
                await asyncio.sleep(backoff.next())
            except (httpx.HTTPError, ValueError) as error:
                self.problem = f"{type(error).__name__}: {error}"
                if isinstance(error, httpx.TransportError):
                    self.upstream.mark_down(f"relay {type(error).__name__}")
                else:
                    log.warning("relay failed: %s", error)
                await asyncio.sleep(backoff.next())

    async def _send(self, batches: list[RelayBatch]) -> int:
        """One relay request; returns how many entries it settled."""
        request = RelayRequest(batches=batches)
        answer = await self.upstream.client.post(
            f"{API_PREFIX}/hub/relay",
            content=request.model_dump_json(),
            headers={**self.upstream.hub_auth, "Content-Type": "application/json"},
            timeout=httpx.Timeout(120.0, connect=2.0),
        )
        if answer.status_code == 422 and len(batches) > OLD_MAX_RELAY_BATCHES:
            # a central API from before larger relay requests: ask it as it was asked before
            log.warning("the central API takes at most %d batches per relay request", OLD_MAX_RELAY_BATCHES)
            self.max_batches = OLD_MAX_RELAY_BATCHES
            return await self._send(batches[:OLD_MAX_RELAY_BATCHES])
        if answer.status_code != 200:
            raise UpstreamRefused(answer.status_code, answer.content)
        self.upstream.mark_up()
        response = RelayResponse.model_validate_json(answer.content)
        outcomes = [outcome for result in response.results for outcome in result.outcomes]
        # Stored while the next request goes out (the database thread takes the settles in order);
        # the next request leaves these entries out.
        answered = {outcome.mutation_id for outcome in outcomes}
        previous = self._settle
        self._settling |= answered
        self._settle = asyncio.get_running_loop().create_task(self._store(outcomes, answered, previous))
        loop = asyncio.get_running_loop()
        for result in response.results:
            if result.error is None:
                continue
            log.warning(
                "relay of client %s stopped by the central API: %s %s",
                result.client_id,
                result.error.code,
                result.error.message,
            )
            self._holds[result.client_id] = loop.time() + HOLD_SECONDS
        return len(answered)

    async def _store(
        self, outcomes: list[MutationOutcome], answered: set[str], previous: asyncio.Task[None] | None
    ) -> None:
        """Store the outcomes, re-issue the settled entries to the LAN (after the settle before it)."""
        try:
            if previous is not None:
                await asyncio.wait({previous})
            settled = await self.db.run(HubStore.settle, outcomes)
            self.relayed += len(settled)
            self.board.add(settled)
        except Exception:  # noqa: BLE001 - not stored: the entries stay pending and go again
            log.warning("storing %d relay outcomes failed", len(outcomes), exc_info=True)
        finally:
            self._settling -= answered
            if self._settle is asyncio.current_task():
                self._settle = None
