"""Ticket numbers per queue per day (A023) that never collide when desks issue them offline.

The scheme: a queue's numbers for one day are cut into blocks of ``block`` numbers (block ``b`` holds
``b*block+1 … (b+1)*block``), and block ``b`` belongs to issuing slot ``b % slots``. Slot 0 is the
server's (kiosks, phones, other hospital systems check in online through it); slots 1 … slots-1 are given
to the desks of a site in their site configuration (``queue_desk_slot``). With the defaults (100, 4):
the server issues 1–100, 401–500, …; desk 1 issues 101–200, 501–600, …; desk 2 201–300, ….

A desk picks its next number from its own local view (its own tickets are always there, synced or in
the outbox), so two desks never pick the same number, online or not, and the number is printed at once.
The server still checks uniqueness per queue per day (``number_key`` is a unique column): if two PCs were
given the same slot by mistake, the later check-in is moved to the next free number of that slot and
the desk is warned to reprint the ticket. Numbers are never reused within a day, not even after a
cancellation. Numbers say nothing about order: the queue rules decide who is called next.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection
from dataclasses import dataclass

SERVER_SLOT = 0


@dataclass(frozen=True)
class NumberingPlan:
    """How a queue's daily number range is shared between issuing slots."""

    block: int = 100
    slots: int = 4

    def __post_init__(self) -> None:
        if self.block < 1 or self.slots < 1:
            raise ValueError("block and slots must be positive")

    def slot_of(self, number: int) -> int:
        """The slot that owns ``number``."""
        return ((number - 1) // self.block) % self.slots

    def owns(self, slot: int, number: int) -> bool:
        return number >= 1 and self.slot_of(number) == slot % self.slots

    def nth_number(self, slot: int, n: int) -> int:
        """The ``n``-th number (from 1) that ``slot`` issues in a day."""
        if n < 1:
            raise ValueError("n counts from 1")
        rounds, offset = divmod(n - 1, self.block)
        return ((slot % self.slots) + rounds * self.slots) * self.block + offset + 1

    def next_number(self, slot: int, used: Collection[int]) -> int:
        """The next number for ``slot``: after the highest it already issued, skipping any taken one."""
        slot %= self.slots
        mine = [n for n in used if self.slot_of(n) == slot]
        candidate = max(mine) + 1 if mine else slot * self.block + 1
        taken = set(used)
        while True:
            if self.slot_of(candidate) != slot:
                # jump to the start of this slot's next block
                block_index = (candidate - 1) // self.block
                rounds = (block_index - slot) // self.slots + 1
                candidate = (slot + rounds * self.slots) * self.block + 1
            if candidate not in taken:
                return candidate
            candidate += 1


def ticket_label(prefix: str, number: int) -> str:
    """What the patient sees and hears: prefix and at least three digits (A023, A1024)."""
    return f"{prefix}{number:03d}"


def number_key(queue_id: str, day: dt.date, number: int) -> str:
    """The unique key of a number within a queue and day."""
    return f"{queue_id}:{day.isoformat()}:{number}"


def counter_name(queue_id: str, day: dt.date) -> str:
    """The server counter behind the server slot of a queue's day (fits the 32-character counter key)."""
    digest = hashlib.blake2b(f"{queue_id}:{day.isoformat()}".encode(), digest_size=12).hexdigest()
    return f"q:{digest}"
