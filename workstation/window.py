"""The workstation's main window: day view on the left, the consultation on the right, notifications.

A pharmacist's rejection of one of the doctor's prescriptions shows as a red button with the count and
a menu of the rejected prescriptions and their reasons; choosing one opens its consultation with the
prescription loaded for amending.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from shared.domain.entities import Prescription
from shared.gui.ops import OpChanges
from shared.gui.printers import PrintJobsButton, printers_button
from shared.gui.widgets import MessageLine
from workstation import keys, queries
from workstation.dialogs import ChangePinDialog, ResetKeyDialog
from workstation.queries import ConsultData
from workstation.screens.consult import ConsultScreen
from workstation.screens.day_view import DayViewScreen
from workstation.screens.prescribing import PrescribingScreen
from workstation.state import WorkState
from workstation.texts import t
from workstation.waiting_rx import WaitingRxLabel

WARM_PRINTING_MS = 5000  # after start-up, when the doctor is reading the list, not typing yet


class WorkstationWindow(QMainWindow):
    def __init__(self, state: WorkState) -> None:
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
        self.rejected_button = QToolButton()
        self.rejected_button.setProperty("role", "attention")
        self.rejected_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.rejected_button.setVisible(False)
        top.addWidget(self.rejected_button)
        self.pin_button = QToolButton()
        self.pin_button.setText(t("pin.menu", lang))
        self.pin_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        pin_menu = QMenu(self.pin_button)
        change = QAction(t("pin.change_title", lang), pin_menu)
        change.triggered.connect(self.change_pin)
        pin_menu.addAction(change)
        self.reset_action = QAction(t("pin.reset_title", lang), pin_menu)
        self.reset_action.triggered.connect(self.reset_key)
        self.reset_action.setVisible(False)
        pin_menu.addAction(self.reset_action)
        self.revoke_own_action = QAction(t("pin.revoke_own_title", lang), pin_menu)
        self.revoke_own_action.triggered.connect(lambda: self.reset_key(own=True))
        pin_menu.addAction(self.revoke_own_action)
        self.pin_button.setMenu(pin_menu)
        for button in (self.rejected_button, self.pin_button):
            button.setStyleSheet("QToolButton { padding-right: 16px; }")  # room for the menu arrow
        top.addWidget(self.pin_button)
        self.print_jobs_button = PrintJobsButton(state.print_queue, lang)
        top.addWidget(self.print_jobs_button)
        self.printers_button = printers_button(state, "workstation", self)
        top.addWidget(self.printers_button)
        layout.addLayout(top)
        self.message_line = MessageLine(single_line=True)
        layout.addWidget(self.message_line)

        self.day = DayViewScreen(state)
        self.consult = ConsultScreen(state)
        self.prescribing = PrescribingScreen(state)
        self.prescribing.diagnoses = self.consult.note.diagnosis.facts
        self.consult.tabs.insertTab(1, self.prescribing, t("tab.rx", lang))
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.day)
        splitter.addWidget(self.consult)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([520, 840])
        self.splitter = splitter
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.setStatusBar(state.runtime.status_bar(self))
        self.waiting_rx = WaitingRxLabel(state)
        self.statusBar().addPermanentWidget(self.waiting_rx)

        self.day.install_shortcuts(self)
        self.consult.install_shortcuts(self)
        self.prescribing.install_shortcuts(self)
        state.sig_message.connect(self.message_line.show_message)
        state.sig_open_consult.connect(self.open_consult)
        self.consult.sig_consult_loaded.connect(self._consult_loaded)
        self.consult.note.diagnosis.sig_changed.connect(self.prescribing.replan)
        self.prescribing.sig_order_items.connect(self.consult.orders.add_item_ids)
        self.prescribing.sig_signed.connect(lambda _rows: self.consult._refresh())
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)
        self._rejected: list[Prescription] = []
        self._pending_amend: str = ""
        self._printing_warm = False
        self._closed = False
        self.resize(1366, 768)

    def _warm_printing(self) -> None:
        if not self._closed:
            self.state.warm_printing(self)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        """Keep the note being written (one last ``emr.save``) and stop the timers before the runtime goes."""
        self._closed = True
        self.consult.note.flush()
        self.day.stop()
        self.waiting_rx.stop()
        super().closeEvent(event)

    # -- after login ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Load everything for the logged-in doctor (called after each login)."""
        staff = self.state.staff
        if staff is not None:
            self.title_label.setText(t("app.title_with", self.state.lang, name=staff.name, title=staff.title))
            self.reset_action.setVisible("admin" in staff.roles)
        self.day.reload()
        self.prescribing.load_reference()
        self.consult.orders.set_items([])
        self._load_items()
        self._load_rejected()
        self.waiting_rx.refresh()
        if not self._printing_warm:
            self._printing_warm = True
            QTimer.singleShot(WARM_PRINTING_MS, self._warm_printing)

    def _load_items(self) -> None:
        campus = self.state.campus_id
        self.state.query(
            self, lambda store: queries.formulary(store, campus).exam_items, self.consult.orders.set_items
        )

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches("rx"):
            self._load_rejected()
        if changes.touches("exam_item"):
            self._load_items()
        if changes.from_sync and changes.touches("drug", "frequency", "route", "staff", "campus"):
            self.start()

    # -- consultations -----------------------------------------------------------------------------

    def open_consult(self, visit_id: str, ticket_id: str) -> None:
        self.state.consult_opened(visit_id)
        self.day.current_ticket_id = ticket_id
        self.consult.open(visit_id, ticket_id)

    def _consult_loaded(self, data: ConsultData) -> None:
        if data.ticket is not None and not self.consult.ticket_id:
            self.consult.ticket_id = data.ticket.id
            self.day.current_ticket_id = data.ticket.id
        self.prescribing.set_consult(data)
        if self._pending_amend:
            rx = next((r for r in data.prescriptions if r.id == self._pending_amend), None)
            self._pending_amend = ""
            if rx is not None:
                self.consult.tabs.setCurrentWidget(self.prescribing)
                self.prescribing.start_amend(rx)

    # -- rejections ---------------------------------------------------------------------------------

    def _load_rejected(self) -> None:
        staff = self.state.staff
        if staff is None:
            return
        self.state.query(self, lambda store: queries.my_rejected(store, staff.id), self._show_rejected)

    def _show_rejected(self, rows: list[Prescription]) -> None:
        lang = self.state.lang
        new = {r.id for r in rows} - {r.id for r in self._rejected}
        self._rejected = rows
        self.rejected_button.setVisible(bool(rows))
        self.rejected_button.setText(t("rejected.button", lang, n=len(rows)))
        menu = QMenu(self.rejected_button)
        for rx in rows:
            action = QAction(t("rejected.item", lang, number=rx.number, reason=rx.review_reason or "—"), menu)
            action.triggered.connect(lambda _c=False, r=rx: self.amend(r))
            menu.addAction(action)
        self.rejected_button.setMenu(menu)
        if new:
            first = next(r for r in rows if r.id in new)
            self.state.message(
                t("rejected.notice", lang, number=first.number, reason=first.review_reason or "—"), "error"
            )

    def amend(self, rx: Prescription) -> None:
        if rx.visit_id is None:
            return
        self._pending_amend = rx.id
        self.open_consult(rx.visit_id, "")

    # -- PIN ----------------------------------------------------------------------------------------

    def change_pin(self) -> None:
        staff = self.state.staff
        if staff is None:
            return
        lang = self.state.lang
        answer = ChangePinDialog.ask(self, lang=lang)
        if answer is None:
            return
        old, new = answer

        def job(store: Any) -> None:
            keys.change_pin(self.state.keys, staff.id, old, new, lang)

        def failed(error: BaseException) -> None:
            from workstation.sign_flow import pin_refused

            if not pin_refused(self.state, error):
                self.state.show_error(error)

        self.state.forget_pin()
        self.state.act(
            self,
            job,
            changes=("signing_key",),
            success=lambda _r: self.state.message(t("pin.changed", lang), "ok"),
            failure=failed,
        )

    def reset_key(self, own: bool = False) -> None:
        """An administrator revokes a staff member's key on one PC, or (``own``) the user revokes one of
        their own keys (a PC lost or left); the holder sets a new PIN on that PC next time."""
        lang = self.state.lang
        staff = self.state.staff
        if staff is None:
            return

        def chosen(found: tuple[list[keys.KeyHolder], str]) -> None:
            holders, here = found
            if own:
                holders = [h for h in holders if h.staff_id == staff.id]
            if not holders:
                self.state.message(t("pin.reset_none", lang), "info")
                return
            labels = [
                (
                    h.key_id,
                    f"{h.name}（{h.username}）  "
                    + (t("pin.this_pc", lang) if h.device_id == here else (h.device_id[-12:] or "—"))
                    + f"  {h.fingerprint[:19]}",
                )
                for h in holders
            ]
            answer = ResetKeyDialog.ask(self, lang=lang, holders=labels)
            if answer is None:
                return
            key_id, reason = answer
            holder = next(h for h in holders if h.key_id == key_id)
            self.state.act(
                self,
                lambda store: keys.revoke_key(store, key_id, reason, lang),
                changes=("signing_key",),
                success=lambda _r: self.state.message(
                    t("pin.reset_done", lang, name=holder.name, fingerprint=holder.fingerprint), "ok"
                ),
            )

        self.state.query(self, lambda store: (keys.key_holders(store), store.device_id), chosen)
