"""Deliveries: address checks, the status flow, and booking the stub courier after confirmation."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.domain.delivery import (
    Address,
    DeliveryItem,
    StubCourier,
    TrackingEvent,
    address_problems,
    advance,
    apply_tracking,
    new_delivery,
    place_order,
    validate_address,
)
from shared.errors import BusinessRuleViolation, Conflict, NotFound, ValidationFailed

AT = dt.datetime(2026, 11, 22, 10, 0)
SENDER = Address("市第一人民医院门诊药房", "02887654321", "四川省", "成都市", "武侯区", "人民南路四段 18 号")
RECEIVER = Address(
    "张三丰", "138 1234 5678", "四川省", "成都市", "高新区", "天府大道中段 1268 号 3 栋 2 单元 801"
)
ITEMS = (
    DeliveryItem("阿莫西林胶囊", "0.25g×24粒", 2, "盒"),
    DeliveryItem("布洛芬缓释胶囊", "0.3g×20粒", 1, "盒"),
)


def draft() -> object:
    return new_delivery(
        id="d-1", prescription_id="rx-1", pharmacy_id="ph-1", sender=SENDER, receiver=RECEIVER,
        items=ITEMS, created_at=AT, by="pharmacist1",
    )  # fmt: skip


def test_a_good_address_passes_and_its_phone_is_normalised() -> None:
    assert address_problems(RECEIVER) == []
    assert validate_address(RECEIVER).mobile == "13812345678"
    assert (
        validate_address(
            Address("李四", "+86 139-0000-1111", "北京市", "北京市", "朝阳区", "建国路 88 号")
        ).mobile
        == "13900001111"
    )


def test_every_missing_or_wrong_field_is_named() -> None:
    bad = Address(" ", "12345", "", "成都市", "武侯区", "1号")
    fields = [p.field for p in address_problems(bad)]
    assert fields == ["province", "name", "detail", "mobile"]
    with pytest.raises(ValidationFailed) as refused:
        validate_address(bad)
    assert "手机号" in refused.value.message and "12345" not in refused.value.message
    assert (
        address_problems(
            Address("王五", "028-87654321", "四川省", "成都市", "武侯区", "人民南路 1 号"), landline_ok=True
        )
        == []
    )


def test_the_status_flow_only_moves_along_its_arrows() -> None:
    order = draft()
    assert order.status == "draft" and order.contents_count == 3
    with pytest.raises(BusinessRuleViolation):
        advance(order, "shipped", at=AT, by="x")
    confirmed = advance(order, "confirmed", at=AT, by="pharmacist1", note="已电话核对地址")
    shipped = advance(advance(confirmed, "placed", at=AT, by="x"), "shipped", at=AT, by="x")
    with pytest.raises(BusinessRuleViolation):
        advance(shipped, "cancelled", at=AT, by="x")
    delivered = advance(shipped, "delivered", at=AT, by="x")
    assert [h.status for h in delivered.history] == ["draft", "confirmed", "placed", "shipped", "delivered"]
    assert advance(order, "cancelled", at=AT, by="x").status == "cancelled"


def test_the_courier_is_booked_only_after_confirmation_and_gives_a_stable_waybill() -> None:
    courier = StubCourier()
    order = draft()
    with pytest.raises(BusinessRuleViolation):
        place_order(order, courier, at=AT, by="pharmacist1")
    placed = place_order(advance(order, "confirmed", at=AT, by="p"), courier, at=AT, by="p")
    assert placed.status == "placed" and placed.courier == "stub"
    assert (
        placed.waybill_no.startswith("SF")
        and len(placed.waybill_no) == 14
        and placed.waybill_no[2:].isdigit()
    )
    # a retried booking of the same order returns the same waybill; another PC's stub agrees
    again = place_order(advance(order, "confirmed", at=AT, by="p"), courier, at=AT, by="p")
    assert again.waybill_no == placed.waybill_no == StubCourier().waybill_for("d-1")
    assert StubCourier().waybill_for("d-2") != placed.waybill_no


def test_tracking_moves_the_order_forward_and_never_back() -> None:
    courier = StubCourier()
    placed = place_order(advance(draft(), "confirmed", at=AT, by="p"), courier, at=AT, by="p")
    waybill = placed.waybill_no
    courier.push(waybill, TrackingEvent("picked_up", AT + dt.timedelta(hours=2), "成都", "快递员已揽收"))
    shipped = apply_tracking(placed, courier.track(waybill))
    assert shipped.status == "shipped"
    with pytest.raises(Conflict):
        courier.cancel(waybill)
    courier.push(waybill, TrackingEvent("delivered", AT + dt.timedelta(days=1), "成都", "已签收"))
    done = apply_tracking(shipped, courier.track(waybill))
    assert done.status == "delivered"
    assert apply_tracking(done, courier.track(waybill)) == done
    assert [t.status for t in courier.track(waybill)] == ["created", "picked_up", "delivered"]
    with pytest.raises(NotFound):
        courier.track("SF000000000000")


def test_a_placed_order_can_still_be_cancelled_with_the_courier() -> None:
    courier = StubCourier()
    placed = place_order(advance(draft(), "confirmed", at=AT, by="p"), courier, at=AT, by="p")
    courier.cancel(placed.waybill_no)
    assert apply_tracking(placed, courier.track(placed.waybill_no)).status == "cancelled"


def test_an_order_needs_items_and_a_valid_receiver() -> None:
    with pytest.raises(ValidationFailed):
        new_delivery(
            id="d",
            prescription_id="rx",
            pharmacy_id="ph",
            sender=SENDER,
            receiver=RECEIVER,
            items=(),
            created_at=AT,
            by="p",
        )
    with pytest.raises(ValidationFailed):
        new_delivery(id="d", prescription_id="rx", pharmacy_id="ph", sender=SENDER,
                     receiver=Address("张三", "123", "四川省", "成都市", "武侯区", "人民南路 1 号"), items=ITEMS, created_at=AT, by="p")  # fmt: skip
