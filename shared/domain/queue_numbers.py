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

A desk slot is valid only when it is one of the plan's desk slots (``desk_slot_problem``): 0 is the
server's, and a slot at or past ``slots`` would wrap onto another desk's numbers (5 issues desk 1's with
4 slots). ``clinic config check`` and the triage app's start refuse a bad slot; a desk never numbers
from one; and a desk that finds another PC numbering from its slot alongside it today stops
(``slot_taken_by``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from shared.i18n import register, tr

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


# Why a desk slot cannot be used: ``unset`` (0, the server's slot: kiosks and phones, or no slot given),
# ``beyond`` (not one of the plan's desk slots: it would issue another slot's numbers).
SlotProblem = Literal["unset", "beyond"]


def desk_slot_problem(slot: int, plan: NumberingPlan | None = None) -> SlotProblem | None:
    """Whether ``slot`` is one of ``plan``'s desk slots (1 … slots-1); the default plan without one."""
    plan = plan or NumberingPlan()
    if slot == SERVER_SLOT:
        return "unset"
    if not 1 <= slot < plan.slots:
        return "beyond"
    return None


def slot_taken_by(
    plan: NumberingPlan, slot: int, issued: Iterable[tuple[int, str]], device_id: str
) -> str | None:
    """Another device issuing numbers of ``slot`` alongside this one (``issued``: number and issuing
    device of a queue's tickets of the day), or ``None``. Two desks sharing a slot print the same
    numbers while both are offline; their numbers then interleave in the slot (one issued after the
    other started), whereas a desk that takes over a slot (a new PC) continues after the old one's."""
    slot %= plan.slots
    in_slot = [(number, device) for number, device in issued if plan.slot_of(number) == slot]
    mine = [number for number, device in in_slot if device == device_id]
    if not mine:
        return None
    first = min(mine)
    return next((d for n, d in sorted(in_slot) if d and d != device_id and n > first), None)


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


def slot_message(
    problem: SlotProblem | Literal["taken"],
    slot: int,
    lang: str,
    *,
    plan: NumberingPlan | None = None,
    device: str = "",
) -> str:
    """What is wrong with this PC's ``queue_desk_slot``, in words a clinic's IT understands."""
    plan = plan or NumberingPlan()
    return tr(
        f"queue.slot.{problem}",
        lang,
        slot=slot,
        slots=plan.slots,
        max=plan.slots - 1,
        alias=slot % plan.slots,
        device=device,
    )


_MESSAGES: dict[str, tuple[str, str, str]] = {
    "queue.slot.unset": (
        "本机未设置分诊台号段 queue_desk_slot（0 是服务器的号段，供自助机和手机使用）：请给每个分诊台设置各不相同的 1–{max}",
        "This PC has no triage desk slot (queue_desk_slot; 0 is the server's, for kiosks and phones): "
        "give each triage desk its own slot from 1 to {max}",
        "本機未設定分診台號段 queue_desk_slot（0 是伺服器的號段，供自助機和手機使用）：請給每個分診台設定各不相同的 1–{max}",
    ),
    "queue.slot.beyond": (
        "分诊台号段 {slot} 不存在（每个队列 {slots} 个号段，分诊台可用 1–{max}），它会发出号段 {alias} 的号码",
        "Desk slot {slot} does not exist ({slots} slots per queue, desks use 1 to {max}): "
        "it would issue slot {alias}'s numbers",
        "分診台號段 {slot} 不存在（每個隊列 {slots} 個號段，分診台可用 1–{max}），它會發出號段 {alias} 的號碼",
    ),
    "queue.slot.taken": (
        "另一台电脑（{device}）今天也在用号段 {slot} 发号，两台分诊台离线时会打出相同的号码：请给本机另设 queue_desk_slot",
        "Another PC ({device}) is also issuing numbers from slot {slot} today: offline, two desks would print "
        "the same numbers; give this PC another queue_desk_slot",
        "另一台電腦（{device}）今天也在用號段 {slot} 發號，兩台分診台離線時會打出相同的號碼：請給本機另設 queue_desk_slot",
    ),
}
for _key, (_zh, _en, _tw) in _MESSAGES.items():
    register(_key, {"zh_CN": _zh, "en": _en, "zh_TW": _tw})
