"""The self check-in kiosk: full screen, touch-sized, for patients with an appointment (scan or type).

The appointment number comes from a scanner (a keyboard wedge: the code then Enter) or the on-screen
keypad. Outside the check-in window (``shared.domain.queue_rules.check_in_window``), for another day, a cancelled or an
unknown appointment the kiosk refuses with a clear message and sends the patient to the triage desk.
Two ways to run it:

* ``clinic triage --kiosk`` under a staff account (nurse): the kiosk has the campus's local cache, decides
  from it (window, day, cancelled) and records ``queue.check_in`` locally with a number from its own slot,
  so it keeps working through a network outage.
* ``clinic kiosk`` under a kiosk account (role ``kiosk``, e.g. ``kiosk1``): such an account may not
  download patient data, so the kiosk holds none and checks in online through ``POST /queue/check-in``
  with ``within_window`` (the server's rules, window and numbering; its ``outside_check_in_window``
  refusal becomes the same too-early / too-late message); without the network it sends patients to
  the desk.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from shared import clinic_time
from shared.errors import SuiteError, TransientError
from shared.gui import theme
from shared.gui.ops import CollectionOp, OpChanges, QueryOp, describe_error
from shared.gui.workers import BackgroundCall
from shared.ids import new_id
from shared.printing.ticket import TicketSlip
from shared.store.store import LocalStore
from shared.sync.transport import ApiTransport
from triage_desk import model
from triage_desk.check_in import check_in_in_store, slip_for
from triage_desk.state import TriageState
from triage_desk.texts import t

RESET_AFTER_MS = 12_000
KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "YY", "0", "⌫"]


def hhmm(moment: dt.datetime | None) -> str:
    return clinic_time.local(moment).strftime("%H:%M") if moment else ""


def decision_message(decision: model.KioskDecision, code: str, lang: str) -> str:
    """What the kiosk tells the patient when it refuses (or has already checked them in)."""
    appointment = decision.appointment
    slot = hhmm(appointment.slot_time) if appointment else ""
    if decision.verdict == "unknown":
        return t("kiosk.unknown", lang, number=code)
    if decision.verdict == "other_day" and appointment is not None:
        return t("kiosk.other_day", lang, day=clinic_time.local(appointment.slot_time).date().isoformat())
    if decision.verdict == "too_early":
        return t("kiosk.too_early", lang, slot=slot, opens=hhmm(decision.opens_at))
    if decision.verdict == "too_late":
        return t("kiosk.too_late", lang, slot=slot, closes=hhmm(decision.closes_at))
    return t(f"kiosk.{decision.verdict}", lang)


def online_check_in(transport: ApiTransport, code: str) -> dict[str, Any]:
    """Check in through the server's kiosk endpoint, inside the appointment's window only (blocking;
    call it off the GUI thread)."""
    return transport.queue_check_in(code, within_window=True)


def _moment(value: object) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def online_verdict(error: BaseException) -> str:
    """What a failed online check-in means for the patient: ``offline`` (no server: go to the desk),
    ``unknown`` / ``no_queue`` / ``cancelled`` / ``too_early`` / ``too_late`` (the server's rule), else
    ``failed`` (show the reason)."""
    if isinstance(error, TransientError):
        return "offline"
    code = error.code if isinstance(error, SuiteError) else ""
    if code == "outside_check_in_window":
        detail = error.detail if isinstance(error, SuiteError) and isinstance(error.detail, dict) else {}
        return "too_late" if detail.get("verdict") == "too_late" else "too_early"
    return {
        "appointment_not_found": "unknown",
        "no_queue": "no_queue",
        "appointment_cancelled": "cancelled",
    }.get(code, "failed")


def online_message(error: BaseException, verdict: str, code: str, lang: str) -> str:
    """The kiosk's own words for a refusal the server gave (times from the server's window)."""
    if verdict == "unknown":
        return t("kiosk.unknown", lang, number=code)
    if verdict in ("too_early", "too_late"):
        detail = error.detail if isinstance(error, SuiteError) and isinstance(error.detail, dict) else {}
        slot = hhmm(_moment(detail.get("slot_time")))
        if verdict == "too_early":
            return t("kiosk.too_early", lang, slot=slot, opens=hhmm(_moment(detail.get("opens_at"))))
        return t("kiosk.too_late", lang, slot=slot, closes=hhmm(_moment(detail.get("closes_at"))))
    return t(f"kiosk.{verdict}", lang)


def is_kiosk_account(state: TriageState) -> bool:
    staff = state.staff
    return staff is not None and set(staff.roles) <= {"kiosk"}


class KioskWindow(QWidget):
    """One screen: prompt, code field, keypad, and a big answer."""

    def __init__(self, state: TriageState) -> None:
        super().__init__()
        self.state = state
        lang = state.lang
        self.setWindowTitle(t("kiosk.title", lang))
        self.setObjectName("kiosk")
        self.setStyleSheet(
            "QWidget#kiosk { background: #eef4fb; }"
            "QPushButton { background: white; border: 2px solid #90a4ae; border-radius: 14px; }"
            "QPushButton:pressed { background: #cfe3f7; }"
            "QPushButton#submit { background: #1565c0; color: white; border-color: #0d47a1; }"
        )
        self.title = QLabel(t("kiosk.title", lang))
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prompt = QLabel(t("kiosk.prompt", lang))
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prompt.setWordWrap(True)
        self.code_edit = QLineEdit()
        self.code_edit.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.answer = QLabel("")
        self.answer.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.answer.setWordWrap(True)
        self.answer.setMinimumHeight(120)

        keypad = QGridLayout()
        keypad.setSpacing(14)
        self.key_buttons: list[QPushButton] = []
        for n, key in enumerate(KEYS):
            button = QPushButton(key)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setProperty("key", key)
            button.clicked.connect(self._key_clicked)
            keypad.addWidget(button, n // 3, n % 3)
            self.key_buttons.append(button)
        self.clear_button = QPushButton(t("kiosk.clear", lang))
        self.submit_button = QPushButton(t("kiosk.submit", lang))
        self.submit_button.setObjectName("submit")
        for button in (self.clear_button, self.submit_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        actions = QHBoxLayout()
        actions.addWidget(self.clear_button, 1)
        actions.addWidget(self.submit_button, 2)

        centre = QVBoxLayout()
        centre.addWidget(self.title)
        centre.addWidget(self.prompt)
        centre.addWidget(self.code_edit)
        centre.addLayout(keypad, 1)
        centre.addLayout(actions)
        centre.addWidget(self.answer)
        outer = QHBoxLayout(self)
        outer.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)  # sizes follow the screen's height
        outer.addStretch(1)
        outer.addLayout(centre, 3)
        outer.addStretch(1)

        self.clear_button.clicked.connect(self.reset)
        self.submit_button.clicked.connect(self.submit)
        self.code_edit.returnPressed.connect(self.submit)
        self._reset_timer = QTimer(self)
        self._reset_timer.setSingleShot(True)
        self._reset_timer.timeout.connect(self.reset)
        self.verdict = ""
        self._busy = False
        self._apply_sizes()

    # -- touch-sized whatever the screen ---------------------------------------------------------

    def _px(self, size: float) -> int:
        return max(12, int(size * max(self.height(), 600) / 1080))

    def _apply_sizes(self) -> None:
        def font(size: float, bold: bool = False) -> QFont:
            f = QFont(self.font())
            f.setPixelSize(self._px(size))
            f.setBold(bold)
            return f

        self.title.setFont(font(64, True))
        self.prompt.setFont(font(36))
        self.code_edit.setFont(font(56, True))
        self.code_edit.setMinimumHeight(self._px(100))
        for button in self.key_buttons:
            button.setFont(font(48, True))
            button.setMinimumHeight(self._px(88))
        for button in (self.clear_button, self.submit_button):
            button.setFont(font(44, True))
            button.setMinimumHeight(self._px(96))
        self.answer.setFont(font(38, True))

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._apply_sizes()

    # -- input -----------------------------------------------------------------------------------

    def _key_clicked(self) -> None:
        button = self.sender()
        if isinstance(button, QPushButton):
            self.press(str(button.property("key")))

    def press(self, key: str) -> None:
        if key == "⌫":
            self.code_edit.backspace()
        else:
            self.code_edit.insert(key)
        self._reset_timer.start(RESET_AFTER_MS * 2)

    def reset(self) -> None:
        self.code_edit.clear()
        self.show_answer("", "info")
        self.code_edit.setFocus()

    def show_answer(self, text: str, level: str) -> None:
        colour = {"ok": theme.OK, "error": theme.ERROR, "warning": theme.WARN}.get(level, theme.MUTED)
        self.answer.setStyleSheet(f"color: {colour};")
        self.answer.setText(text)

    # -- check-in --------------------------------------------------------------------------------

    def submit(self) -> None:
        code = self.code_edit.text().strip().upper()
        if not code or self._busy:
            return
        self._busy = True
        now = self.state.now()
        if is_kiosk_account(self.state):
            transport = self.state.runtime.transport
            BackgroundCall(
                lambda: online_check_in(transport, code),
                on_success=self._checked_in_online,
                on_failure=lambda error: self._refused_online(error, code),
                label="kiosk-check-in",
            ).start()
            return
        QueryOp(
            parent=self,
            context=self.state.runtime.context,
            op=lambda store: model.kiosk_decision(store, code, now),
            success=lambda d: self._decided(d, code),
        ).failure(self._failed).run_in_background()

    def _decided(self, decision: model.KioskDecision, code: str) -> None:
        lang = self.state.lang
        self.verdict = decision.verdict
        self._reset_timer.start(RESET_AFTER_MS)
        if decision.verdict == "done" and decision.ticket is not None:
            self._busy = False
            self.show_answer(t("kiosk.done", lang, label=decision.ticket.label), "ok")
            self._reprint(decision.ticket.id)
            return
        if not decision.ok:
            self._busy = False
            self.show_answer(decision_message(decision, code, lang), "error")
            return
        assert decision.appointment is not None and decision.queue is not None
        now = self.state.now()
        args: dict[str, Any] = {
            "id": new_id(),
            "queue_id": decision.queue.id,
            "patient_id": decision.appointment.patient_id,
            "appointment_id": decision.appointment.id,
            "day": model.local_day(now).isoformat(),
            "checked_in_at": now.isoformat(),
        }
        slot = self.state.desk_slot()

        def op(store: LocalStore) -> tuple[Any, TicketSlip | None]:
            return check_in_in_store(store, args=args, slot=slot, now=now, lang=lang)

        CollectionOp(
            self,
            op,
            changes=("queue_ticket", "appointment", OpChanges.OUTBOX),
            context=self.state.runtime.context,
        ).success(self._checked_in).failure(self._failed).run_in_background()

    def _checked_in(self, result: tuple[Any, TicketSlip | None]) -> None:
        self._busy = False
        lang = self.state.lang
        _entry, slip = result
        if slip is None:
            return
        self.verdict = "checked_in"
        self.show_answer(
            t("kiosk.ok", lang, label=slip.number, queue=slip.queue_name, ahead=slip.ahead), "ok"
        )
        self.state.print_slip(slip, on_done=self._printed)
        self.code_edit.clear()

    def _checked_in_online(self, answer: dict[str, Any]) -> None:
        self._busy = False
        lang = self.state.lang
        self._reset_timer.start(RESET_AFTER_MS)
        already = bool(answer.get("already_checked_in"))
        self.verdict = "done" if already else "checked_in"
        label = str(answer.get("label", ""))
        ahead = int(answer.get("ahead") or 0)
        if already:
            self.show_answer(t("kiosk.done", lang, label=label), "ok")
        else:
            self.show_answer(
                t("kiosk.ok", lang, label=label, queue=answer.get("queue_name", ""), ahead=ahead), "ok"
            )
        slip = TicketSlip(
            ticket_id=str(answer.get("ticket_id", "")),
            number=label,
            queue_name=str(answer.get("queue_name", "")),
            ahead=ahead,
            issued_at=clinic_time.local(self.state.now()),
            hospital=model.hospital_name(self.state.runtime.store, self.state.campus_id),
            room=answer.get("fixed_room_name"),  # only a fixed room: a door changes before the call
            department=answer.get("department_name"),
        )
        self.state.print_slip(slip, on_done=self._printed)
        self.code_edit.clear()

    def _printed(self, ok: bool, _where: str) -> None:
        if not ok:
            self.show_answer(self.answer.text() + "\n" + t("kiosk.no_slip", self.state.lang), "warning")

    def _reprint(self, ticket_id: str) -> None:
        now = self.state.now()

        def printed(slip: TicketSlip | None) -> None:
            if slip is not None:
                self.state.print_slip(slip, on_done=self._printed)

        QueryOp(
            parent=self,
            context=self.state.runtime.context,
            op=lambda store: slip_for(store, ticket_id, now),
            success=printed,
        ).run_in_background()

    def _refused_online(self, error: BaseException, code: str) -> None:
        """The server refused (or could not be reached): say why in the patient's words."""
        verdict = online_verdict(error)
        if verdict == "failed":
            self._failed(error)
            return
        self._busy = False
        self.verdict = verdict
        self._reset_timer.start(RESET_AFTER_MS)
        self.show_answer(online_message(error, verdict, code, self.state.lang), "error")

    def _failed(self, error: BaseException) -> None:
        self._busy = False
        self.verdict = "failed"
        lang = self.state.lang
        self.show_answer(t("kiosk.failed", lang, reason=describe_error(error, lang).message), "error")
