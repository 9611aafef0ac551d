"""Long-poll pacing: a PC that was just answered is held until ``min_interval`` after that answer, one
that has not been answered recently is not held at all, and PCs are paced independently."""

from __future__ import annotations

import asyncio

from server_stub.services.longpoll import LongPollPacer


def test_a_pc_answered_just_now_is_held_until_the_interval_has_passed() -> None:
    async def run() -> tuple[float, float, float, float]:
        pacer = LongPollPacer(0.5)
        first = pacer.delay("pc-a")
        pacer.answered("pc-a")
        right_after = pacer.delay("pc-a")
        other = pacer.delay("pc-b")
        await asyncio.sleep(0.3)
        later = pacer.delay("pc-a")
        return first, right_after, other, later

    first, right_after, other, later = asyncio.run(run())
    assert first == 0.0 and other == 0.0
    assert 0.45 < right_after <= 0.5
    assert 0.0 < later < right_after - 0.2


def test_no_interval_means_no_pacing_and_the_memory_stays_bounded() -> None:
    async def run() -> tuple[float, int]:
        unpaced = LongPollPacer(0.0)
        unpaced.answered("pc")
        pacer = LongPollPacer(60.0, size=100)
        for n in range(1000):
            pacer.answered(f"pc-{n}")
        return unpaced.delay("pc"), len(pacer._answered)  # noqa: SLF001 - the bound is the contract

    delay, kept = asyncio.run(run())
    assert delay == 0.0
    assert kept <= 100
