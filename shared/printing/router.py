"""The one interpreter of printer targets: a print job and the PC's setting for its kind, turned into bytes
at a printer (or a file). Used by every app through the print queue (``shared.gui.printing``).

A setting's ``target`` (``shared.site.PrinterSetting``) is one of::

    file:/folder            each job becomes <folder>/<kind>-<time>-<n>-<id>.pdf (or .bin for ESC/POS)
    file:/path/jobs.bin     ESC/POS jobs appended to one file; a PDF replaces a .pdf file path
    tcp:192.168.1.50:9100   raw 9100 network printer (ESC/POS, or a PDF-capable printer)
    usb:0416:5011           USB ESC/POS printer (vendor:product in hex; python-escpos + pyusb)
    serial:/dev/ttyUSB0?baud=9600
    cups:Queue_Name         the OS print system (``lp -d``): office printers on Linux and macOS
    win:Printer Name        a printer installed in Windows: ESC/POS bytes go to it RAW through the
                            Windows spooler (winspool, no extra package); a PDF is handed to the PC's
                            PDF viewer with its "printto" verb (SumatraPDF, Adobe Reader and the like
                            register it; the browser-based viewers do not, and the message says so)
    none                    no printer for this kind on this PC: a clear message says where to set one

The URL forms of ``shared.printing.transports`` (``tcp://…``, ``file://…``) are accepted too. Every failure
raises ``PrinterUnavailable`` with a translated message that names the printer and what to check.
``os_printers`` lists the printers the OS knows (CUPS ``lpstat``, the Windows spooler), so people pick
one instead of typing a target. Nothing here touches Qt; ``send`` blocks: call it off the GUI thread.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import itertools
import logging
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.i18n import DEFAULT_LANGUAGE, register, tr
from shared.printing.kinds import Content, kind_label
from shared.printing.transports import FileTransport, PrinterUnavailable, transport_from_url
from shared.site import PrinterSetting

log = logging.getLogger(__name__)
_counter = itertools.count(1)

_TEXTS: dict[str, tuple[str, str, str]] = {
    "no_printer": (
        "未给“{doc}”设置打印机，请在“打印机设置”中选择",
        "No printer set for {doc}; choose one in Printer settings",
        "未給「{doc}」設置印表機，請在「印表機設置」中選擇",
    ),
    "no_printer_it": (
        "未给“{doc}”设置打印机，打印机由信息科统一设置：请联系信息科在站点配置中设置 printers.{kind}",
        "No printer set for {doc}; IT manages the printers: ask IT to set printers.{kind} in the site configuration",
        "未給「{doc}」設置印表機，印表機由資訊科統一設置：請聯繫資訊科在站點配置中設置 printers.{kind}",
    ),
    "file_failed": (
        "{doc}无法保存到 {path}：{reason}",
        "{doc} could not be saved to {path}: {reason}",
        "{doc}無法保存到 {path}：{reason}",
    ),
    "cups_missing": (
        "本机没有系统打印命令 lp（CUPS），无法打印到 {queue}",
        "This PC has no lp command (CUPS); cannot print to {queue}",
        "本機沒有系統列印命令 lp（CUPS），無法列印到 {queue}",
    ),
    "cups_failed": (
        "系统打印机 {queue} 拒绝了作业：{reason}",
        "System printer {queue} refused the job: {reason}",
        "系統印表機 {queue} 拒絕了作業：{reason}",
    ),
    "win_unsupported": (
        "Windows 打印机 {name} 只能在 Windows 上使用",
        "Windows printer {name} works only on Windows",
        "Windows 印表機 {name} 只能在 Windows 上使用",
    ),
    "win_unknown": (
        "Windows 中没有名为“{name}”的打印机（本机打印机：{known}）",
        "Windows has no printer named {name} (printers here: {known})",
        "Windows 中沒有名為「{name}」的印表機（本機印表機：{known}）",
    ),
    "win_failed": (
        "Windows 打印机 {name} 未能打印：{reason}",
        "Windows printer {name} did not print: {reason}",
        "Windows 印表機 {name} 未能列印：{reason}",
    ),
    "win_no_viewer": (
        "无法把 PDF 交给 {name}：{reason}。请安装支持“打印到”的 PDF 阅读器（如 SumatraPDF），或改用 tcp: 网络打印机",
        "Could not hand the PDF to {name}: {reason}. Install a PDF viewer that supports printto (such as "
        "SumatraPDF) or use a tcp: network printer",
        "無法把 PDF 交給 {name}：{reason}。請安裝支援「列印到」的 PDF 閱讀器（如 SumatraPDF），或改用 tcp: 網路印表機",
    ),
    "bad_target": (
        "打印机设置无效：{target}",
        "Invalid printer setting: {target}",
        "印表機設置無效：{target}",
    ),
}
for _key, (_zh, _en, _tw) in _TEXTS.items():
    register(f"printing.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def t(key: str, lang: str, /, **params: object) -> str:
    return tr(f"printing.{key}", lang, **params)


@dataclass(frozen=True)
class PrintJob:
    """One document ready to print: its kind (``shared.printing.kinds``), a title for people, the bytes.

    ``ref_id`` is the row the document prints (prescription, dispense, ticket …; empty for a test page)
    and ``reprint`` whether it is marked as one: a job that reaches its printer with a ``ref_id`` is
    recorded with ``print.record``.
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


def scheme_of(target: str) -> str:
    """``cups`` of ``cups:Office``; ``none`` for an empty target."""
    target = (target or "none").strip()
    return target.partition(":")[0].lower() if ":" in target else target.lower() or "none"


def is_file_target(target: str) -> bool:
    """Whether a target only saves a file (nothing reaches paper): the apps say "saved", not "printed"."""
    return scheme_of(target) == "file"


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


def _write_whole(path: Path, data: bytes) -> None:
    """Write beside and rename, so a folder watched by a print spooler never sees half a PDF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(data)
    partial.replace(path)


def send(
    job: PrintJob, setting: PrinterSetting, *, lang: str = DEFAULT_LANGUAGE, timeout: float = 5.0
) -> str:
    """Send ``job`` ``setting.copies`` times to the printer ``setting`` names; returns where it went.

    Raises ``PrinterUnavailable`` (printer off, unreachable, not set up) with a translated message.
    """
    target = (setting.target or "none").strip()
    doc = kind_label(job.kind, lang) if job.kind != "test" else job.title
    scheme = scheme_of(target)
    if scheme == "none":
        raise PrinterUnavailable(t("no_printer", lang, doc=doc), code="printer_not_set")
    copies = max(1, setting.copies)
    if scheme == "file":
        raw = target[len("file:") :]
        raw = raw[2:] if raw.startswith("//") else raw
        path = _file_target(Path(raw).expanduser(), job)
        if job.content == "pdf" or path.suffix.lower() == ".pdf":
            try:
                _write_whole(path, job.data)
            except OSError as exc:
                raise PrinterUnavailable(
                    t("file_failed", lang, doc=doc, path=str(path), reason=exc.strerror or str(exc)),
                    detail=str(path),
                ) from exc
            return str(path)
        file_transport = FileTransport(path)
        for _ in range(copies):
            file_transport.send(job.data)
        return str(path)
    if scheme == "cups":
        queue = target[len("cups:") :].strip()
        return _send_cups(job, queue, copies, lang)
    if scheme == "win":
        return _send_windows(job, target[4:].strip(), copies, lang, doc)
    if scheme in ("tcp", "usb", "serial"):
        try:
            transport = transport_from_url(_to_url(target), timeout=timeout)
        except PrinterUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - ValidationFailed: a typed target that is not one
            raise PrinterUnavailable(t("bad_target", lang, target=target), code="printer_bad_target") from exc
        for _ in range(copies):
            transport.send(job.data)
        return transport.address
    raise PrinterUnavailable(t("bad_target", lang, target=target), code="printer_bad_target")


def _send_cups(job: PrintJob, queue: str, copies: int, lang: str) -> str:
    lp = shutil.which("lp")
    if lp is None:
        raise PrinterUnavailable(t("cups_missing", lang, queue=queue), code="printer_unavailable")
    command = [lp, "-n", str(copies), "-t", job.title]
    if queue:
        command += ["-d", queue]
    if job.content == "escpos":
        command += ["-o", "raw"]
    try:
        done = subprocess.run(command, input=job.data, capture_output=True, timeout=30, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PrinterUnavailable(t("cups_failed", lang, queue=queue, reason=str(exc))) from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise PrinterUnavailable(t("cups_failed", lang, queue=queue, reason=reason))
    return f"cups:{queue}"


# --- the OS's printers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OsPrinter:
    """A printer the OS knows: its name and the target that prints to it (``cups:…`` / ``win:…``)."""

    name: str
    target: str
    default: bool = False


def cups_printers(timeout: float = 5.0) -> list[OsPrinter]:
    """The CUPS destinations (``lpstat -e``; the default from ``lpstat -d``); [] without CUPS."""
    lpstat = shutil.which("lpstat")
    if lpstat is None:
        return []
    try:
        listed = subprocess.run(  # noqa: S603 - a fixed program
            [lpstat, "-e"], capture_output=True, timeout=timeout, check=False, text=True
        )
        default = subprocess.run(  # noqa: S603
            [lpstat, "-d"], capture_output=True, timeout=timeout, check=False, text=True
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("lpstat did not answer: %s", exc)
        return []
    if listed.returncode != 0:
        return []
    default_name = default.stdout.rpartition(":")[2].strip() if default.returncode == 0 else ""
    names = [line.strip() for line in listed.stdout.splitlines() if line.strip()]
    return [OsPrinter(name, f"cups:{name}", name == default_name) for name in names]


def os_printers() -> list[OsPrinter]:
    """Every printer this PC's OS offers, the default first. Blocks (a CUPS server may be slow): call it
    off the GUI thread. Errors become an empty list and a log line; typing a target stays possible."""
    found: list[OsPrinter] = []
    spooler = windows_spooler()
    if spooler is not None:
        try:
            found = [OsPrinter(name, f"win:{name}") for name in spooler.printers()]
        except OSError as exc:
            log.info("the Windows spooler did not list its printers: %s", exc)
    else:
        found = cups_printers()
    return sorted(found, key=lambda p: (not p.default, p.name.lower()))


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
        raise PrinterUnavailable(t("win_unsupported", lang, name=name), code="printer_unsupported")
    try:
        known = spooler.printers()
    except OSError as exc:
        raise PrinterUnavailable(t("win_failed", lang, name=name, reason=str(exc))) from exc
    if name not in known:
        raise PrinterUnavailable(
            t("win_unknown", lang, name=name, known="、".join(known) or "-"), code="printer_unavailable"
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
        key = "win_no_viewer" if job.content == "pdf" else "win_failed"
        raise PrinterUnavailable(t(key, lang, name=name, reason=str(exc))) from exc
    return f"win:{name}"
