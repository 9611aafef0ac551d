"""The queue console: every queue of the area with counts and waiting times, one queue's tickets in call
order, and the nurse's tools (call for a room, recall, skip, return, move, transfer, priority, undo,
pause a room, screen notices). Every tool is a queue mutation recorded locally, so it works offline.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from shared.domain.entities import Queue
from shared.domain.queue_rules import PRIORITY_CLASSES
from shared.gui import theme
from shared.gui.ops import CollectionOp, OpChanges, QueryOp, describe_error
from shared.gui.widgets import Column, RowsModel, selected_row, table_view
from shared.i18n import tr
from shared.ids import new_id
from triage_desk import model
from triage_desk.reprint import reprint_ticket
from triage_desk.state import QUEUE_KINDS, TriageState
from triage_desk.texts import t

_STATUS_COLOURS = {"called": theme.BUSY, "in_consultation": theme.OK, "skipped": theme.WARN}


class FormDialog(QDialog):
    """A small form of named fields (line edits, combos, check boxes); ``ask`` returns their values."""

    def __init__(self, parent: QWidget | None, title: str, fields: list[tuple[str, str, Any]]) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        form = QFormLayout(self)
        self.widgets: dict[str, QWidget] = {}
        for key, label, spec in fields:
            widget: QWidget
            if isinstance(spec, list):  # [(text, data), ...]
                combo = QComboBox()
                for text, data in spec:
                    combo.addItem(text, data)
                widget = combo
            elif isinstance(spec, bool):
                box = QCheckBox()
                box.setChecked(spec)
                widget = box
            else:
                edit = QLineEdit(str(spec or ""))
                edit.setMinimumWidth(360)
                widget = edit
            self.widgets[key] = widget
            form.addRow(label, widget)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, widget in self.widgets.items():
            if isinstance(widget, QComboBox):
                out[key] = widget.currentData()
            elif isinstance(widget, QCheckBox):
                out[key] = widget.isChecked()
            elif isinstance(widget, QLineEdit):
                out[key] = widget.text().strip()
        return out

    @classmethod
    def ask(
        cls, parent: QWidget | None, title: str, fields: list[tuple[str, str, Any]]
    ) -> dict[str, Any] | None:
        dialog = cls(parent, title, fields)
        return dialog.values() if dialog.exec() == QDialog.DialogCode.Accepted else None


class QueueConsole(QWidget):
    """The area's queues (left), the chosen queue's tickets (right), tools below."""

    def __init__(self, state: TriageState) -> None:
        super().__init__()
        self.state = state
        lang = state.lang
        self.snapshot: model.AreaSnapshot | None = None
        self._queue_id: str | None = None

        minutes = lambda n: t("console.minutes", lang, n=n)  # noqa: E731
        self.queues_model = RowsModel[model.QueueSummary](
            [
                Column(t("console.col.queue", lang), lambda s: s.queue.name),
                Column(t("console.col.waiting", lang), lambda s: str(s.waiting), align_right=True),
                Column(t("console.col.called", lang), lambda s: str(s.called), align_right=True),
                Column(t("console.col.serving", lang), lambda s: str(s.serving), align_right=True),
                Column(t("console.col.skipped", lang), lambda s: str(s.skipped), align_right=True),
                Column(t("console.col.done", lang), lambda s: str(s.done), align_right=True),
                Column(
                    t("console.col.longest", lang),
                    lambda s: minutes(s.longest_wait_min),
                    colour=lambda s: theme.ERROR if s.longest_wait_min >= 60 else None,
                    align_right=True,
                ),
                Column(
                    t("console.col.average", lang), lambda s: minutes(s.average_wait_min), align_right=True
                ),
            ],
            self,
        )
        self.queues_view = table_view(self.queues_model, self, stretch=0)

        def place_no(r: model.TicketRow) -> str:
            return str(r.place.ahead + 1) if r.place else ""

        def why(r: model.TicketRow) -> str:
            if r.place is None:
                return ""
            reason = t(f"reason.{r.place.reason}", lang)
            if r.place.reason == "priority" and r.place.klass != r.ticket.priority:
                reason = f"{reason}({t(f'priority.{r.place.klass}', lang)})"  # e.g. elderly by age
            stream = t(f"stream.{r.place.stream}", lang)
            return f"{stream} {reason}".strip()

        self.tickets_model = RowsModel[model.TicketRow](
            [
                Column(t("console.col.no", lang), place_no, align_right=True),
                Column(t("console.col.label", lang), lambda r: r.ticket.label),
                Column(t("console.col.patient", lang), lambda r: r.patient_name),
                Column(
                    t("console.col.status", lang),
                    lambda r: tr(f"queue.status.{r.ticket.status}", lang),
                    colour=lambda r: _STATUS_COLOURS.get(r.ticket.status),
                ),
                Column(
                    t("console.col.priority", lang),
                    lambda r: (
                        "" if r.ticket.priority == "normal" else t(f"priority.{r.ticket.priority}", lang)
                    ),
                    colour=lambda r: theme.ERROR if r.ticket.priority == "emergency" else None,
                ),
                Column(t("console.col.room", lang), lambda r: r.room_name),
                Column(t("console.col.waited", lang), lambda r: minutes(r.waited_min), align_right=True),
                Column(t("console.col.why", lang), why),
            ],
            self,
        )
        self.tickets_view = table_view(self.tickets_model, self, stretch=2)

        split = QSplitter()
        split.addWidget(self.queues_view)
        split.addWidget(self.tickets_view)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 6)

        self.room_combo = QComboBox()
        self.room_combo.setMinimumWidth(170)
        room_label = QLabel(t("console.room", lang))
        room_label.setBuddy(self.room_combo)
        self.paused_label = QLabel()
        self.paused_label.setProperty("role", "warning")
        buttons: dict[str, QPushButton] = {}
        for key in (
            "call_next",
            "call",
            "recall",
            "skip",
            "return",
            "up",
            "down",
            "transfer",
            "priority",
            "undo",
            "pause",
            "reprint",
            "room_duty",
        ):
            button = QPushButton(t(f"console.{key}", lang))
            button.setMinimumHeight(34)
            buttons[key] = button
        self.buttons = buttons
        tools = QGridLayout()
        tools.addWidget(room_label, 0, 0)
        tools.addWidget(self.room_combo, 0, 1)
        tools.addWidget(buttons["call_next"], 0, 2)
        tools.addWidget(buttons["pause"], 0, 3)
        tools.addWidget(buttons["room_duty"], 0, 4)  # a nurse opens a room by the schedule, or closes it
        tools.addWidget(self.paused_label, 0, 5, 1, 2)
        tools.addWidget(buttons["reprint"], 0, 8)
        for column, key in enumerate(
            ("call", "recall", "skip", "return", "up", "down", "transfer", "priority", "undo")
        ):
            tools.addWidget(buttons[key], 1, column)

        notices_box = QVBoxLayout()
        notices_title = QLabel(t("console.notices", lang))
        notices_title.setStyleSheet("font-weight: 600;")
        self.notices_list = QListWidget()
        self.notices_list.setMaximumHeight(90)
        self.notice_button = QPushButton(t("console.notice", lang))
        self.withdraw_button = QPushButton(t("console.withdraw", lang))
        notice_buttons = QHBoxLayout()
        notice_buttons.addWidget(self.notice_button)
        notice_buttons.addWidget(self.withdraw_button)
        notice_buttons.addStretch(1)
        notices_box.addWidget(notices_title)
        notices_box.addWidget(self.notices_list)
        notices_box.addLayout(notice_buttons)

        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addLayout(tools)
        layout.addLayout(notices_box)

        self.queues_view.selectionModel().selectionChanged.connect(lambda *_a: self._queue_chosen())
        buttons["call_next"].clicked.connect(self.call_next)
        buttons["call"].clicked.connect(lambda: self.step("queue.call"))
        buttons["recall"].clicked.connect(lambda: self.step("queue.recall"))
        buttons["skip"].clicked.connect(lambda: self.step("queue.skip"))
        buttons["return"].clicked.connect(lambda: self.step("queue.return"))
        buttons["up"].clicked.connect(lambda: self.move_ticket(-1))
        buttons["down"].clicked.connect(lambda: self.move_ticket(+1))
        buttons["transfer"].clicked.connect(self.ask_transfer)
        buttons["priority"].clicked.connect(self.ask_priority)
        buttons["undo"].clicked.connect(self.ask_undo)
        buttons["pause"].clicked.connect(self.toggle_pause)
        buttons["reprint"].clicked.connect(self.reprint)
        buttons["room_duty"].clicked.connect(self.toggle_room_duty)
        self.room_combo.currentIndexChanged.connect(lambda _i: self._update_pause_button())
        self.notice_button.clicked.connect(self.ask_notice)
        self.withdraw_button.clicked.connect(self.withdraw_notice)
        for keys, slot in (
            ("F2", self.call_next),
            ("F3", lambda: self.step("queue.recall")),
            ("F4", lambda: self.step("queue.skip")),
            ("F5", lambda: self.step("queue.return")),
            ("Alt+Up", lambda: self.move_ticket(-1)),
            ("Alt+Down", lambda: self.move_ticket(+1)),
        ):
            QShortcut(QKeySequence(keys), self).activated.connect(slot)
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)
        self._tick = QTimer(self)
        self._tick.setInterval(30_000)  # waiting times move on by themselves
        self._tick.timeout.connect(lambda: self.reload() if self.isVisible() else None)
        self._tick.start()

    # -- data ----------------------------------------------------------------------------------------

    def reload(self) -> None:
        campus = self.state.campus_id
        now = self.state.now()
        QueryOp(
            parent=self,
            context=self.state.runtime.context,
            op=lambda store: model.area_snapshot(store, campus, now),
            success=self._show,
        ).run_in_background()

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches(*QUEUE_KINDS):
            self.reload()

    def _show(self, snapshot: model.AreaSnapshot) -> None:
        self.snapshot = snapshot
        chosen = self._queue_id
        self.queues_model.set_rows(snapshot.queues)
        index = next(
            (i for i, s in enumerate(snapshot.queues) if s.queue.id == chosen), 0 if snapshot.queues else None
        )
        if index is not None:
            self.queues_view.selectRow(index)
        self._show_queue()
        self.notices_list.clear()
        for notice in snapshot.notices:
            item = QListWidgetItem(("⚠ " if notice.level == "urgent" else "") + notice.text)
            item.setData(256, notice.id)
            self.notices_list.addItem(item)

    def _queue_chosen(self) -> None:
        index = selected_row(self.queues_view)
        if self.snapshot is None or index is None:
            return
        queue_id = self.snapshot.queues[index].queue.id
        if queue_id != self._queue_id:
            self._queue_id = queue_id
            self._show_queue()

    def selected_queue(self) -> Queue | None:
        summary = self.snapshot.summary(self._queue_id or "") if self.snapshot else None
        return summary.queue if summary else None

    def _show_queue(self) -> None:
        snapshot = self.snapshot
        queue = self.selected_queue()
        if snapshot is None or queue is None:
            self.tickets_model.set_rows([])
            return
        selected = self.selected_ticket()
        rows = snapshot.rows(queue.id)
        self.tickets_model.set_rows(rows)
        if selected is not None:
            index = next((i for i, r in enumerate(rows) if r.ticket.id == selected.ticket.id), None)
            if index is not None:
                self.tickets_view.selectRow(index)
        room = self.room_combo.currentData()
        self.room_combo.blockSignals(True)
        self.room_combo.clear()
        for room_id in queue.room_ids:
            name = snapshot.room_name(room_id)
            paused = room_id in queue.paused_rooms
            staffed = (
                t("console.staffed", self.state.lang)
                if room_id in model.staffed_today(queue, snapshot.now)
                else ""
            )
            self.room_combo.addItem(name + staffed + (" ⏸" if paused else ""), room_id)
        index = self.room_combo.findData(room)
        self.room_combo.setCurrentIndex(max(index, 0) if queue.room_ids else -1)
        self.room_combo.blockSignals(False)
        paused_names = [snapshot.room_name(r) for r in queue.paused_rooms]
        self.paused_label.setText(
            t("console.paused_rooms", self.state.lang, rooms="、".join(paused_names)) if paused_names else ""
        )
        self._update_pause_button()

    def _update_pause_button(self) -> None:
        queue = self.selected_queue()
        room = self.room_combo.currentData()
        paused = bool(queue and room in queue.paused_rooms)
        self.buttons["pause"].setText(t("console.resume" if paused else "console.pause", self.state.lang))
        self.buttons["pause"].setEnabled(bool(room))
        self.buttons["call_next"].setEnabled(bool(room))
        staffed = bool(queue and self.snapshot and room in model.staffed_today(queue, self.snapshot.now))
        self.buttons["room_duty"].setText(
            t("console.close_room" if staffed else "console.open_room", self.state.lang)
        )
        self.buttons["room_duty"].setEnabled(bool(room))

    def selected_ticket(self) -> model.TicketRow | None:
        index = selected_row(self.tickets_view)
        rows = self.tickets_model.rows()
        return rows[index] if index is not None and index < len(rows) else None

    def select_queue(self, queue_id: str) -> None:
        self._queue_id = queue_id
        if self.snapshot is not None:
            self._show(self.snapshot)

    def select_ticket(self, ticket_id: str) -> bool:
        for index, row in enumerate(self.tickets_model.rows()):
            if row.ticket.id == ticket_id:
                self.tickets_view.selectRow(index)
                return True
        return False

    # -- tools ---------------------------------------------------------------------------------------

    def _done(self, action: str) -> Any:
        lang = self.state.lang

        def done(entry: Any) -> None:
            label = (entry.local_result or {}).get("label", "")
            self.state.message(t("console.done", lang, action=action, label=label), "ok")

        return done

    def _need_ticket(self) -> model.TicketRow | None:
        row = self.selected_ticket()
        if row is None:
            self.state.message(t("console.no_ticket", self.state.lang), "warning")
        return row

    def step(self, name: str, *, note: str = "") -> None:
        """A one-ticket step on the selected ticket (call / recall for the chosen room, skip, return)."""
        row = self._need_ticket()
        if row is None:
            return
        args: dict[str, Any] = {"ticket_id": row.ticket.id, "note": note}
        if name in ("queue.call", "queue.recall") and self.room_combo.currentData():
            args["room_id"] = self.room_combo.currentData()
        action = tr(f"queue.action.{name.split('.', 1)[1]}", self.state.lang)
        self.state.record(self, name, args, on_done=self._done(action))

    def call_next(self) -> None:
        """Call, on behalf of the chosen room, whoever the queue's rules put next for it."""
        lang = self.state.lang
        queue = self.selected_queue()
        room = self.room_combo.currentData()
        if queue is None or not room or self.snapshot is None:
            self.state.message(t("console.no_room", lang), "warning")
            return
        summary = self.snapshot.summary(queue.id)
        place = summary.order.next_for_room(room) if summary else None
        if place is None:
            self.state.message(
                t("console.nobody_waiting", lang, room=self.snapshot.room_name(room)), "warning"
            )
            return
        self.state.record(
            self,
            "queue.call",
            {"ticket_id": place.ticket.id, "room_id": room},
            on_done=self._done(tr("queue.action.call", lang)),
        )

    def move_ticket(self, delta: int) -> None:
        """Move the selected waiting ticket one place up or down (a ``queue.reorder`` next to its neighbour)."""
        row = self._need_ticket()
        if row is None or row.place is None:
            return
        waiting = [r for r in self.tickets_model.rows() if r.place is not None]
        index = next(i for i, r in enumerate(waiting) if r.ticket.id == row.ticket.id)
        other = index + delta
        if not 0 <= other < len(waiting):
            return
        anchor = waiting[other].ticket.id
        key = "before_ticket_id" if delta < 0 else "after_ticket_id"
        self.state.record(
            self,
            "queue.reorder",
            {"ticket_id": row.ticket.id, key: anchor},
            on_done=self._done(tr("queue.action.reorder", self.state.lang)),
        )

    def ask_transfer(self) -> None:
        row = self._need_ticket()
        if row is None or self.snapshot is None:
            return
        lang = self.state.lang
        targets = [
            (s.queue.name, s.queue.id) for s in self.snapshot.queues if s.queue.id != row.ticket.queue_id
        ]
        values = FormDialog.ask(
            self,
            t("console.transfer", lang),
            [("queue", t("console.transfer_to", lang), targets), ("note", t("console.reason", lang), "")],
        )
        if values:
            self.transfer(values["queue"], values["note"])

    def transfer(self, target_queue_id: str, note: str = "") -> None:
        """Move the selected ticket to another queue with a number from this desk's slot there."""
        row = self._need_ticket()
        if row is None:
            return
        slot = self.state.site.queue_desk_slot
        lang = self.state.lang
        args: dict[str, Any] = {
            "ticket_id": row.ticket.id,
            "target_queue_id": target_queue_id,
            "new_ticket_id": new_id(),
            "note": note,
        }

        def op(store: Any) -> Any:
            with store.reading() as view:
                target = view.get(Queue, target_queue_id)
                if target is not None:
                    args["number"] = model.next_number(view, target, row.ticket.day, slot)
            return store.record("queue.transfer", args, lang=lang)

        def failed(error: BaseException) -> None:
            self.state.message(describe_error(error, lang).message, "error")

        CollectionOp(
            self, op, changes=("queue_ticket", OpChanges.OUTBOX), context=self.state.runtime.context
        ).success(self._done(tr("queue.action.transfer", lang))).failure(failed).run_in_background()

    def ask_priority(self) -> None:
        row = self._need_ticket()
        if row is None:
            return
        lang = self.state.lang
        classes = [(t(f"priority.{k}", lang), k) for k in ("normal", *PRIORITY_CLASSES)]
        values = FormDialog.ask(
            self,
            t("console.priority", lang),
            [("priority", t("priority.label", lang), classes), ("reason", t("console.reason", lang), "")],
        )
        if values:
            self.set_priority(values["priority"], values["reason"])

    def set_priority(self, priority: str, reason: str) -> None:
        row = self._need_ticket()
        if row is None:
            return
        self.state.record(
            self,
            "queue.set_priority",
            {"ticket_id": row.ticket.id, "priority": priority, "reason": reason},
            on_done=self._done(tr("queue.action.set_priority", self.state.lang)),
        )

    def ask_undo(self) -> None:
        row = self._need_ticket()
        if row is None:
            return
        values = FormDialog.ask(
            self,
            t("console.undo", self.state.lang),
            [("note", t("console.undo_reason", self.state.lang), "")],
        )
        if values and values["note"]:
            self.undo(values["note"])

    def undo(self, note: str) -> None:
        row = self._need_ticket()
        if row is None:
            return
        self.state.record(
            self,
            "queue.undo",
            {"ticket_id": row.ticket.id, "note": note},
            on_done=self._done(t("console.undo", self.state.lang).split("(")[0]),
        )

    def reprint(self) -> None:
        """Reprint the chosen ticket's slip, marked as a reprint (any ticket of today: the check-in
        screen's picker finds those no longer in a queue's list)."""
        row = self._need_ticket()
        if row is not None:
            reprint_ticket(self.state, self, row.ticket.id)

    def toggle_pause(self) -> None:
        queue = self.selected_queue()
        room = self.room_combo.currentData()
        if queue is None or not room or self.snapshot is None:
            self.state.message(t("console.no_room", self.state.lang), "warning")
            return
        paused = room not in queue.paused_rooms
        name = self.snapshot.room_name(room)
        lang = self.state.lang
        self.state.record(
            self,
            "queue.pause_room",
            {"queue_id": queue.id, "room_id": room, "paused": paused},
            kinds=("queue",),
            on_done=lambda _e: self.state.message(
                t("console.paused" if paused else "console.resumed", lang, room=name), "ok"
            ),
        )

    def toggle_room_duty(self) -> None:
        """Open the chosen room for the doctor the schedule puts there today, or close it (its door
        queue goes back to the queue)."""
        queue = self.selected_queue()
        room = self.room_combo.currentData()
        if queue is None or not room or self.snapshot is None:
            self.state.message(t("console.no_room", self.state.lang), "warning")
            return
        close = room in model.staffed_today(queue, self.snapshot.now)
        name, lang = self.snapshot.room_name(room), self.state.lang
        self.state.record(
            self,
            "queue.room_close" if close else "queue.room_open",
            {"room_id": room},
            kinds=("queue",),
            on_done=lambda _e: self.state.message(
                t("console.room_closed" if close else "console.room_opened", lang, room=name), "ok"
            ),
        )

    def ask_notice(self) -> None:
        lang = self.state.lang
        values = FormDialog.ask(
            self,
            t("console.notice", lang),
            [
                ("text", t("console.notice_text", lang), ""),
                ("urgent", t("console.notice_urgent", lang), False),
            ],
        )
        if values and values["text"]:
            self.post_notice(values["text"], urgent=values["urgent"])

    def post_notice(self, text: str, *, urgent: bool = False) -> None:
        lang = self.state.lang
        self.state.record(
            self,
            "queue.notice",
            {"id": new_id(), "text": text, "level": "urgent" if urgent else "info"},
            kinds=("queue_notice",),
            on_done=lambda _e: self.state.message(t("console.notice_posted", lang), "ok"),
        )

    def withdraw_notice(self) -> None:
        item = self.notices_list.currentItem()
        if item is None:
            self.state.message(t("console.nothing_selected_notice", self.state.lang), "warning")
            return
        self.state.record(
            self, "queue.notice_withdraw", {"notice_id": item.data(256)}, kinds=("queue_notice",)
        )
