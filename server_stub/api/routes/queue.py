"""``/api/v1/queue``: check-in by appointment and queue status for kiosks, phones and other hospital systems."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select

from server_stub.api.deps import DbDep, LangDep, NotifierDep, SettingsDep, require_roles
from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES
from server_stub.services import push
from server_stub.services.auth import Principal
from server_stub.services.clock import local_today, utcnow
from server_stub.services.entities import ServerState, load_many, to_entity
from server_stub.services.queue_views import QUEUE_ROLES, QueueSummary, listed_queues, queue_summary
from shared.domain.entities import (
    Appointment,
    Department,
    Patient,
    PriorityClass,
    Queue,
    QueueTicket,
    Room,
    Session,
    TicketStatus,
)
from shared.domain.masking import mask_name
from shared.domain.queue_check_in import active_ticket, fixed_room_id, queue_for_appointment
from shared.domain.queue_rules import (
    Place,
    PlaceReason,
    QueueOrder,
    Stream,
    check_in_window,
    order_for,
)
from shared.domain.queue_states import ACTIVE
from shared.errors import BusinessRuleViolation, NotFound, PermissionDenied
from shared.i18n import register, tr
from shared.ids import new_id
from shared.protocol.models import ErrorBody

router = APIRouter(prefix="/queue", tags=["queue"])

QueueUserDep = Annotated[Principal, Depends(require_roles(*sorted(QUEUE_ROLES)))]

_errors: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    422: {"model": ErrorBody},
}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckInRequest(_Wire):
    """A check-in by appointment number (kiosk scan, phone app, another hospital system)."""

    appointment_number: str = Field(min_length=1, max_length=32, examples=["YY202611220001"])
    queue_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="Override the queue chosen for the appointment"
    )
    within_window: bool = Field(
        default=False,
        description=(
            "Self check-in (phone, other systems; a kiosk account is always held to the window, whatever "
            "it sends): refuse with 422 `outside_check_in_window` unless now is within "
            "the check-in window around the slot (from max(60, early_minutes) minutes before it to "
            "late_minutes after it); detail gives slot_time, opens_at, closes_at and verdict "
            "(too_early | too_late)"
        ),
    )


class TicketStatusView(_Wire):
    """Where a ticket stands: how many wait before it and which room it goes to."""

    ticket_id: str
    queue_id: str
    queue_name: str
    label: str
    number: int
    day: dt.date
    session: Session
    status: TicketStatus
    ahead: int | None = Field(description="Tickets to be called before this one (only while waiting)")
    room_id: str | None = Field(description="The room it waits for or was called to")
    room_name: str | None
    priority: PriorityClass


class CheckInResponse(TicketStatusView):
    already_checked_in: bool = False
    warnings: list[str] = Field(default_factory=list)
    department_name: str | None = Field(default=None, description="For the slip")
    fixed_room_name: str | None = Field(
        default=None,
        description="The room the ticket is bound to (a doctor-specific appointment's); the only room a slip prints",
    )


class QueueEntry(_Wire):
    ticket_id: str
    label: str
    patient_name: str = Field(description="Masked (张*三)")
    status: TicketStatus
    priority: PriorityClass
    ahead: int | None = None
    stream: Stream | None = None
    reason: PlaceReason | None = None
    room_id: str | None = None


class QueueListing(_Wire):
    queue: QueueSummary
    day: dt.date
    generated_at: dt.datetime
    waiting: list[QueueEntry]
    doors: dict[str, list[str]] = Field(description="Room id -> labels waiting at its door (second queue)")
    called: list[QueueEntry]
    serving: list[QueueEntry]
    skipped: list[QueueEntry]


# ------------------------------------------------------------------------------------------ reading


def _rows(conn: Connection, kind: type[Any], **equals: Any) -> list[Any]:
    table = ENTITY_TABLES[kind.KIND]
    query = select(table)
    for column, value in equals.items():
        query = query.where(table.c[column] == value)
    return [to_entity(kind, row) for row in conn.execute(query.order_by(table.c.id))]


def _queue(conn: Connection, queue_id: str, principal: Principal, lang: str) -> Queue:
    found = _rows(conn, Queue, id=queue_id)
    if not found or found[0].voided:
        raise NotFound(tr("queue.not_found", lang, id=queue_id))
    queue: Queue = found[0]
    _check_campus(queue.campus_id, principal, lang)
    return queue


def _check_campus(campus_id: str, principal: Principal, lang: str) -> None:
    if "admin" in principal.roles or principal.campus_id is None or principal.campus_id == campus_id:
        return
    raise PermissionDenied(tr("queue.other_campus", lang))


def _order(conn: Connection, queue: Queue, day: dt.date) -> tuple[QueueOrder, list[QueueTicket]]:
    tickets: list[QueueTicket] = _rows(conn, QueueTicket, queue_id=queue.id, day=day)
    return order_for(queue, tickets, utcnow()), tickets


def _room_names(conn: Connection, ids: set[str]) -> dict[str, str]:
    rooms = load_many(conn, "room", sorted(ids))
    return {rid: room.name for rid, room in rooms.items() if isinstance(room, Room)}


def _status_view(conn: Connection, queue: Queue, ticket: QueueTicket, order: QueueOrder) -> TicketStatusView:
    place = order.place_of(ticket.id)
    room_id = (place.door if place else None) or ticket.called_room_id or ticket.room_id
    names = _room_names(conn, {room_id}) if room_id else {}
    return TicketStatusView(
        ticket_id=ticket.id,
        queue_id=queue.id,
        queue_name=queue.name,
        label=ticket.label,
        number=ticket.number,
        day=ticket.day,
        session=ticket.session,
        status=ticket.status,
        ahead=place.ahead if place else None,
        room_id=room_id,
        room_name=names.get(room_id) if room_id else None,
        priority=ticket.priority,
    )


def _entries(conn: Connection, items: list[tuple[QueueTicket, Place | None]]) -> list[QueueEntry]:
    patients = load_many(conn, "patient", sorted({t.patient_id for t, _ in items}))
    out = []
    for ticket, place in items:
        patient = patients.get(ticket.patient_id)
        out.append(
            QueueEntry(
                ticket_id=ticket.id,
                label=ticket.label,
                patient_name=mask_name(patient.name) if isinstance(patient, Patient) else "",
                status=ticket.status,
                priority=ticket.priority,
                ahead=place.ahead if place else None,
                stream=place.stream if place else None,
                reason=place.reason if place else None,
                room_id=(place.door if place else None) or ticket.called_room_id or ticket.room_id,
            )
        )
    return out


def _queue_for_appointment(conn: Connection, appointment: Appointment, lang: str) -> Queue:
    """The appointment's queue by the rule the kiosk and the desk use (``queue_check_in``)."""
    queue = queue_for_appointment(ServerState(conn), appointment)
    if queue is None:
        raise BusinessRuleViolation(tr("queue.no_queue_for_appointment", lang), code="no_queue")
    return queue


def _find_appointment(db: Database, number: str, principal: Principal, lang: str) -> Appointment:
    with db.read() as conn:
        found = _rows(conn, Appointment, number=number)
    if not found or found[0].voided:
        raise NotFound(tr("queue.appointment_unknown", lang, number=number), code="appointment_not_found")
    appointment: Appointment = found[0]
    _check_campus(appointment.campus_id, principal, lang)
    return appointment


# ------------------------------------------------------------------------------------------- routes


@router.get("", response_model=list[QueueSummary], responses=_errors)
def list_queues(principal: QueueUserDep, db: DbDep) -> list[QueueSummary]:
    """The queues of the caller's campus (every campus for an account without one)."""
    with db.read() as conn:
        filters = {"campus_id": principal.campus_id} if principal.campus_id else {}
        queues: list[Queue] = _rows(conn, Queue, **filters)
    return listed_queues(queues, principal.campus_id or None)


@router.post("/check-in", response_model=CheckInResponse, responses=_errors)
def check_in(
    body: CheckInRequest,
    principal: QueueUserDep,
    db: DbDep,
    settings: SettingsDep,
    notifier: NotifierDep,
    lang: LangDep,
) -> CheckInResponse:
    """Check a patient in by appointment number (kiosks, phones, other systems). Runs the same
    ``queue.check_in`` rules as a desk; the number comes from the server's slot. Asking again for an
    appointment already in a queue returns that ticket with ``already_checked_in`` (safe to retry)."""
    appointment = _find_appointment(db, body.appointment_number, principal, lang)
    with db.read() as conn:
        if body.queue_id:
            queue = _queue(conn, body.queue_id, principal, lang)
        else:
            queue = _queue_for_appointment(conn, appointment, lang)
    day = local_today(settings.timezone)
    existing = _active_ticket(db, appointment, queue, day)
    warnings: list[str] = []
    if existing is not None:
        ticket_id = existing.id  # a repeat scan reprints whatever the time
    else:
        if body.within_window or "kiosk" in principal.roles:  # a kiosk is always held to the window
            _refuse_outside_window(queue, appointment, settings.timezone, lang)
        outcome = push.apply_direct(
            db,
            name="queue.check_in",
            args={
                "id": new_id(),
                "queue_id": queue.id,
                "patient_id": appointment.patient_id,
                "appointment_id": appointment.id,
                "day": day.isoformat(),
            },
            principal=principal,
            timezone=settings.timezone,
            lang=lang,
        )
        if outcome.status == "rejected":
            # a retry that raced with its own first attempt finds the ticket that attempt made
            existing = (
                _active_ticket(db, appointment, queue, day) if outcome.code == "already_checked_in" else None
            )
            if existing is None:
                raise BusinessRuleViolation(
                    outcome.message or "", code=outcome.code or "rejected", detail=outcome.detail
                )
            ticket_id = existing.id
        else:
            if outcome.seq:
                notifier.publish(outcome.seq)
            warnings = outcome.warnings
            ticket_id = str(outcome.result["ticket_id"])
    with db.read() as conn:
        ticket = _rows(conn, QueueTicket, id=ticket_id)[0]
        queue = _rows(conn, Queue, id=ticket.queue_id)[0]
        order, _ = _order(conn, queue, ticket.day)
        view = _status_view(conn, queue, ticket, order)
        fixed = fixed_room_id(ticket)
        state = ServerState(conn)
        room = state.get(Room, fixed) if fixed else None
        department_id = queue.department_id or (room.department_id if room else None)
        department = state.get(Department, department_id) if department_id else None
    return CheckInResponse(
        **view.model_dump(),
        already_checked_in=existing is not None,
        warnings=warnings,
        department_name=department.name if department else None,
        fixed_room_name=room.name if room else None,
    )


def _refuse_outside_window(queue: Queue, appointment: Appointment, timezone: str, lang: str) -> None:
    """Raise ``outside_check_in_window`` when a self check-in comes before or after its window."""
    opens, closes = check_in_window(queue, appointment)
    now = utcnow()
    if opens <= now <= closes:
        return
    zone = ZoneInfo(timezone)

    def hhmm(moment: dt.datetime) -> str:
        return moment.astimezone(zone).strftime("%H:%M")

    verdict = "too_early" if now < opens else "too_late"
    raise BusinessRuleViolation(
        tr(
            f"queue.check_in_{verdict}",
            lang,
            slot=hhmm(appointment.slot_time),
            opens=hhmm(opens),
            closes=hhmm(closes),
        ),
        code="outside_check_in_window",
        detail={
            "slot_time": appointment.slot_time.isoformat(),
            "opens_at": opens.isoformat(),
            "closes_at": closes.isoformat(),
            "verdict": verdict,
        },
    )


def _active_ticket(db: Database, appointment: Appointment, queue: Queue, day: dt.date) -> QueueTicket | None:
    """The patient's ticket still in play for this queue or this appointment ("already checked in",
    the rule ``queue.check_in`` applies)."""
    with db.read() as conn:
        return active_ticket(
            ServerState(conn),
            patient_id=appointment.patient_id,
            queue_id=queue.id,
            day=day,
            appointment_id=appointment.id,
        )


@router.get("/{queue_id}/status", response_model=TicketStatusView, responses=_errors)
def ticket_status(
    queue_id: str,
    principal: QueueUserDep,
    db: DbDep,
    settings: SettingsDep,
    lang: LangDep,
    ticket: Annotated[
        str | None, Query(max_length=64, description="Ticket id or its label (A023) for today")
    ] = None,
    appointment: Annotated[str | None, Query(max_length=32, description="Appointment number")] = None,
) -> TicketStatusView:
    """How many wait before a ticket and which room it goes to, by ticket id, label or appointment."""
    if not ticket and not appointment:
        raise BusinessRuleViolation(tr("queue.status_needs_ticket", lang), code="invalid_input")
    with db.read() as conn:
        queue = _queue(conn, queue_id, principal, lang)
        today = local_today(settings.timezone)
        found: list[QueueTicket] = []
        if ticket:
            found = [t for t in _rows(conn, QueueTicket, id=ticket) if t.queue_id == queue.id]
            if not found:
                found = [
                    t for t in _rows(conn, QueueTicket, queue_id=queue.id, day=today) if t.label == ticket
                ]
        elif appointment:
            for appt in _rows(conn, Appointment, number=appointment):
                found = [
                    t for t in _rows(conn, QueueTicket, appointment_id=appt.id) if t.queue_id == queue.id
                ]
        if not found:
            raise NotFound(
                tr("queue.ticket_unknown", lang, ticket=ticket or appointment), code="ticket_not_found"
            )
        chosen = max(found, key=lambda t: (t.status in ACTIVE, t.day, t.checked_in_at))
        order, _ = _order(conn, queue, chosen.day)
        return _status_view(conn, queue, chosen, order)


@router.get("/{queue_id}", response_model=QueueListing, responses=_errors)
def list_queue(
    queue_id: str,
    principal: QueueUserDep,
    db: DbDep,
    settings: SettingsDep,
    lang: LangDep,
    day: Annotated[dt.date | None, Query(description="Defaults to today in the hospital's time zone")] = None,
) -> QueueListing:
    """A queue in call order (names masked), with the door queues, called, in-consultation and skipped."""
    with db.read() as conn:
        queue = _queue(conn, queue_id, principal, lang)
        chosen_day = day or local_today(settings.timezone)
        order, tickets = _order(conn, queue, chosen_day)
        by_id = {t.id: t for t in tickets}
        waiting = _entries(conn, [(p.ticket, p) for p in order.waiting])
        called = _entries(conn, [(t, None) for t in order.called])
        serving = _entries(conn, [(t, None) for t in order.serving])
        skipped = _entries(conn, [(t, None) for t in order.skipped])
    return QueueListing(
        queue=queue_summary(queue),
        day=chosen_day,
        generated_at=utcnow(),
        waiting=waiting,
        doors={room: [by_id[t].label for t in line] for room, line in order.doors.items()},
        called=called,
        serving=serving,
        skipped=skipped,
    )


_MESSAGES: dict[str, tuple[str, str, str]] = {
    "queue.appointment_unknown": (
        "找不到预约号：{number}",
        "No appointment numbered {number}",
        "找不到預約號：{number}",
    ),
    "queue.no_queue_for_appointment": (
        "该预约没有对应的候诊队列，请到分诊台签到",
        "No queue serves this appointment; please check in at the triage desk",
        "該預約沒有對應的候診隊列，請到分診台簽到",
    ),
    "queue.check_in_too_early": (
        "还未到签到时间：预约 {slot}，{opens} 起可签到",
        "Too early to check in: the appointment is at {slot}; check-in opens at {opens}",
        "還未到簽到時間：預約 {slot}，{opens} 起可簽到",
    ),
    "queue.check_in_too_late": (
        "已过签到时间（预约 {slot}，签到截止 {closes}），请到分诊台办理",
        "Too late to check in here (appointment {slot}, check-in closed at {closes}); please see the triage desk",
        "已過簽到時間（預約 {slot}，簽到截止 {closes}），請到分診台辦理",
    ),
    "queue.other_campus": (
        "不能查看其他院区的队列",
        "That queue belongs to another campus",
        "不能查看其他院區的隊列",
    ),
    "queue.status_needs_ticket": (
        "请提供排队号或预约号",
        "Give a ticket (id or number) or an appointment number",
        "請提供排隊號或預約號",
    ),
    "queue.ticket_unknown": (
        "找不到排队号：{ticket}",
        "No such ticket in this queue: {ticket}",
        "找不到排隊號：{ticket}",
    ),
}
for _key, (_zh, _en, _tw) in _MESSAGES.items():
    register(_key, {"zh_CN": _zh, "en": _en, "zh_TW": _tw})
