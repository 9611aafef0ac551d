"""Prescription review: the queue (pending / approved / rejected with counts and new arrivals), the
doctor's signature verified, the system checks with their levels, approve or reject signed with the
pharmacist's PIN key, print and reprint the prescription."""

from __future__ import annotations

import logging
from typing import Any, Literal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

from pharmacy_desk import actions, pickup_notice
from pharmacy_desk.dialogs import PinDialog, ReasonDialog
from pharmacy_desk.keys import KeyStatus, create_key, find_key
from pharmacy_desk.queries import ReviewDetail, ReviewQueue, RxRow, review_detail, review_queue
from pharmacy_desk.texts import t
from shared import clinic_time
from shared.domain.allergies import allergy_text
from shared.domain.pharmacy import REVIEW_REASONS, reason_text
from shared.domain.prescribing import age_text_zh, type_name
from shared.errors import SuiteError
from shared.gui import theme
from shared.gui.ops import CollectionOp, OpChanges, QueryOp
from shared.gui.patient_views import ViewAudit
from shared.gui.pin_dialog import wait_for_registration
from shared.gui.widgets import Column, ReloadWhenShown, RowsModel, selected_row, table_view
from shared.security.signing import WrongPin

log = logging.getLogger(__name__)

STATUSES = ("signed", "approved", "rejected")
SIGNATURE_REASONS = ("missing", "no_key", "changed", "not_signers_key", "revoked", "before_registration")
WATCHED = ("rx", "signing_key", "staff", "patient", "pickup_code", "dispense")


class ReviewScreen(ReloadWhenShown):
    sig_open_for_dispensing = Signal(str)
    sig_detail_shown = Signal(object)  # ReviewDetail (tests wait on it)
    sig_queue_loaded = Signal(object)  # ReviewQueue

    def __init__(self, state: Any) -> None:
        super().__init__()
        self.state = state
        self.views = ViewAudit(self, "review", state.runtime.context)  # each patient shown: audited
        lang = self.lang = state.lang
        self.queue = ReviewQueue()
        self.detail: ReviewDetail | None = None
        self._seen_pending: set[str] | None = None
        self._arrived: set[str] = set()  # arrivals not looked at yet
        self.new_arrivals = 0

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.status_tabs = QTabBar()
        for _status in STATUSES:
            self.status_tabs.addTab("")
        left_layout.addWidget(self.status_tabs)
        self.arrivals_label = QLabel()
        self.arrivals_label.setProperty("role", "warning")
        self.arrivals_label.setVisible(False)
        left_layout.addWidget(self.arrivals_label)
        self.model: RowsModel[RxRow] = RowsModel(
            [
                Column(t("review.col.number", lang), lambda r: r.rx.number),
                Column(t("review.col.patient", lang), lambda r: r.patient_name),
                Column(t("review.col.doctor", lang), lambda r: r.doctor_name),
                Column(t("review.col.type", lang), lambda r: type_name(r.rx.rx_type, lang)),  # type: ignore[arg-type]
                Column(
                    t("review.col.time", lang),
                    lambda r: clinic_time.local(r.rx.signed_at or r.rx.written_at).strftime("%m-%d %H:%M"),
                ),
                Column(t("review.col.amount", lang), lambda r: r.rx.total_amount, align_right=True),
            ]
        )
        self.table = table_view(self.model, stretch=1)
        left_layout.addWidget(self.table, 1)
        split.addWidget(left)

        right = QWidget()
        grid = QVBoxLayout(right)
        grid.setContentsMargins(8, 0, 0, 0)
        self.header_label = QLabel(t("review.empty", lang))
        self.header_label.setProperty("role", "title")
        self.header_label.setWordWrap(True)
        grid.addWidget(self.header_label)
        facts = QGridLayout()
        self.patient_label = QLabel()
        self.patient_label.setWordWrap(True)
        self.diagnosis_label = QLabel()
        self.diagnosis_label.setWordWrap(True)
        facts.addWidget(self.patient_label, 0, 0)
        facts.addWidget(self.diagnosis_label, 1, 0)
        grid.addLayout(facts)
        self.signature_label = QLabel()
        self.signature_label.setWordWrap(True)
        self.signature_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self.signature_label)
        self.lines_model: RowsModel[tuple[str, str, str]] = RowsModel(
            [
                Column(t("dispense.col.drug", lang), lambda r: r[0]),
                Column(t("dispense.col.usage", lang), lambda r: r[1]),
                Column(t("dispense.col.prescribed", lang), lambda r: r[2], align_right=True),
            ]
        )
        self.lines_table = table_view(self.lines_model, stretch=1)
        self.lines_table.setSelectionMode(self.lines_table.SelectionMode.NoSelection)
        grid.addWidget(self.lines_table, 2)
        checks_title = QLabel(t("review.checks_title", lang))
        checks_title.setStyleSheet("font-weight: 600;")
        grid.addWidget(checks_title)
        self.checks_list = QListWidget()
        grid.addWidget(self.checks_list, 1)
        self.review_label = QLabel()
        self.review_label.setWordWrap(True)
        grid.addWidget(self.review_label)
        buttons = QHBoxLayout()
        self.approve_button = QPushButton(t("review.approve", lang))
        self.approve_button.setToolTip("Ctrl+Enter")
        self.reject_button = QPushButton(t("review.reject", lang))
        self.print_button = QPushButton(t("review.print", lang))
        self.dispense_button = QPushButton(t("dispense.go", lang).replace("(&D)", "").replace("&", "") + " →")
        for button in (self.approve_button, self.reject_button, self.print_button, self.dispense_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        grid.addLayout(buttons)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([520, 780])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(split)

        self.status_tabs.currentChanged.connect(lambda _i: self._fill_table())
        self.status_tabs.tabBarClicked.connect(lambda index: self._seen_arrivals() if index == 0 else None)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._row_chosen())
        self.approve_button.clicked.connect(self.approve)
        self.reject_button.clicked.connect(self.reject)
        self.print_button.clicked.connect(self.print_prescription)
        self.dispense_button.clicked.connect(self._to_dispensing)
        QShortcut(QKeySequence("Ctrl+Return"), self).activated.connect(self.approve)
        QShortcut(QKeySequence("F5"), self).activated.connect(self.reload)
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)
        state.sig_pharmacy_changed.connect(self._pharmacy_changed)
        self._update_tabs()
        self._set_actions()
        self.reload()

    # -- loading ------------------------------------------------------------------------------------

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if not changes.touches(*WATCHED):
            return
        self.reload_when_shown(now=changes.from_sync)  # arrivals come by sync and are announced anywhere

    def _pharmacy_changed(self, _pharmacy_id: str) -> None:
        self._seen_pending = None  # what is pending at the new pharmacy is not "new"
        self._seen_arrivals()
        self.reload()

    def reload(self) -> None:
        pharmacy, campus, today = self.state.pharmacy_id or None, self.state.campus_id, self.state.today()
        QueryOp(
            parent=self,
            op=lambda store: review_queue(store, pharmacy, campus, day=today),
            success=self._queue_loaded,
        ).run_in_background()

    def _queue_loaded(self, queue: ReviewQueue) -> None:
        pending = queue.ids("signed")
        if self._seen_pending is not None:
            fresh = pending - self._seen_pending
            if fresh:
                self._arrived |= fresh
                QApplication.alert(self.window(), 3000)
        # an arrival reviewed (here or at another desk) or withdrawn is no longer new: the notice
        # counts what is still pending and goes away once nothing new is
        self._arrived &= pending
        self.new_arrivals = len(self._arrived)
        if self.new_arrivals:
            self.arrivals_label.setText(t("review.new_arrivals", self.lang, n=self.new_arrivals))
            self.arrivals_label.setVisible(True)
        else:
            self.arrivals_label.setVisible(False)
        self._seen_pending = (self._seen_pending or set()) | pending
        self.queue = queue
        self._update_tabs()
        self._fill_table()
        self.sig_queue_loaded.emit(queue)

    def _update_tabs(self) -> None:
        for index, status in enumerate(STATUSES):
            key = {"signed": "review.pending", "approved": "review.approved", "rejected": "review.rejected"}[
                status
            ]
            self.status_tabs.setTabText(index, t(key, self.lang, n=self.queue.count(status)))

    @property
    def current_status(self) -> str:
        return STATUSES[max(0, self.status_tabs.currentIndex())]

    def _fill_table(self) -> None:
        chosen = self.detail.rx.id if self.detail else None
        rows = self.queue.rows.get(self.current_status, [])
        self.model.set_rows(rows)
        index = next((i for i, r in enumerate(rows) if r.id == chosen), 0 if rows else None)
        if index is not None:
            self.table.selectRow(index)
        else:
            self.show_detail(None)

    def select(self, rx_id: str) -> bool:
        for status_index, status in enumerate(STATUSES):
            rows = self.queue.rows.get(status, [])
            for i, row in enumerate(rows):
                if row.id == rx_id:
                    self.status_tabs.setCurrentIndex(status_index)
                    self.table.selectRow(i)
                    return True
        return False

    def _seen_arrivals(self) -> None:
        """The pharmacist looked at the pending list: the arrivals notice goes away."""
        self._arrived.clear()
        self.new_arrivals = 0
        self.arrivals_label.setVisible(False)

    def _row_chosen(self) -> None:
        row = selected_row(self.table)
        if row is None:
            return
        if self.current_status == "signed" and self.new_arrivals and self.table.hasFocus():
            self._seen_arrivals()
        rx_id = self.model.row(row).id
        lang = self.lang
        QueryOp(
            parent=self, op=lambda store: review_detail(store, rx_id, lang), success=self.show_detail
        ).run_in_background()

    def show_detail(self, detail: ReviewDetail | None) -> None:
        self.views.shown(detail.rx.patient_id if detail is not None else None)
        self.detail = detail
        lang = self.lang
        self.checks_list.clear()
        if detail is None:
            self.header_label.setText(t("review.empty", lang))
            for label in (self.patient_label, self.diagnosis_label, self.signature_label, self.review_label):
                label.clear()
            self.lines_model.set_rows([])
            self._set_actions()
            return
        rx, draft = detail.rx, detail.draft
        status = t(f"status.{rx.status}", lang)
        self.header_label.setText(f"{rx.number}  {type_name(rx.rx_type, lang)}  [{status}]")  # type: ignore[arg-type]
        patient = draft.patient
        allergies = allergy_text(
            patient.allergy_status, patient.allergies, lang
        )  # 未询问 / 无已知过敏 / the list
        self.patient_label.setText(
            t(
                "review.patient_line",
                lang,
                name=patient.name,
                sex=t(f"sex.{patient.sex}", lang),
                age=age_text_zh(patient.birth_date, draft.written_on),
                mrn=patient.mrn or "-",
                allergies=allergies,
            )
        )
        diagnoses = "；".join(f"{d.name}（{d.code}）" if d.code else d.name for d in draft.diagnoses)
        self.diagnosis_label.setText(
            t(
                "review.diagnosis_line",
                lang,
                diagnoses=diagnoses or "-",
                doctor=draft.prescriber.name,
                department=draft.department,
            )
        )
        sig = detail.signature
        if sig.ok:
            at = clinic_time.local(sig.signed_at).strftime("%Y-%m-%d %H:%M") if sig.signed_at else ""
            self.signature_label.setText(
                t("review.signature_ok", lang, doctor=sig.doctor, at=at, fp=sig.fingerprint)
            )
            self.signature_label.setStyleSheet(f"color: {theme.OK}; font-weight: 600;")
        else:
            why = t(
                f"review.signature_{sig.reason if sig.reason in SIGNATURE_REASONS else 'changed'}",
                lang,
            )
            self.signature_label.setText(t("review.signature_bad", lang, why=why))
            self.signature_label.setStyleSheet(f"color: {theme.ERROR}; font-weight: 600;")
        self.lines_model.set_rows(
            [
                (
                    f"{line.drug.generic_name}  {line.drug.spec}",
                    usage,
                    f"{line.quantity}{line.drug.pack_unit}",
                )
                for line, usage in zip(draft.lines, detail.usages, strict=True)
            ]
        )
        if not detail.checks:
            item = QListWidgetItem(t("review.no_findings", lang))
            item.setForeground(QBrush(QColor(theme.OK)))
            self.checks_list.addItem(item)
        for check in detail.checks:
            level = t(f"review.level.{check.finding.level}", lang)
            text = f"[{level}] {check.finding.in_language(lang)}"
            if check.acknowledged:
                text += t("review.acknowledged", lang, note=check.acknowledged)
            item = QListWidgetItem(text)
            item.setForeground(QBrush(QColor(theme.ERROR if check.finding.level == "block" else theme.WARN)))
            self.checks_list.addItem(item)
        if rx.reviewed_at:
            reason = ""
            if rx.status == "rejected" or rx.review_reason_code:
                reason = "；" + reason_text("review_reason", rx.review_reason_code, lang)
                reason += f"：{rx.review_reason}" if rx.review_reason else ""
            self.review_label.setText(
                t(
                    "review.reviewed_by",
                    lang,
                    who=detail.reviewer_name,
                    at=clinic_time.local(rx.reviewed_at).strftime("%Y-%m-%d %H:%M"),
                    reason=reason,
                )
            )
        else:
            self.review_label.clear()
        if detail.awaiting_payment:
            self.review_label.setText(self.review_label.text() + "\n" + t("pay.first", lang))
        self._set_actions()
        self.sig_detail_shown.emit(detail)

    def _set_actions(self) -> None:
        detail = self.detail
        pending = detail is not None and detail.rx.status == "signed"
        self.approve_button.setEnabled(
            pending and detail is not None and detail.signature.ok and detail.blocks == 0
        )
        self.reject_button.setEnabled(pending)
        self.print_button.setEnabled(detail is not None)
        self.dispense_button.setEnabled(
            detail is not None and detail.rx.status in ("approved", "partly_dispensed")
        )
        self.print_button.setText(
            t("review.reprint" if self._printed_before() else "review.print", self.lang)
        )
        # where payment comes first, the way on is to the counter's 收费 (on the dispensing screen)
        go = "pay.button" if detail is not None and detail.awaiting_payment else "dispense.go"
        self.dispense_button.setText(
            t(go, self.lang).replace("(&D)", "").replace("(&P)", "").replace("&", "") + " →"
        )

    def _printed_before(self) -> bool:
        return self.detail is not None and self.detail.times_printed > 0

    # -- actions ------------------------------------------------------------------------------------

    def approve(self) -> None:
        detail = self.detail
        if detail is None or detail.rx.status != "signed":
            return
        if detail.blocks:
            self.state.message(t("review.blocked", self.lang), "error")
            return
        self._review("approve", "", "")

    def reject(self) -> None:
        detail = self.detail
        if detail is None or detail.rx.status != "signed":
            return
        choices = [(code, reason_text("review_reason", code, self.lang)) for code in REVIEW_REASONS]
        answer = ReasonDialog.ask(
            self,
            lang=self.lang,
            title=t("review.reject_title", self.lang, number=detail.rx.number),
            choices=choices,
        )
        if answer is None:
            return
        self._review("reject", *answer)

    def _review(self, decision: Literal["approve", "reject"], reason_code: str, reason: str) -> None:
        detail = self.detail
        staff = self.state.staff
        if detail is None or staff is None:
            return
        rx_id = detail.rx.id
        lang = self.lang

        def query(fn: Any, callback: Any) -> None:
            QueryOp(parent=self, op=fn, success=callback).run_in_background()

        def find(store: Any) -> KeyStatus:
            return find_key(store, self.state.keys, staff.id, lang)

        def sign_with(pin: str | None) -> Any:
            def done(status: KeyStatus | None) -> None:
                if status is None:
                    self.state.message(t("pin.registration_waiting", lang), "error")
                elif status.state != "ready":
                    self.state.message(t("pin.registration_refused", lang), "error")
                else:
                    if status.signer is not None and pin is not None:
                        self.state.message(t("pin.registered", lang, fp=status.signer.fingerprint), "ok")
                    chosen = pin or PinDialog.ask(self, lang=lang, setup=False)
                    if chosen is not None:
                        self._sign_and_record(rx_id, decision, reason_code, reason, chosen)

            return done

        def found(status: KeyStatus) -> None:
            if status.state == "ready":
                sign_with(None)(status)
                return
            if status.state == "pending":
                self.state.message(t("pin.registering", lang), "info")
                wait_for_registration(
                    self, query, find, sign_with(None), wake=self.state.runtime.network.wake
                )
                return
            pin = PinDialog.ask(self, lang=lang, setup=True)
            if pin is None:
                return
            keys = self.state.keys

            def made(_signer: Any) -> None:
                self.state.message(t("pin.registering", lang), "info")
                wait_for_registration(self, query, find, sign_with(pin), wake=self.state.runtime.network.wake)

            CollectionOp(
                self,
                lambda store: create_key(store, keys, staff.id, pin, lang),
                changes=("signing_key", OpChanges.OUTBOX),
            ).success(made).failure(self._review_failed).run_in_background()

        query(find, found)

    def _sign_and_record(
        self, rx_id: str, decision: Literal["approve", "reject"], reason_code: str, reason: str, pin: str
    ) -> None:
        staff = self.state.staff
        keys = self.state.keys
        lang = self.lang
        CollectionOp(
            self,
            lambda store: actions.review(
                store, keys, staff, rx_id, decision, reason_code, reason, pin, lang=lang
            ),
            changes=("rx", "pickup_code", "signing_key", OpChanges.OUTBOX),
        ).success(self._reviewed).failure(self._review_failed).run_in_background()

    def _reviewed(self, outcome: actions.ReviewOutcome) -> None:
        lang = self.lang
        if outcome.key_fingerprint:
            self.state.message(t("pin.registered", lang, fp=outcome.key_fingerprint), "ok")
        if outcome.decision == "approve":
            if outcome.pickup_code:
                text = t("review.approved_msg", lang, number=outcome.number, code=outcome.pickup_code)
                # the patient gets the code: a pickup slip, and a text message where a phone is known
                pickup_notice.hand_to_patient(self.state, self, outcome.rx_id, outcome.pickup_code)
            elif outcome.awaiting_payment:
                text = t("review.approved_awaiting_payment", lang, number=outcome.number)
            else:
                text = t("review.approved_plain", lang, number=outcome.number)
        else:
            text = t("review.rejected_msg", lang, number=outcome.number)
        self.state.message(text, "ok")
        self.last_outcome = outcome

    def _review_failed(self, error: BaseException) -> None:
        if isinstance(error, WrongPin | SuiteError):
            self.state.message(error.message, "error")  # type: ignore[union-attr]
        else:
            self.state.runtime.bus.report_error(error)

    def print_prescription(self) -> None:
        detail = self.detail
        if detail is None:
            return
        reprint = False  # the print log decides: printed here before means a marked reprint
        now = self.state.now()
        rx_id = detail.rx.id
        lang = self.lang

        def render(store: Any) -> tuple[bytes, bool]:
            return actions.prescription_for_print(store, rx_id, now=now, reprint=reprint, lang=lang)

        def rendered(result: tuple[bytes, bool]) -> None:
            data, was_reprint = result
            title = (
                t("review.reprint_title", self.lang, number=detail.rx.number)
                if was_reprint
                else detail.rx.number
            )
            self.state.print_document("prescription", title, "pdf", data, ref_id=rx_id, reprint=was_reprint)
            self.last_print_reprint = was_reprint

        CollectionOp(self, render, changes=("rx", OpChanges.OUTBOX)).success(rendered).run_in_background()

    def _to_dispensing(self) -> None:
        if self.detail is not None:
            self.sig_open_for_dispensing.emit(self.detail.rx.number)
