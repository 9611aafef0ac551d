"""The nurse's main window: check-in and queue console tabs, one message line, the sync status bar, and
a button that opens the waiting-room display in this process (so calls made offline still reach it)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMainWindow, QPushButton, QTabWidget, QVBoxLayout, QWidget

from shared.gui.printers import PrintJobsButton, printers_button
from shared.gui.widgets import MessageLine
from triage_desk.check_in import CheckInScreen
from triage_desk.console import QueueConsole
from triage_desk.slip import ticket_test_page
from triage_desk.state import TriageState
from triage_desk.texts import t


class TriageWindow(QMainWindow):
    def __init__(self, state: TriageState, *, open_display: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.state = state
        lang = state.lang
        self.setWindowTitle(t("app.title", lang))
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 6, 8, 4)
        top = QHBoxLayout()
        self.title_label = QLabel(t("app.title", lang))
        self.title_label.setProperty("role", "title")
        top.addWidget(self.title_label)
        top.addStretch(1)
        self.display_button = QPushButton(t("open_display", lang))
        self.display_button.setVisible(open_display is not None)
        if open_display is not None:
            self.display_button.clicked.connect(lambda: open_display())
        top.addWidget(self.display_button)
        self.print_jobs_button = PrintJobsButton(state.print_queue, lang)
        top.addWidget(self.print_jobs_button)
        self.printers_button = printers_button(state, "triage", self, test_page=ticket_test_page)
        top.addWidget(self.printers_button)
        layout.addLayout(top)
        self.message_line = MessageLine(single_line=True)
        layout.addWidget(self.message_line)
        self.tabs = QTabWidget()
        self.check_in = CheckInScreen(state)
        self.console = QueueConsole(state)
        self.tabs.addTab(self.check_in, t("tab.check_in", lang))
        self.tabs.addTab(self.console, t("tab.console", lang))
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.setStatusBar(state.runtime.status_bar(self))
        state.sig_message.connect(self.message_line.show_message)
        for number in range(2):
            QShortcut(QKeySequence(f"Ctrl+{number + 1}"), self).activated.connect(
                functools.partial(self.tabs.setCurrentIndex, number)
            )
        self.resize(1366, 768)

    def load(self) -> None:
        """Read queues and the console from the local store (after login)."""
        staff = self.state.staff
        self.setWindowTitle(t("app.title_with", self.state.lang, user=staff.name if staff else ""))
        self.check_in.load()
        self.console.reload()
