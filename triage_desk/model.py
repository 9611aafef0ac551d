"""What the triage screens read from the local store, as plain functions (Qt-free, run on the DB thread).

Every function takes the ``LocalStore`` (or a ``LocalView``) and ``now``, so the same code serves the
nurse's console, the kiosk, the waiting-room display and the tests, offline or online: the local view is
the server-confirmed state plus this PC's pending mutations, so a call made offline shows at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from shared import clinic_time
from shared.domain import queue_check_in
from shared.domain.entities import (
    Appointment,
    Campus,
    Department,
    Patient,
    Queue,
    QueueNotice,
    QueueTicket,
    Room,
    Staff,
)
from shared.domain.masking import mask_name
from shared.domain.queue_numbers import NumberingPlan, desk_slot_problem, slot_message, slot_taken_by
from shared.domain.queue_rules import Place, QueueOrder, check_in_window, clinic_day, order_for, rules_for
from shared.domain.queue_states import effective_events, last_call
from shared.errors import Conflict, ValidationFailed
from shared.printing.ticket import ticket_id_from_qr
from shared.store.store import LocalStore
from shared.store.view import LocalView


def local_day(now: dt.datetime) -> dt.date:
    """The clinic day of ``now`` (the PC's local date, as the mutations' ``ctx.today``)."""
    return clinic_time.local(now).date()


# ----------------------------------------------------------------------------------- the area's queues


@dataclass(frozen=True)
class QueueSummary:
    """One queue's line in the console: its order and the figures a nurse watches."""

    queue: Queue
    order: QueueOrder
    waiting: int
    called: int
    serving: int
    skipped: int
    done: int
    longest_wait_min: int  # the longest current wait among waiting tickets
    average_wait_min: int  # mean wait from check-in to first call, over today's called tickets


@dataclass(frozen=True)
class TicketRow:
    """A ticket with what a nurse needs to see of it (the full name: the console is staff-only)."""

    ticket: QueueTicket
    patient_name: str
    room_name: str
    place: Place | None
    waited_min: int


@dataclass(frozen=True)
class AreaSnapshot:
    day: dt.date
    now: dt.datetime
    queues: list[QueueSummary]
    rooms: dict[str, Room]
    patients: dict[str, Patient]
    tickets: dict[str, list[QueueTicket]]  # queue id -> today's tickets
    notices: list[QueueNotice]

    def summary(self, queue_id: str) -> QueueSummary | None:
        return next((s for s in self.queues if s.queue.id == queue_id), None)

    def rows(self, queue_id: str) -> list[TicketRow]:
        """The queue's tickets for the console: waiting in call order, then called, serving, skipped."""
        summary = self.summary(queue_id)
        if summary is None:
            return []
        order = summary.order
        rows = [self._row(p.ticket, p) for p in order.waiting]
        rows += [self._row(t, None) for t in (*order.called, *order.serving, *order.skipped)]
        return rows

    def room_name(self, room_id: str | None) -> str:
        room = self.rooms.get(room_id or "")
        return room.name if room else ""

    def _row(self, ticket: QueueTicket, place: Place | None) -> TicketRow:
        patient = self.patients.get(ticket.patient_id)
        room_id = (place.door if place else None) or ticket.called_room_id or ticket.room_id
        return TicketRow(
            ticket,
            patient.name if patient else "",
            self.room_name(room_id),
            place,
            minutes_between(ticket.checked_in_at, self.now),
        )


def staffed_today(queue: Queue, now: dt.datetime) -> set[str]:
    """The queue's rooms with a doctor at work today (paused or not)."""
    rules = rules_for(queue)
    return {
        r
        for r, duty in queue.staffed_rooms.items()
        if clinic_day(duty.since, rules) == clinic_day(now, rules)
    }


def minutes_between(start: dt.datetime, end: dt.datetime) -> int:
    return max(0, int((end - start).total_seconds() // 60))


def area_queues(
    view: LocalView | LocalStore, campus_id: str | None, codes: Sequence[str] = ()
) -> list[Queue]:
    """The active queues of a campus (all campuses when unknown), limited to ``codes`` when given."""
    queues = view.find(Queue, campus_id=campus_id) if campus_id else view.all(Queue)
    wanted = set(codes)
    return sorted(
        (q for q in queues if q.active and not q.voided and (not wanted or q.code in wanted)),
        key=lambda q: q.code,
    )


def _summary(queue: Queue, tickets: list[QueueTicket], now: dt.datetime) -> QueueSummary:
    order = order_for(queue, tickets, now)
    counts = {status: 0 for status in ("waiting", "called", "in_consultation", "skipped", "done")}
    waits: list[int] = []
    for ticket in tickets:
        if ticket.voided:
            continue
        if ticket.status in counts:
            counts[ticket.status] += 1
        first = next((e for e in effective_events(ticket.events) if e.kind == "call"), None)
        if first is not None:
            waits.append(minutes_between(ticket.checked_in_at, first.when))
    longest = max((minutes_between(p.ticket.checked_in_at, now) for p in order.waiting), default=0)
    return QueueSummary(
        queue,
        order,
        counts["waiting"],
        counts["called"],
        counts["in_consultation"],
        counts["skipped"],
        counts["done"],
        longest,
        round(sum(waits) / len(waits)) if waits else 0,
    )


def area_snapshot(
    store: LocalStore, campus_id: str | None, now: dt.datetime, codes: Sequence[str] = ()
) -> AreaSnapshot:
    """Every queue of the area with today's tickets in order, their patients, rooms and live notices."""
    day = local_day(now)
    with store.reading() as view:
        queues = area_queues(view, campus_id, codes)
        by_queue: dict[str, list[QueueTicket]] = {q.id: [] for q in queues}
        found = (
            view.find(QueueTicket, campus_id=campus_id, day=day)
            if campus_id
            else view.find(QueueTicket, day=day)
        )
        for ticket in found:
            if ticket.queue_id in by_queue and not ticket.voided:
                by_queue[ticket.queue_id].append(ticket)
        room_ids = {r for q in queues for r in q.room_ids}
        room_ids |= {t.room_id or "" for ts in by_queue.values() for t in ts}
        room_ids |= {t.called_room_id or "" for ts in by_queue.values() for t in ts}
        rooms = view.get_many(Room, sorted(r for r in room_ids if r))
        patients = view.get_many(Patient, sorted({t.patient_id for ts in by_queue.values() for t in ts}))
        notices = live_notices(view, campus_id, now)
    summaries = [_summary(q, by_queue[q.id], now) for q in queues]
    return AreaSnapshot(day, now, summaries, rooms, patients, by_queue, notices)


def live_notices(view: LocalView, campus_id: str | None, now: dt.datetime) -> list[QueueNotice]:
    notices = view.find(QueueNotice, campus_id=campus_id) if campus_id else view.all(QueueNotice)
    return sorted(
        (
            n
            for n in notices
            if not n.voided
            and n.starts_at <= now + dt.timedelta(minutes=5)
            and (n.ends_at is None or n.ends_at > now)
        ),
        key=lambda n: (n.level != "urgent", n.starts_at, n.id),
    )


# ------------------------------------------------------------------------------------- finding people


@dataclass(frozen=True)
class Found:
    """What a typed or scanned text found: patients, and an appointment or ticket when it named one."""

    patients: list[Patient]
    appointment: Appointment | None = None
    ticket: QueueTicket | None = None
    appointments: dict[str, Appointment] = field(default_factory=dict)  # patient id -> today's appointment


def find(store: LocalStore, text: str, now: dt.datetime, limit: int = 30) -> Found:
    """Find by name, pinyin initials, MRN, ID number (or its last 4), phone, appointment number, or a
    scanned code (a ticket slip's QR, an appointment number, an MRN or an ID card number)."""
    query = text.strip()
    if not query:
        return Found([])
    day = local_day(now)
    with store.reading() as view:
        ticket_id = ticket_id_from_qr(query)
        if ticket_id:
            ticket = view.get(QueueTicket, ticket_id)
            patient = view.get(Patient, ticket.patient_id) if ticket else None
            return Found([patient] if patient else [], ticket=ticket)
        appointment = next((a for a in view.find(Appointment, number=query.upper()) if not a.voided), None)
        if appointment is not None:
            patient = view.get(Patient, appointment.patient_id)
            return Found(
                [patient] if patient else [],
                appointment=appointment,
                appointments={appointment.patient_id: appointment},
            )
    patients = store.search_patients(query, limit)
    with store.reading() as view:
        appointments = todays_appointments(view, [p.id for p in patients], day)
    return Found(patients, appointments=appointments)


def todays_appointments(view: LocalView, patient_ids: Iterable[str], day: dt.date) -> dict[str, Appointment]:
    """Each patient's first booked (or checked-in) appointment of ``day``."""
    out: dict[str, Appointment] = {}
    for patient_id in patient_ids:
        for appointment in sorted(view.find(Appointment, patient_id=patient_id), key=lambda a: a.slot_time):
            if appointment.voided or appointment.status in ("cancelled", "no_show"):
                continue
            if local_day(appointment.slot_time) == day:
                out.setdefault(patient_id, appointment)
    return out


def queue_for_appointment(view: LocalView, appointment: Appointment) -> Queue | None:
    """The appointment's queue: the rule the server's check-in route applies too (``queue_check_in``)."""
    return queue_check_in.queue_for_appointment(view, appointment)


def active_ticket(
    view: LocalView, patient_id: str, queue_id: str, day: dt.date, appointment_id: str | None = None
) -> QueueTicket | None:
    """The patient's ticket still in play in this queue (or for this appointment): "already checked
    in", as ``queue.check_in`` and the server decide it."""
    return queue_check_in.active_ticket(
        view, patient_id=patient_id, queue_id=queue_id, day=day, appointment_id=appointment_id
    )


def next_number(
    view: LocalView, queue: Queue, day: dt.date, slot: int | None, *, device_id: str = "", lang: str = "zh_CN"
) -> int:
    """This desk's next ticket number for ``queue`` on ``day`` (its own slot, never another desk's).

    ``slot`` is the one the server assigned this PC (``TriageState.desk_slot``): ``None`` (never given
    one) raises ``ValidationFailed`` (``no_desk_slot``): such a PC numbers nothing.
    Raises ``ValidationFailed`` (``bad_desk_slot``) when ``slot`` is not one of the queue's desk slots,
    and ``Conflict`` (``desk_slot_taken``) when another PC (not ``device_id``) issued numbers of this
    slot today: two desks sharing a slot would print the same numbers offline."""
    plan = NumberingPlan(queue.number_block, queue.number_slots)
    if slot is None:
        raise ValidationFailed(slot_message("unassigned", 0, lang, plan=plan), code="no_desk_slot")
    problem = desk_slot_problem(slot, plan)
    if problem is not None:
        raise ValidationFailed(slot_message(problem, slot, lang, plan=plan), code="bad_desk_slot")
    tickets = view.find(QueueTicket, queue_id=queue.id, day=day)
    if device_id:
        other = slot_taken_by(plan, slot, ((t.number, t.issued_device) for t in tickets), device_id)
        if other is not None:
            message = slot_message("taken", slot, lang, plan=plan, device=other)
            raise Conflict(message, code="desk_slot_taken")
    return plan.next_number(slot, [t.number for t in tickets])


# ----------------------------------------------------------------------------------------------- kiosk

KioskVerdict = Literal["ok", "unknown", "cancelled", "other_day", "too_early", "too_late", "no_queue", "done"]


@dataclass(frozen=True)
class KioskDecision:
    """Whether the kiosk may check this appointment in now, and if not, why (a message key and values)."""

    verdict: KioskVerdict
    appointment: Appointment | None = None
    patient: Patient | None = None
    queue: Queue | None = None
    ticket: QueueTicket | None = None  # already checked in: the ticket to reprint
    opens_at: dt.datetime | None = None
    closes_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def kiosk_decision(store: LocalStore, code: str, now: dt.datetime) -> KioskDecision:
    """Decide a kiosk check-in for a typed or scanned appointment number."""
    number = code.strip().upper()
    with store.reading() as view:
        appointment = (
            next((a for a in view.find(Appointment, number=number) if not a.voided), None) if number else None
        )
        if appointment is None:
            return KioskDecision("unknown")
        patient = view.get(Patient, appointment.patient_id)
        if appointment.status in ("cancelled", "no_show"):
            return KioskDecision("cancelled", appointment, patient)
        queue = queue_for_appointment(view, appointment)
        if queue is None:
            return KioskDecision("no_queue", appointment, patient)
        day = local_day(now)
        existing = active_ticket(view, appointment.patient_id, queue.id, day, appointment.id)
        if existing is not None:
            return KioskDecision("done", appointment, patient, queue, existing)
    if local_day(appointment.slot_time) != day:
        return KioskDecision("other_day", appointment, patient, queue)
    opens, closes = check_in_window(queue, appointment)
    if now < opens:
        return KioskDecision("too_early", appointment, patient, queue, opens_at=opens, closes_at=closes)
    if now > closes:
        return KioskDecision("too_late", appointment, patient, queue, opens_at=opens, closes_at=closes)
    return KioskDecision("ok", appointment, patient, queue, opens_at=opens, closes_at=closes)


# ---------------------------------------------------------------------------------------------- display


@dataclass(frozen=True)
class CallEvent:
    """One call or recall recorded on a ticket, as the display shows and says it."""

    ticket_id: str
    event_no: int
    kind: Literal["call", "recall"]
    label: str
    queue_id: str
    room_id: str
    room_name: str
    department: str
    patient_name: str  # full; masked wherever it is shown
    at: dt.datetime
    room_name_en: str = ""
    live: bool = True  # the ticket is still called and this is its latest call (worth saying now)

    @property
    def key(self) -> tuple[str, int]:
        return (self.ticket_id, self.event_no)

    @property
    def masked_name(self) -> str:
        return mask_name(self.patient_name)


@dataclass(frozen=True)
class RoomBoard:
    """A room's line on the display: who is in or called now, and the next few waiting for it."""

    room: Room
    current: str  # ticket label or ""
    current_name: str  # masked
    next_labels: list[str]
    paused: bool


@dataclass(frozen=True)
class DisplaySnapshot:
    day: dt.date
    now: dt.datetime
    calls: list[CallEvent]  # today's calls and recalls, newest first
    rooms: list[RoomBoard]
    skipped: list[str]  # labels
    waiting: dict[str, int]  # queue name -> waiting count
    notices: list[QueueNotice]


def display_snapshot(
    store: LocalStore,
    campus_id: str | None,
    now: dt.datetime,
    codes: Sequence[str] = (),
    *,
    next_count: int = 3,
) -> DisplaySnapshot:
    """What the waiting-room screen shows, from the local store."""
    area = area_snapshot(store, campus_id, now, codes)
    with store.reading() as view:
        departments = view.get_many(Department, sorted({r.department_id for r in area.rooms.values()}))
    calls: list[CallEvent] = []
    boards: list[RoomBoard] = []
    skipped: list[str] = []
    waiting: dict[str, int] = {}
    for summary in area.queues:
        queue, order = summary.queue, summary.order
        waiting[queue.name] = summary.waiting
        for ticket in area.tickets[queue.id]:
            patient = area.patients.get(ticket.patient_id)
            latest = last_call(ticket.events)
            for event in effective_events(ticket.events):
                if event.kind not in ("call", "recall"):
                    continue
                room = area.rooms.get(event.room_id or ticket.room_id or "")
                department = departments.get(room.department_id) if room else None
                calls.append(
                    CallEvent(
                        ticket.id,
                        event.no,
                        event.kind,  # type: ignore[arg-type]
                        ticket.label,
                        queue.id,
                        room.id if room else "",
                        room.name if room else "",
                        department.name if department else "",
                        patient.name if patient else "",
                        event.when,  # when it was called (occurred_at), not when the server heard of it
                        room.name_en if room else "",
                        ticket.status == "called" and latest is not None and latest.no == event.no,
                    )
                )
        skipped += [t.label for t in order.skipped]
        current: dict[str, QueueTicket] = {}
        for ticket in (*order.serving, *order.called):  # newest first within each
            room_id = ticket.called_room_id or ticket.room_id
            if room_id and room_id not in current:
                current[room_id] = ticket
        for room_id in queue.room_ids:
            room = area.rooms.get(room_id)
            if room is None:
                continue
            at_door = [order.place_of(t) for t in order.doors.get(room_id, ())]
            labels = [p.ticket.label for p in at_door if p is not None]
            if len(labels) < next_count:
                labels += [
                    p.ticket.label
                    for p in order.waiting
                    if p.ticket.label not in labels and p.ticket.room_id == room_id
                ][: next_count - len(labels)]
            serving = current.get(room_id)
            patient = area.patients.get(serving.patient_id) if serving else None
            boards.append(
                RoomBoard(
                    room,
                    serving.label if serving else "",
                    mask_name(patient.name) if patient else "",
                    labels[:next_count],
                    room_id in order.paused_rooms,
                )
            )
    calls.sort(key=lambda c: (c.at, c.ticket_id, c.event_no), reverse=True)
    return DisplaySnapshot(area.day, now, calls, boards, skipped, waiting, area.notices)


def department_name(view: LocalView, queue: Queue, room: Room | None = None) -> str | None:
    """The department a queue (or its fixed room) belongs to, for the slip."""
    department_id = queue.department_id or (room.department_id if room else None)
    department = view.get(Department, department_id) if department_id else None
    return department.name if department else None


def hospital_name(store: LocalStore, campus_id: str | None) -> str:
    campus = store.get(Campus, campus_id) if campus_id else None
    if campus is None:
        campuses = store.all(Campus)
        campus = campuses[0] if campuses else None
    return campus.hospital_name if campus else ""


def staff_name(store: LocalStore, staff_id: str) -> str:
    staff = store.get(Staff, staff_id)
    return staff.name if staff else staff_id
