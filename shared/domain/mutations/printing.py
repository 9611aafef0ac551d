"""``print.record``: every printed document is recorded (who, which PC, which printer, reprint or not).

``RecordPrint``: ``id`` (new), ``document`` (``entities.PrintDocument``), ``ref_id`` (the printed row: a
prescription, visit note, dispense, delivery, ticket …), ``reprint``, ``copies``, ``printer`` (the printer's
name as this PC knows it), ``printed_at`` (the PC's clock; the record keeps it as given). The campus is the
caller's. Any signed-in staff member (and a kiosk, for its slips) may record a print.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from shared.domain.entities import PrintDocument, PrintRecord
from shared.domain.mutations.base import (
    CampusOf,
    Effect,
    MutationArgs,
    MutationContext,
    Rejected,
    Shared,
    StateReader,
    declare_claims,
    mutation,
)
from shared.i18n import kind_name, register

register(
    "print.no_campus",
    {
        "zh_CN": "未选择院区，无法记录打印",
        "en": "No campus is selected, so the print cannot be recorded",
        "zh_TW": "未選擇院區，無法記錄列印",
    },
)


class RecordPrint(MutationArgs):
    id: str = Field(min_length=1, max_length=64)
    document: PrintDocument
    ref_id: str = Field(min_length=1, max_length=64)
    reprint: bool = False
    copies: int = Field(default=1, ge=1, le=99)
    printer: str = Field(default="", max_length=200)
    printed_at: dt.datetime | None = None


@mutation(
    "print.record",
    RecordPrint,
    roles=("doctor", "pharmacist", "nurse", "admin", "kiosk"),  # a kiosk prints the slips it issues
    summary="Record a printed document (reprints marked).",
)
def record_print(state: StateReader, args: RecordPrint, ctx: MutationContext) -> Effect:
    if state.get(PrintRecord, args.id) is not None:
        raise Rejected(
            ctx.t("entity.duplicate_id", kind=kind_name("print_record", ctx.lang), id=args.id),
            code="duplicate_id",
        )
    if not ctx.campus_id:
        raise Rejected(ctx.t("print.no_campus"), code="no_campus")
    printed_at = args.printed_at or ctx.now
    if printed_at.tzinfo is None:
        printed_at = printed_at.replace(tzinfo=dt.UTC)
    record = PrintRecord(
        id=args.id,
        campus_id=ctx.campus_id,
        document=args.document,
        ref_id=args.ref_id,
        reprint=args.reprint,
        copies=args.copies,
        printer=args.printer,
        printed_by=ctx.staff_id,
        device_id=ctx.device_id[:64],
        printed_at=printed_at,
        updated_at=ctx.now,
    )
    return Effect(writes=[record], result={"print_record_id": record.id})


# Where each mutation's objects are and whose they are (checked before the handler; see base.py).
declare_claims(
    {"print.record": (CampusOf(caller=True), Shared("whoever printed records the print, at their campus"))}
)
