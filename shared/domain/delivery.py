"""Home delivery of dispensed drugs: the order, address checks, its status flow and the courier adapter.

Status flow (``advance``)::

    draft → confirmed → placed → shipped → delivered
      └──────┴───────────┴──→ cancelled          (not once the parcel has left)

``confirmed`` is the pharmacist's confirmation step (address and contents checked with the patient);
only a confirmed order is sent to the courier (``place_order``), which returns the waybill number.
Couriers sit behind the ``Courier`` protocol; ``StubCourier`` is the local stand-in (deterministic
waybill numbers, scripted tracking) and the only mock in the suite's delivery path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from shared.domain.masking import mask_phone
from shared.errors import BusinessRuleViolation, Conflict, NotFound, ValidationFailed
from shared.i18n import register, state_name, tr

DeliveryStatus = Literal["draft", "confirmed", "placed", "shipped", "delivered", "cancelled"]
TrackingStatus = Literal["created", "picked_up", "in_transit", "out_for_delivery", "delivered", "cancelled"]

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"confirmed", "cancelled"}),
    "confirmed": frozenset({"placed", "draft", "cancelled"}),
    "placed": frozenset({"shipped", "cancelled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
}
# A courier's tracking status moves our order to (at least) this status.
TRACKING_TO_STATUS: dict[str, DeliveryStatus] = {
    "picked_up": "shipped",
    "in_transit": "shipped",
    "out_for_delivery": "shipped",
    "delivered": "delivered",
    "cancelled": "cancelled",
}
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")

_MESSAGES = {
    "delivery.field_required": {
        "zh_CN": "请填写{field}",
        "en": "Please fill in {field}",
        "zh_TW": "請填寫{field}",
    },
    "delivery.bad_mobile": {
        "zh_CN": "收件人手机号格式不正确：{phone}",
        "en": "The receiver's mobile number is not valid: {phone}",
        "zh_TW": "收件人手機號格式不正確：{phone}",
    },
    "delivery.detail_too_short": {
        "zh_CN": "详细地址过短，请写到街道和门牌号",
        "en": "The street address is too short; give the street and house number",
        "zh_TW": "詳細地址過短，請寫到街道和門牌號",
    },
    "delivery.too_long": {
        "zh_CN": "{field}过长（最多 {limit} 字）",
        "en": "{field} is too long (at most {limit} characters)",
        "zh_TW": "{field}過長（最多 {limit} 字）",
    },
    "delivery.bad_transition": {
        "zh_CN": "配送单状态不能从“{current}”变为“{target}”",
        "en": "A delivery cannot go from {current} to {target}",
        "zh_TW": "配送單狀態不能從「{current}」變為「{target}」",
    },
    "delivery.not_confirmed": {
        "zh_CN": "配送单需先确认后才能向快递下单",
        "en": "Confirm the delivery before booking the courier",
        "zh_TW": "配送單需先確認後才能向快遞下單",
    },
    "delivery.no_items": {
        "zh_CN": "配送单没有药品",
        "en": "The delivery has no items",
        "zh_TW": "配送單沒有藥品",
    },
    "delivery.unknown_waybill": {
        "zh_CN": "找不到运单：{waybill}",
        "en": "Unknown waybill: {waybill}",
        "zh_TW": "找不到運單：{waybill}",
    },
    "delivery.already_shipped": {
        "zh_CN": "快递已揽收，不能取消：{waybill}",
        "en": "The courier has the parcel already; it cannot be cancelled: {waybill}",
        "zh_TW": "快遞已攬收，不能取消：{waybill}",
    },
}
for _key, _texts in _MESSAGES.items():
    register(_key, _texts)

_FIELD_NAMES = {
    "province": ("省份", "province", "省份"),
    "city": ("城市", "city", "城市"),
    "district": ("区县", "district", "區縣"),
    "detail": ("详细地址", "street address", "詳細地址"),
    "name": ("收件人姓名", "receiver's name", "收件人姓名"),
    "mobile": ("收件人手机号", "receiver's mobile", "收件人手機號"),
}
for _key, (_zh, _en, _tw) in _FIELD_NAMES.items():
    register(f"delivery.field.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})
_LIMITS = {"province": 20, "city": 30, "district": 30, "detail": 120, "name": 32}


@dataclass(frozen=True)
class Address:
    """A person at a place: receiver (or sender) name, phone, province / city / district / detail."""

    name: str
    mobile: str
    province: str
    city: str
    district: str
    detail: str

    def one_line(self) -> str:
        return f"{self.province}{self.city}{self.district}{self.detail}"

    @property
    def masked_mobile(self) -> str:
        return mask_phone(self.mobile)


@dataclass(frozen=True)
class AddressProblem:
    field: str
    message: str


def address_problems(address: Address, *, landline_ok: bool = False) -> list[AddressProblem]:
    """Every problem with ``address`` (empty list: it can go on a waybill)."""
    problems: list[AddressProblem] = []
    for name in ("province", "city", "district", "detail", "name", "mobile"):
        value = getattr(address, name).strip()
        label = tr(f"delivery.field.{name}")
        if not value:
            problems.append(AddressProblem(name, tr("delivery.field_required", field=label)))
        elif name in _LIMITS and len(value) > _LIMITS[name]:
            problems.append(AddressProblem(name, tr("delivery.too_long", field=label, limit=_LIMITS[name])))
    detail = address.detail.strip()
    if detail and len(detail) < 5:
        problems.append(AddressProblem("detail", tr("delivery.detail_too_short")))
    phone = re.sub(r"[\s()+-]", "", address.mobile)
    if phone.startswith("86") and len(phone) == 13:
        phone = phone[2:]
    if phone and not (MOBILE.match(phone) or (landline_ok and LANDLINE.match(phone))):
        problems.append(AddressProblem("mobile", tr("delivery.bad_mobile", phone=mask_phone(phone))))
    return problems


def validate_address(address: Address, *, landline_ok: bool = False) -> Address:
    """The address with whitespace trimmed and the phone normalised, or ``ValidationFailed``."""
    problems = address_problems(address, landline_ok=landline_ok)
    if problems:
        raise ValidationFailed(
            "；".join(p.message for p in problems), code="delivery_bad_address", detail=problems
        )
    phone = re.sub(r"[\s()+-]", "", address.mobile)
    if phone.startswith("86") and len(phone) == 13:
        phone = phone[2:]
    return Address(
        name=address.name.strip(),
        mobile=phone,
        province=address.province.strip(),
        city=address.city.strip(),
        district=address.district.strip(),
        detail=address.detail.strip(),
    )


@dataclass(frozen=True)
class DeliveryItem:
    drug_name: str
    spec: str
    quantity: int
    unit: str


@dataclass(frozen=True)
class StatusChange:
    status: DeliveryStatus
    at: dt.datetime
    by: str
    note: str = ""


@dataclass(frozen=True)
class DeliveryOrder:
    """A parcel of one prescription's drugs to the patient; ``history`` records every status change."""

    id: str
    prescription_id: str
    pharmacy_id: str
    sender: Address
    receiver: Address
    items: tuple[DeliveryItem, ...]
    created_at: dt.datetime
    status: DeliveryStatus = "draft"
    courier: str = ""
    waybill_no: str = ""
    cold_chain: bool = False
    note: str = ""
    history: tuple[StatusChange, ...] = field(default_factory=tuple)

    @property
    def contents_count(self) -> int:
        """Packages in the parcel (the waybill's 件数/内件数量)."""
        return sum(item.quantity for item in self.items)


def new_delivery(
    *,
    id: str,
    prescription_id: str,
    pharmacy_id: str,
    sender: Address,
    receiver: Address,
    items: tuple[DeliveryItem, ...],
    created_at: dt.datetime,
    by: str,
    cold_chain: bool = False,
    note: str = "",
) -> DeliveryOrder:
    """A draft order with a checked receiver address (``delivery.create``)."""
    if not items:
        raise ValidationFailed(tr("delivery.no_items"), code="delivery_no_items")
    return DeliveryOrder(
        id=id,
        prescription_id=prescription_id,
        pharmacy_id=pharmacy_id,
        sender=sender,
        receiver=validate_address(receiver),
        items=items,
        created_at=created_at,
        cold_chain=cold_chain,
        note=note,
        history=(StatusChange("draft", created_at, by),),
    )


def can_advance(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def advance(
    order: DeliveryOrder, target: DeliveryStatus, *, at: dt.datetime, by: str, note: str = ""
) -> DeliveryOrder:
    """The order moved to ``target``; an illegal move is a ``BusinessRuleViolation``."""
    if not can_advance(order.status, target):
        raise BusinessRuleViolation(
            tr(
                "delivery.bad_transition",
                current=state_name("delivery", order.status),
                target=state_name("delivery", target),
            ),
            code="delivery_bad_transition",
        )
    return replace(order, status=target, history=(*order.history, StatusChange(target, at, by, note)))


# --- courier adapter ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CourierBooking:
    waybill_no: str
    courier: str
    sort_code: str = ""  # 大头笔 / routing code printed big on the waybill


@dataclass(frozen=True)
class TrackingEvent:
    status: TrackingStatus
    at: dt.datetime
    place: str = ""
    text: str = ""


class Courier(Protocol):
    """What the suite needs from a courier company. Calls block: run them off the GUI thread.

    ``create_order`` must be idempotent per ``order.id`` (a retried request returns the same waybill).
    """

    name: str

    def create_order(self, order: DeliveryOrder) -> CourierBooking: ...

    def track(self, waybill_no: str) -> list[TrackingEvent]: ...

    def cancel(self, waybill_no: str) -> None: ...


class StubCourier:
    """A local courier: waybills ``SF`` + 12 digits derived from the order id, tracking you script.

    Deterministic, so tests and demos print the same waybill every time; ``push`` adds a tracking
    event (as the courier's webhook would). Not thread-safe.
    """

    name = "stub"

    def __init__(self, *, prefix: str = "SF", sort_code: str = "755A-010") -> None:
        self.prefix = prefix
        self.sort_code = sort_code
        self._orders: dict[str, str] = {}
        self._events: dict[str, list[TrackingEvent]] = {}

    def waybill_for(self, order_id: str) -> str:
        digits = int(hashlib.sha256(order_id.encode()).hexdigest(), 16) % 10**12
        return f"{self.prefix}{digits:012d}"

    def create_order(self, order: DeliveryOrder) -> CourierBooking:
        waybill = self._orders.get(order.id)
        if waybill is None:
            waybill = self.waybill_for(order.id)
            self._orders[order.id] = waybill
            self._events[waybill] = [TrackingEvent("created", order.created_at, text="已下单")]
        return CourierBooking(waybill, self.name, self.sort_code)

    def track(self, waybill_no: str) -> list[TrackingEvent]:
        if waybill_no not in self._events:
            raise NotFound(
                tr("delivery.unknown_waybill", waybill=waybill_no), code="delivery_unknown_waybill"
            )
        return list(self._events[waybill_no])

    def cancel(self, waybill_no: str) -> None:
        events = self.track(waybill_no)
        if any(e.status in ("picked_up", "in_transit", "out_for_delivery", "delivered") for e in events):
            raise Conflict(
                tr("delivery.already_shipped", waybill=waybill_no), code="delivery_already_shipped"
            )
        self._events[waybill_no].append(TrackingEvent("cancelled", events[-1].at, text="已取消"))

    def push(self, waybill_no: str, event: TrackingEvent) -> None:
        self.track(waybill_no)
        self._events[waybill_no].append(event)


def place_order(order: DeliveryOrder, courier: Courier, *, at: dt.datetime, by: str) -> DeliveryOrder:
    """Book the courier for a confirmed order: the waybill number comes back and the order is placed."""
    if order.status != "confirmed":
        raise BusinessRuleViolation(tr("delivery.not_confirmed"), code="delivery_not_confirmed")
    booking = courier.create_order(order)
    placed = advance(order, "placed", at=at, by=by, note=booking.waybill_no)
    return replace(placed, courier=booking.courier, waybill_no=booking.waybill_no)


def apply_tracking(
    order: DeliveryOrder, events: list[TrackingEvent], *, by: str = "courier"
) -> DeliveryOrder:
    """Move the order forward by what the courier reports; never backwards, repeated events are harmless."""
    current = order
    for event in sorted(events, key=lambda e: e.at):
        target = TRACKING_TO_STATUS.get(event.status)
        if target is None or target == current.status:
            continue
        if can_advance(current.status, target):
            current = advance(current, target, at=event.at, by=by, note=event.text)
        elif target == "delivered" and current.status == "placed":
            current = advance(current, "shipped", at=event.at, by=by)
            current = advance(current, "delivered", at=event.at, by=by, note=event.text)
    return current
