"""Dispensing: find a prescription (number, pickup code, patient, scanned QR), take payment (收费, where
the pharmacy takes it before the pickup code: ``payment.PaymentGateway`` then ``rx.pay``), check the
pickup code, see the first-expiry-first-out batches per line (override with a reason, hand out part),
dispense, and print the
drug labels and receipt (and a pick list for many prescriptions at once). Conflicts found when offline
dispenses reached the server are listed for review."""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

from pharmacy_desk import actions, pickup_notice
from pharmacy_desk.dialogs import PaymentDialog, TextDialog, close_box, error_line, finish_form
from pharmacy_desk.documents import (
    hospital_name,
    labels_for,
    labels_pdf,
    pharmacy_name,
    pick_items,
    pick_list_pdf,
    receipt_bytes,
    receipt_for,
)
from pharmacy_desk.payment import METHODS
from pharmacy_desk.queries import (
    DispensePlan,
    LinePlan,
    RxRow,
    dispense_plan,
    find_for_dispensing,
    handed_out,
    open_conflicts,
    refresh_rows,
    to_dispense,
)
from pharmacy_desk.texts import t
from shared import clinic_time
from shared.domain.prescribing import plain_usage_zh
from shared.domain.stock import BatchStock
from shared.domain.units import packs_and_units
from shared.errors import SuiteError
from shared.gui import theme
from shared.gui.ops import CollectionOp, OpChanges, OpContext, QueryOp
from shared.gui.patient_views import ViewAudit
from shared.gui.widgets import Column, RowsModel, selected_row, table_view
from shared.gui.workers import run_in_background
from shared.i18n import tr
from shared.ids import new_id

WATCHED = ("rx", "dispense", "stock_batch", "pickup_code", "refund", "delivery")


def _qty(quantity: int, line: Any) -> str:
    drug = line.drug
    packs, loose = divmod(quantity, drug.pack_qty)
    if loose == 0:
        return f"{packs}{drug.pack_unit}"
    return f"{quantity}{drug.min_unit}"


def _batches_text(plan: LinePlan) -> str:
    return "，".join(f"{h.batch_no}×{h.quantity}（{h.expiry:%Y-%m}）" for h in plan.allocation)


class BatchDialog(QDialog):
    """Choose the batch to take first, with a reason (the override is recorded on the movement)."""

    def __init__(
        self, parent: QWidget | None, *, lang: str, batches: list[BatchStock], today: dt.date
    ) -> None:
        super().__init__(parent)
        self.lang = lang
        self.setWindowTitle(t("dispense.override_title", lang))
        form = QFormLayout(self)
        self.batch_combo = QComboBox()
        for b in batches:
            if b.quantity > 0 and not b.expired(today):
                self.batch_combo.addItem(f"{b.batch_no}  {b.expiry.isoformat()}  ({b.quantity})", b.batch_no)
        form.addRow(t("stock.batch", lang), self.batch_combo)
        self.reason_edit = QLineEdit()
        form.addRow(t("dispense.override_reason", lang), self.reason_edit)
        self.error = finish_form(self, form, lang)

    def accept(self) -> None:
        if not self.reason_edit.text().strip():
            self.error.setText(t("dispense.override_need_reason", self.lang))
            return
        super().accept()

    @classmethod
    def ask(
        cls, parent: QWidget | None, *, lang: str, batches: list[BatchStock], today: dt.date
    ) -> tuple[str, str] | None:
        dialog = cls(parent, lang=lang, batches=batches, today=today)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return str(dialog.batch_combo.currentData()), dialog.reason_edit.text().strip()


class DispenseScreen(QWidget):
    sig_plan_shown = Signal(object)  # DispensePlan or None
    sig_dispensed = Signal(object)  # actions.DispenseOutcome
    sig_printed = Signal(str, str)  # document kind, "sent"/"failed"
    sig_results = Signal(list)
    sig_paid = Signal(object)  # actions.PaymentOutcome

    def __init__(self, state: Any) -> None:
        super().__init__()
        self.state = state
        self.views = ViewAudit(self, "dispense", state.runtime.context)  # each patient shown: audited
        lang = self.lang = state.lang
        self.plan: DispensePlan | None = None
        self.overrides: dict[int, tuple[str, str]] = {}
        self.limits: dict[int, int] = {}
        self.verified_code = ""
        self.last_dispense_id = ""
        self.verified_for = ""  # the prescription the verified code belongs to
        # Plans are numbered as requested; one requested before a dispense was recorded is stale.
        self._plan_seq = 0
        self._shown_seq = 0
        self._fresh_after = -1.0
        self._paying = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        search = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(t("dispense.find", lang))
        self.search_button = QPushButton(t("dispense.search", lang))
        search.addWidget(self.search_edit, 1)
        search.addWidget(self.search_button)
        self.conflicts_button = QPushButton(t("dispense.conflicts", lang, n=0))
        search.addWidget(self.conflicts_button)
        layout.addLayout(search)
        # 待发药 (approved / paid, waiting at this pharmacy) and the last search's results
        self.list_tabs = QTabBar()
        self.list_tabs.addTab(t("dispense.worklist", lang, n=0))
        self.list_tabs.addTab(t("dispense.found", lang, n=0))
        self.list_tabs.setExpanding(False)
        layout.addWidget(self.list_tabs)
        self.worklist_rows: list[RxRow] = []
        self.found_rows: list[RxRow] = []
        self._refilling = False

        split = QSplitter(Qt.Orientation.Vertical)
        self.results_model: RowsModel[RxRow] = RowsModel(
            [
                Column(t("review.col.number", lang), lambda r: r.rx.number),
                Column(t("review.col.patient", lang), lambda r: r.patient_name),
                Column(t("review.col.doctor", lang), lambda r: r.doctor_name),
                Column(t("review.col.status", lang), lambda r: t(f"status.{r.rx.status}", lang)),
                Column(
                    t("review.col.time", lang),
                    lambda r: clinic_time.local(r.rx.written_at).strftime("%m-%d %H:%M"),
                ),
                Column(t("review.col.amount", lang), lambda r: r.rx.total_amount, align_right=True),
            ]
        )
        self.results = table_view(self.results_model, stretch=1)
        self.results.setSelectionMode(self.results.SelectionMode.ExtendedSelection)
        split.addWidget(self.results)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        self.header_label = QLabel()
        self.header_label.setProperty("role", "title")
        dl.addWidget(self.header_label)
        code_row = QHBoxLayout()
        code_row.addWidget(QLabel(t("dispense.code", lang)))
        self.code_edit = QLineEdit()
        self.code_edit.setMaxLength(12)
        self.code_edit.setFixedWidth(160)
        self.verify_button = QPushButton(t("dispense.verify", lang))
        self.skip_check = QCheckBox(t("dispense.code_skip", lang))
        self.code_label = QLabel()
        self.reissue_button = QPushButton(t("dispense.reissue", lang))
        for w in (self.code_edit, self.verify_button, self.skip_check, self.code_label):
            code_row.addWidget(w)
        code_row.addStretch(1)
        code_row.addWidget(self.reissue_button)
        dl.addLayout(code_row)
        pay_row = QHBoxLayout()
        self.payment_label = QLabel()
        self.pay_button = QPushButton(t("pay.button", lang))
        self.pay_button.setToolTip("F8")
        self.pay_button.setStyleSheet("font-weight: 600; padding: 4px 16px;")
        pay_row.addWidget(self.payment_label)
        pay_row.addWidget(self.pay_button)
        pay_row.addStretch(1)
        dl.addLayout(pay_row)
        self.lines_model: RowsModel[LinePlan] = RowsModel(
            [
                Column(
                    t("dispense.col.drug", lang), lambda p: f"{p.line.drug.generic_name}  {p.line.drug.spec}"
                ),
                Column(t("dispense.col.usage", lang), lambda p: plain_usage_zh(p.line, with_days=True)),
                Column(
                    t("dispense.col.prescribed", lang), lambda p: _qty(p.prescribed, p.line), align_right=True
                ),
                Column(
                    t("dispense.col.done", lang),
                    lambda p: _qty(p.given, p.line) if p.given else "",
                    align_right=True,
                ),
                Column(
                    t("dispense.col.now", lang),
                    lambda p: (
                        _qty(p.now, p.line)
                        + (
                            f"  {t('dispense.shortfall', lang, n=_qty(p.shortfall, p.line))}"
                            if p.shortfall
                            else ""
                        )
                    ),
                    colour=lambda p: theme.WARN if p.shortfall else None,
                    align_right=True,
                ),
                Column(
                    t("dispense.col.batches", lang),
                    lambda p: _batches_text(p) + (f"  [{p.override_reason}]" if p.override_reason else ""),
                ),
                Column(
                    t("dispense.col.stock", lang),
                    lambda p: packs_and_units(
                        p.usable,
                        pack_qty=p.line.drug.pack_qty,
                        pack_unit=p.line.drug.pack_unit,
                        min_unit=p.line.drug.min_unit,
                    ),
                    align_right=True,
                ),
            ]
        )
        self.lines = table_view(self.lines_model, stretch=0)
        dl.addWidget(self.lines, 1)
        line_tools = QHBoxLayout()
        line_tools.addWidget(QLabel(t("dispense.col.now", lang)))
        self.now_spin = QSpinBox()
        self.now_spin.setRange(0, 100000)
        line_tools.addWidget(self.now_spin)
        self.override_button = QPushButton(t("dispense.override", lang))
        line_tools.addWidget(self.override_button)
        line_tools.addStretch(1)
        self.dispense_button = QPushButton(t("dispense.go", lang))
        self.dispense_button.setToolTip("F9")
        self.dispense_button.setStyleSheet("font-weight: 600; padding: 4px 16px;")
        self.labels_button = QPushButton(t("dispense.labels", lang))
        self.receipt_button = QPushButton(t("dispense.receipt", lang))
        self.pick_button = QPushButton(t("dispense.pick_list", lang))
        for w in (self.dispense_button, self.labels_button, self.receipt_button, self.pick_button):
            line_tools.addWidget(w)
        dl.addLayout(line_tools)
        split.addWidget(detail)
        split.setSizes([220, 520])
        layout.addWidget(split, 1)

        self.search_button.clicked.connect(lambda: self.search(self.search_edit.text()))
        self.search_edit.returnPressed.connect(lambda: self.search(self.search_edit.text()))
        self.results.selectionModel().selectionChanged.connect(lambda *_: self._result_chosen())
        self.verify_button.clicked.connect(self.verify_code)
        self.reissue_button.clicked.connect(self.reissue_code)
        self.code_edit.returnPressed.connect(self.verify_code)
        self.pay_button.clicked.connect(self.take_payment)
        QShortcut(QKeySequence("F8"), self).activated.connect(self.take_payment)
        self.skip_check.toggled.connect(lambda _on: self._set_actions())
        self.lines.selectionModel().selectionChanged.connect(lambda *_: self._line_chosen())
        self.now_spin.editingFinished.connect(self._limit_changed)
        self.override_button.clicked.connect(self.override_batch)
        self.dispense_button.clicked.connect(self.dispense)
        self.labels_button.clicked.connect(lambda: self.print_last("drug_label"))
        self.receipt_button.clicked.connect(lambda: self.print_last("receipt"))
        self.pick_button.clicked.connect(self.print_pick_list)
        self.conflicts_button.clicked.connect(self.show_conflicts)
        QShortcut(QKeySequence("F9"), self).activated.connect(self.dispense)
        QShortcut(QKeySequence("Ctrl+F"), self).activated.connect(self.search_edit.setFocus)
        self.list_tabs.currentChanged.connect(lambda _i: self._show_rows())
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)
        state.sig_pharmacy_changed.connect(lambda _id: self._pharmacy_changed())
        self.conflicts: list[Any] = []
        self._show_plan(None)
        self._load_conflicts()
        self.load_worklist()

    # -- the worklist and the lists on screen -----------------------------------------------------------

    def _pharmacy_changed(self) -> None:
        self._reload_plan()
        self.load_worklist()

    def load_worklist(self) -> None:
        """待发药 of this pharmacy (reloaded whenever prescriptions, dispenses or payments change)."""
        pharmacy, campus = self.state.pharmacy_id or None, self.state.campus_id
        QueryOp(
            parent=self,
            op=lambda store: to_dispense(store, pharmacy, campus),
            success=self._worklist_loaded,
        ).run_in_background()

    def _worklist_loaded(self, rows: list[RxRow]) -> None:
        self.worklist_rows = rows
        self.list_tabs.setTabText(0, t("dispense.worklist", self.lang, n=len(rows)))
        if self.list_tabs.currentIndex() == 0:
            self._set_rows(rows)

    def _refresh_found(self) -> None:
        """The search results as they are now: a row dispensed here or elsewhere shows its new status."""
        ids = [r.id for r in self.found_rows]
        if not ids:
            return

        def refreshed(rows: list[RxRow]) -> None:
            if [r.id for r in self.found_rows] != ids:
                return  # a new search meanwhile
            self.found_rows = rows
            if self.list_tabs.currentIndex() == 1:
                self._set_rows(rows)

        QueryOp(parent=self, op=lambda store: refresh_rows(store, ids), success=refreshed).run_in_background()

    def _show_rows(self) -> None:
        self._set_rows(self.worklist_rows if self.list_tabs.currentIndex() == 0 else self.found_rows)

    def _set_rows(self, rows: list[RxRow]) -> None:
        """Show ``rows`` keeping the prescription chosen (its plan is not reloaded for a mere refresh)."""
        chosen = self.current_rx_id()
        self._refilling = True
        try:
            self.results_model.set_rows(rows)
            index = next((i for i, r in enumerate(rows) if r.id == chosen), None)
            if index is not None:
                self.results.selectRow(index)
        finally:
            self._refilling = False
        self._set_actions()

    # -- finding -------------------------------------------------------------------------------------

    def search(self, query: str) -> None:
        self.search_edit.setText(query)
        pharmacy, campus = self.state.pharmacy_id or None, self.state.campus_id
        QueryOp(
            parent=self,
            op=lambda store: find_for_dispensing(store, query, pharmacy, campus),
            success=lambda found: self._found(query, *found),
        ).run_in_background()

    def _found(self, query: str, rows: list[RxRow], code: str) -> None:
        self.found_rows = rows
        self.list_tabs.setTabText(1, t("dispense.found", self.lang, n=len(rows)))
        self.list_tabs.blockSignals(True)
        self.list_tabs.setCurrentIndex(1)
        self.list_tabs.blockSignals(False)
        self.results_model.set_rows(rows)
        self.sig_results.emit(rows)
        if not rows:
            self.state.message(t("dispense.none", self.lang, query=query), "warning")
            self._show_plan(None)
            return
        self.state.message(t("dispense.results", self.lang, n=len(rows)), "info")
        self.results.selectRow(0)
        if code and len(rows) == 1:
            self.search_edit.setText(rows[0].rx.number)  # the scanned code stays off the screen
            self.code_edit.setText(code)
            self.verify_code()

    def _result_chosen(self) -> None:
        row = selected_row(self.results)
        if row is None or self._refilling:
            return
        rx = self.results_model.row(row).rx
        if self.plan is None or self.plan.rx.id != rx.id:
            self.overrides, self.limits, self.verified_code = {}, {}, ""
            self.code_edit.clear()
            self.code_label.clear()
        self._reload_plan(rx.id)

    def _reload_plan(self, rx_id: str | None = None) -> None:
        rx_id = rx_id or (self.plan.rx.id if self.plan else None)
        pharmacy = self.state.pharmacy_id
        if not rx_id or not pharmacy:
            return
        today, overrides, limits = self.state.today(), dict(self.overrides), dict(self.limits)
        self._plan_seq += 1
        seq = self._plan_seq
        QueryOp(
            parent=self,
            op=lambda store: dispense_plan(store, rx_id, pharmacy, today, overrides, limits),
            success=lambda plan: self._show_plan(plan, seq),
        ).failure(self._failed).run_in_background()

    @property
    def dispensing(self) -> bool:
        """A dispense is being recorded, or the plan shown was read before it was."""
        return self._shown_seq <= self._fresh_after

    def _show_plan(self, plan: DispensePlan | None, seq: int | None = None) -> None:
        chosen = self.current_rx_id()
        if plan is not None and chosen is not None and plan.rx.id != chosen:
            return  # an answer for a prescription no longer chosen
        if plan is not None and (self.plan is None or self.plan.rx.id != plan.rx.id):
            self.last_dispense_id = plan.dispenses[-1].id if plan.dispenses else ""
        self.plan = plan
        self._shown_seq = seq if seq is not None else self._plan_seq
        self.views.shown(plan.rx.patient_id if plan is not None else None)
        self._show_payment(plan)
        if plan is None:
            self.header_label.setText("")
            self.lines_model.set_rows([])
        else:
            rx = plan.rx
            self.header_label.setText(
                f"{rx.number}  {plan.patient_name}  ·  {t('dispense.status', self.lang, status=t(f'status.{rx.status}', self.lang))}"
            )
            self.lines_model.set_rows(list(plan.lines))
        without_codes = plan is not None and not plan.codes_used and plan.pickup is None
        self.code_edit.setEnabled(not without_codes)
        self.skip_check.setVisible(not without_codes)
        if without_codes:
            self.code_label.setText(t("pickup.not_used", self.lang))
            self.code_label.setStyleSheet(f"color: {theme.MUTED};")
        elif self.code_label.text() == t("pickup.not_used", self.lang):
            self.code_label.clear()
        self._set_actions()
        self.sig_plan_shown.emit(plan)

    def _changed(self, changes: OpChanges, initiator: object) -> None:
        if OpContext.current_or_none() is None:
            return  # the app is shutting down: a late change notice has no database to read
        if changes.touches(*WATCHED):
            if self.plan is not None:
                self._reload_plan()
            self._load_conflicts()
            self.load_worklist()
            self._refresh_found()

    def _set_actions(self) -> None:
        plan = self.plan
        dispensable = plan is not None and plan.rx.status in ("approved", "partly_dispensed")
        code_ok = (
            (bool(self.verified_code) and plan is not None and self.verified_for == plan.rx.id)
            or self.skip_check.isChecked()
            or (plan is not None and plan.pickup is None)
        )
        has_now = plan is not None and any(line.now > 0 for line in plan.lines)
        unpaid = plan is not None and plan.awaiting_payment
        self.dispense_button.setEnabled(
            dispensable and code_ok and has_now and not unpaid and not self.dispensing
        )
        self.pay_button.setEnabled(unpaid and not self._paying)
        self.verify_button.setEnabled(self.current_rx_id() is not None and self.code_edit.isEnabled())
        self.reissue_button.setEnabled(plan is not None and plan.pickup is not None and dispensable)
        self.override_button.setEnabled(plan is not None and selected_row(self.lines) is not None)
        has_dispense = plan is not None and bool(plan.dispenses)
        self.labels_button.setEnabled(has_dispense)
        self.receipt_button.setEnabled(has_dispense)
        self.pick_button.setEnabled(self.results_model.rowCount() > 0)

    # -- pickup code ----------------------------------------------------------------------------------

    def current_rx_id(self) -> str | None:
        """The prescription chosen in the results (its plan may still be loading)."""
        row = selected_row(self.results)
        if row is not None:
            return self.results_model.row(row).rx.id
        return self.plan.rx.id if self.plan else None

    def verify_code(self) -> None:
        rx_id = self.current_rx_id()
        if rx_id is None:
            return
        entered = self.code_edit.text()
        now, lang = self.state.now(), self.lang
        CollectionOp(
            self,
            lambda store: actions.verify_pickup(store, rx_id, entered, now=now, lang=lang),
            changes=("pickup_code", OpChanges.OUTBOX),
        ).success(lambda check: self._verified(check, entered, rx_id)).failure(
            self._failed
        ).run_in_background()

    def _verified(self, check: actions.PickupCheck, entered: str, rx_id: str) -> None:
        if rx_id != self.current_rx_id():
            return  # the pharmacist moved on to another prescription meanwhile
        if check.ok:
            self.verified_code = entered
            self.verified_for = rx_id
            self.code_label.setText(t("dispense.code_ok", self.lang))
            self.code_label.setStyleSheet(f"color: {theme.OK}; font-weight: 600;")
        else:
            self.verified_code = ""
            self.code_label.setText(check.message)
            self.code_label.setStyleSheet(f"color: {theme.ERROR}; font-weight: 600;")
        self._set_actions()

    def reissue_code(self) -> None:
        plan = self.plan
        if plan is None:
            return
        reason = TextDialog.ask(
            self,
            lang=self.lang,
            title=t("dispense.reissue", self.lang).rstrip("…"),
            label=t("dispense.reissue_reason", self.lang),
            error=t("pickup.reason_required_short", self.lang),
        )
        if not reason:
            return
        rx_id, lang = plan.rx.id, self.lang
        CollectionOp(
            self,
            lambda store: actions.reissue_pickup(store, rx_id, reason, lang=lang),
            changes=("pickup_code", "rx", OpChanges.OUTBOX),
        ).success(lambda code: self._reissued(rx_id, code)).failure(self._failed).run_in_background()

    def _reissued(self, rx_id: str, code: str) -> None:
        self.state.message(t("dispense.reissued", self.lang, code=code), "ok")
        pickup_notice.hand_to_patient(self.state, self, rx_id, code)

    # -- payment (where the pharmacy takes it before the pickup code) -----------------------------------

    def _show_payment(self, plan: DispensePlan | None) -> None:
        rx = plan.rx if plan is not None else None
        shown = plan is not None and (plan.payment_first or (rx is not None and rx.paid_at is not None))
        self.payment_label.setVisible(shown)
        self.pay_button.setVisible(plan is not None and plan.awaiting_payment)
        if not shown or rx is None or plan is None:
            return
        if rx.paid_at is not None:
            method = t(f"pay.method.{rx.payment_method}", self.lang) if rx.payment_method else ""
            self.payment_label.setText(
                t("pay.paid", self.lang, amount=rx.amount_paid, method=method, ref=rx.payment_ref)
            )
            self.payment_label.setStyleSheet(f"color: {theme.OK}; font-weight: 600;")
        elif plan.awaiting_payment:
            self.payment_label.setText(t("pay.awaiting", self.lang, amount=rx.total_amount))
            self.payment_label.setStyleSheet(f"color: {theme.WARN}; font-weight: 600; font-size: 15px;")
        else:
            self.payment_label.setText("")

    def take_payment(self) -> None:
        """收费: ask the method, charge through the payment gateway (off the GUI thread), record ``rx.pay``;
        where the pharmacy takes payment first, the pickup code comes back and is shown."""
        plan = self.plan
        if plan is None or not plan.awaiting_payment or self._paying:
            return
        method = PaymentDialog.ask(
            self, lang=self.lang, number=plan.rx.number, amount=plan.rx.total_amount, methods=METHODS
        )
        if method is None:
            return
        self._paying = True
        self._set_actions()
        rx_id, lang, now = plan.rx.id, self.lang, self.state.now()
        gateway = self.state.payment_gateway

        def charge(request: Any) -> None:
            run_in_background(
                lambda: gateway.charge(request, now=now),
                on_success=record,
                on_failure=self._payment_failed,
                label="payment",
            )

        def record(confirmation: Any) -> None:
            CollectionOp(
                self,
                lambda store: actions.record_payment(store, rx_id, confirmation, lang=lang),
                changes=("rx", "pickup_code", OpChanges.OUTBOX),
            ).success(self._paid).failure(self._payment_failed).run_in_background()

        QueryOp(
            parent=self, op=lambda store: actions.payment_request(store, rx_id, method), success=charge
        ).failure(self._payment_failed).run_in_background()

    def _paid(self, outcome: actions.PaymentOutcome) -> None:
        self._paying = False
        lang = self.lang
        if outcome.repeated:
            self.state.message(
                t("pay.repeated", lang, number=outcome.number, ref=outcome.payment_ref), "warning"
            )
        elif outcome.pickup_code:
            self.state.message(
                t(
                    "pay.done_code",
                    lang,
                    number=outcome.number,
                    amount=outcome.amount,
                    code=outcome.pickup_code,
                ),
                "ok",
            )
            self.code_label.setText(t("pay.code_here", lang, code=outcome.pickup_code))
            self.code_label.setStyleSheet(f"color: {theme.OK}; font-weight: 600; font-size: 15px;")
            pickup_notice.hand_to_patient(self.state, self, outcome.rx_id, outcome.pickup_code)
        else:
            self.state.message(t("pay.done", lang, number=outcome.number, amount=outcome.amount), "ok")
        self.last_payment = outcome
        self._set_actions()
        self.sig_paid.emit(outcome)

    def _payment_failed(self, error: BaseException) -> None:
        self._paying = False
        self._set_actions()
        self._failed(error)

    # -- lines: quantity now and batch override ---------------------------------------------------------

    def _line_chosen(self) -> None:
        row = selected_row(self.lines)
        self._set_actions()
        if row is None or self.plan is None:
            return
        line = self.plan.lines[row]
        self.now_spin.blockSignals(True)
        self.now_spin.setMaximum(max(line.owed, 0))
        self.now_spin.setValue(line.now)
        self.now_spin.blockSignals(False)

    def set_quantity_now(self, index: int, quantity: int) -> None:
        """Hand out ``quantity`` minimum units of line ``index`` now (the rest stays owed)."""
        self.limits[index] = quantity
        self._reload_plan()

    def _limit_changed(self) -> None:
        row = selected_row(self.lines)
        if row is not None and self.plan is not None and self.now_spin.value() != self.plan.lines[row].now:
            self.set_quantity_now(row, self.now_spin.value())

    def override_batch(self) -> None:
        row = selected_row(self.lines)
        if row is None or self.plan is None:
            return
        chosen = BatchDialog.ask(
            self, lang=self.lang, batches=list(self.plan.lines[row].batches), today=self.state.today()
        )
        if chosen is not None:
            self.overrides[row] = chosen
            self._reload_plan()

    # -- dispensing and printing -------------------------------------------------------------------------

    def dispense(self) -> None:
        plan = self.plan
        if plan is None or not self.dispense_button.isEnabled() or self.dispensing:
            return
        self._fresh_after = float("inf")  # a second F9 before this one is recorded must not dispense twice
        self.dispense_button.setEnabled(False)
        handover = "delivery" if self.skip_check.isChecked() else "counter"
        pharmacy, now, lang, code = self.state.pharmacy_id, self.state.now(), self.lang, self.verified_code
        CollectionOp(
            self,
            lambda store: actions.dispense(
                store, plan, pharmacy_id=pharmacy, handover=handover, pickup_code=code, now=now, lang=lang
            ),
            changes=("dispense", "rx", "stock_batch", "stock_movement", "pickup_code", OpChanges.OUTBOX),
        ).success(self._dispensed).failure(self._dispense_failed).run_in_background()

    def _dispense_failed(self, error: BaseException) -> None:
        self._fresh_after = -1.0
        self._set_actions()
        self._failed(error)

    def _dispensed(self, outcome: actions.DispenseOutcome) -> None:
        self._fresh_after = float(self._plan_seq)  # only plans asked for from now on are current
        lang = self.lang
        partial = "" if outcome.complete else t("dispense.partial", lang)
        self.state.message(t("dispense.done", lang, number=outcome.rx_number, partial=partial), "ok")
        if outcome.warnings:
            self.state.message(t("dispense.warnings", lang, text="；".join(outcome.warnings)), "warning")
        self.last_dispense_id = outcome.dispense_id
        self.overrides, self.limits, self.verified_code = {}, {}, ""
        self.code_label.clear()
        self.sig_dispensed.emit(outcome)
        self.print_last("drug_label")
        self.print_last("receipt")

    def print_last(self, kind: str) -> None:
        """Labels or the receipt of the latest dispense of the prescription shown."""
        plan = self.plan
        if plan is None:
            return
        rx_id, dispense_id = plan.rx.id, self.last_dispense_id
        pharmacy_id = self.state.pharmacy_id
        now = self.state.now()
        staff = self.state.staff
        setting = self.state.print_queue.setting_for(kind)

        def render(store: Any) -> tuple[str, bytes, str, str, bool]:
            from shared.domain.entities import Dispense, Patient, Prescription

            rx = store.get(Prescription, rx_id)
            found = store.get(Dispense, dispense_id) if dispense_id else None
            if found is None or found.rx_id != rx_id:
                done = sorted(store.find(Dispense, rx_id=rx_id), key=lambda d: d.dispensed_at)
                found = done[-1] if done else None
            if rx is None or found is None:
                raise SuiteError(t("dispense.nothing", self.lang))
            patient = store.get(Patient, rx.patient_id)
            name = patient.name if patient else ""
            handed = handed_out(found)
            pharmacy = pharmacy_name(store, pharmacy_id)
            # a second print of this dispense's labels or receipt (here or on another PC) is a reprint
            reprint = actions.printed_before(store, kind, found.id)
            if kind == "drug_label":
                labels = labels_for(rx, name, handed, pharmacy=pharmacy, on=now.date())
                data = labels_pdf(labels, size=setting.paper or "70x50", reprint=reprint)
                return "pdf", data, rx.number, found.id, reprint
            done = sorted(
                (d for d in store.find(Dispense, rx_id=rx_id) if not d.voided), key=lambda d: d.dispensed_at
            )
            part = next((i + 1 for i, d in enumerate(done) if d.id == found.id), 1)
            receipt = receipt_for(
                rx,
                name,
                handed,
                hospital=hospital_name(store, rx),
                pharmacy=pharmacy,
                pharmacist=staff.name if staff else "",
                now=now,
                reprint=reprint,
                part=part,
            )
            return (
                "escpos",
                receipt_bytes(receipt, paper=setting.paper or "80mm", encoding=setting.encoding),
                rx.number,
                found.id,
                reprint,
            )

        def rendered(result: tuple[str, bytes, str, str, bool]) -> None:
            content, data, number, ref_id, reprint = result
            self.state.print_document(
                kind,
                number,
                content,
                data,
                ref_id=ref_id,
                reprint=reprint,
                on_done=lambda job: self.sig_printed.emit(kind, job.state),
            )

        QueryOp(parent=self, op=render, success=rendered).failure(self._failed).run_in_background()

    def print_pick_list(self) -> None:
        """One A4 pick list for the chosen results (all results when none is chosen), FEFO batches."""
        chosen = sorted({i.row() for i in self.results.selectionModel().selectedRows()}) or list(
            range(self.results_model.rowCount())
        )
        rx_ids = [self.results_model.row(i).rx.id for i in chosen]
        pharmacy_id, today, now = self.state.pharmacy_id, self.state.today(), self.state.now()
        staff = self.state.staff

        def render(store: Any) -> bytes:
            items = []
            for rx_id in rx_ids:
                plan = dispense_plan(store, rx_id, pharmacy_id, today)
                if plan is None or plan.rx.status not in ("approved", "partly_dispensed"):
                    continue
                handed = [h for line in plan.lines for h in line.allocation]
                items.extend(pick_items(plan.rx, plan.patient_name, handed))
            if not items:
                raise SuiteError(t("dispense.nothing", self.lang))
            return pick_list_pdf(
                items, pharmacy=pharmacy_name(store, pharmacy_id), by=staff.name if staff else "", now=now
            )

        pick_list_id = new_id()  # the printed list's own id: its print record points at it
        QueryOp(
            parent=self,
            op=render,
            success=lambda data: self.state.print_document(
                "pick_list",
                f"{len(rx_ids)}",
                "pdf",
                data,
                ref_id=pick_list_id,
                on_done=lambda job: self.sig_printed.emit("pick_list", job.state),
            ),
        ).failure(self._failed).run_in_background()

    # -- conflicts -----------------------------------------------------------------------------------

    def _load_conflicts(self) -> None:
        pharmacy = self.state.pharmacy_id or None
        QueryOp(
            parent=self, op=lambda store: open_conflicts(store, pharmacy), success=self._conflicts_loaded
        ).run_in_background()

    def _conflicts_loaded(self, found: list[Any]) -> None:
        self.conflicts = found
        self.conflicts_button.setText(t("dispense.conflicts", self.lang, n=len(found)))
        self.conflicts_button.setProperty("role", "attention" if found else "")
        self.conflicts_button.setStyleSheet(f"color: {theme.ERROR}; font-weight: 600;" if found else "")

    def show_conflicts(self) -> None:
        answer = ConflictsDialog.ask(self, lang=self.lang, conflicts=self.conflicts)
        if answer is None:
            return
        dispense_id, note = answer
        lang = self.lang
        CollectionOp(
            self,
            lambda store: store.record(
                "dispense.resolve", {"dispense_id": dispense_id, "note": note}, lang=lang
            ),
            changes=("dispense", OpChanges.OUTBOX),
        ).success(lambda _e: self.state.message(t("dispense.resolved", lang), "ok")).failure(
            self._failed
        ).run_in_background()

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, SuiteError):
            self.state.message(error.message, "error")
        else:
            self.state.runtime.bus.report_error(error)


def conflict_text(dispense: Any, lang: str) -> str:
    """The conflicts of one dispense in words (the messages the server used for its warnings)."""
    names = {line.drug_id: line.drug_name for line in dispense.lines}
    return "；".join(
        tr(
            f"pharmacy.conflict.{c.kind}",
            lang,
            drug=names.get(c.drug_id, c.drug_id),
            batch_no=c.batch_no,
            detail=c.detail,
        )
        for c in dispense.conflicts
    )


class ConflictsDialog(QDialog):
    """Dispenses that met a changed world (cancelled prescription, negative or expired stock, a count after
    them …): each stands; the pharmacist checks it and closes it with a note (``dispense.resolve``)."""

    def __init__(self, parent: QWidget | None, *, lang: str, conflicts: list[Any]) -> None:
        super().__init__(parent)
        self.lang = lang
        self.setWindowTitle(t("dispense.conflicts_title", lang))
        layout = QVBoxLayout(self)
        self.model: RowsModel[Any] = RowsModel(
            [
                Column(t("review.col.number", lang), lambda d: d.rx_number),
                Column(
                    t("dispense.col.time", lang),
                    lambda d: clinic_time.local(d.dispensed_at).strftime("%m-%d %H:%M"),
                ),
                Column(t("stock.col.alert", lang), lambda d: conflict_text(d, lang)),
            ]
        )
        self.model.set_rows(conflicts)
        self.table = table_view(self.model, stretch=2)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText(t("dispense.resolve_note", lang))
        self.resolve_button = QPushButton(t("dispense.resolve", lang))
        row.addWidget(self.note_edit, 1)
        row.addWidget(self.resolve_button)
        layout.addLayout(row)
        self.error = error_line()
        layout.addWidget(self.error)
        box = close_box(self, lang)
        layout.addWidget(box)
        self.resolve_button.clicked.connect(self.accept)
        if conflicts:
            self.table.selectRow(0)
        self.resize(860, 380)

    def value(self) -> tuple[str, str] | None:
        row = selected_row(self.table)
        if row is None:
            return None
        return self.model.row(row).id, self.note_edit.text().strip()

    def accept(self) -> None:
        value = self.value()
        if value is None or not value[1]:
            self.error.setText(t("dispense.resolve_need_note", self.lang))
            return
        super().accept()

    @classmethod
    def ask(cls, parent: QWidget | None, *, lang: str, conflicts: list[Any]) -> tuple[str, str] | None:
        dialog = cls(parent, lang=lang, conflicts=conflicts)
        return dialog.value() if dialog.exec() == QDialog.DialogCode.Accepted else None
