"""Which rooms a waiting-room screen shows, and on which page (Qt-free; the display's query runs it on the DB
thread, tests call it directly).

A screen serves a scope (site ``display.departments`` and ``display.rooms`` by code, besides
``display.queue_codes``): rooms outside it are not shown, and their calls are neither shown nor said. Inside
it, a room is shown while a doctor works there or somebody waits for it; with ``display.hide_idle_rooms``
(the default) a room with neither is left out, so an empty evening corridor does not fill the screen.

"A doctor works there" is read from what this PC knows: a doctor opened the room today (``queue.room_open``,
the queues' working rooms), the room's schedule covers the current time, the room has a patient called or
in consultation, or a call was made from it within ``RECENT_CALL``. The rooms
that remain are cut into pages of as many rows as the screen fits; the display rotates through them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from shared import clinic_time
from shared.domain.entities import Department, Room, Schedule
from shared.domain.queue_rules import working_rooms
from shared.store.store import LocalStore
from triage_desk.model import CallEvent, DisplaySnapshot, RoomBoard, area_queues, display_snapshot

RECENT_CALL = dt.timedelta(minutes=30)
T = TypeVar("T")


@dataclass(frozen=True)
class DisplayScope:
    """What one screen serves: department and room codes (empty: all of the queues' rooms)."""

    departments: tuple[str, ...] = ()
    rooms: tuple[str, ...] = ()
    hide_idle: bool = True


@dataclass(frozen=True)
class ScreenData:
    """A snapshot cut to the screen's scope, with which rooms are staffed and every room's department
    name (for saying a room unambiguously)."""

    snapshot: DisplaySnapshot
    staffed: frozenset[str]
    rooms_said: dict[str, tuple[str, str]]  # room id -> (room name, department name), every room in scope


def staffed_rooms(
    schedules: Iterable[Schedule], boards: Iterable[RoomBoard], calls: Iterable[CallEvent], now: dt.datetime
) -> set[str]:
    """Rooms a doctor works in now (see the module docstring)."""
    local = clinic_time.local(now)
    day, clock = local.date(), local.time().replace(tzinfo=None)
    out = {
        s.room_id for s in schedules if not s.voided and s.date == day and s.start_time <= clock <= s.end_time
    }
    out |= {b.room.id for b in boards if b.current}
    out |= {c.room_id for c in calls if c.room_id and now - c.at <= RECENT_CALL}
    return out


def in_scope(room: Room, scope: DisplayScope, department_codes: dict[str, str]) -> bool:
    """Whether ``room`` belongs to the screen (``department_codes``: department id -> code)."""
    if scope.rooms and room.code not in scope.rooms:
        return False
    return not scope.departments or department_codes.get(room.department_id, "") in scope.departments


def shown_boards(
    boards: Sequence[RoomBoard], staffed: set[str] | frozenset[str], hide_idle: bool
) -> list[RoomBoard]:
    """The rooms worth a line: staffed, or somebody waiting for or called to them (a paused room with
    people waiting stays, marked paused)."""
    if not hide_idle:
        return list(boards)
    return [b for b in boards if b.room.id in staffed or b.current or b.next_labels]


def screen_data(
    store: LocalStore,
    campus_id: str | None,
    now: dt.datetime,
    codes: Sequence[str] = (),
    scope: DisplayScope | None = None,
) -> ScreenData:
    """The display's read: ``model.display_snapshot`` cut to ``scope`` (one DB-thread job)."""
    scope = scope or DisplayScope()
    snapshot = display_snapshot(store, campus_id, now, codes)
    with store.reading() as view:
        departments = {d.id: d for d in view.all(Department)}
        today = clinic_time.local(now).date()
        schedules = [s for s in view.find(Schedule, date=today) if not campus_id or s.campus_id == campus_id]
    codes_by_id = {d.id: d.code for d in departments.values()}
    boards = [b for b in snapshot.rooms if in_scope(b.room, scope, codes_by_id)]
    room_ids = {b.room.id for b in boards}
    scoped = bool(scope.rooms or scope.departments)
    calls = [c for c in snapshot.calls if not scoped or c.room_id in room_ids]
    staffed = staffed_rooms(schedules, boards, calls, now)
    with store.reading() as view:  # and where a doctor opened the room today (``queue.room_open``)
        staffed |= {room for q in area_queues(view, campus_id, codes) for room in working_rooms(q, now)}
    cut = replace(snapshot, rooms=shown_boards(boards, staffed, scope.hide_idle), calls=calls)
    if scoped:  # waiting counts and missed numbers of the queues that serve this screen's rooms only
        with store.reading() as view:
            queues = [q for q in area_queues(view, campus_id, codes) if room_ids & set(q.room_ids)]
        names = {q.name for q in queues}
        prefixes = tuple(q.prefix for q in queues)
        cut = replace(
            cut,
            waiting={name: n for name, n in snapshot.waiting.items() if name in names},
            skipped=[label for label in snapshot.skipped if prefixes and label.startswith(prefixes)],
        )
    said = {
        b.room.id: (
            b.room.name,
            departments[b.room.department_id].name if b.room.department_id in departments else "",
        )
        for b in boards
    }
    return ScreenData(cut, frozenset(staffed), said)


def pages(items: Sequence[T], per_page: int) -> list[list[T]]:
    """``items`` in pages of ``per_page`` (at least one page, maybe empty), balanced so the last page is
    not a lonely row: 13 rooms at 12 a page are 7 + 6."""
    per_page = max(1, per_page)
    count = max(1, -(-len(items) // per_page))
    size = -(-len(items) // count) if items else 0
    return [list(items[i * size : (i + 1) * size]) for i in range(count)] if items else [[]]


def page_of(paged: Sequence[Sequence[RoomBoard]], room_id: str) -> int | None:
    """The page a room is on (None when it is on none)."""
    return next((n for n, page in enumerate(paged) if any(b.room.id == room_id for b in page)), None)


def short_room(room_name: str, department: str) -> str:
    """How a room is said without its department: 儿科2诊室 of 儿科 → 2诊室; other names as they are."""
    if department and room_name.startswith(department) and len(room_name) > len(department):
        return room_name[len(department) :]
    return room_name


def spoken_department(room_id: str, rooms: dict[str, tuple[str, str]]) -> bool:
    """Whether a call to room ``room_id`` must name its department on this speaker: only when another room
    this screen serves would be said the same without it (儿科2诊室 and 骨科2诊室 are both "2诊室").
    ``rooms``: room id -> (room name, department name) of every room in the screen's scope."""
    name, department = rooms.get(room_id, ("", ""))
    said = short_room(name, department)
    if said == name:
        return False  # the name does not start with the department: said as it is
    return any(other != room_id and short_room(*rooms[other]) == said for other in rooms)
