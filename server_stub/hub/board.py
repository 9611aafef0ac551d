"""The LAN board: the relay log's entries in memory in hub order, and the wake-up of long-polls.

Event loop only. A push appends, a settled entry moves to the end under its new ``hub_seq``, a replica
page advances the replica head; each of these wakes every waiting pull at once (one ``asyncio.Event``
per generation, so a waiter holds no thread and no database connection)."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Iterable

from shared.protocol.models import LanMutation


class Wakeup:
    """Wakes every current waiter when something changes; a new waiter waits for the next change."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ticket(self) -> asyncio.Event:
        """Take this before reading what is there: a change after the read sets the ticket."""
        return self._event

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    @staticmethod
    async def wait(ticket: asyncio.Event, timeout: float) -> bool:
        if timeout <= 0:
            return ticket.is_set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ticket.wait(), timeout)
        return ticket.is_set()


class LanBoard:
    """Every entry of the relay log at its current ``hub_seq`` (pending and settled)."""

    def __init__(self, entries: Iterable[tuple[LanMutation, bool]], wakeup: Wakeup, floor: int = 0) -> None:
        self.wakeup = wakeup
        self.floor = floor  # settled entries up to this hub_seq were pruned
        self._seqs: list[int] = []
        self._by_seq: dict[int, LanMutation] = {}
        self._seq_of: dict[str, int] = {}
        self._hidden: set[str] = set()  # held and relayed, but not shared until settled
        self._pending = 0  # entries with status 'pending' (asked on every request: kept, not counted)
        for entry, shared in entries:
            self._put(entry)
            if not shared:
                self._hidden.add(entry.mutation_id)

    @property
    def head(self) -> int:
        return self._seqs[-1] if self._seqs else self.floor

    @property
    def pending(self) -> int:
        return self._pending

    def _put(self, entry: LanMutation) -> None:
        old = self._seq_of.pop(entry.mutation_id, None)
        if old is not None:
            self._pending -= self._by_seq.pop(old).status == "pending"
            self._seqs.pop(bisect.bisect_left(self._seqs, old))
        self._pending += entry.status == "pending"
        self._by_seq[entry.hub_seq] = entry
        self._seq_of[entry.mutation_id] = entry.hub_seq
        bisect.insort(self._seqs, entry.hub_seq)

    def drop(self, mutation_ids: Iterable[str], floor: int) -> None:
        """Pruned entries leave the list; ``floor`` is the highest ``hub_seq`` pruned so far."""
        for mutation_id in mutation_ids:
            seq = self._seq_of.pop(mutation_id, None)
            if seq is not None:
                self._pending -= self._by_seq.pop(seq).status == "pending"
                self._seqs.pop(bisect.bisect_left(self._seqs, seq))
            self._hidden.discard(mutation_id)
        self.floor = max(self.floor, floor)

    def hide(self, mutation_ids: Iterable[str]) -> None:
        self._hidden.update(mutation_ids)

    def add(self, entries: Iterable[LanMutation]) -> None:
        """New or re-issued entries (after their transaction committed); wakes the long-polls."""
        added = False
        for entry in entries:
            self._put(entry)
            added = True
        if added:
            self.wakeup.fire()

    def unsettled(self, limit: int, leave: set[str] | frozenset[str] = frozenset()) -> list[LanMutation]:
        """The oldest pending entries in hub order (the relay's next), up to ``limit``, without those in
        ``leave`` (answered by the central API, their outcomes being stored)."""
        picked: list[LanMutation] = []
        if not self._pending:
            return picked
        for seq in self._seqs:
            entry = self._by_seq[seq]
            if entry.status == "pending" and entry.mutation_id not in leave:
                picked.append(entry)
                if len(picked) >= limit:
                    break
        return picked

    def after(self, lan_after: int, limit: int = 5000) -> tuple[list[LanMutation], int]:
        """Entries with ``hub_seq > lan_after`` in hub order (a pending entry the hub refused to share
        is left out until it settles), and the ``lan_after`` to send next time."""
        start = bisect.bisect_right(self._seqs, lan_after)
        picked = self._seqs[start : start + limit]
        entries = [
            self._by_seq[seq]
            for seq in picked
            if not (self._by_seq[seq].status == "pending" and self._by_seq[seq].mutation_id in self._hidden)
        ]
        return entries, (picked[-1] if picked else max(lan_after, 0) if lan_after <= self.head else self.head)
