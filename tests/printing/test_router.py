"""The one printer-target interpreter (``shared.printing.router``): files, network, CUPS, Windows printers,
and printers that cannot print saying why. (Moved from the pharmacy's tests when routing became shared.)"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pytest

from shared.printing import router
from shared.printing.router import PrintJob, send
from shared.printing.transports import PrinterUnavailable
from shared.site import PrinterSetting
from tests.support.server import free_port


def job(kind: str = "receipt", content: str = "escpos", data: bytes = b"\x1b@hello") -> PrintJob:
    return PrintJob("job-0001", kind, "RX1", content, data, dt.datetime(2026, 11, 22, 9, 30))  # type: ignore[arg-type]


def test_a_job_to_a_folder_becomes_one_file_per_job(tmp_path: Path) -> None:
    where = send(job("drug_label", "pdf", b"%PDF-1.4 x"), PrinterSetting(target=f"file:{tmp_path}/labels"))
    assert Path(where).parent == tmp_path / "labels" and Path(where).suffix == ".pdf"
    assert Path(where).read_bytes() == b"%PDF-1.4 x"


def test_escpos_jobs_append_to_a_file_and_copies_repeat(tmp_path: Path) -> None:
    setting = PrinterSetting(target=f"file:{tmp_path}/receipts.bin", copies=2)
    send(job(), setting)
    send(job(data=b"\x1b@again"), setting)
    assert (tmp_path / "receipts.bin").read_bytes() == b"\x1b@hello" * 2 + b"\x1b@again" * 2


def test_a_network_printer_receives_the_bytes(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.settimeout(5)
    try:
        where = send(job(), PrinterSetting(target=f"tcp:127.0.0.1:{port}"))
        connection, _ = server.accept()
        with connection:
            received = b""
            while chunk := connection.recv(4096):
                received += chunk
    finally:
        server.close()
    assert where == f"127.0.0.1:{port}" and received == b"\x1b@hello"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("none", "未给“小票”设置打印机，请在“打印机设置”中选择"),
        ("", "未给“小票”设置打印机"),
        ("win:Kitchen Printer", "只能在 Windows 上使用"),
        ("fax:123", "打印机设置无效"),
    ],
)
def test_printers_that_cannot_print_say_why(target: str, expected: str) -> None:
    with pytest.raises(PrinterUnavailable) as caught:
        send(job(), PrinterSetting(target=target))
    assert expected in caught.value.message


class FakeSpooler:
    """Stands in for the Windows spooler (the one external thing): records what it was handed."""

    def __init__(self, *names: str, fail: bool = False) -> None:
        self.names = list(names)
        self.fail = fail
        self.raw: list[tuple[str, str, bytes]] = []
        self.pdfs: list[tuple[str, bytes]] = []

    def printers(self) -> list[str]:
        return self.names

    def print_raw(self, printer: str, title: str, data: bytes) -> None:
        self.raw.append((printer, title, data))

    def print_pdf(self, printer: str, path: Path) -> None:
        if self.fail:
            raise OSError(1155, "No application is associated with the specified file for this operation")
        self.pdfs.append((printer, path.read_bytes()))


def test_windows_printers_get_escpos_raw_and_pdfs_through_the_spooler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spooler = FakeSpooler("POS-80C", "HP LaserJet M404")
    monkeypatch.setattr(router, "windows_spooler", lambda: spooler)
    receipt = "收费小票".encode("gb18030")
    where = send(job(data=receipt), PrinterSetting(target="win:POS-80C", copies=2))
    assert where == "win:POS-80C" and spooler.raw == [("POS-80C", "RX1", receipt)] * 2
    pdf = b"%PDF-1.4 label"
    send(job("drug_label", "pdf", pdf), PrinterSetting(target="win:HP LaserJet M404"))
    assert spooler.pdfs == [("HP LaserJet M404", pdf)]

    with pytest.raises(PrinterUnavailable) as unknown:
        send(job(), PrinterSetting(target="win:Kitchen Printer"))
    assert "没有名为“Kitchen Printer”的打印机" in unknown.value.message
    assert "POS-80C" in unknown.value.message

    monkeypatch.setattr(router, "windows_spooler", lambda: FakeSpooler("HP", fail=True))
    with pytest.raises(PrinterUnavailable) as no_viewer:
        send(job("drug_label", "pdf", pdf), PrinterSetting(target="win:HP"))
    assert "SumatraPDF" in no_viewer.value.message


def test_a_printer_that_is_off_raises_printer_unavailable() -> None:
    with pytest.raises(PrinterUnavailable) as caught:
        send(job(), PrinterSetting(target=f"tcp:127.0.0.1:{free_port()}"), timeout=2)
    assert "无法连接打印机" in caught.value.message


def test_the_os_printers_are_listed_default_first(fake_cups: Path) -> None:
    printers = router.os_printers()
    assert [(p.name, p.target, p.default) for p in printers] == [
        ("Office_A4", "cups:Office_A4", True),
        ("Label_70x50", "cups:Label_70x50", False),
    ]


def test_a_pdf_to_a_cups_printer_goes_through_lp(fake_cups: Path) -> None:
    where = send(
        job("prescription", "pdf", b"%PDF-1.4 rx"), PrinterSetting(target="cups:Office_A4", copies=2)
    )
    assert where == "cups:Office_A4"
    (sent,) = fake_cups.glob("Office_A4-*.job")
    assert sent.read_bytes() == b"%PDF-1.4 rx"
    assert "-n 2" in sent.with_suffix(".args").read_text()
