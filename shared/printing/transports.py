"""Where ESC/POS bytes go: a file, a network printer (TCP 9100), a serial port or a USB printer.

``transport_from_url`` turns a PC's printer setting into a transport::

    tcp://192.168.1.50:9100      network printer (port defaults to 9100)
    file:///var/spool/tickets.bin  append each job to a file (tests, support, "print to file")
    serial:///dev/ttyUSB0?baud=9600  or  serial://COM3?baud=19200   (needs pyserial; untested here)
    usb://0416:5011              vendor:product id in hex (needs pyusb via python-escpos; untested here)

Every failure to reach a printer raises ``PrinterUnavailable`` with a message a nurse can act on.
``send`` blocks; call it off the GUI thread.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse

from shared.errors import SuiteError, ValidationFailed
from shared.i18n import register, tr

log = logging.getLogger(__name__)

register(
    "printer.unreachable",
    {
        "zh_CN": "无法连接打印机 {address}：{reason}。请检查打印机电源、网线和 IP 地址",
        "en": "Cannot reach printer {address}: {reason}. Check its power, cable and IP address",
        "zh_TW": "無法連接印表機 {address}：{reason}。請檢查印表機電源、網線和 IP 位址",
    },
)
register(
    "printer.write_failed",
    {
        "zh_CN": "打印机 {address} 接收数据失败：{reason}。请检查纸张和打印机状态后重印",
        "en": "Printer {address} stopped taking data: {reason}. Check paper and status, then reprint",
        "zh_TW": "印表機 {address} 接收資料失敗：{reason}。請檢查紙張和印表機狀態後重印",
    },
)
register(
    "printer.driver_missing",
    {
        "zh_CN": "连接 {kind} 打印机需要安装 {package}",
        "en": "A {kind} printer needs {package} installed",
        "zh_TW": "連接 {kind} 印表機需要安裝 {package}",
    },
)
register(
    "printer.bad_url",
    {
        "zh_CN": "打印机地址无效：{url}（例如 tcp://192.168.1.50:9100）",
        "en": "Invalid printer address: {url} (e.g. tcp://192.168.1.50:9100)",
        "zh_TW": "印表機位址無效：{url}（例如 tcp://192.168.1.50:9100）",
    },
)


class PrinterUnavailable(SuiteError):
    """The printer is off, unplugged, unreachable or out of paper; the job was not (fully) printed."""

    code = "printer_unavailable"


class PrinterTransport(Protocol):
    """Sends one complete job; raises PrinterUnavailable on failure. Blocking."""

    address: str

    def send(self, data: bytes) -> None: ...


class FileTransport:
    """Appends (or writes) jobs to a file; the decoder can read them back."""

    def __init__(self, path: Path | str, *, append: bool = True) -> None:
        self.path = Path(path)
        self.append = append
        self.address = str(self.path)

    def send(self, data: bytes) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab" if self.append else "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise PrinterUnavailable(
                tr("printer.write_failed", address=self.address, reason=exc.strerror)
            ) from exc


class NetworkTransport:
    """Raw TCP ("JetDirect", port 9100): connect, send everything, close. Timeouts are per step."""

    def __init__(self, host: str, port: int = 9100, *, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.address = f"{host}:{port}"

    def send(self, data: bytes) -> None:
        try:
            connection = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except TimeoutError as exc:
            raise PrinterUnavailable(
                tr("printer.unreachable", address=self.address, reason="timeout"), detail=self.address
            ) from exc
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise PrinterUnavailable(
                tr("printer.unreachable", address=self.address, reason=reason), detail=self.address
            ) from exc
        with connection:
            try:
                connection.sendall(data)
                # Half-close so the printer sees the end of the job before we tear the connection down.
                connection.shutdown(socket.SHUT_WR)
            except OSError as exc:
                reason = "timeout" if isinstance(exc, TimeoutError) else exc.strerror or type(exc).__name__
                raise PrinterUnavailable(
                    tr("printer.write_failed", address=self.address, reason=reason), detail=self.address
                ) from exc
        log.info("sent %d bytes to printer %s", len(data), self.address)


class SerialTransport:
    """A serial (RS-232 / USB-serial) printer through pyserial. Written to the pyserial API; untested here."""

    def __init__(self, port: str, baudrate: int = 9600, *, timeout: float = 5.0) -> None:
        self.port = port
        self.baudrate = baudrate
        self.timeout = timeout
        self.address = f"{port}@{baudrate}"

    def send(self, data: bytes) -> None:
        try:
            import serial  # type: ignore[import-not-found]
        except ImportError as exc:
            raise PrinterUnavailable(tr("printer.driver_missing", kind="serial", package="pyserial")) from exc
        try:
            with serial.Serial(
                self.port, self.baudrate, timeout=self.timeout, write_timeout=self.timeout
            ) as port:
                port.write(data)
                port.flush()
        except (OSError, serial.SerialException) as exc:
            raise PrinterUnavailable(
                tr("printer.unreachable", address=self.address, reason=str(exc))
            ) from exc


class UsbTransport:
    """A USB printer through python-escpos' ``Usb`` device (needs pyusb and libusb). Untested here."""

    def __init__(self, vendor_id: int, product_id: int) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.address = f"usb:{vendor_id:04x}:{product_id:04x}"

    def send(self, data: bytes) -> None:
        try:
            from escpos.printer import Usb  # type: ignore[import-untyped]
        except ImportError as exc:
            raise PrinterUnavailable(
                tr("printer.driver_missing", kind="USB", package="python-escpos")
            ) from exc
        if not Usb.is_usable():
            raise PrinterUnavailable(tr("printer.driver_missing", kind="USB", package="pyusb + libusb"))
        try:
            printer = Usb(self.vendor_id, self.product_id)
            printer.open()
            try:
                printer._raw(data)  # our bytes as they are: no python-escpos text handling
            finally:
                printer.close()
        except Exception as exc:  # noqa: BLE001 - pyusb and python-escpos raise many unrelated types
            raise PrinterUnavailable(
                tr("printer.unreachable", address=self.address, reason=str(exc))
            ) from exc


def transport_from_url(url: str, *, timeout: float = 5.0) -> PrinterTransport:
    """A transport from a printer setting (see the module docstring for the forms)."""
    parsed = urlparse(url)
    try:
        if parsed.scheme == "tcp" and parsed.hostname:
            return NetworkTransport(parsed.hostname, parsed.port or 9100, timeout=timeout)
        if parsed.scheme == "file":
            return FileTransport(unquote(parsed.netloc + parsed.path))
        if parsed.scheme == "serial":
            baud = int(parse_qs(parsed.query).get("baud", ["9600"])[0])
            return SerialTransport(unquote(parsed.netloc + parsed.path), baud, timeout=timeout)
        if parsed.scheme == "usb":
            vendor, product = (parsed.netloc + parsed.path).strip("/").split(":")
            return UsbTransport(int(vendor, 16), int(product, 16))
    except ValueError as exc:
        raise ValidationFailed(tr("printer.bad_url", url=url)) from exc
    raise ValidationFailed(tr("printer.bad_url", url=url))
