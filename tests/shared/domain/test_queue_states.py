"""The ticket state machine: status only moves forward by events, and any step can be undone by a new one."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.entities import TicketEvent, TicketEventKind, TicketStatus
from shared.domain.queue_states import TRANSITIONS, allowed, fold_status, last_undoable

AT = dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.UTC)
STEPS: list[TicketEventKind] = [k for k in TRANSITIONS if k != "set_priority"] + ["set_priority"]
RANK: dict[TicketStatus, int] = {
    "waiting": 0,
    "called": 1,
    "skipped": 2,
    "in_consultation": 3,
    "done": 4,
    "transferred": 4,
    "cancelled": 4,
}


def event(no: int, kind: TicketEventKind, **extra: object) -> TicketEvent:
    return TicketEvent.model_validate({"no": no, "kind": kind, "at": AT, "by": "n", **extra})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(STEPS), max_size=30))
def test_status_follows_only_allowed_steps_and_ends_stay_ended(steps: list[TicketEventKind]) -> None:
    events = [event(1, "check_in")]
    status: TicketStatus = "waiting"
    for kind in steps:
        if not allowed(kind, status):
            continue
        events.append(event(len(events) + 1, kind))
        after = fold_status(events)
        assert after == TRANSITIONS[kind][status]
        # forward only; the one way back is a skipped patient returning (or called straight away)
        assert RANK[after] >= RANK[status] or (status == "skipped" and kind in ("return", "call"))
        status = after
    if status in ("done", "transferred", "cancelled"):
        assert not any(allowed(kind, status) for kind in STEPS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(STEPS), min_size=1, max_size=20))
def test_undoing_the_last_step_gives_the_status_before_it(steps: list[TicketEventKind]) -> None:
    events = [event(1, "check_in")]
    statuses: list[TicketStatus] = ["waiting"]
    for kind in steps:
        if allowed(kind, statuses[-1]):
            events.append(event(len(events) + 1, kind))
            statuses.append(fold_status(events))
    last = last_undoable(events)
    if last is None:
        return
    undone = [*events, event(len(events) + 1, "undo", undoes=last.no)]
    assert fold_status(undone) == statuses[-2]


def test_a_second_call_after_the_consultation_started_keeps_the_status() -> None:
    events = [event(1, "check_in"), event(2, "call"), event(3, "start"), event(4, "call")]
    assert fold_status(events) == "in_consultation"
