"""The queue ticket's state machine: its status is a fold of its append-only events, undo included."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from shared.domain.entities import TicketEvent, TicketEventKind, TicketStatus

ACTIVE: Final[frozenset[TicketStatus]] = frozenset({"waiting", "called", "in_consultation", "skipped"})
TERMINAL: Final[frozenset[TicketStatus]] = frozenset({"done", "transferred", "cancelled"})

# event kind -> {status before: status after}. A step absent here is not allowed from that status;
# the fold ignores it (it can only appear once an undo removed what made it valid).
TRANSITIONS: Final[dict[TicketEventKind, dict[TicketStatus, TicketStatus]]] = {
    "call": {
        "waiting": "called",
        "called": "called",
        "skipped": "called",
        # a second desk's call that crossed the start: recorded, status stays
        "in_consultation": "in_consultation",
    },
    "recall": {"called": "called"},
    "skip": {"waiting": "skipped", "called": "skipped"},
    "return": {"skipped": "waiting"},
    "start": {"waiting": "in_consultation", "called": "in_consultation"},
    "finish": {"in_consultation": "done", "called": "done"},
    "transfer": {
        "waiting": "transferred",
        "called": "transferred",
        "in_consultation": "transferred",
        "skipped": "transferred",
    },
    "cancel": {"waiting": "cancelled", "called": "cancelled", "skipped": "cancelled"},
    "set_priority": {s: s for s in ("waiting", "called", "skipped")},
    "reorder": {"waiting": "waiting"},
}
# Steps that an undo may take back (check-in is taken back by cancelling; undo is not undone).
UNDOABLE: Final[frozenset[TicketEventKind]] = frozenset(TRANSITIONS)


def undone_numbers(events: Sequence[TicketEvent]) -> frozenset[int]:
    """Numbers of the events some later ``undo`` event took back."""
    return frozenset(e.undoes for e in events if e.kind == "undo" and e.undoes is not None)


def effective_events(events: Sequence[TicketEvent]) -> list[TicketEvent]:
    """The events that count: everything except undo markers and the events they undid."""
    undone = undone_numbers(events)
    return [e for e in events if e.kind != "undo" and e.no not in undone]


def fold_status(events: Sequence[TicketEvent]) -> TicketStatus:
    """The status a ticket's events lead to, starting from ``waiting`` at check-in."""
    status: TicketStatus = "waiting"
    for event in effective_events(events):
        status = TRANSITIONS.get(event.kind, {}).get(status, status)
    return status


def allowed(kind: TicketEventKind, status: TicketStatus) -> bool:
    """Whether a new event of ``kind`` may be appended to a ticket in ``status``."""
    return status in TRANSITIONS.get(kind, {})


def last_undoable(events: Sequence[TicketEvent]) -> TicketEvent | None:
    """The most recent step still in effect that an undo may take back."""
    for event in reversed(effective_events(events)):
        if event.kind in UNDOABLE:
            return event
    return None


def first_call(events: Sequence[TicketEvent]) -> TicketEvent | None:
    """The ticket's first call still in effect (recalls and duplicate calls do not count)."""
    return next((e for e in effective_events(events) if e.kind == "call"), None)


def last_call(events: Sequence[TicketEvent]) -> TicketEvent | None:
    """The latest call or recall still in effect: who called last, from which room."""
    return next((e for e in reversed(effective_events(events)) if e.kind in ("call", "recall")), None)


def pin(events: Sequence[TicketEvent]) -> TicketEvent | None:
    """The placement that holds for a waiting ticket: its latest return or reorder still in effect."""
    return next((e for e in reversed(effective_events(events)) if e.kind in ("return", "reorder")), None)
