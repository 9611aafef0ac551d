"""The doctor's day: my rooms, the waiting list in call order and the patients seen, with queue keys.

F5 calls the next patient to the current room, F6 recalls, F7 marks "not present" (过号), F3 returns a
skipped patient, F8 starts the consultation (opens the visit), F9 finishes it; Enter on a waiting row
calls that patient (selective call), Enter on a seen row opens the consultation again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from shared import clinic_time
from shared.domain.masking import mask_name
from shared.domain.prescribing import age_text_zh
from shared.gui import theme
from shared.gui.ops import OpChanges
from shared.gui.widgets import Column, RowsModel, selected_row, table_view
from shared.i18n import register, tr
from workstation import actions, queries
from workstation.queries import DayView, TicketRow
from workstation.state import WorkState
from workstation.texts import t

log = logging.getLogger(__name__)

WATCHED = ("queue_ticket", "queue", "patient", "visit", "schedule", "room", "appointment", "staff")
PRIORITY_COLOUR = theme.ERROR

# Why F5 does not call the top of the list (``DayView.passed_over``), and the line that says whom F5 calls.
_TEXTS: dict[str, tuple[str, str, str]] = {
    "day.next": ("F5 将呼叫：{label} {name}", "F5 calls: {label} {name}", "F5 將呼叫：{label} {name}"),
    "day.next_none": ("F5：无可呼叫的患者", "F5: nobody to call", "F5：無可呼叫的患者"),
    "day.passed": (
        "列表首位 {label}：{reason}",
        "Top of the list {label}: {reason}",
        "列表首位 {label}：{reason}",
    ),
    "day.passed.other_door": (
        "在{room}门口等候，由该诊室叫号",
        "waits at the door of {room}, which calls it",
        "在{room}門口等候，由該診室叫號",
    ),
    "day.passed.other_room": ("指定在{room}就诊", "is bound to {room}", "指定在{room}就診"),
    "day.passed.held": (
        "预约 {time}，未到预约时段",
        "appointment at {time}: not yet its time",
        "預約 {time}，未到預約時段",
    ),
    "day.passed.room_paused": ("本诊室已暂停接诊", "this room is paused", "本診室已暫停接診"),
    "day.passed.room_closed": ("本诊室未开诊", "this room is not open", "本診室未開診"),
    "day.passed.other_queue": (
        "属于{queue}，本诊室不接该队列",
        "belongs to {queue}, which this room does not serve",
        "屬於{queue}，本診室不接該隊列",
    ),
    "day.passed.ahead": (
        "本诊室门口已有先到的患者",
        "this room's door queue comes first",
        "本診室門口已有先到的患者",
    ),
    "day.stand_in": ("{room}（代诊）", "{room} (standing in)", "{room}（代診）"),
    "day.room_of": ("{room}（{name}接诊中）", "{room} ({name} at work)", "{room}（{name}接診中）"),
    "day.no_door": ("—", "—", "—"),
}
for _key, (_zh, _en, _tw) in _TEXTS.items():
    register(f"ws.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def _priority(row: TicketRow, lang: str) -> str:
    """The class the queue orders the ticket by: recorded, or derived (elderly by age)."""
    klass = row.klass if row.klass != "normal" else row.ticket.priority
    return "" if klass == "normal" else t(f"priority.{klass}", lang)


class DayViewScreen(QWidget):
    """Waiting and seen lists of my rooms with the queue actions."""

    sig_loaded = Signal(object)  # DayView, after each reload

    def __init__(self, state: WorkState) -> None:
        super().__init__()
        self.state = state
        lang = state.lang
        self.view_data: DayView | None = None
        self._loading = False
        self._again = False
        self.current_ticket_id: str = ""  # the ticket of the open consultation
        self._opened_room: str = ""  # the room this doctor opened (``queue.room_open``) from this PC
        self._opening: str = ""  # a room_open on its way
        self._stopped = False  # the window is closing: no reloads, no room opened again
        # (ticket id, visit id, proceed) -> None: asked before F9 finishes a visit (set by the window)
        self.before_finish: Callable[[str, str, Callable[[], None]], None] | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        room_label = QLabel(t("day.room", lang))
        self.room_combo = QComboBox()
        self.room_combo.setMinimumWidth(150)
        self.room_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.room_combo.setMinimumContentsLength(12)
        room_label.setBuddy(self.room_combo)
        top.addWidget(room_label)
        top.addWidget(self.room_combo, 1)
        self.summary_label = QLabel("")
        self.summary_label.setProperty("role", "notice")
        top.addWidget(self.summary_label)
        layout.addLayout(top)

        buttons = QGridLayout()
        buttons.setHorizontalSpacing(4)
        buttons.setVerticalSpacing(4)
        self.call_button = QPushButton(t("day.call_next", lang))
        self.call_button.setProperty("role", "primary")
        self.recall_button = QPushButton(t("day.recall", lang))
        self.skip_button = QPushButton(t("day.skip", lang))
        self.return_button = QPushButton(t("day.return", lang))
        self.start_button = QPushButton(t("day.start", lang))
        self.finish_button = QPushButton(t("day.finish", lang))
        # two rows of three, so the day view stays narrow on a 1366-pixel screen
        for place, button in enumerate(
            (
                self.call_button,
                self.recall_button,
                self.skip_button,
                self.start_button,
                self.finish_button,
                self.return_button,
            )
        ):
            buttons.addWidget(button, place // 3, place % 3)
        layout.addLayout(buttons)

        self.waiting_model: RowsModel[TicketRow] = RowsModel(
            [
                Column(t("col.ticket", lang), lambda r: r.ticket.label, bold=self._is_next),
                Column(t("col.patient", lang), lambda r: r.patient_name),
                Column(t("col.sex_age", lang), lambda r: self._sex_age(r)),
                Column(
                    t("col.priority", lang),
                    lambda r: _priority(r, lang),
                    colour=lambda r: PRIORITY_COLOUR if _priority(r, lang) else None,
                ),
                Column(t("col.source", lang), lambda r: t(f"source.{r.ticket.source}", lang)),
                Column(t("col.room", lang), lambda r: r.room_name or t("day.no_door", lang)),
                Column(
                    t("col.waited", lang), lambda r: t("minutes", lang, n=r.waited_minutes), align_right=True
                ),
                Column(t("col.pre_consult", lang), lambda r: r.pre_consult),
            ]
        )
        self.seen_model: RowsModel[TicketRow] = RowsModel(
            [
                Column(t("col.ticket", lang), lambda r: r.ticket.label),
                Column(t("col.patient", lang), lambda r: r.patient_name),
                Column(
                    t("col.status", lang),
                    lambda r: tr(f"queue.status.{r.ticket.status}", lang),
                    colour=lambda r: theme.BUSY if r.ticket.status in ("called", "in_consultation") else None,
                    bold=lambda r: r.ticket.id == self.current_ticket_id,
                ),
                Column(t("col.room", lang), lambda r: r.room_name),
                Column(t("col.time", lang), lambda r: self._last_time(r)),
            ]
        )
        self.waiting_table = table_view(self.waiting_model, stretch=6)
        self.seen_table = table_view(self.seen_model, stretch=1)
        self.waiting_box = QGroupBox(t("day.waiting", lang, n=0))
        box_layout = QVBoxLayout(self.waiting_box)
        box_layout.setContentsMargins(4, 4, 4, 4)
        # whom F5 calls, and why not the top of the list when it is someone else (always visible)
        self.next_label = QLabel("")
        self.next_label.setWordWrap(True)
        self.next_label.setProperty("role", "notice")
        box_layout.addWidget(self.next_label)
        box_layout.addWidget(self.waiting_table)
        self.seen_box = QGroupBox(t("day.seen", lang, n=0))
        seen_layout = QVBoxLayout(self.seen_box)
        seen_layout.setContentsMargins(4, 4, 4, 4)
        seen_layout.addWidget(self.seen_table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.waiting_box)
        splitter.addWidget(self.seen_box)
        splitter.setSizes([400, 260])
        layout.addWidget(splitter, 1)

        self.call_button.clicked.connect(self.call_next)
        self.recall_button.clicked.connect(self.recall)
        self.skip_button.clicked.connect(self.skip)
        self.return_button.clicked.connect(self.return_selected)
        self.start_button.clicked.connect(self.start_consult)
        self.finish_button.clicked.connect(self.finish)
        self.waiting_table.activated.connect(self._waiting_activated)
        self.seen_table.activated.connect(self._seen_activated)
        self.room_combo.currentIndexChanged.connect(self._room_chosen)
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)

        self._tick = QTimer(self)
        self._tick.setInterval(30_000)
        self._tick.timeout.connect(self.reload)
        self._tick.start()

    def stop(self) -> None:
        """No more periodic reloads, and the doctor leaves the room (the window is closing): the room
        takes no more patients and its door queue goes back to the queue."""
        self._tick.stop()
        self._stopped = True
        room, self._opened_room = self._opened_room, ""
        if room and self.state.staff is not None:
            lang = self.state.lang
            self.state.act(
                self,
                lambda store: store.record("queue.room_close", {"room_id": room}, lang=lang),
                changes=("queue",),
                failure=lambda error: log.info("closing room %s: %s", room, error),
            )

    def install_shortcuts(self, window: QWidget) -> None:
        for key, slot in (
            ("F5", self.call_next),
            ("F6", self.recall),
            ("F7", self.skip),
            ("F3", self.return_selected),
            ("F8", self.start_consult),
            ("F9", self.finish),
        ):
            shortcut = QShortcut(QKeySequence(key), window)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)
        for button, key in (
            (self.call_button, "F5"),
            (self.recall_button, "F6"),
            (self.skip_button, "F7"),
            (self.return_button, "F3"),
            (self.start_button, "F8"),
            (self.finish_button, "F9"),
        ):
            button.setToolTip(key)

    # -- loading ------------------------------------------------------------------------------------

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches(*WATCHED):
            self.reload()

    def reload(self) -> None:
        if self.state.staff is None or self._stopped:
            return
        if self._loading:
            self._again = True
            return
        self._loading = True
        state = self.state
        staff, campus, today, now = state.staff, state.campus_id, state.today(), state.now()
        rooms = list(state.site.rooms)
        chosen = state.room_id

        def load(store: Any) -> DayView:
            return queries.day_view(
                store,
                staff=staff,
                campus_id=campus,
                today=today,
                now=now,
                configured_rooms=rooms,
                chosen_room=chosen,
            )

        op = state.query(self, load, self._loaded)
        op.failure(self._load_failed)

    def _load_failed(self, error: BaseException) -> None:
        self._loading = False
        self.state.show_error(error)

    def _loaded(self, data: DayView) -> None:
        self._loading = False
        self.view_data = data
        lang = self.state.lang
        self._fill_rooms(data)
        self.waiting_model.set_rows(data.waiting)
        self.seen_model.set_rows(data.seen)
        self.waiting_box.setTitle(t("day.waiting", lang, n=len(data.waiting)))
        done = sum(1 for r in data.seen if r.ticket.status == "done")
        self.seen_box.setTitle(t("day.seen", lang, n=done))
        sessions = "、".join(
            f"{t('session.' + s.session, lang)} {s.start_time:%H:%M}-{s.end_time:%H:%M}"
            for s in data.schedules
        )
        self.summary_label.setText(
            t("day.summary", lang, department=data.department_name or "—", sessions=sessions or "—")
        )
        self.next_label.setText(self.next_text(data))
        self._open_room(data)
        self.sig_loaded.emit(data)
        if self._again:
            self._again = False
            self.reload()

    def _room_text(self, data: DayView, room_id: str, name: str, own: bool) -> str:
        lang = self.state.lang
        staff = self.state.staff
        doctor = data.duty.get(room_id)
        if doctor and staff is not None and doctor != staff.id:
            return t("day.room_of", lang, room=name, name=data.staff_names.get(doctor, doctor))
        return name if own else t("day.stand_in", lang, room=name)

    def _fill_rooms(self, data: DayView) -> None:
        """My rooms first, then the department's other rooms (a doctor standing in for a colleague
        chooses one of those); a room another doctor works in says who."""
        own = {r.id for r in data.rooms} - {data.stand_in}
        rooms = [*data.rooms, *data.other_rooms]
        texts = [self._room_text(data, r.id, r.name, r.id in own) for r in rooms]
        current = [
            (self.room_combo.itemData(i), self.room_combo.itemText(i)) for i in range(self.room_combo.count())
        ]
        if current != list(zip([r.id for r in rooms], texts, strict=True)):
            self.room_combo.blockSignals(True)
            self.room_combo.clear()
            for room, text in zip(rooms, texts, strict=True):
                self.room_combo.addItem(text, room.id)
                self.room_combo.setItemData(
                    self.room_combo.count() - 1, f"{room.name}（{room.code}）", Qt.ItemDataRole.ToolTipRole
                )
            self.room_combo.blockSignals(False)
        index = self.room_combo.findData(self.state.room_id) if self.state.room_id else -1
        if index < 0 and self.room_combo.count():
            index = 0
        if index >= 0:
            self.room_combo.setCurrentIndex(index)
            self.state.set_room(self.room_combo.itemData(index))

    def _room_chosen(self, index: int) -> None:
        if index >= 0:
            self.state.set_room(self.room_combo.itemData(index))
            self.reload()

    def _open_room(self, data: DayView) -> None:
        """The doctor works in the chosen room: record ``queue.room_open`` once, unless the room is
        already theirs today (the room then takes patients from its queues; the doctor's former room
        is left in the same step)."""
        staff, room = self.state.staff, self.state.room_id
        if staff is None or not room or "doctor" not in staff.roles or self._stopped:
            return
        if data.duty.get(room) == staff.id:
            self._opened_room, self._opening = room, ""
            return
        if self._opening == room:
            return
        self._opening = room
        lang = self.state.lang

        def opened(entry: Any) -> None:
            self._opened_room = room
            if self._opening == room:
                self._opening = ""
            warnings = list(getattr(entry, "warnings", None) or [])
            if warnings:
                self.state.message("；".join(warnings), "warning")

        def refused(error: BaseException) -> None:
            self._opening = ""
            self.state.show_error(error)

        self.state.act(
            self,
            lambda store: store.record("queue.room_open", {"room_id": room}, lang=lang),
            changes=("queue",),
            success=opened,
            failure=refused,
        )

    # -- helpers ------------------------------------------------------------------------------------

    def _sex_age(self, row: TicketRow) -> str:
        sex = t(f"sex.{row.sex}", self.state.lang)
        age = age_text_zh(row.birth_date, self.state.today()) if row.birth_date else ""
        return f"{sex} {age}".strip()

    def _last_time(self, row: TicketRow) -> str:
        if not row.ticket.events:
            return ""
        return clinic_time.local(row.ticket.events[-1].when).strftime("%H:%M")

    def _is_next(self, row: TicketRow) -> bool:
        data = self.view_data
        return data is not None and data.room_next.get(self.state.room_id) == row.ticket.id

    def pass_reason(self, data: DayView, row: TicketRow) -> str:
        """Why F5 in the current room does not call ``row`` (the top of the list), in words; ``""``
        when it does."""
        lang = self.state.lang
        why = data.passed_over(self.state.room_id, row)
        if why is None:
            return ""
        ticket = row.ticket
        room_id = ticket.room_id if why == "other_room" else row.door
        values: dict[str, object] = {
            "room": data.room_names.get(room_id or "", room_id or ""),
            "queue": row.queue.name,
            "time": clinic_time.local(ticket.slot_time).strftime("%H:%M") if ticket.slot_time else "",
        }
        return t("day.passed", lang, label=ticket.label, reason=t(f"day.passed.{why}", lang, **values))

    def next_text(self, data: DayView) -> str:
        """Whom F5 calls now, and why not the top of the list when it is someone else."""
        lang = self.state.lang
        ticket_id = data.room_next.get(self.state.room_id)
        nxt = self._ticket_row(ticket_id) if ticket_id else None
        head = t("day.next", lang, label=nxt.ticket.label, name=mask_name(nxt.patient_name)) if nxt else ""
        if not data.waiting or not self.state.room_id:
            return head
        top = data.waiting[0]
        reason = self.pass_reason(data, top) if nxt is None or nxt.ticket.id != top.ticket.id else ""
        if nxt is None:
            return "；".join(x for x in (t("day.next_none", lang), reason) if x)
        return "；".join(x for x in (head, reason) if x)

    def _ticket_row(self, ticket_id: str) -> TicketRow | None:
        data = self.view_data
        if data is None:
            return None
        return next((r for r in [*data.waiting, *data.seen] if r.ticket.id == ticket_id), None)

    def _called_in_room(self) -> TicketRow | None:
        """The patient most recently called to the current room and not yet started."""
        data = self.view_data
        if data is None:
            return None
        called = [
            r
            for r in data.seen
            if r.ticket.status == "called" and r.ticket.called_room_id == self.state.room_id
        ]
        return called[0] if called else None

    def _selected_seen(self) -> TicketRow | None:
        row = selected_row(self.seen_table)
        return self.seen_model.row(row) if row is not None and row < self.seen_model.rowCount() else None

    def _selected_waiting(self) -> TicketRow | None:
        row = selected_row(self.waiting_table)
        return (
            self.waiting_model.row(row) if row is not None and row < self.waiting_model.rowCount() else None
        )

    def _need_room(self) -> bool:
        if not self.state.room_id:
            self.state.message(t("day.no_room", self.state.lang), "warning")
            return False
        return True

    def _step(self, name: str, row: TicketRow, done_key: str, *, why: str = "", **args: Any) -> None:
        """Record one queue step; ``why``: what the doctor must know besides (e.g. why F5 passed over
        the top of the list), shown with the outcome."""
        lang = self.state.lang
        label, who = row.ticket.label, mask_name(row.patient_name)

        def done(result: dict[str, Any]) -> None:
            warnings = [*(result.get("warnings") or []), *([why] if why else [])]
            self.state.message(
                "；".join([t(done_key, lang, label=label, name=who), *warnings]),
                "warning" if warnings else "ok",
            )

        self.state.act(
            self,
            lambda store: actions.queue_step(store, name, row.ticket.id, lang, **args),
            changes=("queue_ticket",),
            success=done,
        )

    # -- actions ------------------------------------------------------------------------------------

    def call_next(self) -> None:
        if not self._need_room():
            return
        self.state.consult_ended()  # the PIN entered for the last patient ends here
        data = self.view_data
        ticket_id = data.room_next.get(self.state.room_id) if data else None
        row = self._ticket_row(ticket_id) if ticket_id else None
        top = data.waiting[0] if data and data.waiting else None
        why = (
            self.pass_reason(data, top)
            if data and top and (row is None or row.ticket.id != top.ticket.id)
            else ""
        )
        if row is None:
            self.state.message(why or t("day.nobody_waiting", self.state.lang), "warning" if why else "info")
            return
        self._step("queue.call", row, "day.called", why=why, room_id=self.state.room_id)

    def call_selected(self) -> None:
        row = self._selected_waiting()
        if row is None or not self._need_room():
            return
        self.state.consult_ended()
        self._step("queue.call", row, "day.called", room_id=self.state.room_id)

    def recall(self) -> None:
        seen = self._selected_seen()
        row = seen if seen is not None and seen.ticket.status == "called" else self._called_in_room()
        if row is None:
            self.state.message(t("day.nobody_called", self.state.lang), "info")
            return
        self._step("queue.recall", row, "day.recalled", room_id=self.state.room_id or None)

    def skip(self) -> None:
        seen = self._selected_seen()
        row = seen if seen is not None and seen.ticket.status == "called" else self._called_in_room()
        if row is None:
            self.state.message(t("day.nobody_called", self.state.lang), "info")
            return
        self._step("queue.skip", row, "day.skipped")

    def return_selected(self) -> None:
        row = self._selected_seen()
        if row is None or row.ticket.status != "skipped":
            self.state.message(t("day.choose_skipped", self.state.lang), "info")
            return
        self._step("queue.return", row, "day.returned")

    def start_consult(self) -> None:
        """Start the consultation of the selected called/waiting patient (or the one just called)."""
        lang = self.state.lang
        seen = self._selected_seen()
        row: TicketRow | None = None
        if seen is not None and seen.ticket.status in ("called", "in_consultation"):
            row = seen
        elif self.waiting_table.hasFocus():
            row = self._selected_waiting()
        row = row or self._called_in_room()
        if row is None:
            self.state.message(t("day.nobody_called", lang), "info")
            return
        room = self.state.room_id or None
        ticket_id = row.ticket.id
        self.state.act(
            self,
            lambda store: actions.start_consult(store, ticket_id, room, lang),
            changes=("queue_ticket", "visit"),
            success=lambda visit_id: self.state.sig_open_consult.emit(visit_id, ticket_id),
        )

    def finish(self) -> None:
        row = self._ticket_row(self.current_ticket_id) if self.current_ticket_id else None
        if row is None or row.ticket.status not in ("in_consultation", "called"):
            seen = self._selected_seen()
            row = seen if seen is not None and seen.ticket.status in ("in_consultation", "called") else None
        if row is None:
            self.state.message(t("day.nothing_to_finish", self.state.lang), "info")
            return
        chosen = row

        def proceed() -> None:
            self.state.consult_ended()
            self._step("queue.finish", chosen, "day.finished")

        if self.before_finish is not None:  # the consultation may remind about an unsigned note first
            self.before_finish(row.ticket.id, row.ticket.visit_id or "", proceed)
        else:
            proceed()

    def _waiting_activated(self, _index: QModelIndex) -> None:
        self.call_selected()

    def _seen_activated(self, _index: QModelIndex) -> None:
        row = self._selected_seen()
        if row is None:
            return
        if row.ticket.visit_id:
            self.state.sig_open_consult.emit(row.ticket.visit_id, row.ticket.id)
        elif row.ticket.status == "called":
            self.start_consult()

    def age_of(self, birth: dt.date) -> str:
        return age_text_zh(birth, self.state.today())
