"""Delivery mutations: a confirmed home-delivery order, its courier booking, tracking and cancellation.

All need the ``pharmacist`` role. The rules (address checks, status flow) are ``shared.domain.delivery``'s.

Where the courier is called: **on the pharmacy PC, before ``delivery.ship``**, in a worker thread (never
the GUI thread): ``shared.domain.delivery.place_order(order, courier, ...)`` with the site's courier
adapter (``StubCourier`` by default) returns the waybill; the PC then records ``delivery.ship`` with that
booking. Handlers stay pure (no network inside a mutation, on the server or in the client's optimistic
run), a courier's ``create_order`` is idempotent per order id (a retried booking gets the same waybill),
and ``delivery.ship`` with the same waybill again is harmless. ``delivery_order(row)`` turns a row into
the domain ``DeliveryOrder`` the adapter takes.

``delivery.create`` — ``CreateDelivery``: ``id``, ``rx_id``, ``pharmacy_id``, ``dispense_id`` (optional),
  ``receiver`` (``AddressArgs``: ``name``, ``mobile``, ``province``, ``city``, ``district``, ``detail``),
  ``sender`` (optional; default the pharmacy and its campus address), ``items`` (optional
  ``ItemArgs``: ``drug_name``, ``spec``, ``quantity``, ``unit``; default the prescription's lines in
  packs), ``cold_chain``, ``note``. Recorded after the GUI's confirmation step, so the order starts
  ``confirmed``. Refused: a bad address (every problem listed), a prescription with a live delivery.
``delivery.ship`` — ``ShipDelivery``: ``delivery_id``, ``courier``, ``waybill_no``, ``sort_code``,
  ``handed_over`` (the courier took the parcel: straight on to ``shipped``), ``at`` (optional).
``delivery.track`` — ``TrackDelivery``: ``delivery_id``, ``events`` (``TrackingArgs``: ``status`` of
  ``delivery.TrackingStatus``, ``at``, ``place``, ``text``): moves the order forward, never back.
``delivery.cancel`` — ``CancelDelivery``: ``delivery_id``, ``reason`` (not once shipped).
"""

from __future__ import annotations

from dataclasses import asdict, replace

from pydantic import AwareDatetime, Field

from shared.domain import delivery as rules
from shared.domain.entities import (
    Campus,
    Delivery,
    DeliveryAddress,
    DeliveryEvent,
    DeliveryItemRow,
    Dispense,
    Pharmacy,
    Prescription,
)
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
from shared.domain.mutations.pharmacy import ROLES, _pharmacy, _rx
from shared.domain.pharmacy import rx_line_facts
from shared.errors import SuiteError
from shared.i18n import register, state_name

_MESSAGES = {
    "delivery.exists": {
        "zh_CN": "该处方已有配送单（{status}）：{id}",
        "en": "This prescription already has a delivery ({status}): {id}",
        "zh_TW": "該處方已有配送單（{status}）：{id}",
    },
    "delivery.not_found": {
        "zh_CN": "找不到配送单：{id}",
        "en": "Delivery not found: {id}",
        "zh_TW": "找不到配送單：{id}",
    },
    "delivery.other_waybill": {
        "zh_CN": "配送单已下单，运单号为 {waybill}",
        "en": "The delivery is already booked with waybill {waybill}",
        "zh_TW": "配送單已下單，運單號為 {waybill}",
    },
}
for _key, _texts in _MESSAGES.items():
    register(_key, _texts)


class AddressArgs(MutationArgs):
    name: str = Field(min_length=1, max_length=32)
    mobile: str = Field(default="", max_length=20)
    province: str = Field(default="", max_length=20)
    city: str = Field(default="", max_length=30)
    district: str = Field(default="", max_length=30)
    detail: str = Field(default="", max_length=200)


class ItemArgs(MutationArgs):
    drug_name: str = Field(min_length=1, max_length=100)
    spec: str = Field(default="", max_length=100)
    quantity: int = Field(ge=1, le=100_000)
    unit: str = Field(default="", max_length=16)


class CreateDelivery(MutationArgs):
    id: str = Id
    rx_id: str = Id
    pharmacy_id: str = Id
    dispense_id: str | None = Field(default=None, min_length=1, max_length=64)
    receiver: AddressArgs
    sender: AddressArgs | None = None
    items: list[ItemArgs] | None = Field(default=None, min_length=1, max_length=60)
    cold_chain: bool = False
    note: str = Field(default="", max_length=200)


class ShipDelivery(MutationArgs):
    delivery_id: str = Id
    courier: str = Field(min_length=1, max_length=32)
    waybill_no: str = Field(min_length=4, max_length=40, pattern=r"^[A-Za-z0-9-]+$")
    sort_code: str = Field(default="", max_length=32)
    handed_over: bool = False
    at: AwareDatetime | None = None


class TrackingArgs(MutationArgs):
    status: rules.TrackingStatus
    at: AwareDatetime
    place: str = Field(default="", max_length=100)
    text: str = Field(default="", max_length=200)


class TrackDelivery(MutationArgs):
    delivery_id: str = Id
    events: list[TrackingArgs] = Field(min_length=1, max_length=100)


class CancelDelivery(MutationArgs):
    delivery_id: str = Id
    reason: str = Field(min_length=1, max_length=200)


# ---------------------------------------------------------------------------------------- conversions


def _address(data: dict[str, str]) -> rules.Address:
    return rules.Address(
        name=data.get("name", ""),
        mobile=data.get("mobile", ""),
        province=data.get("province", ""),
        city=data.get("city", ""),
        district=data.get("district", ""),
        detail=data.get("detail", ""),
    )


def delivery_order(row: Delivery) -> rules.DeliveryOrder:
    """The domain order for a row (what a courier adapter and the waybill printer take)."""
    return rules.DeliveryOrder(
        id=row.id,
        prescription_id=row.rx_id,
        pharmacy_id=row.pharmacy_id,
        sender=_address(row.sender),
        receiver=_address(row.receiver),
        items=tuple(rules.DeliveryItem(i.drug_name, i.spec, i.quantity, i.unit) for i in row.items),
        created_at=row.created_at,
        status=row.status,
        courier=row.courier,
        waybill_no=row.waybill_no,
        cold_chain=row.cold_chain,
        note=row.note,
        history=tuple(rules.StatusChange(e.status, e.at, e.by, e.note) for e in row.history),  # type: ignore[arg-type]
    )


def _with_order(row: Delivery, order: rules.DeliveryOrder, ctx: MutationContext, **extra: object) -> Delivery:
    return next_version(
        row,
        ctx,
        status=order.status,
        courier=order.courier,
        waybill_no=order.waybill_no,
        history=[
            DeliveryEvent(status=c.status, at=c.at, by=c.by[:64], note=c.note[:200]) for c in order.history
        ],
        **extra,
    )


def _require(state: StateReader, delivery_id: str, ctx: MutationContext) -> Delivery:
    row = state.get(Delivery, delivery_id)
    if row is None or row.voided:
        raise Rejected(ctx.t("delivery.not_found", id=delivery_id), code="not_found")
    return row


def _refused(error: SuiteError) -> Rejected:
    return Rejected(
        error.message, code=error.code, detail=error.detail if isinstance(error.detail, dict) else None
    )


# ------------------------------------------------------------------------------------------ handlers


@mutation("delivery.create", CreateDelivery, roles=ROLES, summary="Create a confirmed home-delivery order.")
def create_delivery(state: StateReader, args: CreateDelivery, ctx: MutationContext) -> Effect:
    if state.get(Delivery, args.id) is not None:
        raise Rejected(ctx.t("pharmacy.duplicate", id=args.id), code="duplicate_id")
    rx = _rx(state, args.rx_id, ctx)
    pharmacy = _pharmacy(state, args.pharmacy_id, ctx)
    for other in state.find(Delivery, rx_id=rx.id):
        if other.status != "cancelled" and not other.voided:
            raise Rejected(
                ctx.t("delivery.exists", status=state_name("delivery", other.status, ctx.lang), id=other.id),
                code="delivery_exists",
                detail={"delivery_id": other.id},
            )
    if args.sender is not None:
        sender = rules.Address(**args.sender.model_dump())
    else:
        campus = state.get(Campus, pharmacy.campus_id)
        sender = rules.Address(pharmacy.name, "", "", "", "", campus.address if campus else "")
    if args.items is not None:
        items = tuple(rules.DeliveryItem(i.drug_name, i.spec, i.quantity, i.unit) for i in args.items)
    else:
        items = tuple(
            rules.DeliveryItem(f.drug_name, f.spec, f.packs, f.pack_unit) for f in rx_line_facts(rx)
        )
    try:
        order = rules.new_delivery(
            id=args.id,
            prescription_id=rx.id,
            pharmacy_id=pharmacy.id,
            sender=sender,
            receiver=rules.Address(**args.receiver.model_dump()),
            items=items,
            created_at=ctx.now,
            by=ctx.staff_id,
            cold_chain=args.cold_chain,
            note=args.note,
        )
        order = rules.advance(order, "confirmed", at=ctx.now, by=ctx.staff_id)
    except SuiteError as error:
        raise _refused(error) from error
    row = Delivery(
        id=order.id,
        campus_id=pharmacy.campus_id,
        pharmacy_id=pharmacy.id,
        rx_id=rx.id,
        patient_id=rx.patient_id,
        dispense_id=args.dispense_id,
        sender=DeliveryAddress(**asdict(order.sender)).model_dump(),
        receiver=DeliveryAddress(**asdict(order.receiver)).model_dump(),
        items=[DeliveryItemRow(**asdict(i)) for i in order.items],
        status=order.status,
        cold_chain=order.cold_chain,
        note=order.note,
        created_at=ctx.now,
        created_by=ctx.staff_id,
        history=[
            DeliveryEvent(status=c.status, at=c.at, by=c.by[:64], note=c.note[:200]) for c in order.history
        ],
        updated_at=ctx.now,
    )
    return Effect(writes=[row], result={"delivery_id": row.id, "status": row.status})


@mutation("delivery.ship", ShipDelivery, roles=ROLES, summary="Record the courier booking (waybill).")
def ship_delivery(state: StateReader, args: ShipDelivery, ctx: MutationContext) -> Effect:
    row = _require(state, args.delivery_id, ctx)
    at = args.at or ctx.now
    order = delivery_order(row)
    if row.status in ("placed", "shipped") and row.waybill_no and row.waybill_no != args.waybill_no:
        raise Rejected(ctx.t("delivery.other_waybill", waybill=row.waybill_no), code="delivery_other_waybill")
    try:
        if row.status not in ("placed", "shipped"):
            order = rules.advance(order, "placed", at=at, by=ctx.staff_id, note=args.waybill_no)
        if args.handed_over and order.status == "placed":
            order = rules.advance(order, "shipped", at=at, by=ctx.staff_id)
    except SuiteError as error:
        raise _refused(error) from error
    order = replace(order, courier=args.courier, waybill_no=args.waybill_no)
    updated = _with_order(row, order, ctx, sort_code=args.sort_code)
    return Effect(
        writes=[updated] if updated.status != row.status or row.waybill_no != args.waybill_no else [],
        result={"delivery_id": row.id, "status": order.status, "waybill_no": args.waybill_no},
    )


@mutation("delivery.track", TrackDelivery, roles=ROLES, summary="Apply courier tracking events.")
def track_delivery(state: StateReader, args: TrackDelivery, ctx: MutationContext) -> Effect:
    row = _require(state, args.delivery_id, ctx)
    events = [rules.TrackingEvent(e.status, e.at, e.place, e.text) for e in args.events]
    order = rules.apply_tracking(delivery_order(row), events)
    if order.status == row.status:
        return Effect(result={"delivery_id": row.id, "status": row.status})
    return Effect(
        writes=[_with_order(row, order, ctx)], result={"delivery_id": row.id, "status": order.status}
    )


@mutation("delivery.cancel", CancelDelivery, roles=ROLES, summary="Cancel a delivery before it ships.")
def cancel_delivery(state: StateReader, args: CancelDelivery, ctx: MutationContext) -> Effect:
    row = _require(state, args.delivery_id, ctx)
    try:
        order = rules.advance(delivery_order(row), "cancelled", at=ctx.now, by=ctx.staff_id, note=args.reason)
    except SuiteError as error:
        raise _refused(error) from error
    return Effect(
        writes=[_with_order(row, order, ctx)], result={"delivery_id": row.id, "status": "cancelled"}
    )


# Where each mutation's objects are and whose they are (checked before the handler; see base.py).
_DELIVERY = CampusOf(delivery_id=Delivery)
_PHARMACY_WORK = Shared("deliveries are the pharmacy team's shared work")
declare_claims(
    {
        "delivery.create": (
            CampusOf(rx_id=Prescription, pharmacy_id=Pharmacy, dispense_id=Dispense),
            _PHARMACY_WORK,
        ),
        "delivery.ship": (_DELIVERY, _PHARMACY_WORK),
        "delivery.track": (_DELIVERY, _PHARMACY_WORK),
        "delivery.cancel": (_DELIVERY, _PHARMACY_WORK),
    }
)
