"""Stock mutations: receive, move out / transfer / scrap, count, and per-pharmacy minimums.

All need the ``pharmacist`` role. Quantities in movements are whole **minimum units**; receipts may be
given in packs. Each mutation appends ``StockMovement`` rows and rewrites the ``StockBatch`` balances it
touches (``shared.domain.pharmacy.StockWriter``). Stock going below zero is accepted and answered with a
warning (the movements are ``flagged``), never refused.

``stock.receive`` — ``ReceiveStock``: ``id`` (the receipt's id; movements carry it as ``source_id``),
  ``pharmacy_id``, ``supplier``, ``invoice_no``, ``received_at`` (optional, aware), ``note``, ``lines``
  of ``ReceiveLine``: ``drug_id``, ``batch_no``, ``expiry`` (last day of use), ``quantity``, ``unit``
  ("pack" | "min", default "pack"), ``price`` (purchase price per **pack**). Refused: an unknown drug, a
  batch already expired on arrival, a batch number the pharmacy holds with another expiry.
``stock.move`` — ``MoveStock``: ``id``, ``pharmacy_id``, ``kind`` ("out" to a place outside the ledger:
  ward, supplier return …; "transfer" to ``to_pharmacy_id``, which receives the same batch; "scrap"),
  ``reason`` (required), ``destination`` (text, for "out"), ``to_pharmacy_id``, ``occurred_at``,
  ``lines`` of ``MoveLine``: ``drug_id``, ``batch_no``, ``quantity`` (minimum units).
``stock.count`` — ``CountStock``: ``id`` (the stocktake's id), ``pharmacy_id``, ``counted_at`` (aware;
  when the shelf was counted), ``complete_drugs`` (a counted drug's batches not listed count as zero),
  ``note``, ``lines`` of ``CountLine``: ``drug_id``, ``batch_no``, ``counted`` (minimum units, ≥ 0),
  ``expiry`` (only for a batch the ledger does not know). The handler computes each batch's book
  quantity **as of** ``counted_at`` (its balance minus the movements that happened after the count,
  even when they reached the server first) and writes the difference as a ``count_adjustment``; a
  ``Stocktake`` row keeps counted, book and adjustment per line. Counts older than
  ``COUNT_WINDOW_DAYS`` are refused (recount instead).
``stock.set_minimum`` — ``SetMinimum``: ``pharmacy_id``, ``drug_id``, ``min_packs`` (0 = no alert).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, Field

from shared.domain.entities import Drug, Pharmacy, StockMinimum, StockMovement, Stocktake, StocktakeLine
from shared.domain.mutations.base import (
    CampusOf,
    Effect,
    Id,
    MutationArgs,
    MutationContext,
    Rejected,
    Shared,
    StateReader,
    declare_claims,
    mutation,
    next_version,
)
from shared.domain.mutations.ledger_writer import StockWriter, local_day
from shared.domain.mutations.pharmacy import ROLES, _pharmacy
from shared.domain.pharmacy import (
    batch_key,
    drug_key,
    minimum_id,
    unit_cost_of,
)
from shared.i18n import register

COUNT_WINDOW_DAYS = 31

_MESSAGES = {
    "stock.duplicate": {
        "zh_CN": "单据已存在：{id}",
        "en": "A stock document with this id already exists: {id}",
        "zh_TW": "單據已存在：{id}",
    },
    "stock.drug_not_found": {
        "zh_CN": "找不到药品：{id}",
        "en": "Drug not found: {id}",
        "zh_TW": "找不到藥品：{id}",
    },
    "stock.expired_on_arrival": {
        "zh_CN": "{drug} 批号 {batch_no} 有效期至 {expiry}，入库时已过期",
        "en": "{drug} batch {batch_no} expired on {expiry}, before it arrived",
        "zh_TW": "{drug} 批號 {batch_no} 有效期至 {expiry}，入庫時已過期",
    },
    "stock.expiry_mismatch": {
        "zh_CN": "{drug} 批号 {batch_no} 已登记有效期 {known}，与本次 {given} 不一致",
        "en": "{drug} batch {batch_no} is on record with expiry {known}, not {given}",
        "zh_TW": "{drug} 批號 {batch_no} 已登記有效期 {known}，與本次 {given} 不一致",
    },
    "stock.batch_not_found": {
        "zh_CN": "{drug} 批号 {batch_no} 在本药房没有库存记录",
        "en": "{drug} batch {batch_no} has no stock record in this pharmacy",
        "zh_TW": "{drug} 批號 {batch_no} 在本藥房沒有庫存記錄",
    },
    "stock.target_required": {
        "zh_CN": "调拨须选择调入药房（且不能是本药房）",
        "en": "A transfer needs another pharmacy to receive it",
        "zh_TW": "調撥須選擇調入藥房（且不能是本藥房）",
    },
    "stock.went_negative": {
        "zh_CN": "{drug} 批号 {batch_no} 库存为负（{quantity}），已标记待核实",
        "en": "{drug} batch {batch_no} is below zero ({quantity}); flagged for checking",
        "zh_TW": "{drug} 批號 {batch_no} 庫存為負（{quantity}），已標記待核實",
    },
    "stock.count_too_old": {
        "zh_CN": "盘点时间 {at} 距今超过 {days} 天，请重新盘点",
        "en": "The count at {at} is more than {days} days old; count again",
        "zh_TW": "盤點時間 {at} 距今超過 {days} 天，請重新盤點",
    },
    "stock.count_in_future": {
        "zh_CN": "盘点时间 {at} 晚于当前时间",
        "en": "The count time {at} is in the future",
        "zh_TW": "盤點時間 {at} 晚於當前時間",
    },
    "stock.count_needs_expiry": {
        "zh_CN": "账上没有的批号 {batch_no} 盘点时须填写有效期",
        "en": "Batch {batch_no} is not in the ledger; its count needs an expiry date",
        "zh_TW": "賬上沒有的批號 {batch_no} 盤點時須填寫有效期",
    },
}
for _key, _texts in _MESSAGES.items():
    register(_key, _texts)


# ---------------------------------------------------------------------------------------------- args


class ReceiveLine(MutationArgs):
    drug_id: str = Id
    batch_no: str = Field(min_length=1, max_length=64)
    expiry: dt.date
    quantity: int = Field(ge=1, le=10_000_000)
    unit: Literal["pack", "min"] = "pack"
    price: Decimal = Field(ge=0, le=Decimal("1000000"), decimal_places=4)


class ReceiveStock(MutationArgs):
    id: str = Id
    pharmacy_id: str = Id
    supplier: str = Field(min_length=1, max_length=100)
    invoice_no: str = Field(default="", max_length=64)
    received_at: AwareDatetime | None = None
    note: str = Field(default="", max_length=200)
    lines: list[ReceiveLine] = Field(min_length=1, max_length=500)


class MoveLine(MutationArgs):
    drug_id: str = Id
    batch_no: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=10_000_000)


class MoveStock(MutationArgs):
    id: str = Id
    pharmacy_id: str = Id
    kind: Literal["out", "transfer", "scrap"]
    reason: str = Field(min_length=1, max_length=200)
    destination: str = Field(default="", max_length=100)
    to_pharmacy_id: str | None = Field(default=None, min_length=1, max_length=64)
    occurred_at: AwareDatetime | None = None
    lines: list[MoveLine] = Field(min_length=1, max_length=500)


class CountLine(MutationArgs):
    drug_id: str = Id
    batch_no: str = Field(min_length=1, max_length=64)
    counted: int = Field(ge=0, le=10_000_000)
    expiry: dt.date | None = None


class CountStock(MutationArgs):
    id: str = Id
    pharmacy_id: str = Id
    counted_at: AwareDatetime
    complete_drugs: bool = False
    note: str = Field(default="", max_length=500)
    lines: list[CountLine] = Field(min_length=1, max_length=2000)


class SetMinimum(MutationArgs):
    pharmacy_id: str = Id
    drug_id: str = Id
    min_packs: int = Field(ge=0, le=1_000_000)


# ------------------------------------------------------------------------------------------- helpers


def _drug(state: StateReader, drug_id: str, ctx: MutationContext) -> Drug:
    drug = state.get(Drug, drug_id)
    if drug is None:
        raise Rejected(ctx.t("stock.drug_not_found", id=drug_id), code="not_found")
    return drug


def _no_duplicate(state: StateReader, source_id: str, ctx: MutationContext) -> None:
    if state.find(StockMovement, source_id=source_id) or state.get(Stocktake, source_id) is not None:
        raise Rejected(ctx.t("stock.duplicate", id=source_id), code="duplicate_id")


def _negative_warnings(writer: StockWriter, names: dict[str, str], ctx: MutationContext) -> list[str]:
    return [
        ctx.t(
            "stock.went_negative",
            drug=names.get(change.drug_id, change.drug_id),
            batch_no=change.batch_no,
            quantity=change.quantity,
        )
        for change in writer.negative
    ]


# ---------------------------------------------------------------------------------------------- receive


@mutation("stock.receive", ReceiveStock, roles=ROLES, summary="Receive stock from a supplier into batches.")
def receive_stock(state: StateReader, args: ReceiveStock, ctx: MutationContext) -> Effect:
    pharmacy = _pharmacy(state, args.pharmacy_id, ctx)
    _no_duplicate(state, args.id, ctx)
    at, day = local_day(args.received_at, ctx)
    writer = StockWriter(state, ctx, campus_id=pharmacy.campus_id, source_id=args.id)
    reason = " ".join(part for part in (args.invoice_no, args.note) if part)[:200]
    for line in args.lines:
        drug = _drug(state, line.drug_id, ctx)
        if line.expiry < day:
            raise Rejected(
                ctx.t(
                    "stock.expired_on_arrival",
                    drug=drug.generic_name,
                    batch_no=line.batch_no,
                    expiry=line.expiry.isoformat(),
                ),
                code="expired_on_arrival",
            )
        known = writer.batch(pharmacy.id, drug.id, line.batch_no)
        if known is not None and known.expiry != line.expiry:
            raise Rejected(
                ctx.t(
                    "stock.expiry_mismatch",
                    drug=drug.generic_name,
                    batch_no=line.batch_no,
                    known=known.expiry.isoformat(),
                    given=line.expiry.isoformat(),
                ),
                code="expiry_mismatch",
            )
        quantity = line.quantity * drug.pack_qty if line.unit == "pack" else line.quantity
        writer.add(
            pharmacy_id=pharmacy.id,
            drug_id=drug.id,
            batch_no=line.batch_no,
            kind="receipt",
            quantity=quantity,
            occurred_at=at,
            day=day,
            expiry=line.expiry,
            unit_cost=unit_cost_of(line.price, drug.pack_qty),
            supplier=args.supplier,
            reason=reason,
        )
    return Effect(
        writes=writer.writes(),
        result={"receipt_id": args.id, "movements": len(writer.movements)},
    )


# ------------------------------------------------------------------------------------------------- move


@mutation("stock.move", MoveStock, roles=ROLES, summary="Move stock out, transfer it, or scrap it.")
def move_stock(state: StateReader, args: MoveStock, ctx: MutationContext) -> Effect:
    pharmacy = _pharmacy(state, args.pharmacy_id, ctx)
    _no_duplicate(state, args.id, ctx)
    target = None
    if args.kind == "transfer":
        if not args.to_pharmacy_id or args.to_pharmacy_id == pharmacy.id:
            raise Rejected(ctx.t("stock.target_required"), code="stock_same_pharmacy")
        target = _pharmacy(state, args.to_pharmacy_id, ctx)
    at, day = local_day(args.occurred_at, ctx)
    writer = StockWriter(state, ctx, campus_id=pharmacy.campus_id, source_id=args.id)
    reason = args.reason if not args.destination else f"{args.reason}（{args.destination}）"[:200]
    names: dict[str, str] = {}
    for line in args.lines:
        drug = _drug(state, line.drug_id, ctx)
        names[drug.id] = drug.generic_name
        batch = writer.batch(pharmacy.id, drug.id, line.batch_no)
        if batch is None:
            raise Rejected(
                ctx.t("stock.batch_not_found", drug=drug.generic_name, batch_no=line.batch_no),
                code="stock_unknown_batch",
            )
        writer.add(
            pharmacy_id=pharmacy.id,
            drug_id=drug.id,
            batch_no=line.batch_no,
            kind="scrap" if args.kind == "scrap" else "transfer_out",
            quantity=-line.quantity,
            occurred_at=at,
            day=day,
            reason=reason,
            transfer_id=args.id if target else None,
        )
        if target is not None:
            writer.add(
                pharmacy_id=target.id,
                drug_id=drug.id,
                batch_no=line.batch_no,
                kind="transfer_in",
                quantity=line.quantity,
                occurred_at=at,
                day=day,
                expiry=batch.expiry,
                unit_cost=batch.unit_cost,
                supplier=batch.supplier,
                reason=reason,
                transfer_id=args.id,
                campus_id=target.campus_id,
            )
    return Effect(
        writes=writer.writes(),
        warnings=_negative_warnings(writer, names, ctx),
        result={"move_id": args.id, "movements": len(writer.movements)},
    )


# ------------------------------------------------------------------------------------------------ count


def _moved_after(
    state: StateReader,
    pharmacy_id: str,
    drug_id: str,
    batch_no: str,
    counted_at: dt.datetime,
    ctx: MutationContext,
) -> int:
    """Net quantity of a batch's movements that happened on the shelf after ``counted_at``.

    Found day by day (the ledger is indexed by batch and day), from the day before the count (PCs in
    other time zones) to two days after today (a fast clock)."""
    key = batch_key(pharmacy_id, drug_id, batch_no)
    total = 0
    day = counted_at.date() - dt.timedelta(days=1)
    last = ctx.today + dt.timedelta(days=2)
    while day <= last:
        for m in state.find(StockMovement, batch_key=key, day=day):
            if m.occurred_at > counted_at and not m.voided:
                total += m.quantity
        day += dt.timedelta(days=1)
    return total


@mutation("stock.count", CountStock, roles=ROLES, summary="Record a stocktake; adjustments as of the count.")
def count_stock(state: StateReader, args: CountStock, ctx: MutationContext) -> Effect:
    pharmacy = _pharmacy(state, args.pharmacy_id, ctx)
    _no_duplicate(state, args.id, ctx)
    counted_at, day = local_day(args.counted_at, ctx)
    if counted_at > ctx.now + dt.timedelta(minutes=10):
        raise Rejected(ctx.t("stock.count_in_future", at=counted_at.isoformat()), code="count_in_future")
    if ctx.now - counted_at > dt.timedelta(days=COUNT_WINDOW_DAYS):
        raise Rejected(
            ctx.t("stock.count_too_old", at=counted_at.isoformat(), days=COUNT_WINDOW_DAYS),
            code="count_too_old",
        )
    writer = StockWriter(state, ctx, campus_id=pharmacy.campus_id, source_id=args.id)
    wanted: dict[tuple[str, str], CountLine] = {}
    for line in args.lines:
        _drug(state, line.drug_id, ctx)
        wanted[line.drug_id, line.batch_no] = line
    if args.complete_drugs:
        for drug_id in sorted({d for d, _ in wanted}):
            for batch in writer.batches_of(pharmacy.id, drug_id):
                if (drug_id, batch.batch_no) not in wanted:
                    wanted[drug_id, batch.batch_no] = CountLine(
                        drug_id=drug_id, batch_no=batch.batch_no, counted=0
                    )
    lines: list[StocktakeLine] = []
    for (drug_id, batch_no), line in sorted(wanted.items()):
        found = writer.batch(pharmacy.id, drug_id, batch_no)
        if found is None and line.expiry is None:
            raise Rejected(
                ctx.t("stock.count_needs_expiry", batch_no=batch_no), code="stock_count_needs_expiry"
            )
        book = 0
        if found is not None:
            book = found.quantity
            # ``last_movement_at`` is the latest shelf time of the batch's movements: nothing to take
            # back unless something happened after the count.
            if found.last_movement_at is not None and found.last_movement_at > counted_at:
                book -= _moved_after(state, pharmacy.id, drug_id, batch_no, counted_at, ctx)
        delta = line.counted - book
        if delta:
            writer.add(
                pharmacy_id=pharmacy.id,
                drug_id=drug_id,
                batch_no=batch_no,
                kind="count_adjustment",
                quantity=delta,
                occurred_at=counted_at,
                day=day,
                expiry=line.expiry,
                stocktake_id=args.id,
            )
        lines.append(
            StocktakeLine(
                drug_id=drug_id,
                batch_no=batch_no,
                expiry=found.expiry if found is not None else line.expiry,
                counted=line.counted,
                book=book,
                adjustment=delta,
            )
        )
    stocktake = Stocktake(
        id=args.id,
        campus_id=pharmacy.campus_id,
        pharmacy_id=pharmacy.id,
        counted_at=counted_at,
        day=day,
        counted_by=ctx.staff_id,
        complete_drugs=args.complete_drugs,
        note=args.note,
        lines=lines,
        updated_at=ctx.now,
    )
    names = {d: d for d, _ in wanted}
    return Effect(
        writes=[stocktake, *writer.writes()],
        warnings=_negative_warnings(writer, names, ctx),
        result={
            "stocktake_id": args.id,
            "adjustments": [
                {"drug_id": x.drug_id, "batch_no": x.batch_no, "book": x.book, "adjustment": x.adjustment}
                for x in lines
                if x.adjustment
            ],
        },
    )


# ---------------------------------------------------------------------------------------------- minimum


@mutation("stock.set_minimum", SetMinimum, roles=ROLES, summary="Set a drug's minimum stock in a pharmacy.")
def set_minimum(state: StateReader, args: SetMinimum, ctx: MutationContext) -> Effect:
    pharmacy = _pharmacy(state, args.pharmacy_id, ctx)
    drug = _drug(state, args.drug_id, ctx)
    key = minimum_id(pharmacy.id, drug.id)
    current = state.get(StockMinimum, key)
    if current is None:
        row = StockMinimum(
            id=key,
            campus_id=pharmacy.campus_id,
            pharmacy_id=pharmacy.id,
            drug_id=drug.id,
            min_packs=args.min_packs,
            set_by=ctx.staff_id,
            updated_at=ctx.now,
        )
    else:
        row = next_version(current, ctx, min_packs=args.min_packs, set_by=ctx.staff_id, voided=False)
    return Effect(
        writes=[row], result={"pharmacy_id": pharmacy.id, "drug_id": drug.id, "min_packs": args.min_packs}
    )


__all__ = ["CountStock", "MoveStock", "ReceiveStock", "SetMinimum", "drug_key"]


# Where each mutation's objects are and whose they are (checked before the handler; see base.py).
_STOCK = CampusOf(pharmacy_id=Pharmacy)  # a transfer's receiving pharmacy may be another campus's
_STOCK_WORK = Shared("the stock of a pharmacy is its pharmacists' shared work")
declare_claims(
    {
        "stock.receive": (_STOCK, _STOCK_WORK),
        "stock.move": (_STOCK, _STOCK_WORK),
        "stock.count": (_STOCK, _STOCK_WORK),
        "stock.set_minimum": (_STOCK, _STOCK_WORK),
    }
)
