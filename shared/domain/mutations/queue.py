"""Queue mutations: every step of a ticket (check in … finish, undo) is an event appended to the ticket.

Besides the steps in DESIGN.md (``queue.check_in``, ``call``, ``recall``, ``skip``, ``return``, ``start``,
``finish``, ``transfer``, ``cancel``) there are the nurse's tools: ``queue.set_priority`` (with a reason),
``queue.reorder`` (before/after another ticket), ``queue.undo``, ``queue.pause_room`` and the screen notices
``queue.notice`` / ``queue.notice_withdraw``. A second call of a called ticket is recorded and answered
with a warning naming the earlier caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal

from pydantic import Field, model_validator

from shared.domain.entities import (
    Appointment,
    Patient,
    PriorityClass,
    Queue,
    QueueNotice,
    QueueTicket,
    Role,
    Room,
    RoomDuty,
    Schedule,
    Session,
    Staff,
    TicketEvent,
    TicketEventKind,
    Visit,
)
from shared.domain.event_time import step_time
from shared.domain.mutations.base import (
    CampusOf,
    Effect,
    Id,
    InHandler,
    MutationArgs,
    MutationContext,
    OptionalId,
    Rejected,
    Shared,
    StateReader,
    declare_claims,
    mutation,
    next_version,
)
from shared.domain.queue_check_in import active_ticket
from shared.domain.queue_numbers import (
    SERVER_SLOT,
    NumberingPlan,
    counter_name,
    desk_slot_problem,
    number_key,
    ticket_label,
)
from shared.domain.queue_rules import RuleSet, clinic_day, clinic_zone, order_for, rules_for
from shared.domain.queue_states import (
    UNDOABLE,
    allowed,
    effective_events,
    fold_status,
    last_call,
    last_undoable,
    undone_numbers,
)
from shared.i18n import register

Note = Field(default="", max_length=500)
CLOCK_SKEW = dt.timedelta(minutes=5)

STAFF_ROLES: tuple[Role, ...] = ("nurse", "doctor")  # IT (admin) posts notices but runs no patient's ticket
CHECK_IN_ROLES: tuple[Role, ...] = ("nurse", "doctor", "kiosk")


# ---------------------------------------------------------------------------------------------- args


class CheckIn(MutationArgs):
    """Put a patient in a queue. Desks pass ``number`` from their own slot (``queue_numbers``) and the
    time they recorded; without ``number`` the server's slot is used (kiosks, phones, other systems)."""

    id: str = Id
    queue_id: str = Id
    patient_id: str = Id
    appointment_id: str | None = OptionalId
    visit_id: str | None = OptionalId
    room_id: str | None = OptionalId
    day: dt.date | None = None
    session: Session | None = None
    number: int | None = Field(default=None, ge=1, le=999_999)
    checked_in_at: dt.datetime | None = None
    priority: PriorityClass = "normal"
    priority_reason: str = Field(default="", max_length=200)
    note: str = Note


class TicketStep(MutationArgs):
    ticket_id: str = Id
    note: str = Note


class RoomStep(TicketStep):
    # the room that calls or receives the patient (a nurse may call on behalf of a room)
    room_id: str | None = OptionalId


class Start(RoomStep):
    visit_id: str | None = OptionalId


class Return(TicketStep):
    # re-insert after this many others instead of the queue's ``skip_reinsert_after``
    after: int | None = Field(default=None, ge=0, le=50)


class Transfer(TicketStep):
    target_queue_id: str = Id
    new_ticket_id: str = Id
    number: int | None = Field(default=None, ge=1, le=999_999)
    room_id: str | None = OptionalId
    keep_wait: bool = True


class Cancel(TicketStep):
    note: str = Field(min_length=1, max_length=500)


class SetPriority(TicketStep):
    priority: PriorityClass
    reason: str = Field(default="", max_length=200)


class Reorder(TicketStep):
    before_ticket_id: str | None = OptionalId
    after_ticket_id: str | None = OptionalId

    @model_validator(mode="after")
    def _one_anchor(self) -> Reorder:
        if (self.before_ticket_id is None) == (self.after_ticket_id is None):
            raise ValueError("give exactly one of before_ticket_id and after_ticket_id")
        return self


class Undo(TicketStep):
    event_no: int | None = Field(default=None, ge=1)
    note: str = Field(min_length=1, max_length=500)


class PauseRoom(MutationArgs):
    queue_id: str = Id
    room_id: str = Id
    paused: bool = True
    reason: str = Field(default="", max_length=200)


class RoomOpen(MutationArgs):
    """A doctor starts work in a room (the room chosen at a workstation), or a nurse opens a room for
    the doctor the schedule puts there today (``doctor_id``: that doctor; default the schedule's)."""

    room_id: str = Id
    doctor_id: str | None = OptionalId


class RoomClose(MutationArgs):
    """The doctor leaves the room (logout, another room chosen), or a nurse closes it."""

    room_id: str = Id
    reason: str = Field(default="", max_length=200)


class PostNotice(MutationArgs):
    id: str = Id
    text: str = Field(min_length=1, max_length=500)
    queue_id: str | None = OptionalId
    room_id: str | None = OptionalId
    level: Literal["info", "urgent"] = "info"
    ends_at: dt.datetime | None = None


class WithdrawNotice(MutationArgs):
    notice_id: str = Id


# ------------------------------------------------------------------------------------------- helpers


def _clock(at: dt.datetime, rules: RuleSet) -> str:
    return at.astimezone(clinic_zone(rules)).strftime("%H:%M")


def _session_at(at: dt.datetime, rules: RuleSet) -> Session:
    hour = at.astimezone(clinic_zone(rules)).hour
    return "am" if hour < 12 else "pm" if hour < 18 else "night"


def _session_first(schedules: list[Schedule], at: dt.datetime, rules: RuleSet) -> list[Schedule]:
    """A room's schedules of the day, the session under way at ``at`` first (a nurse opening the room in
    the afternoon opens it for the afternoon's doctor), the others in the order of their start."""
    now = _session_at(at, rules)
    return sorted(schedules, key=lambda s: (s.session != now, s.start_time, s.id))


def _status_name(status: str, ctx: MutationContext) -> str:
    return ctx.t(f"queue.status.{status}")


def _require_queue(state: StateReader, queue_id: str, ctx: MutationContext) -> Queue:
    queue = state.get(Queue, queue_id)
    if queue is None or queue.voided:
        raise Rejected(ctx.t("queue.not_found", id=queue_id), code="not_found")
    return queue


def _require_ticket(state: StateReader, ticket_id: str, ctx: MutationContext) -> QueueTicket:
    ticket = state.get(QueueTicket, ticket_id)
    if ticket is None or ticket.voided:
        raise Rejected(ctx.t("queue.ticket_not_found", id=ticket_id), code="not_found")
    return ticket


def _event(ticket: QueueTicket, ctx: MutationContext, kind: TicketEventKind, **fields: object) -> TicketEvent:
    """The next event of ``ticket``: ``at`` is when this side recorded it (the server's time once
    synced), ``occurred_at`` when it happened on the PC, never before the ticket's check-in or its
    latest step."""
    previous = [e.when for e in ticket.events]
    after = max([ticket.checked_in_at, *previous]) if ticket.events else None
    return TicketEvent.model_validate(
        {
            "no": len(ticket.events) + 1,
            "kind": kind,
            "at": ctx.now,
            "occurred_at": step_time(ctx.happened_at, after=after, now=ctx.now),
            "by": ctx.staff_id,
            "device": ctx.device_id[:64],
            **fields,
        }
    )


def _with_event(
    ticket: QueueTicket, ctx: MutationContext, event: TicketEvent, **changes: object
) -> QueueTicket:
    """The ticket one version up with ``event`` appended and its status and call room folded anew."""
    events = [*ticket.events, event]
    call = last_call(events)
    return next_version(
        ticket,
        ctx,
        events=events,
        status=fold_status(events),
        called_room_id=call.room_id if call else None,
        **changes,
    )


def _check_transition(ticket: QueueTicket, kind: TicketEventKind, ctx: MutationContext) -> None:
    if not allowed(kind, ticket.status):
        raise Rejected(
            ctx.t(
                "queue.bad_transition",
                label=ticket.label,
                status=_status_name(ticket.status, ctx),
                action=ctx.t(f"queue.action.{kind}"),
            ),
            code="bad_transition",
            detail={"status": ticket.status},
        )


def _check_room(state: StateReader, queue: Queue, room_id: str, ctx: MutationContext) -> Room:
    room = state.get(Room, room_id)
    if room is None or room.voided:
        raise Rejected(ctx.t("queue.room_not_found", id=room_id), code="not_found")
    if queue.room_ids:
        serves = room.id in queue.room_ids
    else:
        serves = queue.department_id is None or room.department_id == queue.department_id
    if not serves:
        raise Rejected(
            ctx.t("queue.room_not_in_queue", room=room.name, queue=queue.name), code="room_mismatch"
        )
    return room


def _allocate_number(
    state: StateReader, queue: Queue, day: dt.date, requested: int | None, ctx: MutationContext
) -> tuple[int, list[str]]:
    """The ticket's number: the desk's own if free, else the next free one of the same slot (with a
    warning to reprint); without a request, the server slot's next number."""
    plan = NumberingPlan(queue.number_block, queue.number_slots)

    def taken(number: int) -> bool:
        return bool(state.find(QueueTicket, number_key=number_key(queue.id, day, number)))

    if requested is None:
        counted = state.next_number(counter_name(queue.id, day))
        if counted is None:  # a client's local view: the next after the slot's highest it knows
            used = [t.number for t in state.find(QueueTicket, queue_id=queue.id, day=day)]
            number = plan.next_number(SERVER_SLOT, used)
        else:
            number = plan.nth_number(SERVER_SLOT, counted)
        while taken(number):
            number = plan.next_number(SERVER_SLOT, [number])
        return number, []
    number = requested
    slot = plan.slot_of(requested)
    key = "queue.number_taken"
    if ctx.desk_slot_of is not None:  # the server: a desk numbers only from the slot it was given
        assigned = ctx.desk_slot_of(queue.campus_id)
        if assigned is None or desk_slot_problem(assigned, plan) is not None:
            assigned = SERVER_SLOT
        if slot != assigned:
            if assigned == SERVER_SLOT:
                number, _ = _allocate_number(state, queue, day, None, ctx)
            else:
                used = [t.number for t in state.find(QueueTicket, queue_id=queue.id, day=day)]
                number = plan.next_number(assigned, used)
            slot, key = assigned, "queue.number_not_yours"
    while taken(number):
        number = plan.next_number(slot, [number])
    if number == requested:
        return number, []
    warning = ctx.t(
        key,
        old=ticket_label(queue.prefix, requested),
        new=ticket_label(queue.prefix, number),
    )
    return number, [warning]


def _reject_duplicate(
    state: StateReader,
    queue: Queue,
    day: dt.date,
    patient_id: str,
    ctx: MutationContext,
    appointment_id: str | None = None,
) -> None:
    other = active_ticket(
        state, patient_id=patient_id, queue_id=queue.id, day=day, appointment_id=appointment_id
    )
    if other is not None:
        raise Rejected(
            ctx.t("queue.already_checked_in", label=other.label, queue=queue.name),
            code="already_checked_in",
            detail={"ticket_id": other.id, "label": other.label, "number": other.number},
        )


def _ticket_result(ticket: QueueTicket) -> dict[str, object]:
    return {
        "ticket_id": ticket.id,
        "queue_id": ticket.queue_id,
        "label": ticket.label,
        "number": ticket.number,
        "status": ticket.status,
        "version": ticket.version,
    }


def _step(
    state: StateReader,
    args: TicketStep,
    ctx: MutationContext,
    kind: TicketEventKind,
    *,
    room_id: str | None = None,
    **changes: object,
) -> Effect:
    """A plain forward step: check it is allowed, append its event."""
    ticket = _require_ticket(state, args.ticket_id, ctx)
    _check_transition(ticket, kind, ctx)
    if room_id:
        _check_room(state, _require_queue(state, ticket.queue_id, ctx), room_id, ctx)
    updated = _with_event(ticket, ctx, _event(ticket, ctx, kind, room_id=room_id, note=args.note), **changes)
    return Effect(writes=[updated], result=_ticket_result(updated))


# ---------------------------------------------------------------------------------------- mutations


@mutation(
    "queue.check_in",
    CheckIn,
    roles=CHECK_IN_ROLES,
    summary="Check a patient in to a queue.",
    reads_id_of="queue_ticket",
)
def check_in(state: StateReader, args: CheckIn, ctx: MutationContext) -> Effect:
    if state.get(QueueTicket, args.id) is not None:
        raise Rejected(ctx.t("queue.duplicate_ticket", id=args.id), code="duplicate_id")
    queue = _require_queue(state, args.queue_id, ctx)
    if not queue.active:
        raise Rejected(ctx.t("queue.inactive", name=queue.name), code="queue_inactive")
    rules = rules_for(queue)
    patient = state.get(Patient, args.patient_id)
    if patient is None or patient.voided:
        raise Rejected(ctx.t("queue.patient_not_found", id=args.patient_id), code="not_found")
    day = args.day or ctx.today
    if abs((day - ctx.today).days) > 1:
        raise Rejected(ctx.t("queue.bad_day", day=day.isoformat()), code="bad_day")
    if args.priority != "normal" and not args.priority_reason:
        raise Rejected(ctx.t("queue.reason_required"), code="reason_required")
    warnings: list[str] = []
    # the server's bounded, offset-corrected reading of when the desk did it wins over the desk's
    # raw clock in the arguments (the same moment, read by the same PC)
    checked_in_at = ctx.occurred_at or args.checked_in_at or ctx.now
    if checked_in_at.tzinfo is None:
        raise Rejected(ctx.t("queue.naive_time"), code="invalid_args")
    if checked_in_at > ctx.now + CLOCK_SKEW:
        warnings.append(ctx.t("queue.clock_ahead", time=_clock(ctx.now, rules)))
        checked_in_at = ctx.now
    writes: list[QueueTicket | Appointment] = []
    session = args.session
    room_id = args.room_id
    slot_time = None
    if args.appointment_id:
        appointment = state.get(Appointment, args.appointment_id)
        if appointment is None or appointment.voided:
            raise Rejected(ctx.t("queue.appointment_not_found", id=args.appointment_id), code="not_found")
        if appointment.patient_id != patient.id:
            raise Rejected(ctx.t("queue.appointment_mismatch"), code="appointment_mismatch")
        if appointment.status == "cancelled":
            raise Rejected(ctx.t("queue.appointment_cancelled"), code="appointment_cancelled")
        schedule = state.get(Schedule, appointment.schedule_id)
        if schedule is not None and schedule.date != day:
            raise Rejected(
                ctx.t("queue.appointment_other_day", day=schedule.date.isoformat()),
                code="appointment_other_day",
            )
        if (
            queue.doctor_id
            and appointment.doctor_id != queue.doctor_id
            or (
                schedule is not None and queue.department_id and schedule.department_id != queue.department_id
            )
        ):
            raise Rejected(
                ctx.t("queue.appointment_other_queue", queue=queue.name), code="appointment_mismatch"
            )
        slot_time = appointment.slot_time
        session = session or (schedule.session if schedule else None)
        if room_id is None and (not queue.room_ids or appointment.room_id in queue.room_ids):
            room_id = appointment.room_id
        if appointment.status == "booked":
            writes.append(next_version(appointment, ctx, status="checked_in"))
    if room_id:
        _check_room(state, queue, room_id, ctx)
    _reject_duplicate(state, queue, day, patient.id, ctx, args.appointment_id)
    number, number_warnings = _allocate_number(state, queue, day, args.number, ctx)
    warnings += number_warnings
    ticket = QueueTicket(
        id=args.id,
        campus_id=queue.campus_id,
        queue_id=queue.id,
        day=day,
        session=session or _session_at(checked_in_at, rules),
        number=number,
        label=ticket_label(queue.prefix, number),
        number_key=number_key(queue.id, day, number),
        patient_id=patient.id,
        visit_id=args.visit_id,
        appointment_id=args.appointment_id,
        slot_time=slot_time,
        source="appointment" if args.appointment_id else "walk_in",
        birth_date=patient.birth_date,
        priority=args.priority,
        priority_reason=args.priority_reason,
        room_id=room_id,
        checked_in_at=checked_in_at,
        issued_device=ctx.device_id[:64],
        updated_at=ctx.now,
        events=[],
    )
    event = _event(
        ticket,
        ctx,
        "check_in",
        room_id=room_id,
        note=args.note,
        priority=args.priority,
        occurred_at=checked_in_at,
    )
    ticket = ticket.model_copy(update={"events": [event]})
    return Effect(writes=[ticket, *writes], warnings=warnings, result=_ticket_result(ticket))


@mutation("queue.call", RoomStep, roles=STAFF_ROLES, summary="Call a ticket to a room.")
def call(state: StateReader, args: RoomStep, ctx: MutationContext) -> Effect:
    ticket = _require_ticket(state, args.ticket_id, ctx)
    _check_transition(ticket, "call", ctx)
    queue = _require_queue(state, ticket.queue_id, ctx)
    rules = rules_for(queue)
    room_id = args.room_id or ticket.room_id or ticket.called_room_id
    warnings: list[str] = []
    if room_id:
        room = _check_room(state, queue, room_id, ctx)
        if room.id in queue.paused_rooms:
            warnings.append(ctx.t("queue.room_paused", room=room.name))
    previous = last_call(ticket.events)
    if ticket.status in ("called", "in_consultation") and previous is not None:
        caller = state.get(Staff, previous.by)
        warnings.append(
            ctx.t(
                "queue.already_called",
                label=ticket.label,
                name=caller.name if caller else previous.by,
                time=_clock(previous.at, rules),
            )
        )
    updated = _with_event(ticket, ctx, _event(ticket, ctx, "call", room_id=room_id, note=args.note))
    return Effect(writes=[updated], warnings=warnings, result=_ticket_result(updated))


@mutation("queue.recall", RoomStep, roles=STAFF_ROLES, summary="Call a called ticket again.")
def recall(state: StateReader, args: RoomStep, ctx: MutationContext) -> Effect:
    ticket = _require_ticket(state, args.ticket_id, ctx)
    return _step(state, args, ctx, "recall", room_id=args.room_id or ticket.called_room_id)


@mutation("queue.skip", TicketStep, roles=STAFF_ROLES, summary="Mark a ticket as not present (过号).")
def skip(state: StateReader, args: TicketStep, ctx: MutationContext) -> Effect:
    return _step(state, args, ctx, "skip")


@mutation("queue.return", Return, roles=STAFF_ROLES, summary="Put a skipped ticket back, after N others.")
def return_ticket(state: StateReader, args: Return, ctx: MutationContext) -> Effect:
    ticket = _require_ticket(state, args.ticket_id, ctx)
    _check_transition(ticket, "return", ctx)
    queue = _require_queue(state, ticket.queue_id, ctx)
    after = rules_for(queue).skip_reinsert_after if args.after is None else args.after
    waiting = state.find(QueueTicket, queue_id=queue.id, day=ticket.day, status="waiting")
    order = order_for(queue, (t for t in waiting if t.id != ticket.id), ctx.now)
    anchors = [place.ticket.id for place in order.waiting if not place.held][:after]
    event = _event(ticket, ctx, "return", note=args.note, anchors=anchors, position="after")
    updated = _with_event(ticket, ctx, event)
    return Effect(writes=[updated], result={**_ticket_result(updated), "after": anchors})


@mutation("queue.start", Start, roles=STAFF_ROLES, summary="The patient is in the room: consultation starts.")
def start(state: StateReader, args: Start, ctx: MutationContext) -> Effect:
    ticket = _require_ticket(state, args.ticket_id, ctx)
    room_id = args.room_id or ticket.called_room_id or ticket.room_id
    changes: dict[str, object] = {"visit_id": args.visit_id} if args.visit_id else {}
    return _step(state, args, ctx, "start", room_id=room_id, **changes)


@mutation("queue.finish", TicketStep, roles=STAFF_ROLES, summary="The consultation is over.")
def finish(state: StateReader, args: TicketStep, ctx: MutationContext) -> Effect:
    return _step(state, args, ctx, "finish")


@mutation("queue.cancel", Cancel, roles=STAFF_ROLES, summary="Withdraw a ticket (with a reason).")
def cancel(state: StateReader, args: Cancel, ctx: MutationContext) -> Effect:
    return _step(state, args, ctx, "cancel")


@mutation("queue.transfer", Transfer, roles=STAFF_ROLES, summary="Move a patient to another queue.")
def transfer(state: StateReader, args: Transfer, ctx: MutationContext) -> Effect:
    ticket = _require_ticket(state, args.ticket_id, ctx)
    _check_transition(ticket, "transfer", ctx)
    if state.get(QueueTicket, args.new_ticket_id) is not None:
        raise Rejected(ctx.t("queue.duplicate_ticket", id=args.new_ticket_id), code="duplicate_id")
    target = _require_queue(state, args.target_queue_id, ctx)
    if target.id == ticket.queue_id:
        raise Rejected(ctx.t("queue.same_queue"), code="same_queue")
    if not target.active:
        raise Rejected(ctx.t("queue.inactive", name=target.name), code="queue_inactive")
    if args.room_id:
        _check_room(state, target, args.room_id, ctx)
    _reject_duplicate(state, target, ticket.day, ticket.patient_id, ctx)
    number, warnings = _allocate_number(state, target, ticket.day, args.number, ctx)
    moved = QueueTicket(
        id=args.new_ticket_id,
        campus_id=target.campus_id,
        queue_id=target.id,
        day=ticket.day,
        session=ticket.session,
        number=number,
        label=ticket_label(target.prefix, number),
        number_key=number_key(target.id, ticket.day, number),
        patient_id=ticket.patient_id,
        visit_id=ticket.visit_id,
        source="transfer",
        birth_date=ticket.birth_date,
        priority=ticket.priority,
        priority_reason=ticket.priority_reason,
        room_id=args.room_id,
        checked_in_at=ticket.checked_in_at if args.keep_wait else ctx.now,
        issued_device=ctx.device_id[:64],
        updated_at=ctx.now,
        events=[],
    )
    arrived = _event(moved, ctx, "transfer_in", room_id=args.room_id, note=args.note, other=ticket.id)
    moved = moved.model_copy(update={"events": [arrived]})
    left = _with_event(ticket, ctx, _event(ticket, ctx, "transfer", note=args.note, other=moved.id))
    result = {**_ticket_result(left), "new_ticket": _ticket_result(moved)}
    return Effect(writes=[left, moved], warnings=warnings, result=result)


@mutation("queue.set_priority", SetPriority, roles=STAFF_ROLES, summary="Change a ticket's priority class.")
def set_priority(state: StateReader, args: SetPriority, ctx: MutationContext) -> Effect:
    if args.priority != "normal" and not args.reason:
        raise Rejected(ctx.t("queue.reason_required"), code="reason_required")
    ticket = _require_ticket(state, args.ticket_id, ctx)
    _check_transition(ticket, "set_priority", ctx)
    event = _event(ticket, ctx, "set_priority", priority=args.priority, note=args.reason or args.note)
    updated = _with_event(ticket, ctx, event, priority=args.priority, priority_reason=args.reason)
    return Effect(writes=[updated], result=_ticket_result(updated))


@mutation(
    "queue.reorder", Reorder, roles=STAFF_ROLES, summary="Move a waiting ticket before or after another."
)
def reorder(state: StateReader, args: Reorder, ctx: MutationContext) -> Effect:
    ticket = _require_ticket(state, args.ticket_id, ctx)
    _check_transition(ticket, "reorder", ctx)
    anchor_id = args.before_ticket_id or args.after_ticket_id
    assert anchor_id is not None
    anchor = state.get(QueueTicket, anchor_id)
    if (
        anchor is None
        or anchor.id == ticket.id
        or anchor.queue_id != ticket.queue_id
        or anchor.day != ticket.day
        or anchor.status != "waiting"
    ):
        raise Rejected(ctx.t("queue.anchor_invalid"), code="bad_anchor")
    position: Literal["before", "after"] = "before" if args.before_ticket_id else "after"
    event = _event(ticket, ctx, "reorder", note=args.note, anchors=[anchor.id], position=position)
    updated = _with_event(ticket, ctx, event)
    return Effect(writes=[updated], result=_ticket_result(updated))


@mutation("queue.undo", Undo, roles=STAFF_ROLES, summary="Take back one step of a ticket (a new event).")
def undo(state: StateReader, args: Undo, ctx: MutationContext) -> Effect:
    ticket = _require_ticket(state, args.ticket_id, ctx)
    if args.event_no is None:
        target = last_undoable(ticket.events)
        if target is None:
            raise Rejected(ctx.t("queue.nothing_to_undo"), code="nothing_to_undo")
    else:
        target = next((e for e in ticket.events if e.no == args.event_no), None)
        if target is None or target.kind not in UNDOABLE or target.no in undone_numbers(ticket.events):
            raise Rejected(ctx.t("queue.event_not_undoable"), code="not_undoable")
    event = _event(ticket, ctx, "undo", undoes=target.no, note=args.note)
    changes: dict[str, object] = {}
    if target.kind == "set_priority":
        earlier = [e for e in effective_events(ticket.events) if e.no != target.no and e.priority is not None]
        changes["priority"] = earlier[-1].priority if earlier else "normal"
    writes = [_with_event(ticket, ctx, event, **changes)]
    if target.kind == "transfer" and target.other:
        moved = state.get(QueueTicket, target.other)
        if moved is not None and allowed("cancel", moved.status):
            writes.append(_with_event(moved, ctx, _event(moved, ctx, "cancel", note=args.note)))
    return Effect(writes=list(writes), result={**_ticket_result(writes[0]), "undone": target.no})


@mutation("queue.pause_room", PauseRoom, roles=STAFF_ROLES, summary="Pause or resume a room of a queue.")
def pause_room(state: StateReader, args: PauseRoom, ctx: MutationContext) -> Effect:
    queue = _require_queue(state, args.queue_id, ctx)
    room = _check_room(state, queue, args.room_id, ctx)
    paused = [r for r in queue.paused_rooms if r != room.id] + ([room.id] if args.paused else [])
    result = {"queue_id": queue.id, "room_id": room.id, "paused": args.paused, "reason": args.reason}
    if sorted(paused) == sorted(queue.paused_rooms):
        return Effect(result=result)
    return Effect(writes=[next_version(queue, ctx, paused_rooms=paused)], result=result)


def _serves(queue: Queue, room: Room) -> bool:
    """Whether a doctor in ``room`` takes patients of ``queue``: a room of its list, or of its
    department when it lists none (a queue of neither, as a lab's, has no doctor's rooms)."""
    if queue.voided or queue.campus_id != room.campus_id:
        return False
    if queue.room_ids:
        return room.id in queue.room_ids
    return queue.department_id is not None and queue.department_id == room.department_id


def _restaff(
    state: StateReader, room: Room, ctx: MutationContext, change: Callable[[Queue], dict[str, RoomDuty]]
) -> list[Queue]:
    """Every queue of the room's campus whose ``staffed_rooms`` ``change`` alters, one version up."""
    writes = []
    for queue in state.find(Queue, campus_id=room.campus_id):
        staffed = change(queue)
        if not queue.voided and staffed != queue.staffed_rooms:
            writes.append(next_version(queue, ctx, staffed_rooms=staffed))
    return writes


@mutation(
    "queue.room_open",
    RoomOpen,
    roles=STAFF_ROLES,
    summary="A doctor is at work in a room: it takes patients from the queues it serves.",
)
def room_open(state: StateReader, args: RoomOpen, ctx: MutationContext) -> Effect:
    room = state.get(Room, args.room_id)
    if room is None or room.voided:
        raise Rejected(ctx.t("queue.room_not_found", id=args.room_id), code="not_found")
    by_schedule = [s for s in state.find(Schedule, date=ctx.today) if not s.voided and s.room_id == room.id]
    serving = [q for q in state.find(Queue, campus_id=room.campus_id) if _serves(q, room)]
    by_schedule = _session_first(
        by_schedule, ctx.happened_at, rules_for(serving[0]) if serving else RuleSet()
    )
    source: Literal["login", "nurse"]
    if "doctor" in ctx.roles and args.doctor_id in (None, ctx.staff_id):
        doctor_id, source = ctx.staff_id, "login"
    elif ctx.roles & {"nurse", "admin"}:
        scheduled = [s.doctor_id for s in by_schedule if args.doctor_id in (None, s.doctor_id)]
        if not scheduled:
            raise Rejected(ctx.t("queue.room_not_scheduled", room=room.name), code="not_scheduled")
        doctor_id, source = scheduled[0], "nurse"
    else:
        raise Rejected(ctx.t("queue.room_open_forbidden"), code="forbidden")
    duty = RoomDuty(doctor_id=doctor_id, since=ctx.happened_at, by=ctx.staff_id, source=source)
    warnings: list[str] = []

    def change(queue: Queue) -> dict[str, RoomDuty]:
        # a doctor works in one room at a time: opening this one leaves any other
        staffed = {r: d for r, d in queue.staffed_rooms.items() if d.doctor_id != doctor_id or r == room.id}
        if _serves(queue, room):
            current = staffed.get(room.id)
            rules = rules_for(queue)
            if (
                current is not None
                and current.doctor_id == doctor_id
                and clinic_day(current.since, rules) == clinic_day(duty.since, rules)
            ):
                return staffed  # already there today: keep the time it started
            staffed[room.id] = duty
        return staffed

    for queue in state.find(Queue, campus_id=room.campus_id):
        current = queue.staffed_rooms.get(room.id)
        if _serves(queue, room) and current is not None and current.doctor_id != doctor_id:
            before, after = state.get(Staff, current.doctor_id), state.get(Staff, doctor_id)
            warnings.append(
                ctx.t(
                    "queue.room_taken_over",
                    room=room.name,
                    name=before.name if before else current.doctor_id,
                    doctor=after.name if after else doctor_id,
                )
            )
            break
    writes = _restaff(state, room, ctx, change)
    result = {"room_id": room.id, "doctor_id": doctor_id, "queues": [q.id for q in writes]}
    return Effect(writes=list(writes), warnings=warnings, result=result)


@mutation("queue.room_close", RoomClose, roles=STAFF_ROLES, summary="The room takes no more patients.")
def room_close(state: StateReader, args: RoomClose, ctx: MutationContext) -> Effect:
    room = state.get(Room, args.room_id)
    if room is None or room.voided:
        raise Rejected(ctx.t("queue.room_not_found", id=args.room_id), code="not_found")
    nurse = bool(ctx.roles & {"nurse", "admin"})

    def change(queue: Queue) -> dict[str, RoomDuty]:
        duty = queue.staffed_rooms.get(room.id)
        if duty is None or not (nurse or duty.doctor_id == ctx.staff_id):
            return dict(queue.staffed_rooms)
        return {r: d for r, d in queue.staffed_rooms.items() if r != room.id}

    writes = _restaff(state, room, ctx, change)
    return Effect(writes=list(writes), result={"room_id": room.id, "queues": [q.id for q in writes]})


@mutation(
    "queue.notice", PostNotice, roles=("nurse", "admin"), summary="Show a notice on waiting-room screens."
)
def post_notice(state: StateReader, args: PostNotice, ctx: MutationContext) -> Effect:
    if state.get(QueueNotice, args.id) is not None:
        raise Rejected(ctx.t("queue.duplicate_ticket", id=args.id), code="duplicate_id")
    campus_id = ctx.campus_id
    if args.queue_id:
        queue = _require_queue(state, args.queue_id, ctx)
        campus_id = queue.campus_id
        if args.room_id:
            _check_room(state, queue, args.room_id, ctx)
    if args.ends_at is not None and args.ends_at <= ctx.now:
        raise Rejected(ctx.t("queue.notice_ended"), code="notice_ended")
    if not campus_id:
        raise Rejected(ctx.t("queue.no_campus"), code="no_campus")
    notice = QueueNotice(
        id=args.id,
        campus_id=campus_id,
        queue_id=args.queue_id,
        room_id=args.room_id,
        text=args.text,
        level=args.level,
        starts_at=ctx.now,
        ends_at=args.ends_at,
        created_by=ctx.staff_id,
        updated_at=ctx.now,
    )
    return Effect(writes=[notice], result={"notice_id": notice.id})


@mutation("queue.notice_withdraw", WithdrawNotice, roles=("nurse", "admin"), summary="Take a notice down.")
def withdraw_notice(state: StateReader, args: WithdrawNotice, ctx: MutationContext) -> Effect:
    notice = state.get(QueueNotice, args.notice_id)
    if notice is None:
        raise Rejected(ctx.t("queue.notice_not_found", id=args.notice_id), code="not_found")
    if notice.voided:
        return Effect(result={"notice_id": notice.id})
    withdrawn = next_version(notice, ctx, voided=True, void_reason="withdrawn", ends_at=ctx.now)
    return Effect(writes=[withdrawn], result={"notice_id": notice.id})


# -------------------------------------------------------------------------------------------- messages

_MESSAGES: dict[str, tuple[str, str, str]] = {
    "queue.not_found": ("找不到队列：{id}", "Queue not found: {id}", "找不到隊列：{id}"),
    "queue.ticket_not_found": ("找不到排队号：{id}", "Queue ticket not found: {id}", "找不到排隊號：{id}"),
    "queue.patient_not_found": ("找不到患者：{id}", "Patient not found: {id}", "找不到患者：{id}"),
    "queue.room_not_found": ("找不到诊室：{id}", "Room not found: {id}", "找不到診室：{id}"),
    "queue.appointment_not_found": ("找不到预约：{id}", "Appointment not found: {id}", "找不到預約：{id}"),
    "queue.duplicate_ticket": ("编号已存在：{id}", "This id already exists: {id}", "編號已存在：{id}"),
    "queue.inactive": ("队列已停用：{name}", "The queue is closed: {name}", "隊列已停用：{name}"),
    "queue.bad_day": ("排队日期 {day} 不是今天", "Queue day {day} is not today", "排隊日期 {day} 不是今天"),
    "queue.reason_required": (
        "调整优先级须填写原因",
        "A priority class needs a reason",
        "調整優先級須填寫原因",
    ),
    "queue.naive_time": ("签到时间缺少时区", "Check-in time lacks a time zone", "簽到時間缺少時區"),
    "queue.clock_ahead": (
        "本机时钟快于服务器，签到时间按服务器时间 {time} 记录",
        "This PC's clock is ahead of the server; check-in recorded at server time {time}",
        "本機時鐘快於伺服器，簽到時間按伺服器時間 {time} 記錄",
    ),
    "queue.number_taken": (
        "号码 {old} 已被占用，本号改为 {new}，请重新打印排队小票",
        "Number {old} was taken; this ticket is now {new}: please reprint it",
        "號碼 {old} 已被佔用，本號改為 {new}，請重新列印排隊小票",
    ),
    "queue.already_checked_in": (
        "该患者今日已在{queue}排队：{label}",
        "This patient is already in {queue} today: {label}",
        "該患者今日已在{queue}排隊：{label}",
    ),
    "queue.appointment_mismatch": (
        "预约不属于该患者",
        "The appointment belongs to another patient",
        "預約不屬於該患者",
    ),
    "queue.appointment_other_day": (
        "该预约的就诊日期是 {day}",
        "The appointment is for {day}",
        "該預約的就診日期是 {day}",
    ),
    "queue.appointment_cancelled": ("预约已取消", "The appointment was cancelled", "預約已取消"),
    "queue.appointment_other_queue": (
        "该预约不属于{queue}",
        "The appointment is not for {queue}",
        "該預約不屬於{queue}",
    ),
    "queue.room_not_in_queue": (
        "{room}不属于{queue}",
        "{room} does not serve {queue}",
        "{room}不屬於{queue}",
    ),
    "queue.room_paused": ("{room}已暂停接诊", "{room} is paused", "{room}已暫停接診"),
    "queue.room_not_scheduled": (
        "{room}今日没有排班医生，不能开诊",
        "No doctor is scheduled in {room} today: it cannot be opened",
        "{room}今日沒有排班醫生，不能開診",
    ),
    "queue.room_open_forbidden": (
        "只有医生本人或护士可以开诊",
        "Only the doctor or a nurse can open a room",
        "只有醫生本人或護士可以開診",
    ),
    "queue.room_taken_over": (
        "{room}原由{name}接诊，现改为{doctor}",
        "{room} was staffed by {name}; it is {doctor}'s now",
        "{room}原由{name}接診，現改為{doctor}",
    ),
    "queue.bad_transition": (
        "{label} 当前为「{status}」，不能{action}",
        "{label} is {status}: cannot {action}",
        "{label} 當前為「{status}」，不能{action}",
    ),
    "queue.already_called": (
        "{label} 已由 {name} 于 {time} 叫号",
        "{label} was already called by {name} at {time}",
        "{label} 已由 {name} 於 {time} 叫號",
    ),
    "queue.anchor_invalid": (
        "目标号不在本队列候诊中",
        "The other ticket is not waiting in this queue",
        "目標號不在本隊列候診中",
    ),
    "queue.same_queue": (
        "转入队列与当前队列相同",
        "Target queue is the same queue",
        "轉入隊列與當前隊列相同",
    ),
    "queue.nothing_to_undo": ("没有可撤销的步骤", "Nothing to undo", "沒有可撤銷的步驟"),
    "queue.event_not_undoable": ("该步骤不能撤销", "That step cannot be undone", "該步驟不能撤銷"),
    "queue.notice_ended": ("公告结束时间已过", "The notice's end time has passed", "公告結束時間已過"),
    "queue.notice_not_found": ("找不到公告：{id}", "Notice not found: {id}", "找不到公告：{id}"),
    "queue.no_campus": ("未指定院区", "No campus chosen", "未指定院區"),
    "queue.status.waiting": ("候诊", "waiting", "候診"),
    "queue.status.called": ("已叫号", "called", "已叫號"),
    "queue.status.in_consultation": ("就诊中", "in consultation", "就診中"),
    "queue.status.done": ("已完成", "done", "已完成"),
    "queue.status.skipped": ("过号", "skipped", "過號"),
    "queue.status.transferred": ("已转出", "transferred", "已轉出"),
    "queue.status.cancelled": ("已取消", "cancelled", "已取消"),
    "queue.action.call": ("叫号", "call it", "叫號"),
    "queue.action.recall": ("重呼", "call it again", "重呼"),
    "queue.action.skip": ("过号", "skip it", "過號"),
    "queue.action.return": ("过号复位", "return it to the queue", "過號復位"),
    "queue.action.start": ("开始就诊", "start the consultation", "開始就診"),
    "queue.action.finish": ("完成就诊", "finish the consultation", "完成就診"),
    "queue.action.transfer": ("转诊", "transfer it", "轉診"),
    "queue.action.cancel": ("取消", "cancel it", "取消"),
    "queue.action.set_priority": ("调整优先级", "change its priority", "調整優先級"),
    "queue.action.reorder": ("调整顺序", "move it", "調整順序"),
}
for _key, (_zh, _en, _tw) in _MESSAGES.items():
    register(_key, {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


# Where each queue mutation's objects are and whose they are (checked before the handler; base.py).
_QUEUE_WORK = Shared("queues are the campus's shared work: any nurse or doctor there runs them")
_TICKET = CampusOf(ticket_id=QueueTicket)
_CALL = CampusOf(ticket_id=QueueTicket, room_id=Room)
declare_claims(
    {
        "queue.check_in": (
            CampusOf(queue_id=Queue, appointment_id=Appointment, room_id=Room, visit_id=Visit),
            Shared("any desk, doctor or kiosk at the queue's campus checks a patient in"),
        ),
        "queue.call": (_CALL, _QUEUE_WORK),
        "queue.recall": (_CALL, _QUEUE_WORK),
        "queue.skip": (_TICKET, _QUEUE_WORK),
        "queue.return": (_TICKET, _QUEUE_WORK),
        "queue.start": (CampusOf(ticket_id=QueueTicket, room_id=Room, visit_id=Visit), _QUEUE_WORK),
        "queue.finish": (_TICKET, _QUEUE_WORK),
        "queue.cancel": (_TICKET, _QUEUE_WORK),
        "queue.transfer": (CampusOf(ticket_id=QueueTicket, target_queue_id=Queue, room_id=Room), _QUEUE_WORK),
        "queue.set_priority": (_TICKET, _QUEUE_WORK),
        "queue.reorder": (
            CampusOf(ticket_id=QueueTicket, before_ticket_id=QueueTicket, after_ticket_id=QueueTicket),
            _QUEUE_WORK,
        ),
        "queue.undo": (_TICKET, _QUEUE_WORK),
        "queue.pause_room": (CampusOf(queue_id=Queue, room_id=Room), _QUEUE_WORK),
        "queue.notice": (CampusOf(caller=True, queue_id=Queue, room_id=Room), _QUEUE_WORK),
        "queue.notice_withdraw": (CampusOf(notice_id=QueueNotice), _QUEUE_WORK),
        "queue.room_open": (
            CampusOf(room_id=Room),
            InHandler(
                "a doctor opens a room for themself; a nurse only for the doctor the schedule puts there"
            ),
        ),
        "queue.room_close": (
            CampusOf(room_id=Room),
            InHandler(
                "a doctor closes a room only while on duty there; a nurse closes any room of the campus"
            ),
        ),
    }
)
