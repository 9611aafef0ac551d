"""The check-in ticket slip's bytes for the PC's ticket printer (site ``printers.ticket``: paper and
Chinese mode). Where they go is every app's printing: ``TriageState.print_slip`` hands them to the shared
print queue (``shared.gui.printing``), which routes, spools and records them.
"""

from __future__ import annotations

import datetime as dt

from shared import clinic_time
from shared.printing.kinds import Content
from shared.printing.settings import test_page as generic_test_page
from shared.printing.ticket import Mode, Paper, TicketSlip, ticket_escpos
from shared.site import PrinterSetting


def slip_bytes(slip: TicketSlip, setting: PrinterSetting, lang: str) -> bytes:
    paper: Paper = "58mm" if setting.paper.startswith("58") else "80mm"
    mode: Mode = "raster" if setting.encoding == "raster" else "auto"
    return ticket_escpos(slip, paper=paper, mode=mode, lang=lang)


def sample_slip(now: dt.datetime | None = None) -> TicketSlip:
    """The self-test's slip (built-in sample data)."""
    return TicketSlip(
        ticket_id="00000000-0000-7000-8000-000000000001",
        number="A023",
        queue_name="内科候诊",
        ahead=3,
        issued_at=now or clinic_time.now(),
        hospital="示例市第一人民医院",
        room="内科1诊室",
        patient_name="张小三",
        department="心血管内科",
    )


def ticket_test_page(kind: str, setting: PrinterSetting, title: str) -> tuple[Content, bytes]:
    """The printers screen's test page: the sample slip on the setting's paper and Chinese mode."""
    if kind == "ticket":
        return "escpos", slip_bytes(sample_slip(), setting, "zh_CN")
    return generic_test_page(kind, setting, title)
