"""Queue ordering: a pure function of a queue's tickets (with their events), a rule set that is data, and now.

Every PC that holds the same tickets computes the same order: nothing here reads a clock or the order
of its input, and every tie is broken by the ticket id. ``now`` only decides waiting-time weights, the
starvation guard and whether an early appointment may be called yet.

How a waiting ticket is placed:

1. Its *effective class* is the best of its recorded priority and the classes derived from facts
   (``elderly`` from the birth date and ``RuleSet.elderly_age``); classes not listed in
   ``RuleSet.priority_order`` count as ``normal``.
2. Its *stream and time*: an appointment checked in no later than ``late_minutes`` after its slot
   queues as an appointment at its slot time (early arrivals wait for their slot and are *held* until
   ``early_minutes`` before it); a later arrival, and every walk-in, queues at its check-in time.
3. Emergencies come first (by time), then tickets that waited longer than the starvation guard (by
   time), then the rest as the policy says; held tickets follow, by slot.
4. Pinned tickets (a nurse's ``reorder``, a skipped patient's ``return`` after N others) are placed
   relative to their anchor tickets while those still wait; once the anchors are gone they go to the
   head of the non-emergency part.
5. A per-room second queue (``second_queue_cap`` > 0) sends the front of the order to the doors of
   the queue's *working* rooms, at most ``cap`` per room; a ticket bound to a room waits only for
   that room. A room works while a doctor is at work there today (``Queue.staffed_rooms``: the doctor
   chose it at a workstation, or a nurse opened it by the schedule) and it is not paused
   (``working_rooms``). A room that closes takes nobody: its door queue goes back to the order.

Policies (``RuleSet.policy``): ``strict_priority`` (class, then time), ``interleave`` (priority classes
first, then appointments and walk-ins N:M, continuing the pattern from the calls already made) and
``weighted_wait`` (minutes waited plus a head start per class).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.domain.entities import Appointment, PriorityClass, Queue, QueuePolicy, QueueTicket, TicketEvent
from shared.domain.queue_states import effective_events

Stream = Literal["appointment", "walk_in"]
PlaceReason = Literal["emergency", "aged", "priority", "normal", "pinned", "held"]
# Why a room's next call is not a given waiting ticket (``QueueOrder.passed_over``)
PassReason = Literal["room_paused", "room_closed", "other_door", "other_room", "other_queue", "held", "ahead"]

PRIORITY_CLASSES: Final[tuple[PriorityClass, ...]] = (
    "emergency",
    "military",
    "disabled",
    "elderly",
    "returning",
)
_MINUTE: Final = dt.timedelta(minutes=1)
_PIN_KINDS: Final = frozenset({"return", "reorder"})
# weighted_wait: minutes of head start per class
DEFAULT_WEIGHTS: Final[dict[PriorityClass, int]] = {
    "emergency": 600,
    "military": 30,
    "disabled": 30,
    "elderly": 20,
    "returning": 15,
}


class RuleSet(BaseModel):
    """A queue's ordering rules as plain data (``Queue.policy`` plus the ``Queue.rules`` dict)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: QueuePolicy = "strict_priority"
    # enabled priority classes, highest first; a class not listed counts as normal
    priority_order: tuple[PriorityClass, ...] = PRIORITY_CLASSES
    elderly_age: int | None = Field(default=70, ge=1, le=150)
    # appointments : walk-ins, for the interleave policy
    interleave: tuple[int, int] = (2, 1)
    early_minutes: int = Field(default=30, ge=0, le=24 * 60)
    late_minutes: int = Field(default=15, ge=0, le=24 * 60)
    skip_reinsert_after: int = Field(default=3, ge=0, le=50)
    second_queue_cap: int = Field(default=2, ge=0, le=20)
    starvation_guard_minutes: int | None = Field(default=120, ge=1, le=24 * 60)
    # weighted_wait: minutes of head start per class, and for an on-time appointment
    class_weights: dict[PriorityClass, int] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    appointment_bonus_minutes: int = Field(default=10, ge=0, le=600)
    # the hospital's time zone, for sessions and clock times shown to people
    timezone: str = Field(default="Asia/Shanghai", max_length=64)

    @field_validator("priority_order")
    @classmethod
    def _no_normal(cls, value: tuple[PriorityClass, ...]) -> tuple[PriorityClass, ...]:
        if "normal" in value or len(set(value)) != len(value):
            raise ValueError("priority_order lists distinct non-normal classes")
        return value

    @model_validator(mode="after")
    def _ratio(self) -> RuleSet:
        n, m = self.interleave
        if n < 0 or m < 0 or n + m == 0:
            raise ValueError("interleave needs two non-negative numbers, not both zero")
        return self


# The named policies a site picks from; a queue may override any parameter in ``Queue.rules``.
POLICIES: Final[dict[str, RuleSet]] = {
    "strict_priority": RuleSet(policy="strict_priority"),
    "interleave_2_1": RuleSet(policy="interleave", interleave=(2, 1)),
    "interleave_1_1": RuleSet(policy="interleave", interleave=(1, 1)),
    "weighted_wait": RuleSet(policy="weighted_wait"),
}


def rules_for(queue: Queue) -> RuleSet:
    """The rule set of a queue: its policy with its parameters."""
    return RuleSet.model_validate({**queue.rules, "policy": queue.policy})


class Place(NamedTuple):
    """A waiting ticket's place: how many wait before it, why it is there, and at which door it waits."""

    ticket: QueueTicket
    ahead: int
    klass: PriorityClass
    stream: Stream
    reason: PlaceReason
    door: str | None = None

    @property
    def held(self) -> bool:
        return self.reason == "held"


@dataclass(frozen=True)
class QueueOrder:
    """The computed state of a queue: waiting tickets in call order, and the others for display."""

    waiting: tuple[Place, ...]
    # room id -> ticket ids waiting at that room's door (the second queue), in order
    doors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    called: tuple[QueueTicket, ...] = ()
    serving: tuple[QueueTicket, ...] = ()
    skipped: tuple[QueueTicket, ...] = ()
    paused_rooms: frozenset[str] = frozenset()
    # the rooms taking patients (with a doctor at work, not paused); ``None``: not known (every room)
    working: frozenset[str] | None = None

    def place_of(self, ticket_id: str) -> Place | None:
        return next((p for p in self.waiting if p.ticket.id == ticket_id), None)

    def passed_over(self, room_id: str, ticket_id: str) -> PassReason | None:
        """Why ``room_id``'s next call (``next_for_room``) is not ``ticket_id``; ``None`` when it is.

        ``room_paused`` / ``room_closed``: the room takes nobody now; ``other_door``: the ticket waits
        at another room's door; ``other_room``: it is bound to another room; ``held``: an early
        appointment waiting for its slot; ``ahead``: another ticket comes first for this room (its door
        queue, or an earlier ticket)."""
        place = self.place_of(ticket_id)
        nxt = self.next_for_room(room_id)
        if place is None or (nxt is not None and nxt.ticket.id == ticket_id):
            return None
        if room_id in self.paused_rooms:
            return "room_paused"
        if place.ticket.room_id and place.ticket.room_id != room_id:
            return "other_room"
        if place.door and place.door != room_id:
            return "other_door"
        if place.held:
            return "held"
        if nxt is None and self.working is not None and room_id not in self.working:
            return "room_closed"
        return "ahead"

    def next_for_room(self, room_id: str) -> Place | None:
        """Whom ``room_id`` should call next: the head of its door queue, else the first ticket not
        bound to another room; nobody while the room is paused."""
        if room_id in self.paused_rooms:
            return None
        at_door = self.doors.get(room_id)
        if at_door:
            return self.place_of(at_door[0])
        # a room without a door queue (closed, or no second queue): the first ticket free for it,
        # preferring one that does not wait at another room's door
        free = [p for p in self.waiting if p.ticket.room_id in (None, room_id)]
        return next((p for p in free if p.door in (None, room_id)), free[0] if free else None)


@dataclass(slots=True)
class _Facts:
    ticket: QueueTicket
    id: str
    rank: int
    klass: PriorityClass
    stream: Stream
    time: dt.datetime
    held: bool
    pin: TicketEvent | None = None
    reason: PlaceReason = "normal"


def effective_class(ticket: QueueTicket, rules: RuleSet) -> tuple[int, PriorityClass]:
    """The ticket's best enabled class and its rank (0 is highest; ``len(priority_order)`` is normal)."""
    facts = _Classifier(rules, ticket.checked_in_at).facts(ticket, False)
    return facts.rank, facts.klass


def stream_and_time(ticket: QueueTicket, rules: RuleSet) -> tuple[Stream, dt.datetime]:
    """Which stream a ticket queues in and at what time (see the module docstring, point 2)."""
    facts = _Classifier(rules, ticket.checked_in_at).facts(ticket, False)
    return facts.stream, facts.time


class _Classifier:
    """Per-recompute constants, so that classifying each of thousands of tickets stays cheap."""

    def __init__(self, rules: RuleSet, now: dt.datetime) -> None:
        order = rules.priority_order
        self.normal = len(order)
        self.rank: dict[str, int] = {klass: n for n, klass in enumerate(order)}
        self.names: tuple[PriorityClass, ...] = (*order, "normal")
        # a rank no ticket is above when the elderly rule is off
        self.elderly = self.rank["elderly"] if rules.elderly_age and "elderly" in self.rank else self.normal
        self.elderly_age = rules.elderly_age or 0
        self.cutoffs: dict[dt.date, dt.date] = {}
        self.late = rules.late_minutes * _MINUTE
        self.hold_until = now + rules.early_minutes * _MINUTE

    def born_by(self, day: dt.date) -> dt.date:
        """The latest birth date that makes one elderly on ``day``."""
        year = day.year - self.elderly_age
        cutoff = day.replace(year=year, day=28) if (day.month, day.day) == (2, 29) else day.replace(year=year)
        self.cutoffs[day] = cutoff
        return cutoff

    def facts(self, ticket: QueueTicket, waiting: bool) -> _Facts:
        rank = self.rank.get(ticket.priority, self.normal)
        if rank > self.elderly:
            birth = ticket.birth_date
            if birth is not None and birth <= (self.cutoffs.get(ticket.day) or self.born_by(ticket.day)):
                rank = self.elderly
        slot = ticket.slot_time
        checked_in_at = ticket.checked_in_at
        if slot is not None and ticket.source == "appointment" and checked_in_at <= slot + self.late:
            facts = _Facts(
                ticket, ticket.id, rank, self.names[rank], "appointment", slot, self.hold_until < slot
            )
        else:
            facts = _Facts(ticket, ticket.id, rank, self.names[rank], "walk_in", checked_in_at, False)
        events = ticket.events
        if waiting and len(events) > 1:
            for event in reversed(events):
                if event.kind in _PIN_KINDS:
                    # the latest return/reorder still in effect
                    facts.pin = next(
                        (e for e in reversed(effective_events(events)) if e.kind in _PIN_KINDS), None
                    )
                    break
        return facts


def _interleave_phase(called: Iterable[_Facts], span: int) -> tuple[Stream | None, int]:
    """The stream of the latest normal-class first calls and how long its run is (capped at ``span``)."""
    recent: list[tuple[dt.datetime, str, Stream]] = []
    for facts in called:
        first = next((e for e in effective_events(facts.ticket.events) if e.kind == "call"), None)
        if first is not None:
            recent.append((first.at, facts.id, facts.stream))
    latest = heapq.nlargest(span + 1, recent)
    if not latest:
        return None, 0
    last = latest[0][2]
    run = 0
    for _, _, stream in latest:
        if stream != last:
            break
        run += 1
    return last, run


def _interleaved(
    appointments: list[_Facts], walk_ins: list[_Facts], ratio: tuple[int, int], last: Stream | None, run: int
) -> list[_Facts]:
    n, m = ratio
    out: list[_Facts] = []
    i = j = 0
    while i < len(appointments) or j < len(walk_ins):
        if last == "appointment":
            want: Stream = "appointment" if run < n else "walk_in"
        elif last == "walk_in":
            want = "walk_in" if run < m else "appointment"
        else:
            want = "appointment" if n > 0 else "walk_in"
        if want == "appointment" and i >= len(appointments):
            want = "walk_in"
        elif want == "walk_in" and j >= len(walk_ins):
            want = "appointment"
        if want == "appointment":
            out.append(appointments[i])
            i += 1
        else:
            out.append(walk_ins[j])
            j += 1
        if want == last:
            run += 1
        else:
            last, run = want, 1
    return out


def _by_policy(
    rest: list[_Facts], called: list[_Facts], rules: RuleSet, now: dt.datetime, normal: int
) -> list[_Facts]:
    """Order the tickets that are neither emergencies, aged, held nor pinned."""
    if rules.policy == "strict_priority":
        return sorted(rest, key=lambda f: (f.rank, f.time, f.id))
    if rules.policy == "weighted_wait":
        weights = rules.class_weights
        bonus = rules.appointment_bonus_minutes

        def score(f: _Facts) -> tuple[float, dt.datetime, str]:
            waited = (now - f.time) / _MINUTE
            head_start = weights.get(f.klass, 0) + (bonus if f.stream == "appointment" else 0)
            return (-(waited + head_start), f.time, f.id)

        return sorted(rest, key=score)
    priority = sorted((f for f in rest if f.rank < normal), key=lambda f: (f.rank, f.time, f.id))
    appointments = sorted(
        (f for f in rest if f.rank >= normal and f.stream == "appointment"), key=lambda f: (f.time, f.id)
    )
    walk_ins = sorted(
        (f for f in rest if f.rank >= normal and f.stream == "walk_in"), key=lambda f: (f.time, f.id)
    )
    last, run = _interleave_phase(
        (f for f in called if f.rank >= normal), max(rules.interleave) if rules.interleave else 1
    )
    return priority + _interleaved(appointments, walk_ins, rules.interleave, last, run)


def _place_pinned(ordered: list[_Facts], pinned: list[_Facts], floor: int) -> list[_Facts]:
    """Insert pinned tickets next to their anchors (in the order the pins were made)."""
    ids = [f.id for f in ordered]
    placed = set(ids)
    for facts in sorted(pinned, key=lambda f: (f.pin.at if f.pin else f.time, f.id)):
        event = facts.pin
        assert event is not None
        present = sorted(ids.index(a) for a in set(event.anchors) if a in placed)
        if not present:
            index = floor
        elif event.position == "before":
            index = present[0]
        else:
            index = present[-1] + 1
        index = max(index, floor)
        facts.reason = "pinned"
        ordered.insert(index, facts)
        ids.insert(index, facts.id)
        placed.add(facts.id)
    return ordered


def _dispatch_doors(
    ordered: Sequence[_Facts], rooms: Sequence[str], paused: Collection[str], cap: int
) -> dict[str, list[str]]:
    """The second queue: the front of the order sent to the rooms' doors, at most ``cap`` each."""
    open_rooms = [r for r in dict.fromkeys(rooms) if r not in paused]
    doors: dict[str, list[str]] = {r: [] for r in open_rooms}
    if cap <= 0 or not open_rooms:
        return {}
    free = len(open_rooms) * cap
    for facts in ordered:
        if free == 0 or facts.held:
            break
        bound = facts.ticket.room_id
        candidates = [bound] if bound else open_rooms
        best = None
        for room in candidates:
            line = doors.get(room)
            if line is not None and len(line) < cap and (best is None or len(line) < len(doors[best])):
                best = room
        if best is not None:
            doors[best].append(facts.id)
            free -= 1
    return {room: line for room, line in doors.items() if line}


def order_queue(
    tickets: Iterable[QueueTicket],
    rules: RuleSet,
    now: dt.datetime,
    *,
    rooms: Sequence[str] = (),
    paused_rooms: Collection[str] = (),
    working: Collection[str] | None = None,
) -> QueueOrder:
    """The queue's order, as every PC computes it from the same tickets, rules and ``now``.

    ``tickets`` are one queue's tickets (normally of one day); voided ones are ignored, input order
    does not matter. ``rooms`` are the rooms taking patients from the queue (for the door queues);
    ``order_for`` passes the queue's working rooms (``working_rooms``).
    """
    classify = _Classifier(rules, now)
    facts_of = classify.facts
    normal = classify.normal
    guard = None if rules.starvation_guard_minutes is None else rules.starvation_guard_minutes * _MINUTE
    emergency: list[_Facts] = []
    aged: list[_Facts] = []
    held: list[_Facts] = []
    pinned: list[_Facts] = []
    rest: list[_Facts] = []
    called_facts: list[_Facts] = []
    called: list[QueueTicket] = []
    serving: list[QueueTicket] = []
    skipped: list[QueueTicket] = []
    for ticket in tickets:
        if ticket.voided:
            continue
        status = ticket.status
        if status != "waiting":
            if status == "called":
                called.append(ticket)
            elif status == "in_consultation":
                serving.append(ticket)
            elif status == "skipped":
                skipped.append(ticket)
            if rules.policy == "interleave" and status != "cancelled":
                called_facts.append(facts_of(ticket, False))
            continue
        facts = facts_of(ticket, True)
        if facts.klass == "emergency":
            facts.reason = "emergency"
            emergency.append(facts)
        elif facts.pin is not None:
            pinned.append(facts)
        elif facts.held:
            facts.reason = "held"
            held.append(facts)
        elif guard is not None and now - facts.time >= guard:
            facts.reason = "aged"
            aged.append(facts)
        else:
            facts.reason = "priority" if facts.rank < normal else "normal"
            rest.append(facts)
    emergency.sort(key=lambda f: (f.time, f.id))
    aged.sort(key=lambda f: (f.time, f.id))
    held.sort(key=lambda f: (f.time, f.rank, f.id))
    ordered = emergency + aged + _by_policy(rest, called_facts, rules, now, normal) + held
    if pinned:
        ordered = _place_pinned(ordered, pinned, len(emergency))
    doors = _dispatch_doors(ordered, rooms, paused_rooms, rules.second_queue_cap)
    door_of = {tid: room for room, line in doors.items() for tid in line}
    make = Place._make
    waiting = tuple(
        make((f.ticket, n, f.klass, f.stream, f.reason, door_of.get(f.id, f.ticket.room_id)))
        for n, f in enumerate(ordered)
    )
    return QueueOrder(
        waiting=waiting,
        doors={room: tuple(line) for room, line in doors.items()},
        called=tuple(sorted(called, key=_last_event_key, reverse=True)),
        serving=tuple(sorted(serving, key=_last_event_key, reverse=True)),
        skipped=tuple(sorted(skipped, key=_last_event_key)),
        paused_rooms=frozenset(paused_rooms),
        working=None if working is None else frozenset(working),
    )


def _last_event_key(ticket: QueueTicket) -> tuple[dt.datetime, str]:
    return (ticket.events[-1].at if ticket.events else ticket.checked_in_at, ticket.id)


def clinic_zone(rules: RuleSet) -> dt.tzinfo:
    """The hospital's time zone (the rules' ``timezone``; UTC when the zone is unknown)."""
    try:
        return ZoneInfo(rules.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def clinic_day(at: dt.datetime, rules: RuleSet) -> dt.date:
    """The hospital's calendar day of an instant."""
    return at.astimezone(clinic_zone(rules)).date()


def working_rooms(queue: Queue, now: dt.datetime) -> tuple[str, ...]:
    """The queue's rooms that take patients now: a doctor at work there since earlier today (a duty
    left open from another day counts for nothing) and not paused. Rooms in the queue's order
    (``room_ids``; a queue without a room list: its staffed rooms by id)."""
    rules = rules_for(queue)
    today = clinic_day(now, rules)
    staffed = {room for room, duty in queue.staffed_rooms.items() if clinic_day(duty.since, rules) == today}
    candidates = queue.room_ids or sorted(staffed)
    paused = set(queue.paused_rooms)
    return tuple(r for r in dict.fromkeys(candidates) if r in staffed and r not in paused)


def order_for(queue: Queue, tickets: Iterable[QueueTicket], now: dt.datetime) -> QueueOrder:
    """``order_queue`` with the queue's own rules, its working rooms and paused rooms."""
    working = working_rooms(queue, now)
    return order_queue(
        (t for t in tickets if t.queue_id == queue.id),
        rules_for(queue),
        now,
        rooms=working,
        paused_rooms=queue.paused_rooms,
        working=working,
    )


# How long before its slot an appointment may check itself in (the queue's ``early_minutes`` if longer).
KIOSK_OPENS_MINUTES: Final = 60


def check_in_window(queue: Queue, appointment: Appointment) -> tuple[dt.datetime, dt.datetime]:
    """When a self check-in (kiosk, phone) accepts an appointment: from ``max(60, early_minutes)``
    minutes before its slot to ``late_minutes`` after it (a later arrival becomes a walk-in, which the
    triage desk handles). The kiosk decides with it offline and the server's check-in route online."""
    rules = rules_for(queue)
    opens = appointment.slot_time - dt.timedelta(minutes=max(KIOSK_OPENS_MINUTES, rules.early_minutes))
    closes = appointment.slot_time + dt.timedelta(minutes=rules.late_minutes)
    return opens, closes
