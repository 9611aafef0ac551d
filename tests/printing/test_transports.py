"""Printer transports: a real TCP printer stand-in on loopback, a closed port, files, printer URLs."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from shared.errors import ValidationFailed
from shared.printing.escpos import EscPos
from shared.printing.escpos_decode import decode
from shared.printing.transports import (
    FileTransport,
    NetworkTransport,
    PrinterUnavailable,
    SerialTransport,
    UsbTransport,
    transport_from_url,
)


class FakeNetworkPrinter:
    """Listens on 127.0.0.1 like a port-9100 printer and keeps every job it receives."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.jobs: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                job = b""
                while chunk := connection.recv(65536):
                    job += chunk
                self.jobs.append(job)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def printer() -> FakeNetworkPrinter:
    fake = FakeNetworkPrinter()
    yield fake  # type: ignore[misc]
    fake.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_job_reaches_a_network_printer_whole(printer: FakeNetworkPrinter) -> None:
    job = EscPos().init().line("内科 A023").qr("x" * 3000).cut().build()
    NetworkTransport("127.0.0.1", printer.port, timeout=2).send(job)
    NetworkTransport("127.0.0.1", printer.port, timeout=2).send(job)
    printer.thread.join(0.2)
    assert printer.jobs == [job, job]
    assert decode(printer.jobs[0]).lines == ["内科 A023"]


def test_a_printer_that_is_off_gives_a_clear_error() -> None:
    port = closed_port()
    with pytest.raises(PrinterUnavailable) as caught:
        NetworkTransport("127.0.0.1", port, timeout=2).send(b"\x1b@")
    error = caught.value
    assert error.code == "printer_unavailable"
    assert f"127.0.0.1:{port}" in error.message and "打印机" in error.message


def test_a_printer_that_accepts_but_never_reads_times_out() -> None:
    silent = socket.create_server(("127.0.0.1", 0), backlog=1)
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        transport = NetworkTransport("127.0.0.1", silent.getsockname()[1], timeout=0.5)
        with pytest.raises(PrinterUnavailable) as caught:
            transport.send(b"\x00" * (64 * 1024 * 1024))  # more than the socket buffers hold
        assert "timeout" in caught.value.message
    finally:
        silent.close()


def test_jobs_append_to_a_file_and_decode_back(tmp_path: Path) -> None:
    transport = transport_from_url(f"file://{tmp_path}/out/tickets.bin")
    transport.send(EscPos().init().line("第一张").cut().build())
    transport.send(EscPos().init().line("第二张").cut().build())
    decoded = decode((tmp_path / "out" / "tickets.bin").read_bytes())
    assert decoded.lines == ["第一张", "第二张"] and decoded.cut_count == 2


def test_an_unwritable_file_is_a_printer_error(tmp_path: Path) -> None:
    with pytest.raises(PrinterUnavailable):
        FileTransport(tmp_path).send(b"x")  # a folder, not a file


def test_printer_urls_pick_the_right_transport() -> None:
    tcp = transport_from_url("tcp://192.168.1.50")
    assert isinstance(tcp, NetworkTransport) and (tcp.host, tcp.port) == ("192.168.1.50", 9100)
    assert transport_from_url("tcp://10.0.0.9:9101").address == "10.0.0.9:9101"  # type: ignore[union-attr]
    serial = transport_from_url("serial:///dev/ttyUSB0?baud=19200")
    assert isinstance(serial, SerialTransport) and (serial.port, serial.baudrate) == ("/dev/ttyUSB0", 19200)
    assert transport_from_url("serial://COM3").port == "COM3"  # type: ignore[union-attr]
    usb = transport_from_url("usb://0416:5011")
    assert isinstance(usb, UsbTransport) and (usb.vendor_id, usb.product_id) == (0x0416, 0x5011)
    for bad in ("lpt://1", "tcp://", "usb://zz:1", "serial:///dev/x?baud=fast"):
        with pytest.raises(ValidationFailed):
            transport_from_url(bad)


def test_a_serial_printer_without_pyserial_says_what_to_install() -> None:
    try:
        import serial  # noqa: F401
    except ImportError:
        with pytest.raises(PrinterUnavailable) as caught:
            SerialTransport("/dev/ttyUSB-none").send(b"x")
        assert "pyserial" in caught.value.message
    else:
        with pytest.raises(PrinterUnavailable):
            SerialTransport("/dev/ttyUSB-none").send(b"x")


def test_a_usb_printer_without_pyusb_says_what_to_install() -> None:
    escpos_printer = pytest.importorskip("escpos.printer")
    if escpos_printer.Usb.is_usable():
        pytest.skip("pyusb is installed here")
    with pytest.raises(PrinterUnavailable) as caught:
        UsbTransport(0x0416, 0x5011).send(b"x")
    assert "pyusb" in caught.value.message
