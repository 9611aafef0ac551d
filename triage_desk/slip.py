"""The check-in ticket slip: built from a ticket and sent to the PC's ticket printer (site ``printers.ticket``).

``send_slip`` blocks (a network printer may take seconds to answer); the screens call it off the GUI
thread through ``BackgroundCall``. Targets are the site configuration's forms::

    file:/path/tickets.bin     append each slip's ESC/POS bytes to a file (a folder gets one file per slip)
    tcp:192.168.1.50:9100      raw network printer        usb:0416:5011   USB printer (vendor:product)
    serial:/dev/ttyUSB0?baud=9600                          none            no printer: a clear message
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from shared.errors import SuiteError
from shared.printing.ticket import Mode, Paper, TicketSlip, ticket_escpos
from shared.printing.transports import FileTransport, PrinterUnavailable, transport_from_url
from shared.site import PrinterSetting
from triage_desk.texts import t


def slip_bytes(slip: TicketSlip, setting: PrinterSetting, lang: str) -> bytes:
    paper: Paper = "58mm" if setting.paper.startswith("58") else "80mm"
    mode: Mode = "raster" if setting.encoding == "raster" else "auto"
    return ticket_escpos(slip, paper=paper, mode=mode, lang=lang)


def send_slip(data: bytes, setting: PrinterSetting, lang: str, *, timeout: float = 5.0) -> str:
    """Send the slip ``setting.copies`` times; returns where it went. Raises ``PrinterUnavailable``."""
    target = (setting.target or "none").strip()
    scheme, _, rest = target.partition(":")
    scheme = scheme.lower()
    if scheme in ("", "none"):
        raise PrinterUnavailable(t("print.no_printer", lang), code="printer_not_set")
    if scheme == "file":
        raw = rest[2:] if rest.startswith("//") else rest
        path = Path(raw).expanduser()
        if path.is_dir() or not path.suffix:
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
            path = path / f"ticket-{stamp}.bin"
        transport = FileTransport(path)
    elif scheme in ("tcp", "usb", "serial"):
        url = target if rest.startswith("//") else f"{scheme}://{rest}"
        try:
            transport = transport_from_url(url, timeout=timeout)  # type: ignore[assignment]
        except SuiteError as exc:
            raise PrinterUnavailable(exc.message, code="printer_bad_target") from exc
    else:
        raise PrinterUnavailable(t("print.bad_target", lang, target=target), code="printer_bad_target")
    for _ in range(max(1, setting.copies)):
        transport.send(data)
    return transport.address  # type: ignore[attr-defined, no-any-return]


def sample_slip(now: dt.datetime | None = None) -> TicketSlip:
    """The self-test's slip (built-in sample data)."""
    return TicketSlip(
        ticket_id="00000000-0000-7000-8000-000000000001",
        number="A023",
        queue_name="内科候诊",
        ahead=3,
        issued_at=now or dt.datetime.now(),
        hospital="示例市第一人民医院",
        room="内科1诊室",
        patient_name="张小三",
        department="心血管内科",
    )
