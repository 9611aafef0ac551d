"""Printer settings, the same screen in every app: each document kind the app prints mapped to a printer
picked from the OS's list (or typed, for network, USB and serial targets), its paper, Chinese mode and
copies, a test page per kind, saved where IT allows it; and the button that lists jobs waiting for a retry.

The host is the app's state object: it has ``site`` (the ``SiteConfig`` in force; saving replaces it),
``lang``, ``print_queue`` (``shared.gui.printing.PrintQueue``) and ``data_folder``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from shared.gui.printing import PrintQueue, QueuedJob
from shared.gui.widgets import MessageLine
from shared.gui.workers import run_in_background
from shared.i18n import register, tr
from shared.printing.kinds import Content, DocumentKind, kind_label, kinds_for
from shared.printing.router import OsPrinter, os_printers
from shared.printing.settings import default_setting, may_edit, printer_setting, save_user_printers
from shared.printing.settings import test_page as generic_test_page
from shared.site import PrinterSetting, SiteConfig, user_config_path

TestPage = Callable[[str, PrinterSetting, str], tuple[Content, bytes]]

_TEXTS: dict[str, tuple[str, str, str]] = {
    "title": ("本机打印机设置", "This PC's printers", "本機印表機設置"),
    "open": ("打印机设置(&J)…", "Printer settings (&J)…", "印表機設置(&J)…"),
    "kind": ("单据", "Document", "單據"),
    "target": ("打印机", "Printer", "印表機"),
    "paper": ("纸张", "Paper", "紙張"),
    "encoding": ("中文方式", "Chinese", "中文方式"),
    "copies": ("份数", "Copies", "份數"),
    "test": ("测试页", "Test page", "測試頁"),
    "save": ("保存(&S)", "&Save", "保存(&S)"),
    "close": ("关闭", "Close", "關閉"),
    "saved": ("已保存到 {path}，立即生效", "Saved to {path}; in use at once", "已保存到 {path}，立即生效"),
    "locked": (
        "打印机由信息科统一设置（{path}），本机不能修改；可打印测试页",
        "IT manages the printers ({path}); they cannot be changed here. Test pages still work",
        "印表機由資訊科統一設置（{path}），本機不能修改；可列印測試頁",
    ),
    "help": (
        "从列表选择本机系统中的打印机；网络、USB、串口小票机可直接输入：tcp:192.168.1.50:9100 ，"
        "usb:0416:5011 ，serial:/dev/ttyUSB0 ；file:文件夹 保存为文件；none 不打印",
        "Pick one of this PC's printers from the list; type a network, USB or serial receipt printer: "
        "tcp:192.168.1.50:9100, usb:0416:5011, serial:/dev/ttyUSB0; file:folder saves files; none prints nothing",
        "從列表選擇本機系統中的印表機；網路、USB、串口小票機可直接輸入：tcp:192.168.1.50:9100 ，"
        "usb:0416:5011 ，serial:/dev/ttyUSB0 ；file:資料夾 保存為檔案；none 不列印",
    ),
    "raster": ("图像", "Image", "圖像"),
    "to_file": ("保存为文件：{path}", "Save as file: {path}", "保存為檔案：{path}"),
    "none": ("不打印（none）", "Do not print (none)", "不列印（none）"),
    "default_mark": ("（系统默认）", " (system default)", "（系統預設）"),
    "looking": ("正在查找本机打印机…", "Looking for this PC's printers…", "正在查找本機印表機…"),
    "found": ("本机系统打印机 {n} 台", "{n} printers on this PC", "本機系統印表機 {n} 台"),
    "found_none": (
        "系统中没有找到打印机；可直接输入网络或 USB 打印机地址",
        "The OS lists no printer; type a network or USB printer's address",
        "系統中沒有找到印表機；可直接輸入網路或 USB 印表機位址",
    ),
    "test_sent": ("测试页已发送到 {printer}", "Test page sent to {printer}", "測試頁已發送到 {printer}"),
    "test_saved": (
        "测试页已保存为文件：{printer}",
        "Test page saved as a file: {printer}",
        "測試頁已保存為檔案：{printer}",
    ),
    "pending": ("未打印作业 {n}", "{n} unprinted jobs", "未列印作業 {n}"),
    "retry": ("全部重试打印(&Y)", "Retr&y all", "全部重試列印(&Y)"),
    "retry_one": ("重试", "Retry", "重試"),
    "discard": ("放弃", "Discard", "放棄"),
}
for _key, (_zh, _en, _tw) in _TEXTS.items():
    register(f"printers.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def t(key: str, lang: str, /, **params: object) -> str:
    return tr(f"printers.{key}", lang, **params)


class PrinterHost(Protocol):
    site: SiteConfig
    lang: str
    print_queue: PrintQueue
    data_folder: Path


def qt_printer_names() -> list[str]:
    """The printers Qt's print support sees (CUPS on Linux and macOS, the spooler on Windows)."""
    try:
        from PySide6.QtPrintSupport import QPrinterInfo
    except ImportError:  # a build without QtPrintSupport
        return []
    return list(QPrinterInfo.availablePrinterNames())


def with_qt_printers(found: list[OsPrinter]) -> list[OsPrinter]:
    """``found`` (the OS's list, ``shared.printing.router.os_printers``) plus any printer only Qt knows.
    GUI thread: Qt's print support is not used from worker threads here."""
    known = {p.name for p in found}
    scheme = "win" if sys.platform == "win32" else "cups"
    return found + [OsPrinter(name, f"{scheme}:{name}") for name in qt_printer_names() if name not in known]


@dataclass
class PrinterRow:
    """One document kind's controls."""

    kind: DocumentKind
    target: QComboBox  # editable: the OS's printers, a file, none, or a typed target
    paper: QComboBox
    encoding: QComboBox
    copies: QSpinBox
    test: QPushButton

    def target_text(self) -> str:
        shown = self.target.currentText().strip()
        index = self.target.findText(shown)
        data = self.target.itemData(index) if index >= 0 else None
        return str(data) if data else shown


class PrintersScreen(QWidget):
    """Every kind ``app`` prints, each mapped to a printer; ``test_page`` renders the app's own sample
    document for a kind (the generic test page otherwise)."""

    sig_printers_listed = Signal(int)  # how many OS printers were found

    def __init__(
        self,
        host: PrinterHost,
        app: str,
        *,
        test_page: TestPage | None = None,
        lister: Callable[[], list[OsPrinter]] = os_printers,
    ) -> None:
        super().__init__()
        self.host = host
        self.app = app
        self._test_page = test_page or generic_test_page
        self._lister = lister
        self.os_printers: list[OsPrinter] = []
        lang = self.lang = host.lang
        layout = QVBoxLayout(self)
        title = QLabel(t("title", lang))
        title.setProperty("role", "title")
        layout.addWidget(title)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setProperty("role", "notice")
        layout.addWidget(self.notice)
        grid = QGridLayout()
        for column, key in enumerate(("kind", "target", "paper", "encoding", "copies")):
            header = QLabel(t(key, lang))
            header.setStyleSheet("font-weight: 600;")
            grid.addWidget(header, 0, column)
        self.rows: dict[str, PrinterRow] = {}
        for row_no, spec in enumerate(kinds_for(app), start=1):
            row = self._row(spec)
            grid.addWidget(QLabel(spec.name(lang)), row_no, 0)
            for column, widget in enumerate((row.target, row.paper, row.encoding, row.copies, row.test), 1):
                grid.addWidget(widget, row_no, column)
            self.rows[spec.key] = row
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        self.found_label = QLabel(t("looking", lang))
        self.found_label.setProperty("role", "notice")
        layout.addWidget(self.found_label)
        help_label = QLabel(t("help", lang))
        help_label.setWordWrap(True)
        help_label.setProperty("role", "notice")
        layout.addWidget(help_label)
        buttons = QHBoxLayout()
        self.save_button = QPushButton(t("save", lang))
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.save_button)
        self.jobs_button = PrintJobsButton(host.print_queue, lang)
        buttons.addWidget(self.jobs_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.message = MessageLine()
        layout.addWidget(self.message)
        layout.addStretch(1)
        self._apply_permission()
        self.refresh_printers()

    def _row(self, spec: DocumentKind) -> PrinterRow:
        lang = self.lang
        setting = printer_setting(self.host.site, spec.key, self.host.data_folder)
        target = QComboBox()
        target.setEditable(True)
        target.setMinimumWidth(380)
        paper = QComboBox()
        paper.setEditable(True)
        paper.addItems(spec.papers)
        paper.setCurrentText(setting.paper or spec.default_paper)
        encoding = QComboBox()
        encoding.addItem("GB18030", "gb18030")
        encoding.addItem(t("raster", lang), "raster")
        encoding.setCurrentIndex(1 if setting.encoding == "raster" else 0)
        encoding.setEnabled(spec.content == "escpos")
        copies = QSpinBox()
        copies.setRange(1, 10)
        copies.setValue(setting.copies)
        test = QPushButton(t("test", lang))
        test.clicked.connect(lambda _=False, k=spec.key: self.test(k))
        row = PrinterRow(spec, target, paper, encoding, copies, test)
        self._fill_targets(row, setting.target)
        return row

    def _fill_targets(self, row: PrinterRow, current: str) -> None:
        """The choices: the OS's printers, a file in the data folder, none; ``current`` stays shown."""
        lang = self.lang
        combo = row.target
        combo.blockSignals(True)
        combo.clear()
        for printer in self.os_printers:
            mark = t("default_mark", lang) if printer.default else ""
            combo.addItem(f"{printer.name}{mark}", printer.target)
        file_target = default_setting(row.kind.key, self.host.data_folder).target
        combo.addItem(t("to_file", lang, path=file_target[len("file:") :]), file_target)
        combo.addItem(t("none", lang), "none")
        index = combo.findData(current)
        if index >= 0:
            combo.setCurrentIndex(index)
        else:
            combo.setCurrentText(current)  # typed earlier (tcp:, usb:, serial:, another folder)
        combo.blockSignals(False)

    def refresh_printers(self) -> None:
        """List the OS's printers off the GUI thread (a CUPS server may be slow), add Qt's, offer them."""

        def listed(os_found: list[OsPrinter]) -> None:
            found = with_qt_printers(os_found)
            self.os_printers = found
            for row in self.rows.values():
                self._fill_targets(row, row.target_text())
            self.found_label.setText(
                t("found", self.lang, n=len(found)) if found else t("found_none", self.lang)
            )
            self.sig_printers_listed.emit(len(found))

        def failed(_error: BaseException) -> None:
            listed([])

        run_in_background(self._lister, on_success=listed, on_failure=failed, label="list-printers")

    def _apply_permission(self) -> None:
        editable = may_edit(self.host.site)
        for row in self.rows.values():
            row.target.setEnabled(editable)
            row.paper.setEnabled(editable)
            row.encoding.setEnabled(editable and row.kind.content == "escpos")
            row.copies.setEnabled(editable)
        self.save_button.setVisible(editable)
        self.notice.setVisible(not editable)
        self.notice.setText(t("locked", self.lang, path=str(user_config_path().parent)))

    def setting(self, kind: str) -> PrinterSetting:
        row = self.rows[kind]
        return PrinterSetting(
            target=row.target_text() or "none",
            paper=row.paper.currentText().strip(),
            encoding=row.encoding.currentData() if row.kind.content == "escpos" else "gb18030",
            copies=row.copies.value(),
        )

    def settings(self) -> dict[str, PrinterSetting]:
        return {kind: self.setting(kind) for kind in self.rows}

    def save(self) -> None:
        if not may_edit(self.host.site):
            return
        printers: dict[str, PrinterSetting] = dict(self.host.site.printers.items())
        printers.update(self.settings())
        try:
            path = save_user_printers(printers)  # a small file in the user's profile
        except OSError as exc:
            self.message.show_message(str(exc), "error")
            return
        self.host.site = self.host.site.model_copy(update={"printers": printers})
        self.message.show_message(t("saved", self.lang, path=str(path)), "ok")

    def test(self, kind: str) -> QueuedJob:
        setting = self.setting(kind)
        doc = kind_label(kind, self.lang)
        content, data = self._test_page(kind, setting, doc)

        def done(job: QueuedJob) -> None:
            if job.state != "sent":
                self.message.show_message(job.error, "error")
            else:
                key = "test_saved" if job.saved_to_file else "test_sent"
                self.message.show_message(t(key, self.lang, printer=job.where), "ok")

        return self.host.print_queue.send_with(kind, doc, content, data, setting, on_done=done)


class PrintJobsButton(QToolButton):
    """Shown while jobs wait for a retry: "N unprinted jobs", a menu to retry or discard them."""

    def __init__(self, queue: PrintQueue, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.lang = lang
        self.setProperty("role", "attention")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        queue.sig_failed_changed.connect(self.show_count)
        self.show_count(len(queue.failed()))

    def show_count(self, count: int) -> None:
        lang = self.lang
        self.setVisible(count > 0)
        self.setText(t("pending", lang, n=count))
        menu = QMenu(self)
        menu.addAction(t("retry", lang), lambda: self.queue.retry())
        for queued in self.queue.failed():
            sub = menu.addMenu(f"{kind_label(queued.job.kind, lang)} {queued.job.title}")
            sub.addAction(t("retry_one", lang), partial(self.queue.retry, queued.job.id))
            sub.addAction(t("discard", lang), partial(self.queue.discard, queued.job.id))
        self.setMenu(menu)


class PrintersDialog(QDialog):
    """The printers screen in a window of its own (the workstation and the triage desk open it from a
    button; the pharmacy has it as a tab)."""

    def __init__(self, host: PrinterHost, app: str, *, test_page: TestPage | None = None, parent: Any = None):
        super().__init__(parent)
        self.setWindowTitle(t("title", host.lang))
        layout = QVBoxLayout(self)
        self.printers = PrintersScreen(host, app, test_page=test_page)
        layout.addWidget(self.printers)
        close = QPushButton(t("close", host.lang))
        close.clicked.connect(self.accept)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(close)
        layout.addLayout(row)
        self.resize(1100, 520)


def printers_button(
    host: PrinterHost, app: str, parent: QWidget, *, test_page: TestPage | None = None
) -> QPushButton:
    """A "Printer settings…" button that opens ``PrintersDialog`` (kept as ``button.dialog``)."""
    button = QPushButton(t("open", host.lang), parent)

    def open_dialog() -> None:
        dialog = PrintersDialog(host, app, test_page=test_page, parent=parent)
        button.dialog = dialog  # type: ignore[attr-defined]
        dialog.open()

    button.clicked.connect(open_dialog)
    return button
