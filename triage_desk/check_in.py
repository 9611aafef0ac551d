"""The check-in screen: find the patient (or register a walk-in), pick queue and priority, check in, print.

Typing searches the local store as you type (name, pinyin initials, MRN, ID-number tail, phone); an
appointment number or a scanned code (appointment, ticket slip QR) followed by Enter selects at once. The
check-in is a ``queue.check_in`` mutation with a number from this desk's own slot, so it works offline
and the slip is printed at once with its final number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from shared import clinic_time
from shared.domain.entities import Appointment, Patient, Queue, QueueTicket, Room
from shared.domain.queue_rules import PRIORITY_CLASSES, order_for
from shared.domain.search_keys import has_cjk
from shared.gui.ops import CollectionOp, OpChanges, QueryOp, describe_error
from shared.gui.patient_views import ViewAudit
from shared.gui.widgets import Column, RowsModel, selected_row, table_view
from shared.i18n import tr
from shared.ids import new_id
from shared.printing.ticket import TicketSlip, fixed_room_id
from shared.store.store import LocalStore
from triage_desk import model
from triage_desk.registration import RegisterDialog
from triage_desk.reprint import ReprintDialog
from triage_desk.state import TriageState
from triage_desk.texts import t


@dataclass(frozen=True)
class PatientRow:
    patient: Patient
    appointment: Appointment | None
    queue_id: str | None  # the queue of today's appointment


@dataclass(frozen=True)
class SearchResult:
    rows: list[PatientRow]
    ticket: QueueTicket | None
    exact: bool  # the text named one appointment (or ticket): select it at once


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def search(store: LocalStore, text: str, now: dt.datetime) -> SearchResult:
    found = model.find(store, text, now)
    rows = []
    with store.reading() as view:
        for patient in found.patients:
            appointment = found.appointments.get(patient.id)
            queue = model.queue_for_appointment(view, appointment) if appointment else None
            rows.append(PatientRow(patient, appointment, queue.id if queue else None))
    return SearchResult(rows, found.ticket, found.appointment is not None or found.ticket is not None)


def slip_for(store: LocalStore, ticket_id: str, now: dt.datetime) -> TicketSlip | None:
    """The slip of a ticket as it stands now (number, queue, people ahead, room, masked name)."""
    with store.reading() as view:
        ticket = view.get(QueueTicket, ticket_id)
        if ticket is None:
            return None
        queue = view.get(Queue, ticket.queue_id)
        if queue is None:
            return None
        tickets = view.find(QueueTicket, queue_id=queue.id, day=ticket.day)
        place = order_for(queue, tickets, now).place_of(ticket.id)
        room_id = fixed_room_id(ticket)  # never the door it waits at now: that changes
        room = view.get(Room, room_id) if room_id else None
        patient = view.get(Patient, ticket.patient_id)
        department = model.department_name(view, queue, room)
    return TicketSlip(
        ticket_id=ticket.id,
        number=ticket.label,
        queue_name=queue.name,
        ahead=place.ahead if place else 0,
        issued_at=clinic_time.local(ticket.checked_in_at),
        hospital=model.hospital_name(store, queue.campus_id),
        room=room.name if room else None,
        patient_name=patient.name if patient else None,
        department=department,
    )


def check_in_in_store(
    store: LocalStore, *, args: dict[str, Any], slot: int | None, now: dt.datetime, lang: str
) -> tuple[Any, TicketSlip | None]:
    """Record ``queue.check_in`` with this desk's next number from ``slot``, the one the server assigned
    it (one DB-thread job, so two check-ins at this desk never pick the same number) and build the slip."""
    with store.reading() as view:
        queue = view.get(Queue, args["queue_id"])
        if queue is not None:
            day = model.local_day(now)
            number = model.next_number(view, queue, day, slot, device_id=store.device_id, lang=lang)
            args = {**args, "number": number}
    entry = store.record("queue.check_in", args, lang=lang)
    slip = slip_for(store, args["id"], now)
    return entry, slip


class CheckInScreen(QWidget):
    """Find, register, choose queue and priority, check in and print."""

    sig_checked_in = Signal(str)  # ticket id

    def __init__(self, state: TriageState) -> None:
        super().__init__()
        self.state = state
        self.views = ViewAudit(self, "check_in", state.runtime.context)  # patients shown: audited
        lang = state.lang
        self._queues: list[Queue] = []
        self._last_ticket_id: str | None = None
        self._pending_select: str | None = None
        self.register_dialog: RegisterDialog | None = None
        self.reprint_dialog: ReprintDialog | None = None

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        find_label = QLabel(t("find.label", lang))
        self.find_edit = QLineEdit()
        self.find_edit.setPlaceholderText(t("find.placeholder", lang))
        self.find_edit.setClearButtonEnabled(True)
        find_label.setBuddy(self.find_edit)
        self.register_button = QPushButton(t("register", lang))
        top.addWidget(find_label)
        top.addWidget(self.find_edit, 1)
        top.addWidget(self.register_button)
        layout.addLayout(top)

        body = QHBoxLayout()
        self.model = RowsModel[PatientRow](
            [
                Column(t("col.name", lang), lambda r: r.patient.name),
                Column(t("col.sex", lang), lambda r: t(f"sex.{r.patient.sex}", lang)),
                Column(
                    t("col.age", lang),
                    lambda r: str(age_on(r.patient.birth_date, model.local_day(self.state.now()))),
                    align_right=True,
                ),
                Column(t("col.mrn", lang), lambda r: r.patient.mrn or ""),
                Column(t("col.id_tail", lang), lambda r: r.patient.id_number_tail),
                Column(t("col.phone", lang), lambda r: r.patient.phone or ""),
                Column(
                    t("col.appointment", lang),
                    lambda r: (
                        f"{r.appointment.number} {clinic_time.local(r.appointment.slot_time):%H:%M}"
                        if r.appointment
                        else ""
                    ),
                ),
            ],
            self,
        )
        self.table = table_view(self.model, self, stretch=6)
        body.addWidget(self.table, 3)

        side = QGroupBox()
        form = QFormLayout(side)
        self.queue_combo = QComboBox()
        self.queue_combo.setMinimumWidth(220)
        self.priority_combo = QComboBox()
        for klass in ("normal", *PRIORITY_CLASSES):
            self.priority_combo.addItem(t(f"priority.{klass}", lang), klass)
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText(t("priority.reason_placeholder", lang))
        for text_key, widget in (
            ("queue.label", self.queue_combo),
            ("priority.label", self.priority_combo),
            ("priority.reason", self.reason_edit),
        ):
            label = QLabel(t(text_key, lang))
            label.setBuddy(widget)
            form.addRow(label, widget)
        self.check_in_button = QPushButton(t("check_in", lang))
        self.check_in_button.setDefault(True)
        self.check_in_button.setMinimumHeight(44)
        form.addRow(self.check_in_button)
        self.last_label = QLabel()
        self.last_label.setProperty("role", "title")
        self.reprint_button = QPushButton(t("check_in.reprint", lang))
        form.addRow(self.last_label)
        form.addRow(self.reprint_button)
        body.addWidget(side, 2)
        layout.addLayout(body, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self.run_search)
        self.find_edit.textEdited.connect(lambda _text: self._search_timer.start())
        self.find_edit.returnPressed.connect(self.run_search)
        self.register_button.clicked.connect(self.register_patient)
        self.check_in_button.clicked.connect(self.check_in)
        self.reprint_button.clicked.connect(self.reprint)
        self.table.doubleClicked.connect(lambda _index: self.check_in())
        self._chosen_patient: str | None = None
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._patient_chosen())
        self.priority_combo.currentIndexChanged.connect(self._priority_chosen)
        for keys, slot in (
            ("Ctrl+F", self.find_edit.setFocus),
            ("Ctrl+N", self.register_patient),
            ("Ctrl+Return", self.check_in),
        ):
            QShortcut(QKeySequence(keys), self).activated.connect(slot)
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)

    # -- data ----------------------------------------------------------------------------------------

    def load(self) -> None:
        """Fill the queue chooser from the local store (after login, and when queues change)."""
        campus = self.state.campus_id
        QueryOp(
            parent=self,
            context=self.state.runtime.context,
            op=lambda store: model.area_queues(store, campus),
            success=self._set_queues,
        ).run_in_background()

    def _set_queues(self, queues: list[Queue]) -> None:
        current = self.queue_combo.currentData()
        self._queues = queues
        self.queue_combo.blockSignals(True)
        self.queue_combo.clear()
        for queue in queues:
            self.queue_combo.addItem(queue.name, queue.id)
        index = self.queue_combo.findData(current)
        self.queue_combo.setCurrentIndex(max(0, index) if queues else -1)
        self.queue_combo.blockSignals(False)

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches("queue"):
            self.load()
        if changes.from_sync and changes.touches("patient", "appointment") and self.find_edit.text().strip():
            self.run_search()

    def run_search(self) -> None:
        self._search_timer.stop()
        text = self.find_edit.text()
        now = self.state.now()
        QueryOp(
            parent=self,
            context=self.state.runtime.context,
            op=lambda store: search(store, text, now),
            success=self._show_results,
        ).run_in_background()

    def _show_results(self, result: SearchResult) -> None:
        lang = self.state.lang
        self.model.set_rows(result.rows)
        text = self.find_edit.text().strip()
        if result.ticket is not None:
            ticket = result.ticket
            self._set_last(ticket.id, ticket.label)
            self.state.message(
                t("find.ticket", lang, label=ticket.label, status=t_status(ticket.status, lang)), "info"
            )
        elif not result.rows and text:
            self.state.message(t("find.none", lang, text=text), "warning")
        elif text:
            self.state.message(t("find.count", lang, n=len(result.rows)), "info")
        wanted = self._pending_select
        index = next((i for i, r in enumerate(result.rows) if r.patient.id == wanted), None)
        if index is None and (result.exact or len(result.rows) == 1) and result.rows:
            index = 0
        if index is not None:
            self.table.selectRow(index)
        self._pending_select = None

    def _patient_chosen(self) -> None:
        row = self.selected()
        chosen = row.patient.id if row is not None else None
        self.views.shown(chosen)
        if chosen is None:  # nothing selected (results cleared or being replaced)
            return
        again = chosen == self._chosen_patient
        self._chosen_patient = chosen
        # the patient's own queue (appointment, ticket) is offered when the nurse picks the patient, not
        # when the same row is selected again by a refresh of the results (a sync brought new rows): the
        # queue the nurse chose meanwhile stands
        if row is not None and row.queue_id and not again:
            index = self.queue_combo.findData(row.queue_id)
            if index >= 0:
                self.queue_combo.setCurrentIndex(index)

    def _priority_chosen(self) -> None:
        if self.priority_combo.currentData() != "normal":
            self.reason_edit.setFocus()

    def selected(self) -> PatientRow | None:
        index = selected_row(self.table)
        return self.model.row(index) if index is not None else None

    # -- actions -------------------------------------------------------------------------------------

    def register_patient(self) -> None:
        """Open the registration dialog (``self.register_dialog``); it records ``patient.register``
        itself and stays open on any refusal, so nothing typed is lost."""
        text = self.find_edit.text().strip()
        if self.register_dialog is not None:
            self.register_dialog.deleteLater()  # the last one, long closed
        self.register_dialog = RegisterDialog.ask(
            self,
            self.state.lang,
            text if has_cjk(text) else "",
            record=self._record_registration,
            on_registered=self._registered,
            today=model.local_day(self.state.now()),
        )

    def _record_registration(
        self,
        values: dict[str, Any],
        on_done: Callable[[Any], None],
        on_failed: Callable[[BaseException], None],
    ) -> None:
        lang = self.state.lang
        CollectionOp(
            self,
            lambda store: store.record("patient.register", dict(values), lang=lang),
            changes=("patient", OpChanges.OUTBOX),
            context=self.state.runtime.context,
        ).success(on_done).failure(on_failed).run_in_background()

    def _registered(self, values: dict[str, Any]) -> None:
        """Select the new patient in the list."""
        self.state.message(t("register.done", self.state.lang, name=values["name"]), "ok")
        self._pending_select = values["id"]
        self.find_edit.setText(values["name"])
        self.run_search()

    def check_in(self) -> None:
        lang = self.state.lang
        row = self.selected()
        if row is None:
            self.state.message(t("check_in.choose_patient", lang), "warning")
            return
        queue_id = self.queue_combo.currentData()
        if not queue_id:
            self.state.message(t("check_in.choose_queue", lang), "warning")
            return
        now = self.state.now()
        appointment = row.appointment if row.appointment and row.queue_id == queue_id else None
        args: dict[str, Any] = {
            "id": new_id(),
            "queue_id": queue_id,
            "patient_id": row.patient.id,
            "appointment_id": appointment.id if appointment else None,
            "day": model.local_day(now).isoformat(),
            "checked_in_at": now.isoformat(),
            "priority": self.priority_combo.currentData(),
            "priority_reason": self.reason_edit.text().strip(),
        }
        slot = self.state.desk_slot()
        self.check_in_button.setEnabled(False)

        def op(store: LocalStore) -> tuple[Any, TicketSlip | None]:
            return check_in_in_store(store, args=args, slot=slot, now=now, lang=lang)

        def done(result: tuple[Any, TicketSlip | None]) -> None:
            self.check_in_button.setEnabled(True)
            entry, slip = result
            for warning in entry.warnings:
                self.state.message(warning, "warning")
            label = (entry.local_result or {}).get("label", "")
            self._set_last(args["id"], label)
            if slip is not None:
                self.state.message(
                    t(
                        "check_in.done",
                        lang,
                        label=label,
                        name=row.patient.name,
                        queue=slip.queue_name,
                        ahead=slip.ahead,
                    ),
                    "ok",
                )
                self.state.print_slip(slip)
            self.priority_combo.setCurrentIndex(0)
            self.reason_edit.clear()
            self.sig_checked_in.emit(args["id"])
            self.find_edit.selectAll()
            self.find_edit.setFocus()

        def failed(error: BaseException) -> None:
            self.check_in_button.setEnabled(True)
            self._show_error(error)

        CollectionOp(
            self,
            op,
            changes=("queue_ticket", "appointment", OpChanges.OUTBOX),
            context=self.state.runtime.context,
        ).success(done).failure(failed).run_in_background()

    def reprint(self) -> None:
        """Reprint any slip of today: the picker opens on today's tickets, the last one chosen."""
        self.reprint_dialog = ReprintDialog.ask(self.state, self, select=self._last_ticket_id)

    def _set_last(self, ticket_id: str, label: str) -> None:
        self._last_ticket_id = ticket_id
        self.last_label.setText(t("check_in.last", self.state.lang, label=label))

    def _show_error(self, error: BaseException) -> None:
        self.state.message(describe_error(error, self.state.lang).message, "error")


def t_status(status: str, lang: str) -> str:
    return tr(f"queue.status.{status}", lang)
