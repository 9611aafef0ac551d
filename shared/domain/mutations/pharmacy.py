"""Pharmacy mutations on prescriptions: review, pickup codes, dispensing, conflicts, refunds.

All need the ``pharmacist`` role. Quantities are whole **minimum units** (片/粒/支), as in the ledger.

``rx.review`` — ``ReviewRx``: ``rx_id``, ``decision`` ("approve" | "reject"), ``reason_code`` (a key of
  ``shared.domain.pharmacy.REVIEW_REASONS``; required to reject), ``reason`` (free text; required with
  "other"), ``reviewed_at`` (aware time the pharmacist signed), ``signing_key_id`` (the pharmacist's
  ``SigningKey`` registered for this PC), ``algorithm`` (default "ed25519"), ``signature`` over
  ``signing.canonical_bytes(pharmacy.review_signed_content(rx, ...))`` (which covers ``reviewed_at``;
  the rules of ``rx.sign`` apply: ``signature_checks.require_signature``), ``pickup_code`` (six digits drawn on the PC with
  ``pickup.issue_pickup_code``; required to approve — only its digest is stored). The prescription
  must be ``signed``; it becomes ``approved`` or ``rejected`` (a rejection goes back to the doctor).
  Where the prescription's pharmacy has ``payment_required``, approval issues no code (``pickup_code``
  is then ignored): ``rx.pay`` issues it.
``rx.pay`` — ``PayRx`` (pharmacist: the counter takes the money; admins do not): ``rx_id``,
  ``payment_ref`` (the payment adapter's confirmation reference), ``method`` ("cash" | "qr" | "card"),
  ``amount`` (must equal ``Prescription.total_amount``), ``paid_at`` (optional), ``pickup_code`` (six
  digits drawn on the PC; required when payment comes first and no code exists yet). Records the payment
  on the prescription; idempotent by ``payment_ref`` (the same reference again returns the stored
  payment and changes nothing; another reference for a paid prescription is refused). Refused for a
  prescription that is not approved (signed, rejected, draft), cancelled or refunded, or a wrong amount.
``pharmacy.configure`` — ``ConfigurePharmacy`` (admin): ``pharmacy_id``, ``payment_required`` (whether
  the pharmacy takes payment before it issues pickup codes), ``pickup_code_required`` (whether the
  pharmacy uses pickup codes at all; off: approval and payment issue none and the counter hands out
  without one). Either may be left out (unchanged). Prescriptions approved before a change
  keep the code they have (or wait for payment, as they did).
``rx.pickup_reissue`` — ``ReissuePickup``: ``rx_id``, ``pickup_code`` (new six digits), ``reason``.
``rx.pickup_verify`` — ``VerifyPickup``: ``rx_id``, ``code`` (as typed or scanned), ``at`` (optional).
  Always recorded: the result says ``ok``; a wrong, locked, expired or used code comes back ``ok:
  false`` with the reason as a warning (``applied_with_warning``), the try counted, and a handover
  must be refused. The fifth wrong try locks the code (``rx.pickup_reissue`` to go on).
``rx.dispense`` — ``DispenseRx``: ``id`` (the dispense record's id), ``rx_id``, ``pharmacy_id``,
  ``dispensed_at`` (aware, the PC's clock and offset; optional), ``handover`` ("counter" | "delivery"),
  ``pickup_code`` (the code the patient showed: evidence the handler checks against the stored digest),
  ``pickup_verified`` (the PC's claim; never believed: the record says what the evidence shows — the
  code carried here, or an ``rx.pickup_verify`` that succeeded since the code was issued or reopened and
  that no dispense has used yet), ``lines`` (empty: every line with what it still owes) of ``DispenseLineArgs``:
  ``line_no`` (index in ``Prescription.lines``), ``quantity`` (default: what the line still owes),
  ``batches`` (the batches the PC actually took: ``batch_no``, ``quantity``, ``expiry``; when given
  they are recorded as the fact they are) or, without ``batches``, first-expiry-first-out here, never
  from an expired batch, with ``override_batch_no`` + ``override_reason`` to take one batch first.
  What stock cannot cover is left as the line's remainder (partial dispense; the prescription becomes
  ``partly_dispensed``, then ``dispensed``; a pickup code used for it is reopened for the remainder).
  A dispense made offline stands for the state it meets (it happened): a prescription cancelled or
  dispensed meanwhile, stock going below zero, an expired or unknown batch, more than owed after
  another PC's dispense, no verified pickup code at the counter, or a shelf already counted after it
  are accepted, listed in ``Dispense.conflicts`` with ``conflict_status`` "open" (the review list,
  closed by *another* pharmacist: ``dispense.resolve``) and returned as warnings. Refused is what
  cannot have happened: a prescription never approved (draft, signed, rejected, or cancelled before
  approval), more than a line prescribes in one dispense, more than owed after this PC's own earlier
  dispense, another campus's prescription or pharmacy, a controlled drug (narcotic, psychotropic,
  toxic) without a verified code on a prescription approved now — and what is malformed
  (unknown prescription or line, duplicate id, an override without a reason) or hands out nothing. The
  desk always sends ``batches`` (what it physically handed out), so an offline dispense is recorded as
  it happened.
``dispense.resolve`` — ``ResolveDispense``: ``dispense_id``, ``note`` (required): closes a conflict; a
  second person's review, so never by the pharmacist who dispensed.
``rx.refund_request`` — ``RequestRefund``: ``id``, ``rx_id``, ``reason_code`` (``REFUND_REASONS``),
  ``reason``, ``lines`` of ``RefundLineArgs``: ``line_no``, ``quantity``, ``restock`` (back to its batch,
  default true). No more than was dispensed and not already refunded or requested.
``rx.refund_review`` — ``ReviewRefund``: ``refund_id``, ``decision`` ("approve" | "reject"), ``note``,
  ``returned_at`` (optional). Approval puts restocked units back into the batches they came from
  (``return`` movements pointing at their dispense movements); the prescription becomes ``refunded``
  once everything dispensed has come back.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from shared.domain import pickup as pickup_rules
from shared.domain import stock as ledger
from shared.domain.entities import (
    Dispense,
    DispenseAllocation,
    DispenseConflict,
    DispenseLine,
    Pharmacy,
    PickupCodeState,
    PickupEvent,
    PickupEventKind,
    Prescription,
    Refund,
    RefundLine,
    StockMovement,
)
from shared.domain.mutations.base import (
    CampusOf,
    Effect,
    Id,
    MutationArgs,
    MutationContext,
    NotBy,
    Rejected,
    Shared,
    StateReader,
    declare_claims,
    mutation,
    next_version,
)
from shared.domain.mutations.ledger_writer import StockWriter, local_day
from shared.domain.mutations.signature_checks import require_signature
from shared.domain.pharmacy import (
    DISPENSABLE_STATUSES,
    REFUND_REASONS,
    REVIEW_REASONS,
    RxLineFacts,
    as_batch_stock,
    money,
    pickup_state_id,
    review_signed_content,
    rx_line_facts,
)
from shared.domain.pharmacy_queries import as_movement
from shared.errors import SuiteError
from shared.i18n import register, state_name
from shared.security.providers import DEFAULT_ALGORITHM

ROLES: tuple[Literal["pharmacist"], ...] = ("pharmacist",)
PAY_ROLES: tuple[Literal["pharmacist"], ...] = ("pharmacist",)  # the counter takes money; an admin does not
PAYABLE_STATUSES = frozenset({"approved", "partly_dispensed", "dispensed"})
PaymentMethod = Literal["cash", "qr", "card"]

_MESSAGES = {
    "pharmacy.rx_not_found": {
        "zh_CN": "找不到处方：{id}",
        "en": "Prescription not found: {id}",
        "zh_TW": "找不到處方：{id}",
    },
    "pharmacy.not_signed": {
        "zh_CN": "处方 {number} 当前状态为“{status}”，只能审核已签名的处方",
        "en": "Prescription {number} is {status}; only signed prescriptions can be reviewed",
        "zh_TW": "處方 {number} 當前狀態為「{status}」，只能審核已簽名的處方",
    },
    "pharmacy.reason_required": {
        "zh_CN": "驳回处方须选择原因",
        "en": "Choose a reason to reject the prescription",
        "zh_TW": "駁回處方須選擇原因",
    },
    "pharmacy.unknown_reason": {
        "zh_CN": "未知的原因代码：{code}",
        "en": "Unknown reason code: {code}",
        "zh_TW": "未知的原因代碼：{code}",
    },
    "pharmacy.other_needs_text": {
        "zh_CN": "选择“其他”时须填写说明",
        "en": "Describe the reason when choosing Other",
        "zh_TW": "選擇「其他」時須填寫說明",
    },
    "pharmacy.bad_key": {
        "zh_CN": "签名密钥无效：未登记、已吊销或不属于当前药师",
        "en": "The signing key is not registered, revoked, or not the pharmacist's own",
        "zh_TW": "簽名密鑰無效：未登記、已吊銷或不屬於當前藥師",
    },
    "pharmacy.bad_signature": {
        "zh_CN": "审核签名验证失败，审核未记录",
        "en": "The review signature does not verify; the review was not recorded",
        "zh_TW": "審核簽名驗證失敗，審核未記錄",
    },
    "pharmacy.code_required": {
        "zh_CN": "审核通过须生成取药码",
        "en": "Approving needs a pickup code",
        "zh_TW": "審核通過須產生取藥碼",
    },
    "pharmacy.code_weak": {
        "zh_CN": "取药码过于简单，请重新生成",
        "en": "The pickup code is too easy to guess; draw another",
        "zh_TW": "取藥碼過於簡單，請重新產生",
    },
    "pharmacy.no_pickup_code": {
        "zh_CN": "处方尚未生成取药码",
        "en": "The prescription has no pickup code yet",
        "zh_TW": "處方尚未產生取藥碼",
    },
    "pharmacy.duplicate": {
        "zh_CN": "记录已存在：{id}",
        "en": "A record with this id already exists: {id}",
        "zh_TW": "記錄已存在：{id}",
    },
    "pharmacy.pharmacy_not_found": {
        "zh_CN": "找不到药房：{id}",
        "en": "Pharmacy not found: {id}",
        "zh_TW": "找不到藥房：{id}",
    },
    "pharmacy.bad_line": {
        "zh_CN": "处方没有第 {line} 行",
        "en": "The prescription has no line {line}",
        "zh_TW": "處方沒有第 {line} 行",
    },
    "pharmacy.batch_needs_expiry": {
        "zh_CN": "批号 {batch_no} 在本药房没有库存记录，须填写有效期",
        "en": "Batch {batch_no} is not in this pharmacy's ledger; give its expiry date",
        "zh_TW": "批號 {batch_no} 在本藥房沒有庫存記錄，須填寫有效期",
    },
    "pharmacy.nothing_dispensed": {
        "zh_CN": "没有可发的药品：可用库存不足（已过期批号不能发药）",
        "en": "Nothing could be dispensed: no usable stock (expired batches are never used)",
        "zh_TW": "沒有可發的藥品：可用庫存不足（已過期批號不能發藥）",
    },
    "pharmacy.partial": {
        "zh_CN": "{drug} 库存不足，本次发 {dispensed}，尚欠 {remaining} {unit}",
        "en": "{drug}: not enough stock; {dispensed} dispensed, {remaining} {unit} still owed",
        "zh_TW": "{drug} 庫存不足，本次發 {dispensed}，尚欠 {remaining} {unit}",
    },
    "pharmacy.never_approved": {
        "zh_CN": "处方 {number} 从未审核通过（当前状态：{status}），不能发药",
        "en": "Prescription {number} was never approved (status: {status}); it cannot have been dispensed",
        "zh_TW": "處方 {number} 從未審核通過（當前狀態：{status}），不能發藥",
    },
    "pharmacy.more_than_prescribed": {
        "zh_CN": "{drug} 本次发药 {quantity} 超过处方量 {prescribed}",
        "en": "{drug}: {quantity} in one dispense is more than the {prescribed} prescribed",
        "zh_TW": "{drug} 本次發藥 {quantity} 超過處方量 {prescribed}",
    },
    "pharmacy.already_dispensed_here": {
        "zh_CN": "{drug} 本机已发药 {given}，处方量 {prescribed}，不能重复发药",
        "en": "{drug}: this PC already dispensed {given} of {prescribed}; it is not dispensed twice",
        "zh_TW": "{drug} 本機已發藥 {given}，處方量 {prescribed}，不能重複發藥",
    },
    "pharmacy.controlled_unverified": {
        "zh_CN": "{drug} 为特殊管理药品：须处方已审核通过且取药码经核验后才能发药",
        "en": "{drug} is a controlled drug: it is dispensed only on an approved prescription with a verified pickup code",
        "zh_TW": "{drug} 為特殊管理藥品：須處方已審核通過且取藥碼經核驗後才能發藥",
    },
    "pharmacy.conflict.pickup_unverified": {
        "zh_CN": "发药时取药码未经核验（{detail}），已转入复核",
        "en": "Handed over without a verified pickup code ({detail}); sent for review",
        "zh_TW": "發藥時取藥碼未經核驗（{detail}），已轉入複核",
    },
    "pharmacy.conflict.rx_not_dispensable": {
        "zh_CN": "处方状态为“{detail}”时已发药，已转入待处理列表",
        "en": "Dispensed while the prescription was {detail}; sent to the review list",
        "zh_TW": "處方狀態為「{detail}」時已發藥，已轉入待處理列表",
    },
    "pharmacy.conflict.negative_stock": {
        "zh_CN": "{drug} 批号 {batch_no} 库存为负（{detail}），请核实",
        "en": "{drug} batch {batch_no} is below zero ({detail}); please check",
        "zh_TW": "{drug} 批號 {batch_no} 庫存為負（{detail}），請核實",
    },
    "pharmacy.conflict.expired_batch": {
        "zh_CN": "{drug} 批号 {batch_no} 发药时已过期（{detail}）",
        "en": "{drug} batch {batch_no} had expired when dispensed ({detail})",
        "zh_TW": "{drug} 批號 {batch_no} 發藥時已過期（{detail}）",
    },
    "pharmacy.conflict.unknown_batch": {
        "zh_CN": "{drug} 批号 {batch_no} 不在库存账上",
        "en": "{drug} batch {batch_no} is not in the ledger",
        "zh_TW": "{drug} 批號 {batch_no} 不在庫存賬上",
    },
    "pharmacy.conflict.over_dispensed": {
        "zh_CN": "{drug} 发药数量超过处方量（{detail}）",
        "en": "{drug}: more than prescribed was dispensed ({detail})",
        "zh_TW": "{drug} 發藥數量超過處方量（{detail}）",
    },
    "pharmacy.conflict.before_stocktake": {
        "zh_CN": "{drug} 批号 {batch_no} 的发药时间早于已入账的盘点（{detail}），请复核盘点",
        "en": "{drug} batch {batch_no} was dispensed before a stocktake already booked ({detail}); recheck it",
        "zh_TW": "{drug} 批號 {batch_no} 的發藥時間早於已入賬的盤點（{detail}），請複核盤點",
    },
    "pharmacy.dispense_not_found": {
        "zh_CN": "找不到发药记录：{id}",
        "en": "Dispense record not found: {id}",
        "zh_TW": "找不到發藥記錄：{id}",
    },
    "pharmacy.no_conflict": {
        "zh_CN": "该发药记录没有待处理的冲突",
        "en": "This dispense has no open conflict",
        "zh_TW": "該發藥記錄沒有待處理的衝突",
    },
    "pharmacy.refund_too_much": {
        "zh_CN": "{drug} 最多可退 {refundable}，申请了 {quantity}",
        "en": "{drug}: at most {refundable} can be refunded, {quantity} requested",
        "zh_TW": "{drug} 最多可退 {refundable}，申請了 {quantity}",
    },
    "pharmacy.refund_not_found": {
        "zh_CN": "找不到退药申请：{id}",
        "en": "Refund request not found: {id}",
        "zh_TW": "找不到退藥申請：{id}",
    },
    "pharmacy.not_payable": {
        "zh_CN": "处方 {number} 当前状态为“{status}”，不能收费",
        "en": "Prescription {number} is {status}; it cannot be paid",
        "zh_TW": "處方 {number} 當前狀態為「{status}」，不能收費",
    },
    "pharmacy.wrong_amount": {
        "zh_CN": "收费金额 {amount} 与处方金额 {due} 不符",
        "en": "The amount paid ({amount}) is not the prescription's amount ({due})",
        "zh_TW": "收費金額 {amount} 與處方金額 {due} 不符",
    },
    "pharmacy.already_paid": {
        "zh_CN": "处方已于 {at} 缴费（流水号 {ref}），不能重复收费",
        "en": "The prescription was already paid at {at} (reference {ref}); it is not charged twice",
        "zh_TW": "處方已於 {at} 繳費（流水號 {ref}），不能重複收費",
    },
    "pharmacy.dispensed_unpaid": {
        "zh_CN": "处方 {number} 尚未缴费即已发药，请补收费用",
        "en": "Prescription {number} was dispensed before it was paid; collect the payment",
        "zh_TW": "處方 {number} 尚未繳費即已發藥，請補收費用",
    },
    "pharmacy.refund_reviewed": {
        "zh_CN": "退药申请已审核（{status}）",
        "en": "The refund request was already reviewed ({status})",
        "zh_TW": "退藥申請已審核（{status}）",
    },
}
for _key, _texts in _MESSAGES.items():
    register(_key, _texts)


# ---------------------------------------------------------------------------------------------- args


class ReviewRx(MutationArgs):
    rx_id: str = Id
    decision: Literal["approve", "reject"]
    reason_code: str = Field(default="", max_length=64)
    reason: str = Field(default="", max_length=500)
    reviewed_at: AwareDatetime
    signing_key_id: str = Id
    algorithm: str = Field(default=DEFAULT_ALGORITHM, min_length=1, max_length=15)
    signature: str = Field(min_length=1, max_length=200)
    pickup_code: str | None = Field(default=None, pattern=r"^\d{6}$")


class PayRx(MutationArgs):
    rx_id: str = Id
    payment_ref: str = Id
    method: PaymentMethod
    amount: Decimal = Field(ge=0, le=Decimal("10000000"), decimal_places=2)
    paid_at: AwareDatetime | None = None
    pickup_code: str | None = Field(default=None, pattern=r"^\d{6}$")


class ConfigurePharmacy(MutationArgs):
    pharmacy_id: str = Id
    payment_required: bool | None = None  # None: unchanged
    pickup_code_required: bool | None = None  # None: unchanged


class ReissuePickup(MutationArgs):
    rx_id: str = Id
    pickup_code: str = Field(pattern=r"^\d{6}$")
    reason: str = Field(min_length=1, max_length=200)


class VerifyPickup(MutationArgs):
    rx_id: str = Id
    code: str = Field(max_length=40)
    at: AwareDatetime | None = None


class DispenseBatch(MutationArgs):
    batch_no: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=1_000_000)
    expiry: dt.date | None = None


class DispenseLineArgs(MutationArgs):
    line_no: int = Field(ge=0, le=59)
    quantity: int | None = Field(default=None, ge=1, le=1_000_000)
    batches: list[DispenseBatch] | None = Field(default=None, max_length=20)
    override_batch_no: str | None = Field(default=None, min_length=1, max_length=64)
    override_reason: str = Field(default="", max_length=200)


class DispenseRx(MutationArgs):
    id: str = Id
    rx_id: str = Id
    pharmacy_id: str = Id
    dispensed_at: AwareDatetime | None = None
    handover: Literal["counter", "delivery"] = "counter"
    pickup_code: str | None = Field(default=None, max_length=40)
    pickup_verified: bool = False  # the PC's claim, kept for old outboxes; the evidence decides
    lines: list[DispenseLineArgs] = Field(default_factory=list, max_length=60)


class ResolveDispense(MutationArgs):
    dispense_id: str = Id
    note: str = Field(min_length=1, max_length=500)


class RefundLineArgs(MutationArgs):
    line_no: int = Field(ge=0, le=59)
    quantity: int = Field(ge=1, le=1_000_000)
    restock: bool = True


class RequestRefund(MutationArgs):
    id: str = Id
    rx_id: str = Id
    reason_code: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=500)
    lines: list[RefundLineArgs] = Field(min_length=1, max_length=60)


class ReviewRefund(MutationArgs):
    refund_id: str = Id
    decision: Literal["approve", "reject"]
    note: str = Field(default="", max_length=500)
    returned_at: AwareDatetime | None = None


# ------------------------------------------------------------------------------------------- helpers


def _rx(state: StateReader, rx_id: str, ctx: MutationContext) -> Prescription:
    rx = state.get(Prescription, rx_id)
    if rx is None:
        raise Rejected(ctx.t("pharmacy.rx_not_found", id=rx_id), code="not_found")
    return rx


def _pharmacy(state: StateReader, pharmacy_id: str, ctx: MutationContext) -> Pharmacy:
    found = state.get(Pharmacy, pharmacy_id)
    if found is None or found.voided:
        raise Rejected(ctx.t("pharmacy.pharmacy_not_found", id=pharmacy_id), code="not_found")
    return found


def payment_first(state: StateReader, rx: Prescription) -> bool:
    """Whether the prescription's pharmacy issues the pickup code only once the prescription is paid."""
    pharmacy = state.get(Pharmacy, rx.pharmacy_id) if rx.pharmacy_id else None
    return pharmacy is not None and pharmacy.payment_required


def codes_used(state: StateReader, rx: Prescription) -> bool:
    """Whether the prescription's pharmacy asks for a pickup code at all (``Pharmacy.pickup_code_required``,
    on by default; a pharmacy that hands out without one turns it off with ``pharmacy.configure``)."""
    pharmacy = state.get(Pharmacy, rx.pharmacy_id) if rx.pharmacy_id else None
    return pharmacy is None or pharmacy.pickup_code_required


def _check_reason(code: str, text: str, table: dict[str, tuple[str, str, str]], ctx: MutationContext) -> None:
    if not code:
        raise Rejected(ctx.t("pharmacy.reason_required"), code="reason_required")
    if code not in table:
        raise Rejected(ctx.t("pharmacy.unknown_reason", code=code), code="unknown_reason")
    if code == "other" and not text.strip():
        raise Rejected(ctx.t("pharmacy.other_needs_text"), code="reason_required")


def _pickup_event(
    row: PickupCodeState | None,
    ctx: MutationContext,
    kind: PickupEventKind,
    *,
    reason: str = "",
    note: str = "",
) -> PickupEvent:
    return PickupEvent(
        no=row.events[-1].no + 1 if row and row.events else 1,
        kind=kind,
        at=ctx.now,
        by=ctx.staff_id,
        device=ctx.device_id[:64],
        reason=reason,
        note=note[:200],
    )


def _next_event(
    events: list[PickupEvent], ctx: MutationContext, kind: PickupEventKind, *, note: str = ""
) -> PickupEvent:
    return PickupEvent(
        no=events[-1].no + 1 if events else 1,
        kind=kind,
        at=ctx.now,
        by=ctx.staff_id,
        device=ctx.device_id[:64],
        note=note[:200],
    )


def _kept(events: list[PickupEvent], limit: int = 200) -> list[PickupEvent]:
    """The first event (the issue) and the latest ones: a code hammered with tries stays a bounded row
    (every try is in the audit log as well)."""
    return events if len(events) <= limit else [events[0], *events[-(limit - 1) :]]


def _new_code_state(
    rx: Prescription,
    code: str,
    ctx: MutationContext,
    at: dt.datetime,
    current: PickupCodeState | None,
    kind: PickupEventKind,
    note: str = "",
) -> PickupCodeState:
    if pickup_rules.easy_to_guess(code):
        raise Rejected(ctx.t("pharmacy.code_weak"), code="pickup_code_weak")
    digest = pickup_rules.code_digest(rx.id, code)
    event = _pickup_event(current, ctx, kind, note=note)
    fields: dict[str, Any] = {
        "digest": digest,
        "issued_at": at,
        "expires_at": at + pickup_rules.CODE_LIFETIME,
        "attempts": 0,
        "locked": False,
        "used_at": None,
    }
    if current is None:
        return PickupCodeState(
            id=pickup_state_id(rx.id),
            campus_id=rx.campus_id,
            rx_id=rx.id,
            pharmacy_id=rx.pharmacy_id,
            events=[event],
            updated_at=ctx.now,
            **fields,
        )
    return next_version(
        current, ctx, generation=current.generation + 1, events=_kept([*current.events, event]), **fields
    )


# -------------------------------------------------------------------------------------------- review


@mutation("rx.review", ReviewRx, roles=ROLES, summary="Approve or reject a signed prescription (signed).")
def review_rx(state: StateReader, args: ReviewRx, ctx: MutationContext) -> Effect:
    rx = _rx(state, args.rx_id, ctx)
    if rx.status != "signed" or rx.voided:
        raise Rejected(
            ctx.t(
                "pharmacy.not_signed",
                number=rx.number,
                status=state_name("prescription", rx.status, ctx.lang),
            ),
            code="bad_transition",
            detail={"status": rx.status},
        )
    if args.decision == "reject":
        _check_reason(args.reason_code, args.reason, REVIEW_REASONS, ctx)
    elif args.reason_code and args.reason_code not in REVIEW_REASONS:
        raise Rejected(ctx.t("pharmacy.unknown_reason", code=args.reason_code), code="unknown_reason")
    reviewed_at = args.reviewed_at
    content = review_signed_content(
        rx,
        decision=args.decision,
        reason_code=args.reason_code,
        reason=args.reason,
        reviewer_id=ctx.staff_id,
        reviewed_at=args.reviewed_at,
    )
    key = require_signature(
        state,
        key_id=args.signing_key_id,
        at=reviewed_at,
        content=content,
        signature=args.signature,
        algorithm=args.algorithm,
        ctx=ctx,
    )
    writes = []
    changes: dict[str, object] = {
        "status": "approved" if args.decision == "approve" else "rejected",
        "reviewed_by": ctx.staff_id,
        "reviewed_at": args.reviewed_at,
        "review_reason": args.reason,
        "review_reason_code": args.reason_code,
        "review_signature": args.signature,
        "review_key_id": key.id,
        "review_signature_algorithm": key.algorithm,
    }
    waits_for_payment = args.decision == "approve" and payment_first(state, rx) and rx.paid_at is None
    if args.decision == "approve" and not waits_for_payment and codes_used(state, rx):
        if not args.pickup_code:
            raise Rejected(ctx.t("pharmacy.code_required"), code="pickup_code_required")
        current = state.get(PickupCodeState, pickup_state_id(rx.id))
        code_state = _new_code_state(
            rx, args.pickup_code, ctx, reviewed_at, current, "issue" if current is None else "reissue"
        )
        writes.append(code_state)
        changes["pickup_code_hash"] = code_state.digest
    updated = next_version(rx, ctx, **changes)
    return Effect(
        writes=[updated, *writes],
        result={
            "rx_id": rx.id,
            "status": updated.status,
            "pickup_code_issued": bool(writes),
            "payment_required": waits_for_payment,
        },
    )


# ------------------------------------------------------------------------------------------- payment


@mutation(
    "rx.pay",
    PayRx,
    roles=PAY_ROLES,
    summary="Record a payment the payment adapter confirmed; issues the pickup code where payment comes first.",
)
def pay_rx(state: StateReader, args: PayRx, ctx: MutationContext) -> Effect:
    rx = _rx(state, args.rx_id, ctx)
    if rx.paid_at is not None:
        if rx.payment_ref == args.payment_ref:  # the same payment told twice: nothing new
            return Effect(result=_payment_result(rx, issued=False, repeated=True))
        raise Rejected(
            ctx.t(
                "pharmacy.already_paid",
                at=rx.paid_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                ref=rx.payment_ref,
            ),
            code="already_paid",
            detail={"payment_ref": rx.payment_ref},
        )
    if rx.voided or rx.status not in PAYABLE_STATUSES:
        raise Rejected(
            ctx.t(
                "pharmacy.not_payable",
                number=rx.number,
                status=state_name("prescription", rx.status, ctx.lang),
            ),
            code="bad_transition",
            detail={"status": rx.status},
        )
    due = money(Decimal(rx.total_amount or "0"))
    if money(args.amount) != due:
        raise Rejected(
            ctx.t("pharmacy.wrong_amount", amount=money(args.amount), due=due),
            code="wrong_amount",
            detail={"due": str(due)},
        )
    at = args.paid_at or ctx.now
    changes: dict[str, object] = {
        "paid_at": at,
        "paid_by": ctx.staff_id,
        "payment_ref": args.payment_ref,
        "payment_method": args.method,
        "amount_paid": str(due),
    }
    writes: list[Any] = []
    current = state.get(PickupCodeState, pickup_state_id(rx.id))
    if payment_first(state, rx) and codes_used(state, rx) and current is None and rx.status == "approved":
        if not args.pickup_code:
            raise Rejected(ctx.t("pharmacy.code_required"), code="pickup_code_required")
        code_state = _new_code_state(rx, args.pickup_code, ctx, at, None, "issue", note=args.payment_ref)
        writes.append(code_state)
        changes["pickup_code_hash"] = code_state.digest
    updated = next_version(rx, ctx, **changes)
    return Effect(writes=[updated, *writes], result=_payment_result(updated, issued=bool(writes)))


@mutation(
    "pharmacy.configure",
    ConfigurePharmacy,
    roles=("admin",),
    summary="Set whether a pharmacy takes payment before it issues pickup codes, and whether it uses them.",
)
def configure_pharmacy(state: StateReader, args: ConfigurePharmacy, ctx: MutationContext) -> Effect:
    pharmacy = _pharmacy(state, args.pharmacy_id, ctx)
    changes = {
        name: value
        for name, value in (
            ("payment_required", args.payment_required),
            ("pickup_code_required", args.pickup_code_required),
        )
        if value is not None and getattr(pharmacy, name) != value
    }
    if not changes:
        return Effect(result={"pharmacy_id": pharmacy.id, "changed": False})
    updated = next_version(pharmacy, ctx, **changes)
    return Effect(writes=[updated], result={"pharmacy_id": pharmacy.id, "changed": True})


def _payment_result(rx: Prescription, *, issued: bool, repeated: bool = False) -> dict[str, Any]:
    return {
        "rx_id": rx.id,
        "payment_ref": rx.payment_ref,
        "amount": rx.amount_paid,
        "paid_at": rx.paid_at.isoformat() if rx.paid_at else None,
        "pickup_code_issued": issued,
        "repeated": repeated,
    }


# -------------------------------------------------------------------------------------------- pickup


@mutation("rx.pickup_reissue", ReissuePickup, roles=ROLES, summary="Replace a lost, locked or expired code.")
def reissue_pickup(state: StateReader, args: ReissuePickup, ctx: MutationContext) -> Effect:
    rx = _rx(state, args.rx_id, ctx)
    current = state.get(PickupCodeState, pickup_state_id(rx.id))
    if current is None:
        raise Rejected(ctx.t("pharmacy.no_pickup_code"), code="no_pickup_code")
    code_state = _new_code_state(rx, args.pickup_code, ctx, ctx.now, current, "reissue", note=args.reason)
    updated = next_version(rx, ctx, pickup_code_hash=code_state.digest)
    return Effect(writes=[updated, code_state], result={"rx_id": rx.id, "generation": code_state.generation})


def _refusal_message(v: pickup_rules.Verification, ctx: MutationContext) -> str:
    if v.reason == "wrong":
        return ctx.t("pickup.wrong_code", remaining=v.remaining)
    if v.reason == "used" and v.state.used_at is not None:
        return ctx.t("pickup.used", at=v.state.used_at.strftime("%Y-%m-%d %H:%M"))
    return ctx.t(f"pickup.{v.reason}")


@mutation(
    "rx.pickup_verify", VerifyPickup, roles=ROLES, summary="Check a pickup code; every try is recorded."
)
def verify_pickup(state: StateReader, args: VerifyPickup, ctx: MutationContext) -> Effect:
    rx = _rx(state, args.rx_id, ctx)
    row = state.get(PickupCodeState, pickup_state_id(rx.id))
    if row is None:
        raise Rejected(ctx.t("pharmacy.no_pickup_code"), code="no_pickup_code")
    at = args.at or ctx.now
    stored = pickup_rules.PickupCode(
        prescription_id=rx.id,
        digest=row.digest,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        attempts=row.attempts,
        locked=row.locked,
        used_at=row.used_at,
        generation=row.generation,
    )
    outcome = pickup_rules.verify_pickup_code(stored, args.code, now=at)
    kind: PickupEventKind = "verified" if outcome.ok else "wrong" if outcome.reason == "wrong" else "refused"
    if outcome.reason == "locked" and outcome.state.attempts != row.attempts:
        kind = "wrong"  # the try that locked it
    updated = next_version(
        row,
        ctx,
        attempts=outcome.state.attempts,
        locked=outcome.state.locked,
        used_at=outcome.state.used_at,
        events=_kept([*row.events, _pickup_event(row, ctx, kind, reason=outcome.reason)]),
    )
    message = "" if outcome.ok else _refusal_message(outcome, ctx)
    return Effect(
        writes=[updated],
        warnings=[message] if message else [],
        result={
            "ok": outcome.ok,
            "reason": outcome.reason,
            "remaining": outcome.remaining,
            "locked": outcome.state.locked,
            "message": message,
        },
    )


# ------------------------------------------------------------------------------------------ dispense


def _dispensed_so_far(state: StateReader, rx_id: str) -> dict[int, int]:
    """Minimum units each line has been given by earlier dispenses (refunds do not re-open a line)."""
    totals: defaultdict[int, int] = defaultdict(int)
    for d in state.find(Dispense, rx_id=rx_id):
        if d.voided:
            continue
        for line in d.lines:
            totals[line.line_no] += line.dispensed
    return dict(totals)


def _conflict_warning(conflict: DispenseConflict, names: dict[str, str], ctx: MutationContext) -> str:
    return ctx.t(
        f"pharmacy.conflict.{conflict.kind}",
        drug=names.get(conflict.drug_id, conflict.drug_id),
        batch_no=conflict.batch_no,
        detail=conflict.detail,
    )


@mutation("rx.dispense", DispenseRx, roles=ROLES, summary="Dispense a prescription from the stock ledger.")
def dispense_rx(state: StateReader, args: DispenseRx, ctx: MutationContext) -> Effect:
    if state.get(Dispense, args.id) is not None:
        raise Rejected(ctx.t("pharmacy.duplicate", id=args.id), code="duplicate_id")
    rx = _rx(state, args.rx_id, ctx)
    pharmacy = _pharmacy(state, args.pharmacy_id, ctx)
    at, day = local_day(args.dispensed_at, ctx)
    if not _seen_approved(state, rx):
        raise Rejected(
            ctx.t(
                "pharmacy.never_approved",
                number=rx.number,
                status=state_name("prescription", rx.status, ctx.lang),
            ),
            code="rx_never_approved",
            detail={"status": rx.status},
        )
    facts = rx_line_facts(rx)
    given = _dispensed_so_far(state, rx.id)
    requested = args.lines or [DispenseLineArgs(line_no=f.line_no) for f in facts]
    code_row = state.get(PickupCodeState, pickup_state_id(rx.id))
    verified = _pickup_evidence(code_row, rx, args.pickup_code, at)
    _refuse_impossible(state, rx, facts, given, requested, verified, ctx)
    writer = StockWriter(state, ctx, campus_id=pharmacy.campus_id, source_id=args.id)
    conflicts: list[DispenseConflict] = []
    warnings: list[str] = []
    lines: list[DispenseLine] = []
    names = {f.drug_id: f.drug_name for f in facts}
    for req in requested:
        fact = facts[req.line_no]
        owed = max(0, fact.prescribed - given.get(fact.line_no, 0))
        wanted = req.quantity if req.quantity is not None else owed
        if wanted == 0:
            continue
        allocations = _allocate(writer, pharmacy.id, fact, req, wanted, day, ctx, conflicts)
        taken = 0
        cost = Decimal("0")
        rows: list[DispenseAllocation] = []
        for batch_no, quantity, expiry, reason in allocations:
            batch = writer.batch(pharmacy.id, fact.drug_id, batch_no)
            if batch is not None and batch.last_counted_at is not None and at < batch.last_counted_at:
                conflicts.append(
                    DispenseConflict(
                        kind="before_stocktake",
                        drug_id=fact.drug_id,
                        batch_no=batch_no,
                        detail=batch.last_counted_at.isoformat(timespec="minutes"),
                    )
                )
            movement = writer.add(
                pharmacy_id=pharmacy.id,
                drug_id=fact.drug_id,
                batch_no=batch_no,
                kind="dispense",
                quantity=-quantity,
                occurred_at=at,
                day=day,
                expiry=expiry,
                reason=reason,
                rx_id=rx.id,
                rx_line_id=fact.rx_line_id,
            )
            if day > movement.expiry:
                conflicts.append(
                    DispenseConflict(
                        kind="expired_batch",
                        drug_id=fact.drug_id,
                        batch_no=batch_no,
                        detail=movement.expiry.isoformat(),
                    )
                )
            taken += quantity
            cost += movement.unit_cost * quantity
            rows.append(
                DispenseAllocation(
                    batch_no=batch_no,
                    expiry=movement.expiry,
                    quantity=quantity,
                    unit_cost=movement.unit_cost,
                    override_reason=reason,
                )
            )
        if taken > owed:
            conflicts.append(
                DispenseConflict(
                    kind="over_dispensed",
                    drug_id=fact.drug_id,
                    detail=f"{given.get(fact.line_no, 0) + taken}>{fact.prescribed}",
                )
            )
        remaining = max(0, owed - taken)
        if remaining and taken < wanted:
            warnings.append(
                ctx.t(
                    "pharmacy.partial",
                    drug=fact.drug_name,
                    dispensed=taken,
                    remaining=remaining,
                    unit=fact.min_unit,
                )
            )
        lines.append(
            DispenseLine(
                line_no=fact.line_no,
                rx_line_id=fact.rx_line_id,
                drug_id=fact.drug_id,
                drug_name=fact.drug_name[:100],
                prescribed=fact.prescribed,
                dispensed=taken,
                remaining=remaining,
                allocations=rows,
                amount=fact.amount_for(taken),
            )
        )
    if not writer.movements:
        raise Rejected(ctx.t("pharmacy.nothing_dispensed"), code="out_of_stock")
    if rx.status not in DISPENSABLE_STATUSES or rx.voided:
        conflicts.insert(0, DispenseConflict(kind="rx_not_dispensable", drug_id="", detail=rx.status))
    if args.handover == "counter" and not verified:
        claimed = "claimed" if args.pickup_verified or args.pickup_code else "none"
        conflicts.append(DispenseConflict(kind="pickup_unverified", drug_id="", detail=claimed))
    for change in writer.negative:
        conflicts.append(
            DispenseConflict(
                kind="negative_stock",
                drug_id=change.drug_id,
                batch_no=change.batch_no,
                detail=str(change.quantity),
            )
        )
    conflicts = list(dict.fromkeys(conflicts))
    # Everything owed, counting lines not in this dispense.
    owed_after = {f.line_no: max(0, f.prescribed - given.get(f.line_no, 0)) for f in facts}
    for line in lines:
        owed_after[line.line_no] = line.remaining
    complete = not any(owed_after.values())
    record = Dispense(
        id=args.id,
        campus_id=pharmacy.campus_id,
        pharmacy_id=pharmacy.id,
        rx_id=rx.id,
        rx_number=rx.number,
        patient_id=rx.patient_id,
        day=day,
        dispensed_at=at,
        dispensed_by=ctx.staff_id,
        device_id=ctx.device_id[:64],
        handover=args.handover,
        pickup_verified=verified,
        lines=lines,
        amount=money(sum((line.amount for line in lines), Decimal("0"))),
        cost=money(cost_total(lines)),
        complete=complete,
        conflicts=conflicts,
        conflict_status="open" if conflicts else "none",
        updated_at=ctx.now,
    )
    writes: list[Any] = [record, *writer.writes()]
    code = code_row
    if code is not None and (verified or (not complete and code.used_at is not None)):
        # A verified code is used up by this handover ("dispensed"); for a partial dispense the patient
        # comes back for the remainder with the same code, which lives on for a full lifetime from this
        # dispense (restocking may take longer than the code had left).
        events = list(code.events)
        changes: dict[str, Any] = {}
        if verified:
            events.append(_next_event(events, ctx, "dispensed", note=args.id))
            changes["used_at"] = code.used_at or at
        if not complete:
            events.append(_next_event(events, ctx, "reopened", note=args.id))
            changes["used_at"] = None
            changes["expires_at"] = max(code.expires_at, at + pickup_rules.CODE_LIFETIME)
        writes.append(next_version(code, ctx, events=_kept(events), **changes))
    if rx.status in DISPENSABLE_STATUSES and not rx.voided:
        writes.insert(0, next_version(rx, ctx, status="dispensed" if complete else "partly_dispensed"))
    warnings = [_conflict_warning(c, names, ctx) for c in conflicts] + warnings
    if rx.paid_at is None and payment_first(state, rx):  # stands (it happened), but the money is owed
        warnings.append(ctx.t("pharmacy.dispensed_unpaid", number=rx.number))
    return Effect(
        writes=writes,
        warnings=warnings,
        result={
            "dispense_id": record.id,
            "complete": complete,
            "remaining": {str(k): v for k, v in owed_after.items() if v},
            "amount": str(record.amount),
            "conflicts": [c.model_dump() for c in conflicts],
        },
    )


_NEVER_APPROVED = frozenset({"draft", "signed", "rejected"})
# narcotic, psychotropic and toxic drugs: never handed over on a claim alone
CONTROLLED_CLASSES = frozenset({"narcotic", "psychotropic1", "psychotropic2", "toxic"})
_APPROVED_ONCE = frozenset({"approved", "partly_dispensed", "dispensed", "refunded"})


def _seen_approved(state: StateReader, rx: Prescription) -> bool:
    """Whether any PC can have seen the prescription approved: it is (or was, before dispensing and
    refunds) approved, or it was cancelled after an approval (a pickup code or a payment shows that)."""
    if rx.status in _APPROVED_ONCE:
        return True
    if rx.status in _NEVER_APPROVED:
        return False
    if state.get(PickupCodeState, pickup_state_id(rx.id)) is not None or rx.paid_at is not None:
        return True
    # approved at a pharmacy that takes payment first, and cancelled before it was paid
    return rx.reviewed_at is not None and payment_first(state, rx) and not rx.review_reason_code


def _pickup_evidence(
    row: PickupCodeState | None, rx: Prescription, code: str | None, at: dt.datetime
) -> bool:
    """Whether the handover is backed by a verified pickup code, judged only on what the server holds:
    the code carried in the dispense checked against the stored digest, or an ``rx.pickup_verify`` that
    succeeded since the code was issued or reopened — in both cases not yet used by another dispense."""
    if row is None or row.locked:
        return False
    marks = [
        e.kind for e in row.events if e.kind in ("issue", "reissue", "reopened", "dispensed", "verified")
    ]
    if marks[-1:] == ["dispensed"]:
        return False  # the code's current use was already handed over
    if code:
        entered = pickup_rules.normalize_code(code)
        return at <= row.expires_at and pickup_rules.digest_matches(rx.id, entered, row.digest)
    return bool(marks) and marks[-1] == "verified"


def _refuse_impossible(
    state: StateReader,
    rx: Prescription,
    facts: list[RxLineFacts],
    given: dict[int, int],
    requested: list[DispenseLineArgs],
    verified: bool,
    ctx: MutationContext,
) -> None:
    """Refuse a dispense that cannot have happened as told, offline or not: more than a line prescribes
    in one go, more than owed after this PC's own earlier dispenses (it knew), a controlled drug without
    a verified code on an approved prescription."""
    asked: defaultdict[int, int] = defaultdict(int)
    for req in requested:
        if req.line_no >= len(facts):
            raise Rejected(ctx.t("pharmacy.bad_line", line=req.line_no + 1), code="bad_line")
        fact = facts[req.line_no]
        if req.batches is not None:
            asked[req.line_no] += sum(b.quantity for b in req.batches)
        else:
            asked[req.line_no] += req.quantity or max(0, fact.prescribed - given.get(fact.line_no, 0))
    here: defaultdict[int, int] = defaultdict(int)
    for d in state.find(Dispense, rx_id=rx.id):
        if not d.voided and d.device_id == ctx.device_id[:64]:
            for line in d.lines:
                here[line.line_no] += line.dispensed
    approved_now = rx.status in DISPENSABLE_STATUSES and not rx.voided
    for line_no, quantity in asked.items():
        fact = facts[line_no]
        if quantity > fact.prescribed:
            raise Rejected(
                ctx.t(
                    "pharmacy.more_than_prescribed",
                    drug=fact.drug_name,
                    quantity=quantity,
                    prescribed=fact.prescribed,
                ),
                code="more_than_prescribed",
            )
        if quantity and here[line_no] + quantity > fact.prescribed:
            raise Rejected(
                ctx.t(
                    "pharmacy.already_dispensed_here",
                    drug=fact.drug_name,
                    given=here[line_no],
                    prescribed=fact.prescribed,
                ),
                code="already_dispensed",
            )
        controlled = str(rx.lines[line_no].get("drug", {}).get("controlled_class", "none") or "none")
        if controlled in CONTROLLED_CLASSES and quantity and not (verified and approved_now):
            raise Rejected(
                ctx.t("pharmacy.controlled_unverified", drug=fact.drug_name), code="controlled_unverified"
            )


def cost_total(lines: list[DispenseLine]) -> Decimal:
    return sum((a.unit_cost * a.quantity for line in lines for a in line.allocations), Decimal("0"))


def _allocate(
    writer: StockWriter,
    pharmacy_id: str,
    fact: RxLineFacts,
    req: DispenseLineArgs,
    wanted: int,
    day: dt.date,
    ctx: MutationContext,
    conflicts: list[DispenseConflict],
) -> list[tuple[str, int, dt.date | None, str]]:
    """(batch, quantity, expiry for an unknown batch, override reason) to take for one line."""
    if req.override_batch_no and not req.override_reason.strip():
        raise Rejected(
            ctx.t("stock.reason_required", what=ctx.t("stock.override_label")), code="stock_reason_required"
        )
    if req.batches is not None:
        out: list[tuple[str, int, dt.date | None, str]] = []
        for b in req.batches:
            known = writer.batch(pharmacy_id, fact.drug_id, b.batch_no)
            if known is None:
                if b.expiry is None:
                    raise Rejected(
                        ctx.t("pharmacy.batch_needs_expiry", batch_no=b.batch_no), code="stock_unknown_batch"
                    )
                conflicts.append(
                    DispenseConflict(kind="unknown_batch", drug_id=fact.drug_id, batch_no=b.batch_no)
                )
            reason = req.override_reason if req.override_batch_no == b.batch_no else ""
            out.append((b.batch_no, b.quantity, b.expiry, reason))
        return out
    override = (
        ledger.BatchOverride(req.override_batch_no, req.override_reason) if req.override_batch_no else None
    )
    batches = [as_batch_stock(b) for b in writer.batches_of(pharmacy_id, fact.drug_id)]
    try:
        allocation = ledger.allocate_fefo(batches, wanted, day, override)
    except SuiteError as error:
        raise Rejected(error.message, code=error.code) from error
    return [(line.batch_no, line.quantity, None, line.override_reason) for line in allocation.lines]


@mutation("dispense.resolve", ResolveDispense, roles=ROLES, summary="Close a dispense conflict with a note.")
def resolve_dispense(state: StateReader, args: ResolveDispense, ctx: MutationContext) -> Effect:
    record = state.get(Dispense, args.dispense_id)
    if record is None:
        raise Rejected(ctx.t("pharmacy.dispense_not_found", id=args.dispense_id), code="not_found")
    if record.conflict_status != "open":
        raise Rejected(ctx.t("pharmacy.no_conflict"), code="no_conflict")
    updated = next_version(
        record,
        ctx,
        conflict_status="resolved",
        resolved_by=ctx.staff_id,
        resolved_at=ctx.now,
        resolution_note=args.note,
    )
    return Effect(writes=[updated], result={"dispense_id": record.id})


# ------------------------------------------------------------------------------------------- refunds


def _refund_totals(state: StateReader, rx_id: str, *, statuses: tuple[str, ...]) -> dict[int, int]:
    totals: defaultdict[int, int] = defaultdict(int)
    for refund in state.find(Refund, rx_id=rx_id):
        if refund.status in statuses and not refund.voided:
            for line in refund.lines:
                totals[line.line_no] += line.quantity
    return dict(totals)


@mutation("rx.refund_request", RequestRefund, roles=ROLES, summary="Ask to refund dispensed drugs.")
def request_refund(state: StateReader, args: RequestRefund, ctx: MutationContext) -> Effect:
    if state.get(Refund, args.id) is not None:
        raise Rejected(ctx.t("pharmacy.duplicate", id=args.id), code="duplicate_id")
    _check_reason(args.reason_code, args.reason, REFUND_REASONS, ctx)
    rx = _rx(state, args.rx_id, ctx)
    facts = rx_line_facts(rx)
    given = _dispensed_so_far(state, rx.id)
    claimed = _refund_totals(state, rx.id, statuses=("requested", "approved"))
    pharmacy_id = next((d.pharmacy_id for d in state.find(Dispense, rx_id=rx.id)), rx.pharmacy_id or "")
    wanted: defaultdict[int, int] = defaultdict(int)
    lines: list[RefundLine] = []
    for req in args.lines:
        if req.line_no >= len(facts):
            raise Rejected(ctx.t("pharmacy.bad_line", line=req.line_no + 1), code="bad_line")
        fact = facts[req.line_no]
        wanted[req.line_no] += req.quantity
        refundable = given.get(req.line_no, 0) - claimed.get(req.line_no, 0)
        if wanted[req.line_no] > refundable:
            raise Rejected(
                ctx.t(
                    "pharmacy.refund_too_much",
                    drug=fact.drug_name,
                    refundable=max(0, refundable),
                    quantity=wanted[req.line_no],
                ),
                code="refund_too_much",
            )
        lines.append(
            RefundLine(
                line_no=fact.line_no,
                rx_line_id=fact.rx_line_id,
                drug_id=fact.drug_id,
                quantity=req.quantity,
                restock=req.restock,
                amount=fact.amount_for(req.quantity),
            )
        )
    refund = Refund(
        id=args.id,
        campus_id=rx.campus_id,
        pharmacy_id=pharmacy_id,
        rx_id=rx.id,
        patient_id=rx.patient_id,
        day=ctx.today,
        requested_at=ctx.now,
        requested_by=ctx.staff_id,
        reason_code=args.reason_code,
        reason=args.reason,
        lines=lines,
        amount=money(sum((line.amount for line in lines), Decimal("0"))),
        updated_at=ctx.now,
    )
    return Effect(writes=[refund], result={"refund_id": refund.id, "amount": str(refund.amount)})


@mutation("rx.refund_review", ReviewRefund, roles=ROLES, summary="Approve or reject a refund request.")
def review_refund(state: StateReader, args: ReviewRefund, ctx: MutationContext) -> Effect:
    refund = state.get(Refund, args.refund_id)
    if refund is None:
        raise Rejected(ctx.t("pharmacy.refund_not_found", id=args.refund_id), code="not_found")
    if refund.status != "requested":
        raise Rejected(
            ctx.t("pharmacy.refund_reviewed", status=state_name("refund_request", refund.status, ctx.lang)),
            code="bad_transition",
        )
    changes: dict[str, object] = {
        "status": "approved" if args.decision == "approve" else "rejected",
        "reviewed_by": ctx.staff_id,
        "reviewed_at": ctx.now,
        "review_note": args.note,
    }
    if args.decision == "reject":
        return Effect(writes=[next_version(refund, ctx, **changes)], result={"refund_id": refund.id})
    rx = _rx(state, refund.rx_id, ctx)
    at, day = local_day(args.returned_at, ctx)
    history = [as_movement(m) for m in state.find(StockMovement, rx_id=rx.id) if not m.voided]
    writer = StockWriter(state, ctx, campus_id=refund.campus_id, source_id=refund.id)
    counter = iter(range(10_000))
    for line in refund.lines:
        if not line.restock:
            continue
        dispenses = [m for m in history if m.kind == "dispense" and m.rx_line_id == line.rx_line_id]
        try:
            returns = ledger.return_movements(
                dispenses,
                line.quantity,
                ledger=history,
                occurred_at=at,
                reason=refund.reason or refund.reason_code,
                new_id=lambda: f"{refund.id}:{next(counter)}",
            )
        except SuiteError as error:
            raise Rejected(error.message, code=error.code) from error
        for r in returns:
            writer.add(
                pharmacy_id=r.pharmacy_id,
                drug_id=r.drug_id,
                batch_no=r.batch_no,
                kind="return",
                quantity=r.quantity,
                occurred_at=at,
                day=day,
                expiry=r.expiry,
                unit_cost=r.unit_cost,
                reason=r.reason[:200],
                rx_id=rx.id,
                rx_line_id=line.rx_line_id,
                reverses=r.reverses,
            )
        history.extend(returns)
    writes = [next_version(refund, ctx, **changes), *writer.writes()]
    given = _dispensed_so_far(state, rx.id)
    refunded = _refund_totals(state, rx.id, statuses=("approved",))
    for line in refund.lines:
        refunded[line.line_no] = refunded.get(line.line_no, 0) + line.quantity
    if given and all(refunded.get(n, 0) >= q for n, q in given.items()) and rx.status != "refunded":
        writes.insert(0, next_version(rx, ctx, status="refunded"))
    return Effect(
        writes=writes,
        result={"refund_id": refund.id, "returned": sum(m.quantity for m in writer.movements)},
    )


# Where each mutation's objects are and whose they are (checked before the handler; see base.py).
_RX_HERE = CampusOf(rx_id=Prescription)
_COUNTER = Shared("any pharmacist at the prescription's campus")
declare_claims(
    {
        "rx.review": (
            _RX_HERE,
            NotBy("the prescriber never reviews their own prescription", rx_id=(Prescription, "doctor_id")),
        ),
        "rx.pay": (_RX_HERE, _COUNTER),
        "pharmacy.configure": (
            CampusOf(pharmacy_id=Pharmacy),
            Shared("an admin at the pharmacy's campus sets how it takes payment"),
        ),
        "rx.pickup_reissue": (_RX_HERE, _COUNTER),
        "rx.pickup_verify": (_RX_HERE, _COUNTER),
        "rx.dispense": (
            CampusOf(rx_id=Prescription, pharmacy_id=Pharmacy),
            Shared("any pharmacist of the campus dispenses; every exception goes to another's review"),
        ),
        "dispense.resolve": (
            CampusOf(dispense_id=Dispense),
            NotBy("a second pharmacist closes a dispense's review", dispense_id=(Dispense, "dispensed_by")),
        ),
        "rx.refund_request": (_RX_HERE, _COUNTER),
        "rx.refund_review": (
            CampusOf(refund_id=Refund),
            NotBy("a second pharmacist reviews a refund request", refund_id=(Refund, "requested_by")),
        ),
    }
)
