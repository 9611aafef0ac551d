"""Reference-data mutations for the administrator: ``reference.save`` (create or change one row of an
importable kind) and ``reference.retire`` (withdraw it from use, never delete it).

A row is checked by the import's own rule (``shared.reference_io.plan.entity_from_fields``), so a row an
administrator types and a row of a HIS file are accepted or refused for the same reasons. A row's id is
``reference_id(kind, code)``, as the import gives it, so an edit and a later import meet on one row.

Queues (kind ``queue``, with their rule sets) differ in three ways. The day's work changes a queue's row
too (a doctor opening a room, a nurse pausing one), so an edit is not refused for a newer version: it
changes only the fields it names, on the row as it is now, and never the rooms' state of the day. A new
queue must name a department in use at its campus, and rooms of its campus. A queue is retired only when
nobody waits in it today (turn off its check-ins first): retiring never strands a patient holding a slip.
A changed rule set takes effect for every ticket still waiting from the moment a PC has it: the order is
computed from the tickets and the queue's rules as they are now (``queue_rules.order_for``); calls already
made stay as they were."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pydantic import Field, field_validator

from shared.domain.entities import ENTITY_BY_KIND, Department, Entity, Queue, QueueTicket, Role
from shared.domain.mutations.base import (
    Effect,
    MutationArgs,
    MutationContext,
    NoCampus,
    Reason,
    Rejected,
    Shared,
    StateReader,
    check_base_version,
    mutation,
    require,
)
from shared.errors import ValidationFailed
from shared.i18n import kind_name, register
from shared.ids import reference_id
from shared.reference_io.plan import KINDS, entity_from_fields, retired
from shared.reference_io.queue_rows import QueueRows
from shared.reference_io.queue_rows import say as queue_say

register(
    "reference.row_refused",
    {
        "zh_CN": "{kind} {code} 未保存：{reason}",
        "en": "{kind} {code} not saved: {reason}",
        "zh_TW": "{kind} {code} 未儲存：{reason}",
    },
)
register(
    "reference.unknown_kind",
    {
        "zh_CN": "不能在此维护的资料类别：{kind}",
        "en": "Not an editable kind of reference data: {kind}",
        "zh_TW": "不能在此維護的資料類別：{kind}",
    },
)

register(
    "reference.queue_in_use",
    {
        "zh_CN": "队列 {code} 今天还有 {count} 位患者在候诊或就诊，不能停用：请先关闭签到，待患者看完后再停用",
        "en": "Queue {code} still has {count} patients today; turn off its check-ins and retire it when they are seen",
        "zh_TW": "隊列 {code} 今天還有 {count} 位患者在候診或就診，不能停用：請先關閉簽到，待患者看完後再停用",
    },
)

ADMIN_ROLES: tuple[Role, ...] = ("admin",)
# a queue's tickets that still stand for a patient in the building
_IN_QUEUE = frozenset({"waiting", "called", "in_consultation", "skipped"})
# The dictionaries are the hospital's, and the system administrators keep them for every campus (a room
# or a pharmacy names its campus as data, but IT edits all of them).
_HOSPITAL_WIDE = NoCampus("reference data is the hospital's, kept by IT for every campus")
_ADMIN_WORK = Shared("the system administrators' shared work")


def _kind(value: str) -> str:
    if value not in KINDS:
        raise ValueError(f"not an importable kind: {value} (one of {', '.join(sorted(KINDS))})")
    return value


class SaveReference(MutationArgs):
    kind: str = Field(min_length=1, max_length=32)
    # The row as ``clinic export`` writes it: field -> text, other rows named by their codes.
    fields: dict[str, str] = Field(min_length=1, max_length=60)

    _check_kind = field_validator("kind")(_kind)


class RetireReference(MutationArgs):
    kind: str = Field(min_length=1, max_length=32)
    code: str = Field(min_length=1, max_length=64)
    reason: str = Reason

    _check_kind = field_validator("kind")(_kind)


class _LiveCodes(Mapping[str, str]):
    """A kind's live codes -> ids, looked up one at a time through the handler's state reader."""

    def __init__(self, state: StateReader, kind: str) -> None:
        self.state = state
        self.kind = kind

    def __getitem__(self, code: str) -> str:
        row = self.state.get(ENTITY_BY_KIND[self.kind], reference_id(self.kind, code))
        if row is None or row.voided:
            raise KeyError(code)
        return row.id

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _current(state: StateReader, kind: str, code: str) -> Entity | None:
    return state.get(ENTITY_BY_KIND[kind], reference_id(kind, code))


@mutation(
    "reference.save",
    SaveReference,
    ADMIN_ROLES,
    "create or change one reference row",
    campus=_HOSPITAL_WIDE,
    owner=_ADMIN_WORK,
)
def save_reference(state: StateReader, args: SaveReference, ctx: MutationContext) -> Effect:
    spec = KINDS[args.kind]
    code = args.fields.get("code", "").strip()
    before = _current(state, args.kind, code) if code else None
    if before is not None and args.kind != "queue":
        check_base_version(before, ctx)
    known = {other: _LiveCodes(state, other) for other in set(spec.references.values())}
    try:
        if args.kind == "queue":
            _check_department_in_use(state, args.fields, ctx)
        after = entity_from_fields(spec, args.fields, before, known_codes=known, now=ctx.now, lang=ctx.lang)
        if isinstance(after, Queue):
            problem = _queue_problem(state, after, ctx)
            if problem:
                raise ValidationFailed(problem, code="invalid_row")
    except ValidationFailed as error:
        raise Rejected(
            ctx.t(
                "reference.row_refused", kind=kind_name(args.kind, ctx.lang), code=code, reason=error.message
            ),
            code="invalid_row",
        ) from error
    if before is not None and after.model_dump(exclude={"version", "updated_at"}) == before.model_dump(
        exclude={"version", "updated_at"}
    ):
        return Effect(result={"kind": args.kind, "code": code, "version": before.version, "changed": False})
    warnings = _numbering_warning(state, before, after, ctx) if isinstance(after, Queue) else []
    # kind and code in the result: the audit entry (which keeps the result) then says what was changed
    return Effect(
        writes=[after],
        warnings=warnings,
        result={"kind": args.kind, "code": code, "version": after.version, "changed": True},
    )


@mutation(
    "reference.retire",
    RetireReference,
    ADMIN_ROLES,
    "withdraw one reference row from use",
    campus=_HOSPITAL_WIDE,
    owner=_ADMIN_WORK,
)
def retire_reference(state: StateReader, args: RetireReference, ctx: MutationContext) -> Effect:
    entity_type = ENTITY_BY_KIND[args.kind]
    row = require(state, entity_type, reference_id(args.kind, args.code), ctx)
    if isinstance(row, Queue):
        count = len(_in_queue_today(state, row, ctx))
        if count and not row.voided:
            raise Rejected(ctx.t("reference.queue_in_use", code=args.code, count=count), code="queue_in_use")
    else:
        check_base_version(row, ctx)
    after = retired(row, reason=args.reason, now=ctx.now)
    return Effect(writes=[after], result={"kind": args.kind, "code": args.code, "version": after.version})


def _check_department_in_use(state: StateReader, fields: Mapping[str, str], ctx: MutationContext) -> None:
    """A retired department is named as such (the import's rule only knows it as an unknown code)."""
    code = fields.get("department_id", "").strip()
    if not code:
        return
    department = state.get(Department, reference_id("department", code))
    if department is not None and department.voided:
        raise ValidationFailed(queue_say("retired_department", ctx.lang, code=code), code="invalid_row")


def _queue_problem(state: StateReader, queue: Queue, ctx: MutationContext) -> str | None:
    ids = [queue.campus_id, *([queue.department_id] if queue.department_id else []), *queue.room_ids]
    rows: dict[str, Entity | None] = {}
    for entity_id in ids:
        for kind in ("campus", "department", "room"):
            found = state.get(ENTITY_BY_KIND[kind], entity_id)
            if found is not None:
                rows[entity_id] = found
                break
    codec = KINDS["queue"].codec
    assert isinstance(codec, QueueRows)
    return codec.problems(queue, rows, ctx.lang)


def _in_queue_today(state: StateReader, queue: Queue, ctx: MutationContext) -> list[QueueTicket]:
    return [
        t
        for t in state.find(QueueTicket, queue_id=queue.id, day=ctx.today)
        if not t.voided and t.status in _IN_QUEUE
    ]


def _numbering_warning(
    state: StateReader, before: Entity | None, after: Queue, ctx: MutationContext
) -> list[str]:
    """Changed number blocks or slots: numbers already given today stay valid (they are on slips)."""
    if not isinstance(before, Queue) or (before.number_block, before.number_slots) == (
        after.number_block,
        after.number_slots,
    ):
        return []
    issued = [t for t in state.find(QueueTicket, queue_id=after.id, day=ctx.today) if not t.voided]
    return [queue_say("numbers_today", ctx.lang, count=len(issued))] if issued else []
