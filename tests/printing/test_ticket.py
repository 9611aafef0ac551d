"""The check-in ticket slip: decoded back from its ESC/POS bytes, and drawn as an image for raster printers."""

from __future__ import annotations

from datetime import datetime

import pytest

from shared.printing.escpos import text_columns
from shared.printing.escpos_decode import decode
from shared.printing.ticket import (
    PAPER_COLUMNS,
    PAPER_DOTS,
    TicketSlip,
    qr_payload,
    render_ticket_image,
    ticket_escpos,
    ticket_id_from_qr,
)

TICKET_ID = "0193c2a4-7b1e-7f00-9d1a-1234567890ab"


def slip(**changes: object) -> TicketSlip:
    values: dict[str, object] = {
        "ticket_id": TICKET_ID,
        "number": "A023",
        "queue_name": "内科 普通门诊",
        "ahead": 3,
        "issued_at": datetime(2026, 11, 22, 9, 30),
        "hospital": "北京市朝阳区第一人民医院",
        "room": "3诊室",
        "patient_name": "张小三",
    }
    values.update(changes)
    return TicketSlip(**values)  # type: ignore[arg-type]


def test_the_slip_prints_hospital_queue_number_position_room_time_and_masked_name() -> None:
    decoded = decode(ticket_escpos(slip(), mode="text"))

    assert decoded.lines[:2] == ["北京市朝阳区第一人民医院", "内科 普通门诊"]
    for line in (
        "您的排队号",
        "A023",
        "前面还有 3 人",
        "诊室：3诊室",
        "患者：张*三",
        "取号时间：2026-11-22 09:30",
    ):
        assert line in decoded.lines
    assert "张小三" not in decoded.text
    (number,) = [run for run in decoded.runs if run.text == "A023"]
    assert (number.width, number.height, number.bold, number.align) == (4, 4, True, "center")


def test_the_qr_code_holds_the_ticket_id_and_the_slip_is_cut_once_at_the_end() -> None:
    decoded = decode(ticket_escpos(slip(), mode="text"))
    assert decoded.qr_payloads == [qr_payload(TICKET_ID)]
    assert ticket_id_from_qr(decoded.qr_payloads[0]) == TICKET_ID
    assert decoded.cut_count == 1 and decoded.commands[-1].name == "cut"
    assert decoded.commands[0].name == "init"


def test_the_next_patient_is_told_so() -> None:
    assert "您是下一位" in decode(ticket_escpos(slip(ahead=0), mode="text")).lines


@pytest.mark.parametrize("paper", ["58mm", "80mm"])
def test_no_line_is_wider_than_the_paper(paper: str) -> None:
    long = slip(
        hospital="新疆维吾尔自治区乌鲁木齐市第一人民医院附属社区卫生服务中心", queue_name="中医科针灸推拿门诊"
    )
    decoded = decode(ticket_escpos(long, paper=paper, mode="text"))  # type: ignore[arg-type]
    for run in decoded.runs:
        assert text_columns(run.text) * run.width <= PAPER_COLUMNS[paper], run.text


def test_the_slip_can_be_printed_in_english() -> None:
    decoded = decode(ticket_escpos(slip(), mode="text", lang="en"))
    assert "3 ahead of you" in decoded.lines and "Room: 3诊室" in decoded.lines


def test_a_name_printer_fonts_cannot_show_switches_the_slip_to_an_image() -> None:
    rare = slip(patient_name="𬌗小明")  # masked as 𬌗*明: the first character is outside GBK
    decoded = decode(ticket_escpos(rare))
    assert decoded.runs == [] and decoded.qr_payloads == []
    (image,) = decoded.images
    assert image.width == PAPER_DOTS["80mm"]
    assert decoded.cut_count == 1


@pytest.mark.parametrize("paper", ["58mm", "80mm"])
def test_the_raster_slip_fills_the_paper_width_and_nothing_touches_the_edges(paper: str) -> None:
    decoded = decode(ticket_escpos(slip(), paper=paper, mode="raster"))  # type: ignore[arg-type]
    (raster,) = decoded.images
    image = raster.to_image()
    assert image.width == PAPER_DOTS[paper] and image.height > 500
    dark = [x for x in range(image.width) for y in range(0, image.height, 3) if image.getpixel((x, y)) == 0]
    assert len(dark) > 1000  # text and QR were drawn
    assert min(dark) >= 4 and max(dark) <= image.width - 5  # nothing clipped at the sides
    bottom = image.crop((0, image.height - 8, image.width, image.height))
    assert bottom.getextrema() == (255, 255)  # nor at the bottom


def test_the_slip_image_matches_the_screenshot_layout() -> None:
    image = render_ticket_image(slip())
    assert image.mode == "L" and image.width == 576
    # The big number is the widest dark band in the upper half.
    assert image.getextrema() == (0, 255)
