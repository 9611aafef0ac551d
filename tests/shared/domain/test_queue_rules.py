"""Queue ordering: properties every policy keeps (nobody starves, same events give the same order on
every PC) and the rules themselves (classes, interleave, check-in window, pins, door queues)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.entities import (
    PriorityClass,
    Queue,
    QueueTicket,
    RoomDuty,
    TicketEvent,
    TicketStatus,
)
from shared.domain.queue_rules import POLICIES, RuleSet, order_for, order_queue, rules_for, working_rooms

DAY = dt.date(2026, 11, 22)
T0 = dt.datetime(2026, 11, 22, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai
CLASSES: tuple[PriorityClass, ...] = ("normal", "emergency", "elderly", "military", "disabled", "returning")
ROOMS = ("r1", "r2", "r3")


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def duty(doctor: str, at: float = 0) -> RoomDuty:
    return RoomDuty(doctor_id=doctor, since=minutes(at), by=doctor)


def ticket(
    tid: str,
    at: float,
    *,
    priority: PriorityClass = "normal",
    slot: float | None = None,
    birth: dt.date | None = None,
    room: str | None = None,
    events: Sequence[dict[str, Any]] = (),
    status: TicketStatus = "waiting",
) -> QueueTicket:
    history = [TicketEvent(no=1, kind="check_in", at=minutes(at), by="n")]
    for n, extra in enumerate(events, start=2):
        history.append(TicketEvent.model_validate({"no": n, "by": "n", **extra}))
    return QueueTicket(
        id=tid,
        campus_id="c",
        queue_id="q",
        day=DAY,
        number=int(tid[1:]) + 1 if tid[1:].isdigit() else 1,
        label=tid,
        number_key=f"q:{tid}",
        patient_id=f"p-{tid}",
        slot_time=None if slot is None else minutes(slot),
        source="walk_in" if slot is None else "appointment",
        birth_date=birth,
        priority=priority,
        status=status,
        room_id=room,
        checked_in_at=minutes(at),
        events=history,
    )


ticket_specs = st.lists(
    st.tuples(
        st.integers(0, 240),  # check-in minute
        st.sampled_from(CLASSES),
        st.one_of(st.none(), st.integers(-30, 300)),  # slot minute, if an appointment
        st.booleans(),  # elderly
        st.one_of(st.none(), st.sampled_from(ROOMS)),
    ),
    max_size=60,
)
policies = st.sampled_from(sorted(POLICIES))


def build(specs: Sequence[tuple[int, PriorityClass, int | None, bool, str | None]]) -> list[QueueTicket]:
    return [
        ticket(
            f"t{n:03d}",
            at,
            priority=klass,
            slot=slot,
            birth=dt.date(1940, 1, 1) if old else dt.date(1990, 1, 1),
            room=room,
        )
        for n, (at, klass, slot, old, room) in enumerate(specs)
    ]


def ids(tickets: Sequence[Any]) -> list[str]:
    return [getattr(t, "ticket", t).id for t in tickets]


@settings(max_examples=150, deadline=None)
@given(ticket_specs, policies, st.integers(0, 400), st.randoms(use_true_random=False))
def test_the_same_tickets_give_the_same_order_on_every_pc(
    specs: list[Any], policy: str, now: int, rng: random.Random
) -> None:
    tickets = build(specs)
    rules = POLICIES[policy]
    # another PC: other input order, and the tickets went through the wire and the local store
    shuffled = [QueueTicket.model_validate_json(t.model_dump_json()) for t in tickets]
    rng.shuffle(shuffled)
    stored = [QueueTicket.model_validate(t.model_dump()) for t in tickets]
    first = order_queue(tickets, rules, minutes(now), rooms=ROOMS)
    for other in (shuffled, stored):
        again = order_queue(other, rules, minutes(now), rooms=ROOMS)
        assert ids(again.waiting) == ids(first.waiting)
        assert again.doors == first.doors


@settings(max_examples=150, deadline=None)
@given(ticket_specs, policies, st.integers(0, 400))
def test_every_waiting_ticket_is_placed_exactly_once_with_emergencies_first(
    specs: list[Any], policy: str, now: int
) -> None:
    tickets = build(specs)
    order = order_queue(tickets, POLICIES[policy], minutes(now), rooms=ROOMS)
    placed = ids(order.waiting)
    assert sorted(placed) == sorted(t.id for t in tickets if t.status == "waiting")
    assert [p.ahead for p in order.waiting] == list(range(len(placed)))
    emergencies = [p.klass == "emergency" for p in order.waiting]
    assert emergencies == sorted(emergencies, reverse=True)


@settings(max_examples=100, deadline=None)
@given(ticket_specs, st.integers(0, 400), st.sets(st.sampled_from(ROOMS)), st.integers(0, 4))
def test_door_queues_respect_the_cap_bound_rooms_and_pauses(
    specs: list[Any], now: int, paused: set[str], cap: int
) -> None:
    rules = RuleSet(policy="interleave", second_queue_cap=cap)
    order = order_queue(build(specs), rules, minutes(now), rooms=ROOMS, paused_rooms=paused)
    position = {p.ticket.id: p.ahead for p in order.waiting}
    for room, line in order.doors.items():
        assert room not in paused
        assert len(line) <= cap
        assert [position[t] for t in line] == sorted(position[t] for t in line)
        for tid in line:
            bound = order.place_of(tid)
            assert bound is not None and bound.ticket.room_id in (None, room)
    for room in paused:
        assert order.next_for_room(room) is None


def simulate(
    rules: RuleSet, arrivals: list[tuple[int, PriorityClass, int | None]], horizon: int
) -> tuple[dict[str, float], int]:
    """One call a minute; returns each called ticket's wait (from its queueing time) and the longest
    queue seen."""
    waiting: dict[str, QueueTicket] = {}
    done: dict[str, QueueTicket] = {}
    waits: dict[str, float] = {}
    longest = 0
    by_minute: dict[int, list[QueueTicket]] = {}
    for n, (at, klass, slot_offset) in enumerate(arrivals):
        slot = None if slot_offset is None else at + slot_offset
        by_minute.setdefault(at, []).append(ticket(f"t{n:04d}", at, priority=klass, slot=slot))
    last_arrival = max(by_minute, default=0)
    for minute in range(horizon):
        for new in by_minute.get(minute, []):
            waiting[new.id] = new
        if not waiting and minute > last_arrival:
            break
        longest = max(longest, len(waiting))
        # the interleave phase only looks at the latest calls
        recent = list(done.values())[-8:]
        order = order_queue([*waiting.values(), *recent], rules, minutes(minute))
        if not order.waiting:
            continue
        head = order.waiting[0]
        called = waiting.pop(head.ticket.id)
        event = TicketEvent(no=2, kind="call", at=minutes(minute), by="n")
        done[called.id] = called.model_copy(update={"status": "called", "events": [*called.events, event]})
        queued_at = head.ticket.slot_time if head.stream == "appointment" else head.ticket.checked_in_at
        assert queued_at is not None
        waits[called.id] = (minutes(minute) - queued_at) / dt.timedelta(minutes=1)
    assert not waiting, "every ticket is called once arrivals stop"
    return waits, longest


arrival_streams = st.lists(
    st.tuples(
        st.integers(0, 180),
        st.sampled_from(("normal", "normal", "elderly", "military", "disabled", "returning")),
        st.one_of(st.none(), st.integers(-10, 40)),
    ),
    max_size=80,
)


@settings(max_examples=30, deadline=None)
@given(arrival_streams, policies)
def test_nobody_starves_under_any_policy(arrivals: list[Any], policy: str) -> None:
    rules = POLICIES[policy].model_copy(update={"starvation_guard_minutes": 60})
    # a backlog of ten at opening, then one arrival a minute against one call a minute
    spread = [(max(0, i - 10), klass, slot) for i, (_, klass, slot) in enumerate(arrivals)]
    waits, longest = simulate(rules, spread, horizon=len(spread) + 400)
    assert len(waits) == len(spread)
    assert max(waits.values(), default=0) <= 60 + longest + 1


def test_the_guard_lets_a_normal_ticket_through_a_steady_stream_of_priority_patients() -> None:
    arrivals: list[tuple[int, PriorityClass, int | None]] = [(0, "normal", None), (0, "military", None)]
    arrivals += [(minute, "military", None) for minute in range(1, 200)]
    for policy in ("strict_priority", "interleave_2_1"):
        rules = POLICIES[policy].model_copy(update={"starvation_guard_minutes": 60})
        waits, _ = simulate(rules, arrivals, horizon=300)
        assert waits["t0000"] == 60


def test_strict_priority_takes_classes_in_order_then_arrival() -> None:
    tickets = [
        ticket("t1", 0),
        ticket("t2", 1, priority="returning"),
        ticket("t3", 2, priority="military"),
        ticket("t4", 3, birth=dt.date(1950, 1, 1)),  # 76: elderly by rule
        ticket("t5", 4, priority="emergency"),
        ticket("t6", 5, priority="disabled"),
    ]
    order = order_queue(tickets, POLICIES["strict_priority"], minutes(10))
    assert ids(order.waiting) == ["t5", "t3", "t6", "t4", "t2", "t1"]
    assert order.waiting[3].klass == "elderly"


def test_a_class_left_out_of_the_rule_set_counts_as_normal() -> None:
    rules = RuleSet(priority_order=("emergency",), elderly_age=None)
    tickets = [
        ticket("t1", 0),
        ticket("t2", 1, priority="military"),
        ticket("t3", 2, birth=dt.date(1930, 1, 1)),
    ]
    assert ids(order_queue(tickets, rules, minutes(5)).waiting) == ["t1", "t2", "t3"]


def test_interleave_alternates_two_appointments_with_one_walk_in_and_continues_after_calls() -> None:
    appointments = [ticket(f"a{n}", 0, slot=n) for n in range(6)]
    walk_ins = [ticket(f"w{n}", n) for n in range(3)]
    rules = RuleSet(policy="interleave", interleave=(2, 1), starvation_guard_minutes=None)
    order = order_queue([*appointments, *walk_ins], rules, minutes(30))
    assert ids(order.waiting) == ["a0", "a1", "w0", "a2", "a3", "w1", "a4", "a5", "w2"]
    # after a0 and a1 were called, the walk-in is next, not two more appointments
    called = [
        t.model_copy(
            update={
                "status": "called",
                "events": [*t.events, TicketEvent(no=2, kind="call", at=minutes(31 + i), by="n")],
            }
        )
        for i, t in enumerate(appointments[:2])
    ]
    order = order_queue([*called, *appointments[2:], *walk_ins], rules, minutes(33))
    assert ids(order.waiting)[:4] == ["w0", "a2", "a3", "w1"]


def test_early_check_in_waits_for_the_slot_and_late_becomes_a_walk_in() -> None:
    rules = RuleSet(early_minutes=30, late_minutes=15, starvation_guard_minutes=None)
    early = ticket("t1", 0, slot=120)  # arrives two hours early
    on_time = ticket("t2", 50, slot=60)
    late = ticket("t3", 90, slot=60)  # 30 minutes late: a walk-in from 90
    walk_in = ticket("t4", 70)
    order = order_queue([early, on_time, late, walk_in], rules, minutes(80))
    assert ids(order.waiting) == ["t2", "t4", "t3", "t1"]
    assert order.waiting[3].held and order.waiting[2].stream == "walk_in"
    # from 30 minutes before its slot the early patient queues at its slot time
    order = order_queue([early, on_time, late, walk_in], rules, minutes(95))
    assert ids(order.waiting) == ["t2", "t4", "t3", "t1"] and not order.waiting[3].held


def test_a_ticket_waiting_past_the_guard_goes_before_priority_classes_but_not_emergencies() -> None:
    rules = RuleSet(starvation_guard_minutes=60)
    tickets = [ticket("t1", 0), ticket("t2", 50, priority="military"), ticket("t3", 55, priority="emergency")]
    assert ids(order_queue(tickets, rules, minutes(61)).waiting) == ["t3", "t1", "t2"]
    assert ids(order_queue(tickets, rules, minutes(59)).waiting) == ["t3", "t2", "t1"]


def test_weighted_wait_gives_a_head_start_that_waiting_overtakes() -> None:
    rules = RuleSet(policy="weighted_wait", class_weights={"elderly": 20}, starvation_guard_minutes=None)
    tickets = [ticket("t1", 0), ticket("t2", 15, birth=dt.date(1940, 1, 1))]
    assert ids(order_queue(tickets, rules, minutes(30)).waiting) == ["t2", "t1"]
    tickets = [ticket("t1", 0), ticket("t2", 25, birth=dt.date(1940, 1, 1))]
    assert ids(order_queue(tickets, rules, minutes(30)).waiting) == ["t1", "t2"]


def test_a_returned_ticket_waits_after_its_anchors_then_goes_to_the_head() -> None:
    rules = RuleSet(starvation_guard_minutes=None)
    back = {"kind": "return", "at": minutes(20), "anchors": ["t2", "t3"], "position": "after"}
    returned = ticket(
        "t1", 0, events=[{"kind": "call", "at": minutes(5)}, {"kind": "skip", "at": minutes(6)}, back]
    )
    others = [ticket(f"t{n}", n) for n in range(2, 7)]
    assert ids(order_queue([returned, *others], rules, minutes(21)).waiting) == [
        "t2",
        "t3",
        "t1",
        "t4",
        "t5",
        "t6",
    ]
    # t2 and t3 have been seen: the returned patient is next
    rest = [t for t in others if t.id not in ("t2", "t3")]
    assert ids(order_queue([returned, *rest], rules, minutes(40)).waiting)[0] == "t1"


def test_a_nurse_moves_a_ticket_before_another_and_undo_puts_it_back() -> None:
    rules = RuleSet(starvation_guard_minutes=None)
    move = {"kind": "reorder", "at": minutes(10), "anchors": ["t1"], "position": "before"}
    moved = ticket("t4", 4, events=[move])
    tickets = [ticket("t1", 1), ticket("t2", 2), ticket("t3", 3), moved]
    assert ids(order_queue(tickets, rules, minutes(11)).waiting) == ["t4", "t1", "t2", "t3"]
    undone = moved.model_copy(
        update={"events": [*moved.events, TicketEvent(no=3, kind="undo", at=minutes(12), by="n", undoes=2)]}
    )
    assert ids(order_queue([*tickets[:3], undone], rules, minutes(13)).waiting) == ["t1", "t2", "t3", "t4"]


def test_door_queues_fill_the_open_rooms_and_a_room_calls_its_own_head() -> None:
    queue = Queue(
        id="q",
        campus_id="c",
        code="Q",
        name="Q",
        room_ids=["r1", "r2"],
        paused_rooms=["r2"],
        rules={"second_queue_cap": 2, "starvation_guard_minutes": None},
        staffed_rooms={"r1": duty("d1"), "r2": duty("d2")},
    )
    tickets = [ticket("t1", 1, room="r2"), ticket("t2", 2), ticket("t3", 3), ticket("t4", 4)]
    order = order_for(queue, tickets, minutes(10))
    assert order.doors == {"r1": ("t2", "t3")}
    assert order.next_for_room("r2") is None
    head = order.next_for_room("r1")
    assert head is not None and head.ticket.id == "t2"
    assert order.place_of("t2") is not None and order.place_of("t2").door == "r1"  # type: ignore[union-attr]


def _two_room_queue(**changes: Any) -> Queue:
    data: dict[str, Any] = {
        "id": "q",
        "campus_id": "c",
        "code": "Q",
        "name": "Q",
        "room_ids": ["empty", "doc"],
        "rules": {"second_queue_cap": 2, "starvation_guard_minutes": None},
        "staffed_rooms": {"doc": duty("d1")},
    }
    return Queue.model_validate({**data, **changes})


def test_a_room_without_a_doctor_takes_nobody_and_the_elderly_patient_is_called_first() -> None:
    elderly = ticket("t9", 9, birth=dt.date(1948, 3, 1))
    tickets = [ticket("t1", 1), ticket("t2", 2), ticket("t3", 3), elderly]
    order = order_for(_two_room_queue(), tickets, minutes(10))
    assert ids(order.waiting)[0] == "t9"
    assert order.doors == {"doc": ("t9", "t1")}
    assert "empty" not in order.doors
    head = order.next_for_room("doc")
    assert head is not None and head.ticket.id == "t9"
    assert working_rooms(_two_room_queue(), minutes(10)) == ("doc",)


def test_a_room_that_closes_gives_its_door_queue_back() -> None:
    tickets = [ticket("t1", 1), ticket("t2", 2), ticket("t3", 3), ticket("t4", 4)]
    both = _two_room_queue(staffed_rooms={"doc": duty("d1"), "empty": duty("d2")})
    order = order_for(both, tickets, minutes(10))
    assert order.doors == {"empty": ("t1", "t3"), "doc": ("t2", "t4")}
    closed = order_for(_two_room_queue(), tickets, minutes(11))
    assert closed.doors == {"doc": ("t1", "t2")}
    assert [p.door for p in closed.waiting] == ["doc", "doc", None, None]


def test_a_duty_left_open_since_yesterday_opens_no_room() -> None:
    stale = _two_room_queue(staffed_rooms={"doc": duty("d1", at=-24 * 60)})
    assert working_rooms(stale, minutes(10)) == ()
    assert order_for(stale, [ticket("t1", 1)], minutes(10)).doors == {}


def test_the_room_says_why_it_does_not_call_a_ticket() -> None:
    queue = _two_room_queue(
        room_ids=["doc", "other"],
        staffed_rooms={"doc": duty("d1"), "other": duty("d2")},
        rules={"second_queue_cap": 1, "starvation_guard_minutes": None},
    )
    tickets = [ticket("t1", 1), ticket("t2", 2), ticket("t3", 3, room="other"), ticket("t4", 4, slot=200)]
    order = order_for(queue, tickets, minutes(10))
    assert order.doors == {"doc": ("t1",), "other": ("t2",)}
    assert order.passed_over("doc", "t1") is None
    assert order.passed_over("doc", "t2") == "other_door"
    assert order.passed_over("doc", "t3") == "other_room"
    assert order.passed_over("doc", "t4") == "held"
    paused = order_for(queue.model_copy(update={"paused_rooms": ["doc"]}), tickets, minutes(10))
    assert paused.passed_over("doc", "t1") == "room_paused"


def test_rules_are_data_on_the_queue() -> None:
    queue = Queue(
        id="q", campus_id="c", code="Q", name="Q", policy="interleave", rules={"interleave": [3, 1]}
    )
    rules = rules_for(queue)
    assert rules.policy == "interleave" and rules.interleave == (3, 1)
    assert RuleSet.model_validate(rules.model_dump(mode="json")) == rules


@settings(max_examples=150, deadline=None)
@given(
    ticket_specs,
    policies,
    st.lists(
        st.tuples(
            st.integers(0, 59), st.lists(st.integers(0, 59), max_size=3), st.sampled_from(("before", "after"))
        ),
        max_size=8,
    ),
)
def test_a_pinned_ticket_sits_next_to_its_waiting_anchors_and_never_before_an_emergency(
    specs: list[Any], policy: str, pins: list[tuple[int, list[int], str]]
) -> None:
    tickets = build(specs)
    if not tickets:
        return
    pinned: dict[str, tuple[list[str], str]] = {}
    for n, (who, anchors, position) in enumerate(pins):
        target = tickets[who % len(tickets)]
        anchor_ids = [
            tickets[a % len(tickets)].id for a in anchors if tickets[a % len(tickets)].id != target.id
        ]
        if target.id in pinned or not anchor_ids:
            continue
        event = TicketEvent(
            no=2,
            kind="reorder",
            at=minutes(300 + n),
            by="n",
            anchors=anchor_ids,
            position=position,  # type: ignore[arg-type]
        )
        tickets[tickets.index(target)] = target.model_copy(update={"events": [*target.events, event]})
        pinned[target.id] = (anchor_ids, position)
    order = order_queue(tickets, POLICIES[policy], minutes(320))
    position_of = {p.ticket.id: p.ahead for p in order.waiting}
    emergencies = [p.ahead for p in order.waiting if p.klass == "emergency"]
    for place in order.waiting:
        if place.klass != "emergency":
            assert all(e < place.ahead for e in emergencies)
    # the last pin made is placed last, so its own anchors are still exactly around it
    last = max(
        (tid for tid in pinned if order.place_of(tid) and order.place_of(tid).reason == "pinned"),  # type: ignore[union-attr]
        key=lambda tid: next(
            e.at for e in next(t for t in tickets if t.id == tid).events if e.kind == "reorder"
        ),
        default=None,
    )
    if last is None:
        return
    anchors, side = pinned[last]
    present = [position_of[a] for a in anchors if a in position_of]
    if not present:
        return
    floor = len(emergencies)
    if side == "after":
        assert position_of[last] == max(max(present) + 1, floor)
    elif min(present) < floor:
        assert position_of[last] == floor
    else:  # the anchor moved down by one when the pinned ticket went in before it
        assert position_of[last] == min(present) - 1


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 5))
def test_interleave_keeps_its_ratio_call_after_call_whatever_was_called_before(
    n: int, m: int, already: int
) -> None:
    rules = RuleSet(policy="interleave", interleave=(n, m), starvation_guard_minutes=None)
    history = [
        ticket(f"h{i:03d}", 0, slot=i - 10, status="called", events=[{"kind": "call", "at": minutes(50 + i)}])
        for i in range(already)
    ]
    waiting = {t.id: t for t in [ticket(f"a{i:03d}", 0, slot=i) for i in range(40)]}
    waiting.update({t.id: t for t in [ticket(f"w{i:03d}", i) for i in range(40)]})
    called: list[QueueTicket] = list(history)
    streams: list[str] = []
    for step in range(4 * (n + m)):
        order = order_queue([*waiting.values(), *called], rules, minutes(60 + step))
        head = waiting.pop(order.waiting[0].ticket.id)
        event = TicketEvent(no=2, kind="call", at=minutes(60 + step), by="n")
        called.append(head.model_copy(update={"status": "called", "events": [*head.events, event]}))
        streams.append(order.waiting[0].stream)
    # after at most one short cycle to finish the one in progress, every n+m calls hold n appointments
    settled = streams[n + m :]
    for start in range(len(settled) - (n + m) + 1):
        assert settled[start : start + n + m].count("appointment") == n
    if already == 0:
        assert streams[: n + m] == ["appointment"] * n + ["walk_in"] * m
