"""Printers: each document kind mapped to a printer on this PC, a test page per kind, saved where IT allows."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pharmacy_desk.print_queue import QueuedJob
from pharmacy_desk.printer_settings import (
    ESCPOS_KINDS,
    PAPERS,
    PHARMACY_KINDS,
    may_edit,
    save_user_printers,
    test_page,
)
from pharmacy_desk.texts import t
from shared.gui.widgets import MessageLine
from shared.site import PrinterSetting, user_config_path


class PrintersScreen(QWidget):
    def __init__(self, state: Any) -> None:
        super().__init__()
        self.state = state
        lang = self.lang = state.lang
        layout = QVBoxLayout(self)
        title = QLabel(t("printers.title", lang))
        title.setProperty("role", "title")
        layout.addWidget(title)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setProperty("role", "notice")
        layout.addWidget(self.notice)
        grid = QGridLayout()
        for column, key in enumerate(
            ("printers.kind", "printers.target", "printers.paper", "printers.encoding", "printers.copies")
        ):
            header = QLabel(t(key, lang))
            header.setStyleSheet("font-weight: 600;")
            grid.addWidget(header, 0, column)
        self.rows: dict[str, tuple[QLineEdit, QComboBox, QComboBox, QSpinBox, QPushButton]] = {}
        for row, kind in enumerate(PHARMACY_KINDS, start=1):
            setting = state.site.printer(kind)
            target = QLineEdit(setting.target)
            target.setMinimumWidth(380)
            paper = QComboBox()
            paper.setEditable(True)
            paper.addItems(PAPERS[kind])
            paper.setCurrentText(setting.paper or PAPERS[kind][0])
            encoding = QComboBox()
            encoding.addItem("GB18030", "gb18030")
            encoding.addItem(t("printers.raster", lang), "raster")
            encoding.setCurrentIndex(1 if setting.encoding == "raster" else 0)
            encoding.setEnabled(kind in ESCPOS_KINDS)
            copies = QSpinBox()
            copies.setRange(1, 10)
            copies.setValue(setting.copies)
            test = QPushButton(t("printers.test", lang).replace("(&T)", "").replace("&", ""))
            test.clicked.connect(lambda _=False, k=kind: self.test(k))
            grid.addWidget(QLabel(t(f"doc.{kind}", lang)), row, 0)
            grid.addWidget(target, row, 1)
            grid.addWidget(paper, row, 2)
            grid.addWidget(encoding, row, 3)
            grid.addWidget(copies, row, 4)
            grid.addWidget(test, row, 5)
            self.rows[kind] = (target, paper, encoding, copies, test)
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        help_label = QLabel(t("printers.help", lang))
        help_label.setWordWrap(True)
        help_label.setProperty("role", "notice")
        layout.addWidget(help_label)
        buttons = QHBoxLayout()
        self.save_button = QPushButton(t("printers.save", lang))
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.message = MessageLine()
        layout.addWidget(self.message)
        layout.addStretch(1)
        self._apply_permission()

    def _apply_permission(self) -> None:
        editable = may_edit(self.state.site)
        for kind, (target, paper, encoding, copies, _test) in self.rows.items():
            target.setReadOnly(not editable)
            paper.setEnabled(editable)
            encoding.setEnabled(editable and kind in ESCPOS_KINDS)
            copies.setEnabled(editable)
        self.save_button.setVisible(editable)
        self.notice.setVisible(not editable)
        self.notice.setText(t("printers.locked", self.lang, path=str(user_config_path().parent)))

    def setting(self, kind: str) -> PrinterSetting:
        target, paper, encoding, copies, _test = self.rows[kind]
        return PrinterSetting(
            target=target.text().strip() or "none",
            paper=paper.currentText().strip(),
            encoding=encoding.currentData() if kind in ESCPOS_KINDS else "gb18030",
            copies=copies.value(),
        )

    def settings(self) -> dict[str, PrinterSetting]:
        return {kind: self.setting(kind) for kind in self.rows}

    def save(self) -> None:
        if not may_edit(self.state.site):
            return
        printers = {**self.state.site.printers, **self.settings()}
        try:
            path = save_user_printers(printers)  # a small file in the user's profile
        except OSError as exc:
            self.message.show_message(str(exc), "error")
            return
        self.state.site = self.state.site.model_copy(update={"printers": printers})
        self.message.show_message(t("printers.saved", self.lang, path=str(path)), "ok")

    def test(self, kind: str) -> QueuedJob:
        setting = self.setting(kind)
        doc = t(f"doc.{kind}", self.lang)
        content, data = test_page(kind, setting, doc)

        def done(job: QueuedJob) -> None:
            if job.state == "sent":
                self.message.show_message(t("printers.test_sent", self.lang, printer=job.where), "ok")
            else:
                self.message.show_message(job.error, "error")

        return self.state.print_queue.send_with(kind, doc, content, data, setting, on_done=done)  # type: ignore[arg-type]
