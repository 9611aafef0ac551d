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

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator

from shared.domain.code_sets import SITE_SETTINGS_ID
from shared.domain.entities import (
    ENTITY_BY_KIND,
    Department,
    Diagnosis,
    Drug,
    Entity,
    Queue,
    QueueTicket,
    Role,
    RxRuleSet,
    SiteSettings,
)
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
    next_version,
    require,
)
from shared.domain.prices import PAST_SLACK, price_at, with_change
from shared.domain.rx_rule_sets import new_version, parse_rules, rule_problems
from shared.errors import ValidationFailed
from shared.i18n import kind_name, register
from shared.ids import reference_id
from shared.reference_io.plan import KINDS, entity_from_fields, retired, row_id
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
    "reference.price_in_past",
    {
        "zh_CN": "生效时间 {at} 已过：调价只能从现在或将来生效",
        "en": "The effective time {at} has passed: a price applies from now or a later time",
        "zh_TW": "生效時間 {at} 已過：調價只能從現在或將來生效",
    },
)
register(
    "reference.rules_in_past",
    {
        "zh_CN": "生效时间 {at} 已过：处方规则只能从现在或将来生效",
        "en": "The effective time {at} has passed: prescription rules apply from now or a later time",
        "zh_TW": "生效時間 {at} 已過：處方規則只能從現在或將來生效",
    },
)
register(
    "reference.rules_invalid",
    {
        "zh_CN": "处方规则未保存：{reason}",
        "en": "Prescription rules not saved: {reason}",
        "zh_TW": "處方規則未儲存：{reason}",
    },
)
register(
    "reference.empty_code_set",
    {
        "zh_CN": "编码版本“{code_set}”没有可用的诊断，不能选用",
        "en": "The code set '{code_set}' has no diagnoses in use and cannot be chosen",
        "zh_TW": "編碼版本「{code_set}」沒有可用的診斷，不能選用",
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


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("effective_from must carry a time zone")
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
    code_set: str | None = Field(default=None, min_length=1, max_length=32)  # diagnoses: the row's set

    _check_kind = field_validator("kind")(_kind)


class SetPrice(MutationArgs):
    code: str = Field(min_length=1, max_length=32)  # the drug's code
    price: Decimal = Field(ge=0, le=1_000_000, decimal_places=4)
    # None: from the moment the change is applied; else a time now or later (aware)
    effective_from: dt.datetime | None = None

    _check_aware = field_validator("effective_from")(_aware)


class SetRxRules(MutationArgs):
    id: str = Field(min_length=1, max_length=64)  # the new version's row (client-made uuid)
    # the whole ``RuleTable`` as JSON (``rx_rule_sets.table_json``); checked by the handler, which names
    # the field that is wrong
    rules: dict[str, Any] = Field(min_length=1, max_length=20)
    # None: from the moment the change is applied; else a time now or later (aware)
    effective_from: dt.datetime | None = None
    note: str = Field(default="", max_length=500)

    _check_aware = field_validator("effective_from")(_aware)


class ChooseCodeSet(MutationArgs):
    code_set: str = Field(min_length=1, max_length=32)


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


def _from_now_on(effective_from: dt.datetime | None, ctx: MutationContext, refusal: str) -> dt.datetime:
    """The moment a dated change applies from: ``effective_from``, else now. A moment before now by more
    than ``PAST_SLACK`` is refused (``refusal``: it would change what was already charged or checked);
    one within the slack is now, so nothing changes in the past."""
    effective = effective_from or ctx.now
    if effective < ctx.now - PAST_SLACK:
        raise Rejected(ctx.t(f"reference.{refusal}", at=effective.isoformat()), code=refusal)
    return max(effective, ctx.now)


def _current(state: StateReader, kind: str, code: str, code_set: str | None = None) -> Entity | None:
    return state.get(ENTITY_BY_KIND[kind], row_id(kind, code, code_set))


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
    before = (
        _current(state, args.kind, code, args.fields.get("code_set", "").strip() or None) if code else None
    )
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
    row = require(state, entity_type, row_id(args.kind, args.code, args.code_set), ctx)
    if isinstance(row, Queue):
        count = len(_in_queue_today(state, row, ctx))
        if count and not row.voided:
            raise Rejected(ctx.t("reference.queue_in_use", code=args.code, count=count), code="queue_in_use")
    else:
        check_base_version(row, ctx)
    after = retired(row, reason=args.reason, now=ctx.now)
    return Effect(writes=[after], result={"kind": args.kind, "code": args.code, "version": after.version})


@mutation(
    "reference.set_price",
    SetPrice,
    ADMIN_ROLES,
    "change a drug's price from a moment on",
    campus=_HOSPITAL_WIDE,
    owner=_ADMIN_WORK,
)
def set_price(state: StateReader, args: SetPrice, ctx: MutationContext) -> Effect:
    """The drug's price is ``price`` from ``effective_from`` (default: now) on; prescriptions written
    before keep the price they were written with (``prices.price_at``). A time already past is refused:
    it would change what was charged."""
    drug = require(state, Drug, reference_id("drug", args.code), ctx)
    check_base_version(drug, ctx)
    effective = _from_now_on(args.effective_from, ctx, "price_in_past")
    changed = with_change(drug, args.price, effective, set_by=ctx.staff_id, now=ctx.now)
    after = next_version(changed, ctx)
    return Effect(
        writes=[after],
        result={
            "kind": "drug",
            "code": args.code,
            "version": after.version,
            "price": str(args.price),
            "effective_from": effective.isoformat(),
            "price_now": str(price_at(after, ctx.now)),
        },
    )


@mutation(
    "reference.set_rx_rules",
    SetRxRules,
    ADMIN_ROLES,
    "change the prescription rules from a moment on",
    campus=_HOSPITAL_WIDE,
    owner=_ADMIN_WORK,
)
def set_rx_rules(state: StateReader, args: SetRxRules, ctx: MutationContext) -> Effect:
    """A new version of the rule table, in effect from ``effective_from`` (default: now) on; prescriptions
    written before keep being checked and printed by the rules of their time (``rx_rule_sets.rules_at``).
    A time already past is refused (it would change what was checked); a table that fails validation is
    refused naming the field; a table equal to the one in effect at that moment changes nothing."""
    if state.get(RxRuleSet, args.id) is not None:
        kind = kind_name(RxRuleSet.KIND, ctx.lang)
        raise Rejected(ctx.t("entity.duplicate_id", kind=kind, id=args.id), code="duplicate_id")
    problem = rule_problems(args.rules)
    if problem is not None:
        raise Rejected(ctx.t("reference.rules_invalid", reason=problem), code="invalid_rules")
    table = parse_rules(args.rules)
    effective = _from_now_on(args.effective_from, ctx, "rules_in_past")
    row, changes = new_version(
        state.find(RxRuleSet),
        table,
        effective,
        version_id=args.id,
        set_by=ctx.staff_id,
        now=ctx.now,
        note=args.note,
    )
    if row is None:
        return Effect(result={"kind": "rx_rules", "changed": False, "effective_from": effective.isoformat()})
    # the changes in the result: the audit entry (which keeps the result) then says what was changed
    return Effect(
        writes=[row],
        result={
            "kind": "rx_rules",
            "changed": True,
            "effective_from": effective.isoformat(),
            "changes": changes[:50],
        },
    )


@mutation(
    "reference.choose_code_set",
    ChooseCodeSet,
    ADMIN_ROLES,
    "choose the ICD-10 code set the site's doctors use",
    campus=_HOSPITAL_WIDE,
    owner=_ADMIN_WORK,
)
def choose_code_set(state: StateReader, args: ChooseCodeSet, ctx: MutationContext) -> Effect:
    """The one ``SiteSettings`` row names ``code_set``; a set with no live diagnosis is refused (the
    doctors would find nothing). Old notes and prescriptions keep the set they were written with."""
    if not any(not d.voided for d in state.find(Diagnosis, code_set=args.code_set)):
        raise Rejected(ctx.t("reference.empty_code_set", code_set=args.code_set), code="empty_code_set")
    before = state.get(SiteSettings, SITE_SETTINGS_ID)
    if before is None:
        after = SiteSettings(
            id=SITE_SETTINGS_ID, diagnosis_code_set=args.code_set, changed_by=ctx.staff_id, updated_at=ctx.now
        )
    elif before.diagnosis_code_set == args.code_set and not before.voided:
        return Effect(result={"code_set": args.code_set, "changed": False})
    else:
        check_base_version(before, ctx)
        after = next_version(
            before, ctx, diagnosis_code_set=args.code_set, changed_by=ctx.staff_id, voided=False
        )
    return Effect(writes=[after], result={"code_set": args.code_set, "changed": True})


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
