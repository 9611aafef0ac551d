"""When a PC says something happened: the server's bounded reading of a mutation's ``occurred_at``.

A PC stamps each action with its own clock, corrected by the offset it measured against the server
(``shared.sync``), and an action done offline reaches the server minutes or hours later. The server
keeps that time for waiting-time statistics and screens, but believes it only within bounds: never
after the server received it, never older than ``MAX_AGE``. Order never comes from these times.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

# The oldest action a push may still date: past it the server records the oldest time it accepts.
MAX_AGE: Final = dt.timedelta(days=3)


def bound_occurred_at(
    claimed: dt.datetime, *, received: dt.datetime, not_before: dt.datetime | None = None
) -> dt.datetime:
    """``claimed`` (a naive time is read as UTC) within ``[max(received - MAX_AGE, not_before),
    received]``: an action cannot have happened after the server received it."""
    if claimed.tzinfo is None:
        claimed = claimed.replace(tzinfo=dt.UTC)
    floor = received - MAX_AGE
    if not_before is not None and not_before > floor:
        floor = min(not_before, received)
    return min(max(claimed, floor), received)


def step_time(claimed: dt.datetime, *, after: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """A ticket step's time: ``claimed``, not before the step it follows (``after``: the ticket's
    check-in or latest step), not after ``now``."""
    if after is not None and claimed < after:
        claimed = min(after, now)
    return min(claimed, now)
