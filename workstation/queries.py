"""What the doctor's screens read from the local store, as plain values (run on the DB thread).

Every function takes the ``LocalStore`` first and returns frozen dataclasses or entity lists, so a screen
gets everything for one redraw from one op and never touches the store itself.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from shared.domain.entities import (
    Appointment,
    ClinicalOrder,
    Department,
    Diagnosis,
    Drug,
    EmrNote,
    ExamItem,
    Frequency,
    NoteTemplate,
    OrderSet,
    Patient,
    Pharmacy,
    Prescription,
    Queue,
    QueueTicket,
    Room,
    Route,
    RxRuleSet,
    Schedule,
    SigningKey,
    Staff,
    StockBatch,
    Visit,
)
from shared.domain.queue_rules import PassReason, QueueOrder, order_for
from shared.domain.rx_rule_sets import rules_at
from shared.domain.rx_rules import RuleTable
from shared.domain.search_keys import normalize_query, pinyin_initials


@dataclass(frozen=True)
class TicketRow:
    """One line of the waiting or seen list."""

    ticket: QueueTicket
    queue: Queue
    patient_name: str
    sex: str
    birth_date: dt.date | None
    room_name: str
    ahead: int | None  # place in the waiting order (0 = next); None for seen tickets
    waited_minutes: int
    pre_consult: str = ""
    door: str | None = None  # room whose door the ticket waits at (second queue)
    klass: str = "normal"  # the effective priority class in the order (elderly by age too)


@dataclass(frozen=True)
class DayView:
    """The doctor's day: rooms, waiting and seen tickets of the queues those rooms serve."""

    staff: Staff | None
    campus_id: str | None
    rooms: list[Room]
    queues: list[Queue]
    waiting: list[TicketRow]
    seen: list[TicketRow]
    schedules: list[Schedule]
    room_next: dict[str, str] = field(default_factory=dict)  # room id -> ticket id to call next
    department_name: str = ""
    # other rooms of the department at this campus: a doctor standing in for a colleague may choose one
    other_rooms: list[Room] = field(default_factory=list)
    orders: dict[str, QueueOrder] = field(default_factory=dict)  # queue id -> its order (why F5 passes)
    room_names: dict[str, str] = field(default_factory=dict)  # every room of the queues shown
    duty: dict[str, str] = field(default_factory=dict)  # room id -> doctor at work there today
    staff_names: dict[str, str] = field(default_factory=dict)  # those doctors' names
    stand_in: str = ""  # the chosen room when it is not one of the doctor's own (standing in)

    def passed_over(self, room_id: str, row: TicketRow) -> PassReason | None:
        """Why F5 in ``room_id`` does not call ``row``: see ``QueueOrder.passed_over``; ``other_queue``
        when the room does not serve the row's queue."""
        order = self.orders.get(row.queue.id)
        if order is None:
            return None
        if (
            row.queue.room_ids
            and room_id not in row.queue.room_ids
            and row.queue.doctor_id != (self.staff.id if self.staff else None)
        ):
            return "other_queue"
        return order.passed_over(room_id, row.ticket.id)


def _minutes(since: dt.datetime, now: dt.datetime) -> int:
    return max(int((now - since).total_seconds() // 60), 0)


def my_rooms(
    store: Any, staff: Staff, campus_id: str | None, today: dt.date, configured: Iterable[str] = ()
) -> tuple[list[Room], list[Schedule]]:
    """The rooms the doctor works in today at the campus chosen at login: this PC's configured rooms
    (codes) first, else today's schedules of the doctor there, else the first room of the doctor's
    department at that campus (the department of the same name when the doctor's home department
    belongs to another campus of the hospital)."""
    campus = campus_id or staff.campus_id

    def here(room: Room | None) -> bool:
        return room is not None and not room.voided and (campus is None or room.campus_id == campus)

    with store.reading() as view:
        schedules = [
            s
            for s in view.find(Schedule, doctor_id=staff.id, date=today)
            if not s.voided and (campus is None or s.campus_id == campus)
        ]
        codes = [c for c in configured if c]
        rooms: list[Room] = []
        if codes:
            for code in codes:
                rooms += [r for r in view.find(Room, code=code) if here(r)]
        if not rooms:
            seen: set[str] = set()
            for schedule in sorted(schedules, key=lambda s: s.start_time):
                if schedule.room_id not in seen:
                    room = view.get(Room, schedule.room_id)
                    if here(room):
                        assert room is not None
                        rooms.append(room)
                        seen.add(room.id)
        if not rooms and staff.department_id:
            department_id: str | None = staff.department_id
            home = view.get(Department, staff.department_id)
            if home is not None and campus is not None and home.campus_id != campus:
                same = [
                    d for d in view.find(Department, campus_id=campus) if not d.voided and d.name == home.name
                ]
                department_id = same[0].id if same else None
            if department_id:
                rooms = sorted(
                    (r for r in view.find(Room, department_id=department_id) if here(r)),
                    key=lambda r: r.code,
                )[:1]
    return rooms, schedules


def department_rooms(view: Any, department_ids: Iterable[str], campus: str | None) -> list[Room]:
    """The rooms of these departments at the campus, by code (a stand-in doctor chooses among them)."""
    rooms: list[Room] = []
    for department_id in dict.fromkeys(department_ids):
        rooms += [
            r
            for r in view.find(Room, department_id=department_id)
            if not r.voided and (campus is None or r.campus_id == campus)
        ]
    return sorted(rooms, key=lambda r: r.code)


def day_view(
    store: Any,
    *,
    staff: Staff | None,
    campus_id: str | None,
    today: dt.date,
    now: dt.datetime,
    configured_rooms: Iterable[str] = (),
    chosen_room: str = "",
) -> DayView:
    """The doctor's day. ``chosen_room``: the room the doctor works in now; a room of the department
    that is not one of the doctor's own (standing in for a colleague) joins the day's rooms."""
    if staff is None:
        return DayView(None, campus_id, [], [], [], [], [])
    rooms, schedules = my_rooms(store, staff, campus_id, today, configured_rooms)
    with store.reading() as view:
        campus = campus_id or staff.campus_id
        home = [staff.department_id] if staff.department_id else []
        department = department_rooms(view, [*(r.department_id for r in rooms), *home], campus)
        own = {r.id for r in rooms}
        chosen = next((r for r in department if r.id == chosen_room), None)
        stand_in = ""
        if chosen is not None and chosen.id not in own:
            rooms, stand_in = [*rooms, chosen], chosen.id
        room_ids = {r.id for r in rooms}
        other_rooms = [r for r in department if r.id not in room_ids]
        queues = [
            q
            for q in (view.find(Queue, campus_id=campus) if campus else view.all(Queue))
            if not q.voided and q.active and (room_ids.intersection(q.room_ids) or q.doctor_id == staff.id)
        ]
        home_department = view.get(Department, staff.department_id) if staff.department_id else None
        known = {r.id: r for r in [*rooms, *department]}
        for room_id in {r for q in queues for r in q.room_ids} - set(known):
            room = view.get(Room, room_id)
            if room is not None:
                known[room.id] = room
        room_names = {r.id: r.name for r in known.values()}
        waiting: list[TicketRow] = []
        seen: list[TicketRow] = []
        room_next: dict[str, str] = {}
        orders: dict[str, QueueOrder] = {}
        duty: dict[str, str] = {}
        patients: dict[str, Patient | None] = {}
        for queue in queues:
            tickets = [t for t in view.find(QueueTicket, queue_id=queue.id, day=today) if not t.voided]
            for ticket in tickets:
                if ticket.patient_id not in patients:
                    patients[ticket.patient_id] = view.get(Patient, ticket.patient_id)
            order = order_for(queue, tickets, now)
            orders[queue.id] = order
            for room_id in order.working or ():
                duty.setdefault(room_id, queue.staffed_rooms[room_id].doctor_id)
            for room in rooms:
                if room.id in queue.room_ids or queue.doctor_id == staff.id:
                    place = order.next_for_room(room.id)
                    if place is not None and room.id not in room_next:
                        room_next[room.id] = place.ticket.id
            for place in order.waiting:
                ticket = place.ticket
                if ticket.room_id and ticket.room_id not in room_ids:
                    continue  # bound to a colleague's room
                row = _row(view, ticket, queue, patients, room_names, place.ahead, now, place.door)
                waiting.append(replace(row, klass=place.klass))
            for ticket in tickets:
                if ticket.status == "waiting":
                    continue
                mine = (
                    ticket.called_room_id in room_ids
                    or (ticket.status == "skipped" and (ticket.room_id in room_ids or not ticket.room_id))
                    or any(e.by == staff.id for e in ticket.events)
                )
                if mine:
                    seen.append(_row(view, ticket, queue, patients, room_names, None, now, None))
        staff_names: dict[str, str] = {}
        for doctor_id in set(duty.values()):
            doctor = view.get(Staff, doctor_id)
            staff_names[doctor_id] = doctor.name if doctor else doctor_id
    order_rank = {"in_consultation": 0, "called": 1, "skipped": 2, "done": 3}
    seen.sort(
        key=lambda r: (
            order_rank.get(r.ticket.status, 4),
            -(r.ticket.events[-1].when.timestamp() if r.ticket.events else 0),
        )
    )
    return DayView(
        staff,
        campus_id,
        rooms,
        queues,
        waiting,
        seen,
        schedules,
        room_next,
        home_department.name if home_department else "",
        other_rooms,
        orders,
        room_names,
        duty,
        staff_names,
        stand_in,
    )


def _row(
    view: Any,
    ticket: QueueTicket,
    queue: Queue,
    patients: dict[str, Patient | None],
    room_names: dict[str, str],
    ahead: int | None,
    now: dt.datetime,
    door: str | None,
) -> TicketRow:
    patient = patients.get(ticket.patient_id)
    pre = ""
    if ticket.appointment_id:
        appointment = view.get(Appointment, ticket.appointment_id)
        pre = appointment.pre_consult_text if appointment else ""
    room_id = ticket.called_room_id or ticket.room_id or door
    return TicketRow(
        ticket=ticket,
        queue=queue,
        patient_name=patient.name if patient else "?",
        sex=patient.sex if patient else "U",
        birth_date=patient.birth_date if patient else ticket.birth_date,
        room_name=room_names.get(room_id or "", ""),
        ahead=ahead,
        waited_minutes=_minutes(ticket.checked_in_at, now),
        pre_consult=pre,
        door=door,
    )


# ------------------------------------------------------------------------------------------ consult


@dataclass(frozen=True)
class HistoryEntry:
    """One past visit with what the local cache knows of it."""

    visit: Visit
    department: str
    doctor: str
    notes: list[EmrNote]
    prescriptions: list[Prescription]
    orders: list[ClinicalOrder]


@dataclass(frozen=True)
class ConsultData:
    """Everything the consult screen shows for one visit."""

    patient: Patient
    visit: Visit
    ticket: QueueTicket | None
    appointment: Appointment | None
    note: EmrNote | None
    orders: list[ClinicalOrder]
    prescriptions: list[Prescription]
    history: list[HistoryEntry]
    department_name: str


def consult_data(store: Any, visit_id: str, ticket_id: str | None = None) -> ConsultData | None:
    with store.reading() as view:
        visit = view.get(Visit, visit_id)
        if visit is None:
            return None
        patient = view.get(Patient, visit.patient_id)
        if patient is None:
            return None
        ticket = view.get(QueueTicket, ticket_id) if ticket_id else None
        if ticket is None:  # opened from a notice or the history: the visit's own ticket, if any
            tickets = [
                t for t in view.find(QueueTicket, patient_id=visit.patient_id) if t.visit_id == visit.id
            ]
            ticket = max(tickets, key=lambda t: t.checked_in_at) if tickets else None
        appointment = view.get(Appointment, visit.appointment_id) if visit.appointment_id else None
        notes = [n for n in view.find(EmrNote, visit_id=visit.id) if not n.voided]
        live = [n for n in notes if n.status != "superseded"]
        note = max(live, key=lambda n: n.created_at) if live else None
        orders = sorted(
            (o for o in view.find(ClinicalOrder, visit_id=visit.id) if not o.voided),
            key=lambda o: o.ordered_at,
        )
        prescriptions = sorted(
            (r for r in view.find(Prescription, visit_id=visit.id) if not r.voided),
            key=lambda r: r.written_at,
        )
        history = patient_history(view, patient.id, exclude_visit=visit.id)
        department = view.get(Department, visit.department_id)
    return ConsultData(
        patient,
        visit,
        ticket,
        appointment,
        note,
        orders,
        prescriptions,
        history,
        department.name if department else "",
    )


def patient_history(view: Any, patient_id: str, *, exclude_visit: str | None = None) -> list[HistoryEntry]:
    """Past visits of the patient, newest first, with notes, prescriptions and orders in the cache."""
    notes: dict[str, list[EmrNote]] = defaultdict(list)
    for note in view.find(EmrNote, patient_id=patient_id):
        if not note.voided:
            notes[note.visit_id].append(note)
    rxs: dict[str, list[Prescription]] = defaultdict(list)
    for rx in view.find(Prescription, patient_id=patient_id):
        if not rx.voided:
            rxs[rx.visit_id or ""].append(rx)
    orders: dict[str, list[ClinicalOrder]] = defaultdict(list)
    for order in view.find(ClinicalOrder, patient_id=patient_id):
        if not order.voided:
            orders[order.visit_id].append(order)
    entries: list[HistoryEntry] = []
    names: dict[str, str] = {}

    def name_of(kind: type[Department] | type[Staff], entity_id: str | None) -> str:
        if not entity_id:
            return ""
        if entity_id not in names:
            row = view.get(kind, entity_id)
            names[entity_id] = row.name if row else ""
        return names[entity_id]

    for visit in view.find(Visit, patient_id=patient_id):
        if visit.voided or visit.id == exclude_visit:
            continue
        entries.append(
            HistoryEntry(
                visit,
                name_of(Department, visit.department_id),
                name_of(Staff, visit.doctor_id),
                sorted(notes.get(visit.id, []), key=lambda n: n.created_at),
                sorted(rxs.get(visit.id, []), key=lambda r: r.written_at),
                sorted(orders.get(visit.id, []), key=lambda o: o.ordered_at),
            )
        )
    entries.sort(key=lambda e: e.visit.opened_at, reverse=True)
    return entries


# ------------------------------------------------------------------------------------- prescribing


@dataclass(frozen=True)
class Formulary:
    """Reference data the prescribing screen needs, loaded once per session and after a sync."""

    frequencies: dict[str, Frequency]
    routes: dict[str, Route]
    pharmacy: Pharmacy | None
    exam_items: list[ExamItem]
    # the dated prescription rule tables (``rx_rule_sets.rules_at`` picks the one of a written time)
    rule_sets: tuple[RxRuleSet, ...] = ()

    def rules_at(self, moment: dt.datetime) -> RuleTable:
        return rules_at(self.rule_sets, moment)


def formulary(store: Any, campus_id: str | None, pharmacy_code: str = "") -> Formulary:
    with store.reading() as view:
        frequencies = {f.code: f for f in view.all(Frequency)}
        routes = {r.code: r for r in view.all(Route)}
        pharmacy = doctors_pharmacy(view, campus_id, pharmacy_code)
        items = sorted(view.all(ExamItem), key=lambda i: (i.kind, i.code))
        rule_sets = tuple(view.all(RxRuleSet))
    return Formulary(frequencies, routes, pharmacy, items, rule_sets)


def doctors_pharmacy(view: Any, campus_id: str | None, code: str = "") -> Pharmacy | None:
    """The pharmacy this PC's prescriptions go to: the configured code, else the campus's outpatient one."""
    if code:
        found = [p for p in view.find(Pharmacy, code=code) if not p.voided]
        if found:
            return found[0]
    candidates = [p for p in view.all(Pharmacy) if campus_id is None or p.campus_id == campus_id]
    candidates.sort(key=lambda p: (p.kind != "outpatient", p.code))
    return candidates[0] if candidates else None


def stock_by_drug(store: Any, pharmacy_id: str | None, today: dt.date) -> dict[str, int]:
    """Minimum units on hand per drug in the pharmacy (unexpired batches, negatives count as 0)."""
    if not pharmacy_id:
        return {}
    totals: dict[str, int] = defaultdict(int)
    with store.reading() as view:
        for batch in view.find(StockBatch, pharmacy_id=pharmacy_id):
            if batch.voided or batch.expiry < today:
                continue
            totals[batch.drug_id] += max(batch.quantity, 0)
    return dict(totals)


@dataclass(frozen=True)
class DrugHit:
    drug: Drug
    stock_units: int | None  # None: no stock known (no pharmacy data on this PC)


def search_drugs(
    store: Any, text: str, stock: dict[str, int] | None, limit: int = 30, *, usage: Any = None
) -> list[DrugHit]:
    """Drugs matching ``text``; with ``usage`` (``store.search_usage``) the doctor's and department's
    most prescribed first after exact matches."""
    drugs = store.search_drugs(text, limit, usage=usage) if text.strip() else []
    return [DrugHit(d, None if stock is None else stock.get(d.id, 0)) for d in drugs]


def search_diagnoses(store: Any, text: str, limit: int = 30, *, usage: Any = None) -> list[Diagnosis]:
    return store.search_diagnoses(text, limit, usage=usage) if text.strip() else []


def filter_exam_items(items: Iterable[ExamItem], text: str, kind: str | None = None) -> list[ExamItem]:
    """Exam items matching a code, Chinese, English or pinyin-initials fragment (pure)."""
    q = normalize_query(text)
    out = []
    for item in items:
        if item.voided or (kind and item.kind != kind):
            continue
        if not q:
            out.append(item)
            continue
        keys = (
            item.code.lower(),
            item.name_zh.lower(),
            item.name_en.lower(),
            (item.pinyin or pinyin_initials(item.name_zh)).lower(),
        )
        if any(q in key for key in keys):
            out.append(item)
    return out


def previous_prescriptions(
    store: Any, patient_id: str, *, exclude_visit: str | None = None
) -> list[Prescription]:
    """The patient's earlier prescriptions (for renewal), newest first, cancelled ones left out."""
    rows = [
        r
        for r in store.find(Prescription, patient_id=patient_id)
        if not r.voided and r.status != "cancelled" and r.visit_id != exclude_visit
    ]
    return sorted(rows, key=lambda r: r.written_at, reverse=True)


def templates_for(store: Any, staff: Staff) -> list[NoteTemplate]:
    """The doctor's personal templates and the department's, by name."""
    with store.reading() as view:
        rows = [t for t in view.find(NoteTemplate, owner_id=staff.id) if not t.voided]
        if staff.department_id:
            rows += [
                t
                for t in view.find(NoteTemplate, department_id=staff.department_id)
                if not t.voided and t.scope == "department"
            ]
    return sorted({t.id: t for t in rows}.values(), key=lambda t: (t.scope != "personal", t.name))


def order_sets_for(store: Any, staff: Staff) -> list[OrderSet]:
    with store.reading() as view:
        rows = [o for o in view.find(OrderSet, owner_id=staff.id) if not o.voided]
        if staff.department_id:
            rows += [
                o
                for o in view.find(OrderSet, department_id=staff.department_id)
                if not o.voided and o.scope == "department"
            ]
    return sorted({o.id: o for o in rows}.values(), key=lambda o: (o.scope != "personal", o.name))


def my_rejected(store: Any, staff_id: str) -> list[Prescription]:
    """The doctor's prescriptions a pharmacist rejected and that wait for an amendment."""
    rows = [r for r in store.find(Prescription, doctor_id=staff_id, status="rejected") if not r.voided]
    return sorted(rows, key=lambda r: r.reviewed_at or r.written_at, reverse=True)


def active_key_row(store: Any, staff_id: str, public_key: str | None = None) -> SigningKey | None:
    """The doctor's registered, unrevoked key row (the one matching ``public_key`` when given)."""
    rows = [
        r
        for r in store.find(SigningKey, staff_id=staff_id)
        if not r.voided and r.revoked_at is None and (public_key is None or r.public_key == public_key)
    ]
    return max(rows, key=lambda r: r.registered_at) if rows else None
