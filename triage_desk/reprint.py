"""Reprinting any ticket slip of today: the nurse finds the ticket (number, name, pinyin initials, MRN, ID
tail), the slip is printed again marked 补打 (reprint) with the time, and the reprint is recorded
(``print.record`` with ``reprint = true``).

``todays_tickets`` and ``matching`` are plain functions (DB thread / tests); ``ReprintDialog`` is the
picker the check-in screen opens; ``reprint_ticket`` is what both it and the queue console call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from shared import clinic_time
from shared.domain.entities import Patient, Queue, QueueTicket
from shared.gui.ops import CollectionOp, OpChanges, QueryOp, describe_error
from shared.gui.widgets import Column, RowsModel, selected_row, table_view
from shared.i18n import register, tr
from shared.ids import new_id
from shared.printing.ticket import TicketSlip
from shared.store.store import LocalStore
from triage_desk import model
from triage_desk.state import TriageState
from triage_desk.texts import t

_TEXTS = {
    "reprint.title": ("重打今日小票", "Reprint a slip of today", "重打今日小票"),
    "reprint.find": ("查找(&F)", "&Find", "查找(&F)"),
    "reprint.placeholder": (
        "排队号 / 姓名 / 拼音首字母 / 病历号 / 证件后4位",
        "Number / name / pinyin initials / MRN / ID last 4",
        "排隊號 / 姓名 / 拼音首字母 / 病歷號 / 證件後4位",
    ),
    "reprint.print": ("重打所选小票(&P)", "&Print the chosen slip", "重打所選小票(&P)"),
    "reprint.count": ("今日 {n} 张小票", "{n} slips today", "今日 {n} 張小票"),
    "reprint.none": ("今日没有匹配的小票", "No slip of today matches", "今日沒有匹配的小票"),
    "reprint.choose": ("请先选择一张小票", "Choose a slip first", "請先選擇一張小票"),
    "reprint.mark": ("【补打 {time}】", "[REPRINT {time}] ", "【補打 {time}】"),
    "reprint.done": ("已补打 {label}（{name}）", "Reprinted {label} ({name})", "已補打 {label}（{name}）"),
    "reprint.col.time": ("取号时间", "Issued", "取號時間"),
    "reprint.col.queue": ("队列", "Queue", "隊列"),
}
for _key, (_zh, _en, _tw) in _TEXTS.items():
    register(f"triage.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


@dataclass(frozen=True)
class TicketChoice:
    """One of today's tickets as the reprint picker lists it (staff only: the full name)."""

    ticket: QueueTicket
    patient_name: str
    queue_name: str
    keys: tuple[str, ...]  # what the nurse may type to find it (lower case)


def todays_tickets(store: LocalStore, campus_id: str | None, now: dt.datetime) -> list[TicketChoice]:
    """Every ticket issued today at this campus (any status but voided), newest first."""
    day = model.local_day(now)
    with store.reading() as view:
        found = (
            view.find(QueueTicket, campus_id=campus_id, day=day)
            if campus_id
            else view.find(QueueTicket, day=day)
        )
        tickets = [t for t in found if not t.voided]
        queues = view.get_many(Queue, sorted({t.queue_id for t in tickets}))
        patients = view.get_many(Patient, sorted({t.patient_id for t in tickets}))
    out = []
    for ticket in sorted(tickets, key=lambda t: (t.checked_in_at, t.label), reverse=True):
        patient = patients.get(ticket.patient_id)
        queue = queues.get(ticket.queue_id)
        keys = [ticket.label]
        if patient is not None:
            keys += [patient.name, patient.name_pinyin, patient.mrn or "", patient.id_number_tail]
        out.append(
            TicketChoice(
                ticket,
                patient.name if patient else "",
                queue.name if queue else "",
                tuple(k.lower() for k in keys if k),
            )
        )
    return out


def matching(choices: Sequence[TicketChoice], text: str) -> list[TicketChoice]:
    """The choices ``text`` finds: a number (A023, or just 23), part of a name, pinyin initials, MRN or
    the ID number's last four."""
    query = text.strip().lower()
    if not query:
        return list(choices)
    return [
        c
        for c in choices
        if any(query in key for key in c.keys) or (query.isdigit() and c.ticket.label.lower().endswith(query))
    ]


def reprint_slip(store: LocalStore, ticket_id: str, now: dt.datetime, lang: str) -> TicketSlip | None:
    """The ticket's slip as it stands now, marked as a reprint with the time it was reprinted."""
    from dataclasses import replace

    from triage_desk.check_in import slip_for

    slip = slip_for(store, ticket_id, now)
    if slip is None:
        return None
    mark = t("reprint.mark", lang, time=clinic_time.local(now).strftime("%H:%M"))
    return replace(slip, footer=mark + tr("ticket.footer", lang))


def reprint_ticket(
    state: TriageState, parent: QWidget, ticket_id: str, *, on_done: Callable[[bool], Any] | None = None
) -> None:
    """Print ticket ``ticket_id``'s slip again, marked as a reprint, and record the reprint once sent."""
    now = state.now()
    lang = state.lang

    def printed(ok: bool, where: str) -> None:
        if ok:
            args = {
                "id": new_id(),
                "document": "ticket",
                "ref_id": ticket_id,
                "reprint": True,
                "printer": where[:200],
            }
            CollectionOp(
                parent,
                lambda store: store.record("print.record", args, lang=lang),
                changes=("print_record", OpChanges.OUTBOX),
                context=state.runtime.context,
            ).failure(
                lambda error: state.message(describe_error(error, lang).message, "warning")
            ).run_in_background()
        if on_done is not None:
            on_done(ok)

    def send(slip: TicketSlip | None) -> None:
        if slip is None:
            if on_done is not None:
                on_done(False)
            return
        state.print_slip(slip, on_done=printed)

    QueryOp(
        parent=parent,
        context=state.runtime.context,
        op=lambda store: reprint_slip(store, ticket_id, now, lang),
        success=send,
    ).run_in_background()


class ReprintDialog(QDialog):
    """Today's tickets, searchable; Enter or the button reprints the chosen one (the dialog stays open,
    so a nurse can reprint a few)."""

    def __init__(
        self, state: TriageState, parent: QWidget | None = None, *, select: str | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        lang = state.lang
        self.choices: list[TicketChoice] = []
        self._select = select
        self.setWindowTitle(t("reprint.title", lang))
        self.find_edit = QLineEdit()
        self.find_edit.setPlaceholderText(t("reprint.placeholder", lang))
        self.find_edit.setClearButtonEnabled(True)
        find_label = QLabel(t("reprint.find", lang))
        find_label.setBuddy(self.find_edit)
        self.model = RowsModel[TicketChoice](
            [
                Column(t("console.col.label", lang), lambda c: c.ticket.label),
                Column(t("col.name", lang), lambda c: c.patient_name),
                Column(t("reprint.col.queue", lang), lambda c: c.queue_name),
                Column(t("console.col.status", lang), lambda c: tr(f"queue.status.{c.ticket.status}", lang)),
                Column(
                    t("reprint.col.time", lang),
                    lambda c: clinic_time.local(c.ticket.checked_in_at).strftime("%H:%M"),
                ),
            ],
            self,
        )
        self.table = table_view(self.model, self, stretch=2)
        self.count_label = QLabel()
        self.print_button = QPushButton(t("reprint.print", lang))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.print_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        for button in buttons.buttons():  # Enter in the search box searches; it never prints or closes
            if isinstance(button, QPushButton):
                button.setAutoDefault(False)
                button.setDefault(False)
        layout = QVBoxLayout(self)
        layout.addWidget(find_label)
        layout.addWidget(self.find_edit)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)
        layout.addWidget(buttons)
        self.resize(720, 460)
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)
        self._filter_timer.timeout.connect(self.apply_filter)
        self.find_edit.textChanged.connect(lambda _text: self._filter_timer.start())
        self.find_edit.returnPressed.connect(self._search_entered)
        self.print_button.clicked.connect(self.reprint)
        self.table.doubleClicked.connect(lambda _index: self.reprint())
        QShortcut(QKeySequence(Qt.Key.Key_Down), self.find_edit).activated.connect(self.table.setFocus)
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):  # Enter on the chosen row prints it
            shortcut = QShortcut(QKeySequence(key), self.table)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(self.reprint)
        self.find_edit.setFocus()

    def load(self) -> None:
        campus = self.state.campus_id
        now = self.state.now()
        QueryOp(
            parent=self,
            context=self.state.runtime.context,
            op=lambda store: todays_tickets(store, campus, now),
            success=self._loaded,
        ).run_in_background()

    def _loaded(self, choices: list[TicketChoice]) -> None:
        self.choices = choices
        self.apply_filter()

    def _search_entered(self) -> None:
        """Enter in the search box: filter now and go to the list (Enter there prints)."""
        self.apply_filter()
        if self.model.rowCount():
            self.table.setFocus()

    def apply_filter(self) -> None:
        self._filter_timer.stop()
        rows = matching(self.choices, self.find_edit.text())
        self.model.set_rows(rows)
        lang = self.state.lang
        self.count_label.setText(t("reprint.count", lang, n=len(rows)) if rows else t("reprint.none", lang))
        wanted = self._select
        index = next((i for i, c in enumerate(rows) if c.ticket.id == wanted), 0 if rows else None)
        if index is not None:
            self.table.selectRow(index)

    def selected(self) -> TicketChoice | None:
        index = selected_row(self.table)
        return self.model.row(index) if index is not None else None

    def reprint(self) -> None:
        choice = self.selected()
        lang = self.state.lang
        if choice is None:
            self.count_label.setText(t("reprint.choose", lang))
            return
        self._select = choice.ticket.id
        self.print_button.setEnabled(False)

        def done(ok: bool) -> None:
            self.print_button.setEnabled(True)
            if ok:
                text = t("reprint.done", lang, label=choice.ticket.label, name=choice.patient_name)
                self.count_label.setText(text)

        reprint_ticket(self.state, self, choice.ticket.id, on_done=done)

    @classmethod
    def ask(
        cls, state: TriageState, parent: QWidget | None = None, *, select: str | None = None
    ) -> ReprintDialog:
        """Open the picker (window-modal, not blocking) on today's tickets, ``select`` chosen."""
        dialog = cls(state, parent, select=select)
        dialog.load()
        dialog.open()
        return dialog
