"""Pacing of long-polls per token: a PC that got changes and long-polls again at once is held (on the
event loop, no thread, no connection) until ``min_interval`` after its previous long-poll answer, or
until a change of an URGENT kind (a queue call, a waiting-room notice) arrives, which ends the hold
at once: waiting-room screens and desks must show a call within a second however busy the feed is.

Without it, a busy feed turns every open long-poll into continuous polling: each answer is followed
by a new request that finds new changes at once. With it, each PC gets at most one long-poll answer
per ``min_interval`` carrying everything new, which is what a waiting-room screen or a queue list
needs. Event loop only (not thread-safe, needs no lock).
"""

from __future__ import annotations

import asyncio

# Changes that end a pacing hold at once: queue tickets (check-ins, calls, recalls …) and notices.
URGENT_KINDS = frozenset({"queue_ticket", "queue_notice"})


class LongPollPacer:
    def __init__(self, min_interval: float, *, size: int = 20000) -> None:
        self.min_interval = min_interval
        self.size = size
        self._answered: dict[str, float] = {}

    def delay(self, key: str) -> float:
        """Seconds to hold a new long-poll from ``key`` before looking at the feed."""
        last = self._answered.get(key)
        if last is None or self.min_interval <= 0:
            return 0.0
        return max(0.0, last + self.min_interval - asyncio.get_running_loop().time())

    def answered(self, key: str) -> None:
        now = asyncio.get_running_loop().time()
        if len(self._answered) >= self.size:
            cutoff = now - max(self.min_interval, 1.0)
            self._answered = {k: t for k, t in self._answered.items() if t > cutoff}
            if len(self._answered) >= self.size:
                self._answered.clear()
        self._answered[key] = now
