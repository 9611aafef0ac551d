"""Where each document goes: the PC's printer setting for its kind turned into one blocking ``send``.

A setting's ``target`` (``shared.site.PrinterSetting``) is one of::

    file:/folder            each job becomes <folder>/<kind>-<time>-<n>.pdf (or .bin for ESC/POS)
    file:/path/jobs.bin     ESC/POS jobs appended to one file; a PDF overwrites a file path
    tcp:192.168.1.50:9100   raw 9100 network printer (ESC/POS, or a PDF-capable printer)
    usb:0416:5011           USB ESC/POS printer (vendor:product in hex; python-escpos + pyusb)
    serial:/dev/ttyUSB0?baud=9600
    cups:Queue_Name         the OS print system (``lp -d``), for PDFs on office printers
    win:Printer Name        a printer installed in Windows: ESC/POS bytes go to it RAW through the
                            Windows spooler (winspool, no extra package); a PDF is handed to the PC's
                            PDF viewer with its "printto" verb (SumatraPDF, Adobe Reader and the like
                            register it; the browser-based viewers do not, and the message says so)
    none                    not set up: a clear message says where to set it

The URL forms of ``shared.printing.transports`` (``tcp://…``, ``file://…``) are accepted too. Every
failure raises ``PrinterUnavailable`` with a message that names the printer and what to check; nothing
here touches Qt, and ``send`` blocks, so the desk calls it off the GUI thread.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import itertools
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pharmacy_desk.texts import t
from shared.i18n import DEFAULT_LANGUAGE
from shared.printing.transports import FileTransport, PrinterUnavailable, transport_from_url
from shared.site import PrinterSetting

Content = Literal["pdf", "escpos"]
_counter = itertools.count(1)


@dataclass(frozen=True)
class PrintJob:
    """One document ready to print: which kind (site printer key), a title for people, the bytes.

    ``ref_id`` is the row the document prints (prescription, dispense, delivery …; empty for a test
    page) and ``reprint`` whether it is marked as one: a job that reaches its printer with a ``ref_id``
    is recorded with ``print.record``.
    """

    id: str
    kind: str
    title: str
    content: Content
    data: bytes
    created_at: dt.datetime
    ref_id: str = ""
    reprint: bool = False

    @property
    def extension(self) -> str:
        return "pdf" if self.content == "pdf" else "bin"


def describe_target(setting: PrinterSetting) -> str:
    return setting.target or "none"


def _to_url(target: str) -> str:
    """Site form (``tcp:host:port``) to the transports' URL form (``tcp://host:port``)."""
    scheme, _, rest = target.partition(":")
    if rest.startswith("//"):
        return target
    return f"{scheme}://{rest}"


def _file_target(path: Path, job: PrintJob) -> Path:
    if path.is_dir() or not path.suffix:
        stamp = job.created_at.strftime("%Y%m%d-%H%M%S")
        return path / f"{job.kind}-{stamp}-{next(_counter):04d}-{job.id[-6:]}.{job.extension}"
    return path


def send(
    job: PrintJob, setting: PrinterSetting, *, lang: str = DEFAULT_LANGUAGE, timeout: float = 5.0
) -> str:
    """Send ``job`` ``setting.copies`` times to the printer ``setting`` names; returns where it went.

    Raises ``PrinterUnavailable`` (printer off, unreachable, not set up) with a translated message.
    """
    target = (setting.target or "none").strip()
    doc = t(f"doc.{job.kind}", lang) if job.kind != "test" else job.title
    scheme = target.partition(":")[0].lower()
    if scheme in ("", "none"):
        raise PrinterUnavailable(t("print.no_printer", lang, doc=doc), code="printer_not_set")
    copies = max(1, setting.copies)
    if scheme == "file":
        raw = target[len("file:") :]
        raw = raw[2:] if raw.startswith("//") else raw
        path = _file_target(Path(raw).expanduser(), job)
        if job.content == "pdf" or path.suffix.lower() == ".pdf":
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(job.data)
            except OSError as exc:
                raise PrinterUnavailable(
                    t("print.failed", lang, doc=doc, reason=exc.strerror or str(exc)), detail=str(path)
                ) from exc
            return str(path)
        file_transport = FileTransport(path)
        for _ in range(copies):
            file_transport.send(job.data)
        return str(path)
    if scheme == "cups":
        queue = target[len("cups:") :].strip()
        return _send_cups(job, queue, copies, lang, doc)
    if scheme == "win":
        return _send_windows(job, target[4:].strip(), copies, lang, doc)
    if scheme in ("tcp", "usb", "serial"):
        transport = transport_from_url(_to_url(target), timeout=timeout)
        for _ in range(copies):
            transport.send(job.data)
        return transport.address
    raise PrinterUnavailable(t("print.bad_target", lang, target=target), code="printer_bad_target")


def _send_cups(job: PrintJob, queue: str, copies: int, lang: str, doc: str) -> str:
    lp = shutil.which("lp")
    if lp is None:
        raise PrinterUnavailable(t("print.cups_missing", lang, queue=queue), code="printer_unavailable")
    command = [lp, "-n", str(copies), "-t", job.title]
    if queue:
        command += ["-d", queue]
    if job.content == "escpos":
        command += ["-o", "raw"]
    try:
        done = subprocess.run(command, input=job.data, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PrinterUnavailable(t("print.cups_failed", lang, queue=queue, reason=str(exc))) from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise PrinterUnavailable(t("print.cups_failed", lang, queue=queue, reason=reason))
    return f"cups:{queue}"


# --- Windows printers ------------------------------------------------------------------------------------


class WindowsSpooler(Protocol):
    """What ``win:`` printing needs from Windows (replaced in tests; see ``windows_spooler``)."""

    def printers(self) -> list[str]: ...

    def print_raw(self, printer: str, title: str, data: bytes) -> None: ...

    def print_pdf(self, printer: str, path: Path) -> None: ...


class _Winspool:
    """The Windows spooler through ``winspool.drv`` (ctypes) and the shell's ``printto`` verb."""

    def __init__(self) -> None:
        from ctypes import wintypes

        self._spool = ctypes.WinDLL("winspool.drv", use_last_error=True)  # type: ignore[attr-defined]
        self._wintypes = wintypes

    def printers(self) -> list[str]:
        wintypes = self._wintypes
        flags = 0x2 | 0x4  # PRINTER_ENUM_LOCAL | PRINTER_ENUM_CONNECTIONS
        needed, returned = wintypes.DWORD(), wintypes.DWORD()
        self._spool.EnumPrintersW(flags, None, 4, None, 0, ctypes.byref(needed), ctypes.byref(returned))
        if not needed.value:
            return []
        buffer = ctypes.create_string_buffer(needed.value)
        if not self._spool.EnumPrintersW(
            flags, None, 4, buffer, needed, ctypes.byref(needed), ctypes.byref(returned)
        ):
            raise OSError(ctypes.get_last_error(), "EnumPrintersW failed")  # type: ignore[attr-defined]

        class PrinterInfo4(ctypes.Structure):
            _fields_ = [
                ("pPrinterName", wintypes.LPWSTR),
                ("pServerName", wintypes.LPWSTR),
                ("Attributes", wintypes.DWORD),
            ]

        infos = ctypes.cast(buffer, ctypes.POINTER(PrinterInfo4))
        return [infos[i].pPrinterName for i in range(returned.value)]

    def print_raw(self, printer: str, title: str, data: bytes) -> None:
        wintypes = self._wintypes

        class DocInfo1(ctypes.Structure):
            _fields_ = [
                ("pDocName", wintypes.LPWSTR),
                ("pOutputFile", wintypes.LPWSTR),
                ("pDatatype", wintypes.LPWSTR),
            ]

        handle = wintypes.HANDLE()
        if not self._spool.OpenPrinterW(printer, ctypes.byref(handle), None):
            raise OSError(ctypes.get_last_error(), f"OpenPrinterW({printer})")  # type: ignore[attr-defined]
        try:
            info = DocInfo1(title, None, "RAW")
            if not self._spool.StartDocPrinterW(handle, 1, ctypes.byref(info)):
                raise OSError(ctypes.get_last_error(), "StartDocPrinterW")  # type: ignore[attr-defined]
            try:
                self._spool.StartPagePrinter(handle)
                written = wintypes.DWORD()
                ok = self._spool.WritePrinter(handle, data, len(data), ctypes.byref(written))
                if not ok or written.value != len(data):
                    raise OSError(ctypes.get_last_error(), "WritePrinter")  # type: ignore[attr-defined]
                self._spool.EndPagePrinter(handle)
            finally:
                self._spool.EndDocPrinter(handle)
        finally:
            self._spool.ClosePrinter(handle)

    def print_pdf(self, printer: str, path: Path) -> None:
        import os

        os.startfile(str(path), "printto", f'"{printer}"')  # type: ignore[attr-defined,call-arg]


def windows_spooler() -> WindowsSpooler | None:
    """The Windows spooler, or None off Windows (tests replace this function)."""
    if sys.platform != "win32":
        return None
    return _Winspool()


def _send_windows(job: PrintJob, name: str, copies: int, lang: str, doc: str) -> str:
    spooler = windows_spooler()
    if spooler is None:
        raise PrinterUnavailable(t("print.win_unsupported", lang, name=name), code="printer_unsupported")
    try:
        known = spooler.printers()
    except OSError as exc:
        raise PrinterUnavailable(t("print.win_failed", lang, name=name, reason=str(exc))) from exc
    if name not in known:
        raise PrinterUnavailable(
            t("print.win_unknown", lang, name=name, known="、".join(known) or "-"), code="printer_unavailable"
        )
    try:
        if job.content == "escpos":
            for _ in range(copies):
                spooler.print_raw(name, job.title or doc, job.data)
        else:
            folder = Path(tempfile.gettempdir()) / "clinic-print"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{job.kind}-{job.id}.pdf"
            path.write_bytes(job.data)
            for _ in range(copies):
                spooler.print_pdf(name, path)
    except OSError as exc:
        key = "print.win_no_viewer" if job.content == "pdf" else "print.win_failed"
        raise PrinterUnavailable(t(key, lang, name=name, reason=str(exc))) from exc
    return f"win:{name}"
