"""Queue mutation handlers against an in-memory state: check-in and numbering, calls, skips, transfers, undo."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shared.domain.entities import (
    Appointment,
    Patient,
    Queue,
    QueueNotice,
    QueueTicket,
    Room,
    Schedule,
    Staff,
)
from shared.domain.mutations import REGISTRY, Effect, Rejected
from shared.domain.queue_rules import order_for
from tests.shared.domain.fakes import MemoryState, context

NOW = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)


def rooms() -> list[Room]:
    return [
        Room(id=f"r{n}", campus_id="campus-1", department_id="d1", code=f"R{n}", name=f"{n}诊室")
        for n in (1, 2)
    ]


@pytest.fixture
def state() -> MemoryState:
    queue = Queue(
        id="q1", campus_id="campus-1", code="NK-Q", name="内科候诊", department_id="d1", room_ids=["r1", "r2"]
    )
    lab = Queue(id="q2", campus_id="campus-1", code="LAB", name="检验", kind="lab", prefix="L")
    other_room = Room(id="r9", campus_id="campus-1", department_id="d9", code="R9", name="外科诊室")
    staff = [
        Staff(id="nurse-1", username="nurse1", name="王芳", roles=["nurse"]),
        Staff(id="nurse-2", username="nurse2", name="李娜", roles=["nurse"]),
    ]
    patients = [
        Patient(id=f"p{n}", name=f"患者{n}", sex="F", birth_date=dt.date(1990 - 20 * (n % 3), 1, 1))
        for n in range(8)
    ]
    schedule = Schedule(
        id="s1",
        campus_id="campus-1",
        department_id="d1",
        doctor_id="doc",
        room_id="r2",
        date=NOW.date(),
        session="am",
        start_time=dt.time(8),
        end_time=dt.time(12),
    )
    appointment = Appointment(
        id="a1",
        campus_id="campus-1",
        schedule_id="s1",
        patient_id="p5",
        doctor_id="doc",
        room_id="r2",
        number="YY1",
        slot_time=NOW + dt.timedelta(minutes=20),
    )
    return MemoryState(queue, lab, *rooms(), other_room, *staff, *patients, schedule, appointment)


def run(state: MemoryState, name: str, args: dict[str, Any], **ctx: Any) -> Effect:
    spec = REGISTRY[name]
    effect = spec.handler(state, spec.args.model_validate(args), context(now=NOW, **ctx))
    for row in effect.writes:
        state.put(row)
    return effect


def check_in(state: MemoryState, tid: str, patient: str, **extra: Any) -> Effect:
    return run(state, "queue.check_in", {"id": tid, "queue_id": "q1", "patient_id": patient, **extra})


def ticket(state: MemoryState, tid: str) -> QueueTicket:
    found = state.get(QueueTicket, tid)
    assert found is not None
    return found


def test_a_desk_number_is_kept_and_labelled_with_the_queue_prefix(state: MemoryState) -> None:
    effect = check_in(state, "t1", "p1", number=101, checked_in_at="2026-11-22T09:55:00+08:00")
    assert effect.result["label"] == "A101" and not effect.warnings
    row = ticket(state, "t1")
    assert row.status == "waiting" and row.session == "am" and row.number_key == "q1:2026-11-22:101"
    assert row.checked_in_at == dt.datetime(2026, 11, 22, 1, 55, tzinfo=dt.UTC)
    assert [e.kind for e in row.events] == ["check_in"] and row.events[0].by == "nurse-1"


def test_without_a_number_the_server_slot_issues_the_next_one(state: MemoryState) -> None:
    assert check_in(state, "t1", "p1").result["label"] == "A001"
    assert check_in(state, "t2", "p2").result["label"] == "A002"


def test_a_number_taken_by_a_misconfigured_desk_moves_on_with_a_warning(state: MemoryState) -> None:
    check_in(state, "t1", "p1", number=101)
    effect = check_in(state, "t2", "p2", number=101)
    assert effect.result["label"] == "A102"
    assert "A101" in effect.warnings[0] and "A102" in effect.warnings[0]


def test_a_patient_already_waiting_in_the_queue_is_refused(state: MemoryState) -> None:
    check_in(state, "t1", "p1", number=101)
    with pytest.raises(Rejected) as refusal:
        check_in(state, "t2", "p1", number=102)
    assert refusal.value.code == "already_checked_in"
    assert refusal.value.detail == {"ticket_id": "t1", "label": "A101", "number": 101}


def test_an_appointment_check_in_takes_slot_room_session_and_marks_the_appointment(
    state: MemoryState,
) -> None:
    check_in(state, "t1", "p5", appointment_id="a1", number=101)
    row = ticket(state, "t1")
    assert (
        row.source == "appointment"
        and row.room_id == "r2"
        and row.slot_time == NOW + dt.timedelta(minutes=20)
    )
    appointment = state.get(Appointment, "a1")
    assert appointment is not None and appointment.status == "checked_in" and appointment.version == 2


def test_an_appointment_of_another_patient_or_day_is_refused(state: MemoryState) -> None:
    with pytest.raises(Rejected) as refusal:
        check_in(state, "t1", "p1", appointment_id="a1")
    assert refusal.value.code == "appointment_mismatch"
    with pytest.raises(Rejected) as refusal:
        check_in(state, "t1", "p5", appointment_id="a1", day="2026-11-23")
    assert refusal.value.code == "appointment_other_day"


def test_a_priority_class_needs_a_reason_and_a_clock_ahead_is_clamped(state: MemoryState) -> None:
    with pytest.raises(Rejected) as refusal:
        check_in(state, "t1", "p1", priority="military")
    assert refusal.value.code == "reason_required"
    effect = check_in(
        state, "t1", "p1", priority="military", priority_reason="军官证", checked_in_at="2026-11-22T03:00:00Z"
    )
    assert ticket(state, "t1").checked_in_at == NOW and effect.warnings


def test_a_second_call_is_recorded_and_the_later_caller_is_told_who_called(state: MemoryState) -> None:
    check_in(state, "t1", "p1", number=101)
    first = run(state, "queue.call", {"ticket_id": "t1", "room_id": "r1"})
    assert first.warnings == [] and ticket(state, "t1").called_room_id == "r1"
    second = run(state, "queue.call", {"ticket_id": "t1", "room_id": "r2"}, staff_id="nurse-2", lang="en")
    assert second.warnings == ["A101 was already called by 王芳 at 10:00"]
    row = ticket(state, "t1")
    assert [(e.kind, e.by, e.room_id) for e in row.events[1:]] == [
        ("call", "nurse-1", "r1"),
        ("call", "nurse-2", "r2"),
    ]
    assert row.status == "called" and row.called_room_id == "r2"


def test_steps_that_do_not_follow_are_refused_with_the_status(state: MemoryState) -> None:
    check_in(state, "t1", "p1", number=101)
    with pytest.raises(Rejected) as refusal:
        run(state, "queue.finish", {"ticket_id": "t1"}, lang="en")
    assert refusal.value.code == "bad_transition"
    assert refusal.value.message == "A101 is waiting: cannot finish the consultation"
    run(state, "queue.call", {"ticket_id": "t1"})
    run(state, "queue.start", {"ticket_id": "t1", "room_id": "r1"})
    run(state, "queue.finish", {"ticket_id": "t1"})
    assert ticket(state, "t1").status == "done"
    with pytest.raises(Rejected):
        run(state, "queue.call", {"ticket_id": "t1"})


def test_a_room_outside_the_queue_cannot_call(state: MemoryState) -> None:
    check_in(state, "t1", "p1", number=101)
    with pytest.raises(Rejected) as refusal:
        run(state, "queue.call", {"ticket_id": "t1", "room_id": "r9"})
    assert refusal.value.code == "room_mismatch"


def test_a_skipped_patient_returns_after_the_next_three(state: MemoryState) -> None:
    for n, patient in enumerate(("p0", "p1", "p3", "p4", "p6"), start=1):  # none of them elderly
        at = NOW - dt.timedelta(minutes=10 - n)
        check_in(state, f"t{n}", patient, number=100 + n, checked_in_at=at.isoformat())
    run(state, "queue.call", {"ticket_id": "t1"})
    run(state, "queue.skip", {"ticket_id": "t1", "note": "未到"})
    effect = run(state, "queue.return", {"ticket_id": "t1"})
    assert effect.result["after"] == ["t2", "t3", "t4"]
    queue = state.get(Queue, "q1")
    assert queue is not None
    order = order_for(queue, state.find(QueueTicket), NOW)
    assert [p.ticket.id for p in order.waiting] == ["t2", "t3", "t4", "t1", "t5"]


def test_a_transfer_closes_the_ticket_and_opens_one_in_the_other_queue_keeping_the_wait(
    state: MemoryState,
) -> None:
    check_in(state, "t1", "p1", number=101, checked_in_at="2026-11-22T01:30:00Z")
    run(state, "queue.call", {"ticket_id": "t1"})
    run(state, "queue.start", {"ticket_id": "t1"})
    effect = run(
        state, "queue.transfer", {"ticket_id": "t1", "target_queue_id": "q2", "new_ticket_id": "t1b"}
    )
    assert ticket(state, "t1").status == "transferred"
    moved = ticket(state, "t1b")
    assert moved.label == "L001" and moved.status == "waiting" and moved.source == "transfer"
    assert moved.checked_in_at == dt.datetime(2026, 11, 22, 1, 30, tzinfo=dt.UTC)
    assert moved.events[0].kind == "transfer_in" and moved.events[0].other == "t1"
    assert effect.result["new_ticket"]["ticket_id"] == "t1b"
    # undoing the transfer takes the patient back and withdraws the new ticket
    run(state, "queue.undo", {"ticket_id": "t1", "note": "转错科室"})
    assert ticket(state, "t1").status == "in_consultation"
    assert ticket(state, "t1b").status == "cancelled"


def test_undo_takes_back_the_last_step_as_a_new_event(state: MemoryState) -> None:
    check_in(state, "t1", "p1", number=101)
    run(state, "queue.call", {"ticket_id": "t1"})
    run(state, "queue.skip", {"ticket_id": "t1"})
    effect = run(state, "queue.undo", {"ticket_id": "t1", "note": "误点过号"})
    row = ticket(state, "t1")
    assert row.status == "called" and effect.result["undone"] == 3
    assert [e.kind for e in row.events] == ["check_in", "call", "skip", "undo"]
    with pytest.raises(Rejected):
        run(state, "queue.undo", {"ticket_id": "t1", "event_no": 3, "note": "again"})


def test_priority_changes_need_a_reason_and_are_events(state: MemoryState) -> None:
    check_in(state, "t1", "p1", number=101)
    with pytest.raises(Rejected):
        run(state, "queue.set_priority", {"ticket_id": "t1", "priority": "emergency"})
    run(state, "queue.set_priority", {"ticket_id": "t1", "priority": "emergency", "reason": "胸痛"})
    row = ticket(state, "t1")
    assert (
        row.priority == "emergency"
        and row.priority_reason == "胸痛"
        and row.events[-1].priority == "emergency"
    )
    run(state, "queue.undo", {"ticket_id": "t1", "note": "误操作"})
    assert ticket(state, "t1").priority == "normal"


def test_a_nurse_reorders_relative_to_a_waiting_ticket_of_the_same_queue(state: MemoryState) -> None:
    check_in(state, "t1", "p1", number=101, checked_in_at="2026-11-22T01:00:00Z")
    check_in(state, "t2", "p2", number=102, checked_in_at="2026-11-22T01:01:00Z")
    run(state, "queue.reorder", {"ticket_id": "t2", "before_ticket_id": "t1", "note": "行动不便"})
    queue = state.get(Queue, "q1")
    assert queue is not None
    assert [p.ticket.id for p in order_for(queue, state.find(QueueTicket), NOW).waiting] == ["t2", "t1"]
    with pytest.raises(Rejected) as refusal:
        run(state, "queue.reorder", {"ticket_id": "t2", "after_ticket_id": "t2"})
    assert refusal.value.code == "bad_anchor"


def test_pausing_a_room_is_kept_on_the_queue_and_resuming_clears_it(state: MemoryState) -> None:
    run(state, "queue.pause_room", {"queue_id": "q1", "room_id": "r1", "reason": "医生会诊"})
    queue = state.get(Queue, "q1")
    assert queue is not None and queue.paused_rooms == ["r1"] and queue.version == 2
    assert run(state, "queue.pause_room", {"queue_id": "q1", "room_id": "r1"}).writes == []
    check_in(state, "t1", "p1", number=101)
    assert run(state, "queue.call", {"ticket_id": "t1", "room_id": "r1"}).warnings
    run(state, "queue.pause_room", {"queue_id": "q1", "room_id": "r1", "paused": False})
    queue = state.get(Queue, "q1")
    assert queue is not None and queue.paused_rooms == []


def test_a_notice_is_posted_for_a_queue_and_withdrawn(state: MemoryState) -> None:
    run(
        state,
        "queue.notice",
        {"id": "n1", "text": "2诊室医生临时会诊，请稍候", "queue_id": "q1", "room_id": "r2"},
    )
    notice = state.get(QueueNotice, "n1")
    assert notice is not None and notice.campus_id == "campus-1" and notice.starts_at == NOW
    run(state, "queue.notice_withdraw", {"notice_id": "n1"})
    notice = state.get(QueueNotice, "n1")
    assert notice is not None and notice.voided and notice.ends_at == NOW


def test_kiosks_may_check_in_but_not_call() -> None:
    assert "kiosk" in REGISTRY["queue.check_in"].roles
    assert "kiosk" not in REGISTRY["queue.call"].roles
    expected = {"check_in", "call", "recall", "skip", "return", "start", "finish", "transfer", "cancel"}
    assert {f"queue.{name}" for name in expected} <= set(REGISTRY)


def test_a_client_without_server_counters_takes_the_next_server_slot_number_it_knows(
    state: MemoryState,
) -> None:
    state.numbers = False
    check_in(state, "t1", "p1", number=3)
    assert check_in(state, "t2", "p2").result["label"] == "A004"


# -------------------------------------------------------------------------- rooms with a doctor at work


def queue_row(state: MemoryState, qid: str = "q1") -> Queue:
    found = state.get(Queue, qid)
    assert found is not None
    return found


def test_a_doctor_who_chooses_a_room_staffs_it_and_leaves_the_room_before(state: MemoryState) -> None:
    doctor = {"staff_id": "doc", "roles": frozenset({"doctor"})}
    effect = run(state, "queue.room_open", {"room_id": "r1"}, **doctor)
    assert effect.result["queues"] == ["q1"]
    assert set(queue_row(state).staffed_rooms) == {"r1"}
    assert queue_row(state).staffed_rooms["r1"].doctor_id == "doc"
    assert queue_row(state).staffed_rooms["r1"].source == "login"
    run(state, "queue.room_open", {"room_id": "r2"}, **doctor)
    assert set(queue_row(state).staffed_rooms) == {"r2"}
    # opening it again changes nothing (no new version)
    version = queue_row(state).version
    assert run(state, "queue.room_open", {"room_id": "r2"}, **doctor).writes == []
    assert queue_row(state).version == version
    run(state, "queue.room_close", {"room_id": "r2"}, **doctor)
    assert queue_row(state).staffed_rooms == {}


def test_a_nurse_opens_a_room_only_for_the_doctor_the_schedule_puts_there(state: MemoryState) -> None:
    with pytest.raises(Rejected) as refusal:
        run(state, "queue.room_open", {"room_id": "r1"})
    assert refusal.value.code == "not_scheduled"
    run(state, "queue.room_open", {"room_id": "r2"})
    duty = queue_row(state).staffed_rooms["r2"]
    assert (duty.doctor_id, duty.source, duty.by) == ("doc", "nurse", "nurse-1")


def test_a_nurse_opens_a_room_for_the_doctor_of_the_session_under_way(state: MemoryState) -> None:
    """Room 2 has a morning doctor and an afternoon one: the room opens for whoever's session it is."""
    afternoon = Schedule(
        id="s0",  # listed before the morning's: the order found is not the rule
        campus_id="campus-1",
        department_id="d1",
        doctor_id="doc-pm",
        room_id="r2",
        date=NOW.date(),
        session="pm",
        start_time=dt.time(13, 30),
        end_time=dt.time(17),
    )
    state.put(afternoon)
    run(state, "queue.room_open", {"room_id": "r2"})  # 10:00 in Shanghai
    assert queue_row(state).staffed_rooms["r2"].doctor_id == "doc"
    spec = REGISTRY["queue.room_open"]
    at_three = context(now=NOW + dt.timedelta(hours=5))  # 15:00 in Shanghai, the same day
    for row in spec.handler(state, spec.args.model_validate({"room_id": "r2"}), at_three).writes:
        state.put(row)
    assert queue_row(state).staffed_rooms["r2"].doctor_id == "doc-pm"


def test_waiting_tickets_go_only_to_the_room_with_a_doctor(state: MemoryState) -> None:
    for n in range(1, 4):
        check_in(state, f"t{n}", f"p{n}", number=100 + n)
    tickets = state.find(QueueTicket, queue_id="q1")
    assert order_for(queue_row(state), tickets, NOW).doors == {}
    run(state, "queue.room_open", {"room_id": "r2"}, staff_id="doc", roles=frozenset({"doctor"}))
    order = order_for(queue_row(state), tickets, NOW)
    assert set(order.doors) == {"r2"}
    run(state, "queue.room_close", {"room_id": "r2"})
    assert order_for(queue_row(state), tickets, NOW).doors == {}


def test_an_offline_step_keeps_when_it_happened_and_when_the_server_got_it(state: MemoryState) -> None:
    run(
        state,
        "queue.check_in",
        {"id": "t1", "queue_id": "q1", "patient_id": "p1", "number": 101},
        occurred_at=NOW - dt.timedelta(minutes=50),
    )
    first = ticket(state, "t1")
    assert first.checked_in_at == NOW - dt.timedelta(minutes=50)
    run(state, "queue.call", {"ticket_id": "t1", "room_id": "r1"}, occurred_at=NOW - dt.timedelta(minutes=30))
    # a PC clock that says the start came before the call: not before the call
    run(state, "queue.start", {"ticket_id": "t1"}, occurred_at=NOW - dt.timedelta(minutes=40))
    run(state, "queue.finish", {"ticket_id": "t1"}, occurred_at=NOW - dt.timedelta(minutes=20))
    events = ticket(state, "t1").events
    assert [e.kind for e in events] == ["check_in", "call", "start", "finish"]
    assert all(e.at == NOW for e in events)  # the server's receipt time
    assert [int((NOW - e.when).total_seconds() // 60) for e in events] == [50, 30, 30, 20]


def test_the_same_appointment_is_not_checked_in_twice_in_two_queues(state: MemoryState) -> None:
    check_in(state, "t1", "p5", appointment_id="a1")
    with pytest.raises(Rejected) as refusal:
        run(
            state,
            "queue.check_in",
            {"id": "t2", "queue_id": "q2", "patient_id": "p5", "appointment_id": "a1"},
        )
    assert refusal.value.code == "already_checked_in"
