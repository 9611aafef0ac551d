"""Consult mutations: visit notes, lab/imaging orders, visit withdrawal, note templates and order sets.

Roles: doctors write (admins may also keep department templates); nurses may record order results;
pharmacists only read. Times are aware datetimes; ids are client-made uuids.

``emr.save`` — ``SaveNote`` (doctor): ``id``, ``visit_id``, the sections ``chief_complaint``,
  ``present_illness``, ``past_history``, ``allergy_history``, ``examination``, ``advice``, ``diagnoses``
  (``entities.NoteDiagnosis``: ``code`` (ICD-10 from the dictionary, "" for free text), ``name``,
  ``primary``, ``supplement``), ``amends_id`` (a signed note of the same visit this one corrects).
  Creates the note or replaces a draft's content (send ``base_version`` when saving an existing note;
  autosave may save as often as it likes). Exactly one diagnosis ends up primary (the first when none is
  marked). A signed note is never changed (``note_signed``): correct it with a new note + ``amends_id``.
  One live note per visit (``note_exists`` with ``detail.note_id`` names the one to edit).
``emr.sign`` — ``SignNote`` (the note's doctor): ``note_id``, ``signing_key_id``, ``signed_at``,
  ``algorithm`` (default "ed25519"), ``signature`` over
  ``canonical_bytes(clinical.note_signed_content(note, signed_at))``. Needs a chief complaint and a
  diagnosis; the signature rules of ``rx.sign`` apply (``signature_checks.require_signature``). Signing an
  amendment marks the note it amends ``superseded``.
``order.create`` — ``CreateOrder`` (doctor): ``id``, ``visit_id``, ``exam_item_id`` (``ExamItem``),
  ``urgent``, ``note`` (indication). One order per item; the item is snapshotted (name, price, site).
``order.cancel`` — ``CancelOrder`` (the ordering doctor): ``order_id``, ``reason``. Not once resulted.
``order.result`` — ``RecordResult`` (doctor, nurse; the lab/PACS adapter): ``order_id``,
  ``result_text``, ``result_flag`` ("normal" | "abnormal" | "critical"), ``resulted_at`` (optional).
``visit.withdraw`` — ``WithdrawVisit`` (the visit's doctor; a nurse before another doctor wrote anything):
  ``visit_id``, ``reason``. The visit becomes ``withdrawn``; its open orders and its prescriptions not yet
  dispensed are cancelled with the reason in the same step. Refused once a prescription was dispensed or
  an order has a result, and while another doctor's prescription or order is on the visit.
``template.save`` — ``SaveTemplate`` (doctor, admin): ``id``, ``name``, ``scope`` ("personal" |
  "department"), ``department_id`` (department scope; default: the author's department), the six
  sections, ``diagnoses``. Creates or replaces; a personal template only by its owner, a department
  template by a doctor of that department or an admin.
``template.delete`` — ``DeleteTemplate``: ``template_id`` (voided, same rights as saving).
``order_set.save`` — ``SaveOrderSet`` (doctor, admin): ``id``, ``name``, ``scope``, ``department_id``,
  ``rx_type``, ``lines`` (``entities.OrderSetLine``: ``drug_id``, ``drug_code``, ``drug_name``, ``dose``,
  ``dose_unit``, ``route``, ``frequency``, ``days``, ``quantity``, ``note``; empty usage = the drug's
  default), ``exam_item_ids``. Drugs and exam items must exist.
``order_set.delete`` — ``DeleteOrderSet``: ``order_set_id``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, field_validator

from shared.domain.clinical import note_signed_content
from shared.domain.entities import (
    ClinicalOrder,
    Diagnosis,
    Drug,
    EmrNote,
    ExamItem,
    NoteDiagnosis,
    NoteTemplate,
    OrderSet,
    OrderSetLine,
    Prescription,
    Role,
    Staff,
    TemplateScope,
    Visit,
)
from shared.domain.mutations.base import (
    CampusOf,
    Custom,
    Effect,
    Id,
    InHandler,
    MutationArgs,
    MutationContext,
    NoCampus,
    OptionalId,
    OwnedBy,
    Reason,
    Rejected,
    Shared,
    StateReader,
    check_base_version,
    declare_claims,
    mutation,
    next_version,
    not_owner,
    require,
)
from shared.domain.mutations.rx import DISPENSED
from shared.domain.mutations.signature_checks import require_signature
from shared.domain.rx_rules import RxType
from shared.i18n import register, state_name, tr
from shared.security.providers import DEFAULT_ALGORITHM

DOCTOR: tuple[Role, ...] = ("doctor",)

_MESSAGES: dict[str, tuple[str, str, str]] = {
    "emr.duplicate": ("病历 {id} 已存在", "Visit note {id} already exists", "病歷 {id} 已存在"),
    "emr.note_exists": (
        "本次就诊已有病历，请打开后修改",
        "This visit already has a note; open it to edit",
        "本次就診已有病歷，請開啟後修改",
    ),
    "emr.signed": (
        "病历已签名，不能修改；如需更正请新建修订病历",
        "The note is signed and cannot change; write an amendment to correct it",
        "病歷已簽名，不能修改；如需更正請新建修訂病歷",
    ),
    "emr.not_yours": (
        "该病历由其他医生书写",
        "This note was written by another doctor",
        "該病歷由其他醫師書寫",
    ),
    "emr.bad_amends": (
        "只能修订本次就诊中已签名的病历",
        "Only a signed note of the same visit can be amended",
        "只能修訂本次就診中已簽名的病歷",
    ),
    "emr.primary_twice": (
        "只能有一个主要诊断",
        "Only one diagnosis can be the primary one",
        "只能有一個主要診斷",
    ),
    "emr.unknown_icd": (
        "诊断编码 {code} 不在 ICD-10 字典中",
        "The diagnosis code {code} is not in the ICD-10 dictionary",
        "診斷編碼 {code} 不在 ICD-10 字典中",
    ),
    "emr.duplicate_diagnosis": (
        "诊断 {name} 重复",
        "The diagnosis {name} is listed twice",
        "診斷 {name} 重複",
    ),
    "emr.incomplete": (
        "签名前请填写{missing}",
        "Fill in the {missing} before signing",
        "簽名前請填寫{missing}",
    ),
    "emr.section.chief_complaint": ("主诉", "chief complaint", "主訴"),
    "emr.section.diagnosis": ("诊断", "diagnosis", "診斷"),
    "emr.already_signed": ("病历已签名", "The note is already signed", "病歷已簽名"),
    "visit.withdrawn": (
        "该就诊已退诊",
        "This visit was withdrawn",
        "該就診已退診",
    ),
    "visit.withdraw_dispensed": (
        "处方 {number} 已发药，不能退诊（请先办理退药）",
        "Prescription {number} was dispensed; the visit cannot be withdrawn (refund it first)",
        "處方 {number} 已發藥，不能退診（請先辦理退藥）",
    ),
    "visit.withdraw_resulted": (
        "{item} 已出结果，不能退诊",
        "{item} already has a result; the visit cannot be withdrawn",
        "{item} 已出結果，不能退診",
    ),
    "visit.withdraw_note": ("退诊：{reason}", "Visit withdrawn: {reason}", "退診：{reason}"),
    "order.duplicate": ("申请单 {id} 已存在", "Order {id} already exists", "申請單 {id} 已存在"),
    "order.already_ordered": (
        "本次就诊已申请 {item}",
        "{item} is already ordered for this visit",
        "本次就診已申請 {item}",
    ),
    "order.bad_status": (
        "申请单 {item} 当前状态为 {status}，不能{action}",
        "The order for {item} is {status} and cannot be {action}",
        "申請單 {item} 當前狀態為 {status}，不能{action}",
    ),
    "order.action.cancel": ("取消", "cancelled", "取消"),
    "order.action.result": ("录入结果", "given a result", "錄入結果"),
    "template.not_yours": (
        "只能修改自己的个人模板或本科室的科室模板",
        "You can only change your own templates or your department's",
        "只能修改自己的個人範本或本科室的科室範本",
    ),
    "template.no_department": (
        "科室模板需要指定科室",
        "A department template needs a department",
        "科室範本需要指定科室",
    ),
    "template.kind_changed": (
        "不能更改模板的归属",
        "A template's owner or department cannot change",
        "不能更改範本的歸屬",
    ),
    "order_set.unknown_drug": (
        "组套中的药品 {drug} 不在药品目录中",
        "The drug {drug} of the order set is not in the formulary",
        "組套中的藥品 {drug} 不在藥品目錄中",
    ),
    "order_set.unknown_item": (
        "组套中的检查检验项目 {item} 不存在",
        "The exam item {item} of the order set does not exist",
        "組套中的檢查檢驗項目 {item} 不存在",
    ),
}
for _key, (_zh, _en, _tw) in _MESSAGES.items():
    register(_key, {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(tr("rx.naive_time"))
    return value


# ---------------------------------------------------------------------------------------------- args


class NoteSections(MutationArgs):
    chief_complaint: str = Field(default="", max_length=500)
    present_illness: str = Field(default="", max_length=4000)
    past_history: str = Field(default="", max_length=4000)
    allergy_history: str = Field(default="", max_length=1000)
    examination: str = Field(default="", max_length=4000)
    advice: str = Field(default="", max_length=2000)
    diagnoses: list[NoteDiagnosis] = Field(default_factory=list, max_length=20)


class SaveNote(NoteSections):
    id: str = Id
    visit_id: str = Id
    amends_id: str | None = OptionalId


class SignNote(MutationArgs):
    note_id: str = Id
    signing_key_id: str = Id
    signed_at: dt.datetime
    algorithm: str = Field(default=DEFAULT_ALGORITHM, min_length=1, max_length=15)
    signature: str = Field(min_length=1, max_length=200)

    _signed_at = field_validator("signed_at")(_aware)


class CreateOrder(MutationArgs):
    id: str = Id
    visit_id: str = Id
    exam_item_id: str = Id
    urgent: bool = False
    note: str = Field(default="", max_length=500)


class CancelOrder(MutationArgs):
    order_id: str = Id
    reason: str = Reason


class RecordResult(MutationArgs):
    order_id: str = Id
    result_text: str = Field(min_length=1, max_length=4000)
    result_flag: Literal["normal", "abnormal", "critical"] = "normal"
    resulted_at: dt.datetime | None = None

    _resulted_at = field_validator("resulted_at")(_aware)


class WithdrawVisit(MutationArgs):
    visit_id: str = Id
    reason: str = Reason


class SaveTemplate(NoteSections):
    id: str = Id
    name: str = Field(min_length=1, max_length=64)
    scope: TemplateScope = "personal"
    department_id: str | None = OptionalId


class DeleteTemplate(MutationArgs):
    template_id: str = Id


class SaveOrderSet(MutationArgs):
    id: str = Id
    name: str = Field(min_length=1, max_length=64)
    scope: TemplateScope = "personal"
    department_id: str | None = OptionalId
    rx_type: RxType = "ordinary"
    lines: list[OrderSetLine] = Field(default_factory=list, max_length=30)
    exam_item_ids: list[str] = Field(default_factory=list, max_length=30)


class DeleteOrderSet(MutationArgs):
    order_set_id: str = Id


# ------------------------------------------------------------------------------------------- helpers


def _live_visit(state: StateReader, visit_id: str, ctx: MutationContext) -> Visit:
    visit = require(state, Visit, visit_id, ctx)
    if visit.status == "withdrawn":
        raise Rejected(ctx.t("visit.withdrawn"), code="visit_withdrawn")
    return visit


def _diagnoses(
    state: StateReader, diagnoses: list[NoteDiagnosis], ctx: MutationContext
) -> list[NoteDiagnosis]:
    """Checked diagnoses: known ICD-10 codes, no repeats, exactly one primary (the first if none marked)."""
    if sum(d.primary for d in diagnoses) > 1:
        raise Rejected(ctx.t("emr.primary_twice"), code="primary_twice")
    seen: set[str] = set()
    for d in diagnoses:
        key = d.code or d.name
        if key in seen:
            raise Rejected(ctx.t("emr.duplicate_diagnosis", name=d.name), code="duplicate_diagnosis")
        seen.add(key)
        known = state.find(Diagnosis, code=d.code) if d.code else []
        if d.code and not [x for x in known if not x.voided and d.code_set in ("", x.code_set)]:
            raise Rejected(ctx.t("emr.unknown_icd", code=d.code), code="unknown_icd")
    if diagnoses and not any(d.primary for d in diagnoses):
        diagnoses = [diagnoses[0].model_copy(update={"primary": True}), *diagnoses[1:]]
    return diagnoses


def _sections(args: NoteSections) -> dict[str, Any]:
    return {
        name: getattr(args, name)
        for name in (
            "chief_complaint",
            "present_illness",
            "past_history",
            "allergy_history",
            "examination",
            "advice",
        )
    }


# --------------------------------------------------------------------------------------------- notes


@mutation("emr.save", SaveNote, roles=DOCTOR, summary="Save a visit note draft (autosave).")
def save_note(state: StateReader, args: SaveNote, ctx: MutationContext) -> Effect:
    diagnoses = _diagnoses(state, args.diagnoses, ctx)
    current = state.get(EmrNote, args.id)
    if current is not None:
        if current.doctor_id != ctx.staff_id:
            raise Rejected(ctx.t("emr.not_yours"), code="not_your_note")
        if current.status != "draft" or current.voided:
            raise Rejected(ctx.t("emr.signed"), code="note_signed", detail={"status": current.status})
        check_base_version(current, ctx)
        _live_visit(state, current.visit_id, ctx)
        updated = next_version(current, ctx, **_sections(args), diagnoses=diagnoses, saved_at=ctx.now)
        return Effect(writes=[updated], result={"note_id": updated.id, "version": updated.version})
    visit = _live_visit(state, args.visit_id, ctx)
    if args.amends_id:
        amended = state.get(EmrNote, args.amends_id)
        if amended is None or amended.visit_id != visit.id or amended.status != "signed":
            raise Rejected(ctx.t("emr.bad_amends"), code="bad_amends")
    for other in state.find(EmrNote, visit_id=visit.id):
        if other.voided or other.status == "superseded":
            continue
        if other.status == "draft" or not args.amends_id:
            raise Rejected(ctx.t("emr.note_exists"), code="note_exists", detail={"note_id": other.id})
    note = EmrNote(
        id=args.id,
        campus_id=visit.campus_id,
        visit_id=visit.id,
        patient_id=visit.patient_id,
        doctor_id=ctx.staff_id,
        department_id=visit.department_id,
        **_sections(args),
        diagnoses=diagnoses,
        amends_id=args.amends_id,
        created_at=ctx.now,
        saved_at=ctx.now,
        updated_at=ctx.now,
    )
    return Effect(writes=[note], result={"note_id": note.id, "version": note.version})


@mutation("emr.sign", SignNote, roles=DOCTOR, summary="Sign a visit note (Ed25519, verified).")
def sign_note(state: StateReader, args: SignNote, ctx: MutationContext) -> Effect:
    note = require(state, EmrNote, args.note_id, ctx)
    if note.doctor_id != ctx.staff_id:
        raise Rejected(ctx.t("emr.not_yours"), code="not_your_note")
    if note.status != "draft":
        raise Rejected(ctx.t("emr.already_signed"), code="bad_transition", detail={"status": note.status})
    missing = [
        ctx.t(f"emr.section.{name}")
        for name, present in (
            ("chief_complaint", note.chief_complaint.strip()),
            ("diagnosis", note.diagnoses),
        )
        if not present
    ]
    if missing:
        raise Rejected(ctx.t("emr.incomplete", missing="、".join(missing)), code="note_incomplete")
    key = require_signature(
        state,
        key_id=args.signing_key_id,
        at=args.signed_at,
        content=note_signed_content(note, args.signed_at),
        signature=args.signature,
        algorithm=args.algorithm,
        ctx=ctx,
    )
    signed = next_version(
        note,
        ctx,
        status="signed",
        signature=args.signature,
        signing_key_id=key.id,
        signed_at=args.signed_at,
        signature_algorithm=key.algorithm,
    )
    writes: list[EmrNote] = [signed]
    if note.amends_id:
        old = state.get(EmrNote, note.amends_id)
        if old is not None and old.status == "signed":
            writes.append(next_version(old, ctx, status="superseded", superseded_by=note.id))
    return Effect(writes=list(writes), result={"note_id": note.id, "status": "signed"})


# -------------------------------------------------------------------------------------------- orders


@mutation("order.create", CreateOrder, roles=DOCTOR, summary="Request a lab or imaging item.")
def create_order(state: StateReader, args: CreateOrder, ctx: MutationContext) -> Effect:
    if state.get(ClinicalOrder, args.id) is not None:
        raise Rejected(ctx.t("order.duplicate", id=args.id), code="duplicate_id")
    visit = _live_visit(state, args.visit_id, ctx)
    item = require(state, ExamItem, args.exam_item_id, ctx)
    for other in state.find(ClinicalOrder, visit_id=visit.id):
        if other.exam_item_id == item.id and other.status == "ordered" and not other.voided:
            raise Rejected(
                ctx.t("order.already_ordered", item=item.name_zh),
                code="already_ordered",
                detail={"order_id": other.id},
            )
    order = ClinicalOrder(
        id=args.id,
        campus_id=visit.campus_id,
        visit_id=visit.id,
        patient_id=visit.patient_id,
        doctor_id=ctx.staff_id,
        department_id=visit.department_id,
        exam_item_id=item.id,
        item_code=item.code,
        item_name=item.name_zh,
        kind=item.kind,
        specimen_or_site=item.specimen_or_site,
        exec_department=item.department,
        price=item.price,
        urgent=args.urgent,
        note=args.note,
        ordered_at=ctx.now,
        updated_at=ctx.now,
    )
    return Effect(writes=[order], result={"order_id": order.id, "price": str(item.price)})


def _order_bad_status(order: ClinicalOrder, action: str, ctx: MutationContext) -> Rejected:
    return Rejected(
        ctx.t(
            "order.bad_status",
            item=order.item_name,
            status=state_name("clinical_order", order.status, ctx.lang),
            action=ctx.t(f"order.action.{action}"),
        ),
        code="bad_transition",
        detail={"status": order.status},
    )


@mutation("order.cancel", CancelOrder, roles=DOCTOR, summary="Cancel a lab/imaging request (its doctor).")
def cancel_order(state: StateReader, args: CancelOrder, ctx: MutationContext) -> Effect:
    order = require(state, ClinicalOrder, args.order_id, ctx)
    if order.status != "ordered":
        raise _order_bad_status(order, "cancel", ctx)
    cancelled = next_version(order, ctx, status="cancelled", cancel_reason=args.reason, cancelled_at=ctx.now)
    return Effect(writes=[cancelled], result={"order_id": order.id, "status": "cancelled"})


@mutation(
    "order.result",
    RecordResult,
    roles=("doctor", "nurse"),
    summary="Record the result of a lab/imaging request.",
)
def record_result(state: StateReader, args: RecordResult, ctx: MutationContext) -> Effect:
    order = require(state, ClinicalOrder, args.order_id, ctx)
    if order.status != "ordered":
        raise _order_bad_status(order, "result", ctx)
    resulted = next_version(
        order,
        ctx,
        status="resulted",
        result_text=args.result_text,
        result_flag=args.result_flag,
        resulted_at=args.resulted_at or ctx.now,
    )
    return Effect(writes=[resulted], result={"order_id": order.id, "status": "resulted"})


# --------------------------------------------------------------------------------------------- visit


@mutation(
    "visit.withdraw",
    WithdrawVisit,
    roles=("doctor", "nurse"),
    summary="Withdraw a consult with a reason (退诊).",
)
def withdraw_visit(state: StateReader, args: WithdrawVisit, ctx: MutationContext) -> Effect:
    visit = _live_visit(state, args.visit_id, ctx)
    prescriptions = [rx for rx in state.find(Prescription, visit_id=visit.id) if not rx.voided]
    orders = [o for o in state.find(ClinicalOrder, visit_id=visit.id) if not o.voided]
    for rx in prescriptions:
        if rx.status in DISPENSED:
            raise Rejected(
                ctx.t("visit.withdraw_dispensed", number=rx.number),
                code="visit_has_dispensed_rx",
                detail={"rx_id": rx.id},
            )
    for order in orders:
        if order.status == "resulted":
            raise Rejected(
                ctx.t("visit.withdraw_resulted", item=order.item_name),
                code="visit_has_results",
                detail={"order_id": order.id},
            )
    note = ctx.t("visit.withdraw_note", reason=args.reason)[:500]
    writes: list[Visit | Prescription | ClinicalOrder] = [
        next_version(
            visit,
            ctx,
            status="withdrawn",
            withdrawn_at=ctx.now,
            withdrawn_by=ctx.staff_id,
            withdraw_reason=args.reason,
        )
    ]
    cancelled_rx = [rx for rx in prescriptions if rx.status != "cancelled"]
    cancelled_orders = [o for o in orders if o.status == "ordered"]
    writes += [next_version(rx, ctx, status="cancelled", cancel_reason=note) for rx in cancelled_rx]
    writes += [
        next_version(o, ctx, status="cancelled", cancel_reason=note, cancelled_at=ctx.now)
        for o in cancelled_orders
    ]
    return Effect(
        writes=list(writes),
        result={
            "visit_id": visit.id,
            "status": "withdrawn",
            "cancelled_rx": [rx.id for rx in cancelled_rx],
            "cancelled_orders": [o.id for o in cancelled_orders],
        },
    )


# ------------------------------------------------------------------------------ templates, order sets


def _owner_fields(
    state: StateReader,
    scope: TemplateScope,
    department_id: str | None,
    ctx: MutationContext,
) -> tuple[str | None, str | None]:
    """(owner_id, department_id) of a new template, after checking the caller may keep it."""
    staff = require(state, Staff, ctx.staff_id, ctx)
    if scope == "personal":
        return staff.id, department_id or staff.department_id
    department = department_id or staff.department_id
    if not department:
        raise Rejected(ctx.t("template.no_department"), code="no_department")
    if "admin" not in ctx.roles and staff.department_id != department:
        raise Rejected(ctx.t("template.not_yours"), code="not_your_template")
    return None, department


def _may_edit(state: StateReader, row: NoteTemplate | OrderSet, ctx: MutationContext) -> None:
    if row.scope == "personal":
        if row.owner_id != ctx.staff_id:
            raise Rejected(ctx.t("template.not_yours"), code="not_your_template")
        return
    if "admin" in ctx.roles:
        return
    staff = require(state, Staff, ctx.staff_id, ctx)
    if staff.department_id != row.department_id:
        raise Rejected(ctx.t("template.not_yours"), code="not_your_template")


def _save_owned(
    state: StateReader,
    entity_type: type[NoteTemplate] | type[OrderSet],
    args: SaveTemplate | SaveOrderSet,
    fields: dict[str, Any],
    ctx: MutationContext,
    id_key: str,
) -> Effect:
    """A template or order set with ``fields``: a new one (whose ``args.scope`` says whose it is), or
    the next version of one this user may edit (its scope never changes)."""
    owner_id, department_id = _owner_fields(state, args.scope, args.department_id, ctx)
    current = state.get(entity_type, args.id)
    if current is not None:
        _may_edit(state, current, ctx)
        if current.scope != args.scope:
            raise Rejected(ctx.t("template.kind_changed"), code="template_kind_changed")
        updated = next_version(current, ctx, voided=False, void_reason=None, **fields)
        return Effect(writes=[updated], result={id_key: updated.id, "version": updated.version})
    saved = entity_type(
        id=args.id,
        scope=args.scope,
        owner_id=owner_id,
        department_id=department_id,
        created_by=ctx.staff_id,
        updated_at=ctx.now,
        **fields,
    )
    return Effect(writes=[saved], result={id_key: saved.id, "version": 1})


def _delete_owned(
    state: StateReader,
    entity_type: type[NoteTemplate] | type[OrderSet],
    entity_id: str,
    ctx: MutationContext,
    id_key: str,
) -> Effect:
    """A template or order set this user may edit, deleted (voided)."""
    entity = require(state, entity_type, entity_id, ctx)
    _may_edit(state, entity, ctx)
    voided = next_version(entity, ctx, voided=True, void_reason="deleted")
    return Effect(writes=[voided], result={id_key: entity.id})


@mutation("template.save", SaveTemplate, roles=("doctor", "admin"), summary="Save a visit-note template.")
def save_template(state: StateReader, args: SaveTemplate, ctx: MutationContext) -> Effect:
    diagnoses = _diagnoses(state, args.diagnoses, ctx)
    fields: dict[str, Any] = {**_sections(args), "name": args.name, "diagnoses": diagnoses}
    return _save_owned(state, NoteTemplate, args, fields, ctx, "template_id")


@mutation("template.delete", DeleteTemplate, roles=("doctor", "admin"), summary="Delete a note template.")
def delete_template(state: StateReader, args: DeleteTemplate, ctx: MutationContext) -> Effect:
    return _delete_owned(state, NoteTemplate, args.template_id, ctx, "template_id")


@mutation("order_set.save", SaveOrderSet, roles=("doctor", "admin"), summary="Save a treatment plan.")
def save_order_set(state: StateReader, args: SaveOrderSet, ctx: MutationContext) -> Effect:
    lines: list[OrderSetLine] = []
    for line in args.lines:
        drug = state.get(Drug, line.drug_id)
        if drug is None or drug.voided:
            raise Rejected(
                ctx.t("order_set.unknown_drug", drug=line.drug_name or line.drug_id), code="unknown_drug"
            )
        lines.append(line.model_copy(update={"drug_code": drug.code, "drug_name": drug.generic_name}))
    for item_id in args.exam_item_ids:
        item = state.get(ExamItem, item_id)
        if item is None or item.voided:
            raise Rejected(ctx.t("order_set.unknown_item", item=item_id), code="unknown_exam_item")
    fields: dict[str, Any] = {
        "name": args.name,
        "rx_type": args.rx_type,
        "lines": lines,
        "exam_item_ids": list(dict.fromkeys(args.exam_item_ids)),
    }
    return _save_owned(state, OrderSet, args, fields, ctx, "order_set_id")


@mutation("order_set.delete", DeleteOrderSet, roles=("doctor", "admin"), summary="Delete a treatment plan.")
def delete_order_set(state: StateReader, args: DeleteOrderSet, ctx: MutationContext) -> Effect:
    return _delete_owned(state, OrderSet, args.order_set_id, ctx, "order_set_id")


# ------------------------------------------------------------------ where and whose (checked first)


def _own_note(state: StateReader, args: SaveNote, ctx: MutationContext) -> None:
    """A note is edited, and a signed note amended, only by the doctor who wrote it."""
    for note_id in (args.id, args.amends_id):
        note = state.get(EmrNote, note_id) if note_id else None
        if note is not None and note.doctor_id != ctx.staff_id:
            raise not_owner(EmrNote.KIND, ctx, note.doctor_id)


def _may_withdraw(state: StateReader, args: WithdrawVisit, ctx: MutationContext) -> None:
    """Withdrawing a visit cancels its prescriptions and orders, so it never cancels someone else's: it
    is refused while any live prescription or order on the visit is another doctor's; and a doctor other
    than the visit's own may not withdraw it (a nurse may, before any doctor has written anything)."""
    visit = state.get(Visit, args.visit_id)
    if visit is None:
        return
    for rx in state.find(Prescription, visit_id=visit.id):
        if not rx.voided and rx.status != "cancelled" and rx.doctor_id != ctx.staff_id:
            raise not_owner(Prescription.KIND, ctx, rx.doctor_id)
    for order in state.find(ClinicalOrder, visit_id=visit.id):
        if not order.voided and order.status != "cancelled" and order.doctor_id != ctx.staff_id:
            raise not_owner(ClinicalOrder.KIND, ctx, order.doctor_id)
    if "nurse" not in ctx.roles and visit.doctor_id not in (None, ctx.staff_id):
        raise not_owner(Visit.KIND, ctx, visit.doctor_id)


_TEMPLATES = InHandler(
    "a personal template or plan is changed by its owner only; a department's by its doctors or an admin"
)
declare_claims(
    {
        "emr.save": (
            CampusOf(visit_id=Visit, id=EmrNote, amends_id=EmrNote),
            Custom("a note is edited and amended by the doctor who wrote it", _own_note),
        ),
        "emr.sign": (
            CampusOf(note_id=EmrNote),
            OwnedBy("its author signs a note", note_id=(EmrNote, "doctor_id")),
        ),
        "order.create": (
            CampusOf(visit_id=Visit),
            Shared("any doctor at the visit's campus orders; the order is theirs"),
        ),
        "order.cancel": (
            CampusOf(order_id=ClinicalOrder),
            OwnedBy("only the ordering doctor cancels", order_id=(ClinicalOrder, "doctor_id")),
        ),
        "order.result": (
            CampusOf(order_id=ClinicalOrder),
            Shared("the lab or a nurse or doctor at the campus records a result"),
        ),
        "visit.withdraw": (
            CampusOf(visit_id=Visit),
            Custom("the visit's doctor, or a nurse before another doctor wrote anything", _may_withdraw),
        ),
        "template.save": (NoCampus("templates are the hospital's, a department's or a doctor's"), _TEMPLATES),
        "template.delete": (
            NoCampus("templates are the hospital's, a department's or a doctor's"),
            _TEMPLATES,
        ),
        "order_set.save": (NoCampus("plans are the hospital's, a department's or a doctor's"), _TEMPLATES),
        "order_set.delete": (NoCampus("plans are the hospital's, a department's or a doctor's"), _TEMPLATES),
    }
)
