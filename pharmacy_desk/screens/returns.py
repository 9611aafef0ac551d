"""Refunds and returns (request, review; returned stock goes back to its batch) and home delivery (address,
a confirmation step, the courier booked through its adapter, waybill printed, status)."""

from __future__ import annotations

from typing import Any, Literal

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from pharmacy_desk import actions
from pharmacy_desk.dialogs import TextDialog, finish_form
from pharmacy_desk.queries import (
    DeliveryRow,
    RefundableLine,
    RefundRow,
    ReturnsData,
    RxRow,
    find_for_dispensing,
    refundable_lines,
    returns_data,
)
from pharmacy_desk.texts import t
from shared import clinic_time
from shared.domain.delivery import Address, StubCourier, address_problems
from shared.domain.masking import mask_phone
from shared.domain.mutations.delivery import delivery_order
from shared.domain.pharmacy import REFUND_REASONS, reason_text
from shared.errors import SuiteError
from shared.gui.ops import CollectionOp, OpChanges, QueryOp
from shared.gui.widgets import Column, ReloadWhenShown, RowsModel, selected_row, table_view
from shared.gui.workers import run_in_background
from shared.printing.waybill import WaybillPrint, render_waybill

WATCHED = ("refund", "delivery", "dispense", "rx")


class RefundDialog(QDialog):
    """How much of each dispensed line comes back, whether it goes back on the shelf, and why."""

    def __init__(self, parent: QWidget | None, *, lang: str, lines: list[RefundableLine]) -> None:
        super().__init__(parent)
        self.lang = lang
        self.setWindowTitle(t("refund.title", lang))
        form = QFormLayout(self)
        self.rows: list[tuple[RefundableLine, QSpinBox, QCheckBox]] = []
        for line in lines:
            spin = QSpinBox()
            spin.setRange(0, line.refundable)
            spin.setSuffix(line.unit)
            restock = QCheckBox(t("refund.restock", lang))
            restock.setChecked(True)
            row = QHBoxLayout()
            row.addWidget(spin)
            row.addWidget(restock)
            form.addRow(t("refund.line", lang, name=line.name, given=line.dispensed, unit=line.unit), row)
            self.rows.append((line, spin, restock))
        self.reason_combo = QComboBox()
        self.reason_combo.addItem("", "")
        for code in REFUND_REASONS:
            self.reason_combo.addItem(reason_text("refund_reason", code, lang), code)
        form.addRow(t("refund.reason", lang), self.reason_combo)
        self.text_edit = QLineEdit()
        form.addRow(t("review.reason_text", lang), self.text_edit)
        self.error = finish_form(self, form, lang)

    def value(self) -> tuple[str, str, list[tuple[int, int, bool]]]:
        lines = [
            (line.line_no, spin.value(), restock.isChecked())
            for line, spin, restock in self.rows
            if spin.value() > 0
        ]
        return str(self.reason_combo.currentData() or ""), self.text_edit.text().strip(), lines

    def accept(self) -> None:
        code, text, lines = self.value()
        if not code or (code == "other" and not text):
            self.error.setText(t("refund.need_reason", self.lang))
            return
        if not lines:
            self.error.setText(t("refund.quantity", self.lang))
            return
        super().accept()

    @classmethod
    def ask(
        cls, parent: QWidget | None, *, lang: str, lines: list[RefundableLine]
    ) -> tuple[str, str, list[tuple[int, int, bool]]] | None:
        dialog = cls(parent, lang=lang, lines=lines)
        return dialog.value() if dialog.exec() == QDialog.DialogCode.Accepted else None


def confirm_delivery(parent: QWidget | None, *, lang: str, text: str) -> bool:
    """The confirmation step before the courier is booked (replaced in tests)."""
    answer = QMessageBox.question(parent, t("delivery.title", lang), text)
    return answer == QMessageBox.StandardButton.Yes


class ReturnsScreen(ReloadWhenShown):
    sig_loaded = Signal(object)  # ReturnsData
    sig_delivery_placed = Signal(str)  # waybill number
    sig_refund_recorded = Signal(str)  # mutation name
    sig_delivery_tracked = Signal(str)  # the delivery's status after a tracking refresh or a cancel

    def __init__(self, state: Any, *, courier: Any | None = None) -> None:
        super().__init__()
        self.state = state
        lang = self.lang = state.lang
        self.courier = courier or StubCourier()
        self.data = ReturnsData([], [])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        search = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(t("dispense.find", lang))
        self.search_button = QPushButton(t("dispense.search", lang))
        search.addWidget(self.search_edit, 1)
        search.addWidget(self.search_button)
        layout.addLayout(search)
        self.rx_model: RowsModel[RxRow] = RowsModel(
            [
                Column(t("review.col.number", lang), lambda r: r.rx.number),
                Column(t("review.col.patient", lang), lambda r: r.patient_name),
                Column(t("review.col.status", lang), lambda r: t(f"status.{r.rx.status}", lang)),
                Column(t("review.col.amount", lang), lambda r: r.rx.total_amount, align_right=True),
            ]
        )
        self.rx_table = table_view(self.rx_model, stretch=1)
        self.rx_table.setMaximumHeight(150)
        layout.addWidget(self.rx_table)

        split = QSplitter(Qt.Orientation.Horizontal)
        refunds_box = QGroupBox(t("refund.title", lang))
        rl = QVBoxLayout(refunds_box)
        self.refund_model: RowsModel[RefundRow] = RowsModel(
            [
                Column(t("review.col.number", lang), lambda r: r.rx_number),
                Column(t("review.col.patient", lang), lambda r: r.patient_name),
                Column(
                    t("refund.reason", lang),
                    lambda r: (
                        reason_text("refund_reason", r.refund.reason_code, lang)
                        + (f"：{r.refund.reason}" if r.refund.reason else "")
                    ),
                ),
                Column(t("review.col.amount", lang), lambda r: f"{r.refund.amount:.2f}", align_right=True),
                Column(
                    t("refund.col.status", lang),
                    lambda r: t(f"refund.status.{r.refund.status}", lang),
                ),
            ]
        )
        self.refund_table = table_view(self.refund_model, stretch=2)
        rl.addWidget(self.refund_table, 1)
        refund_buttons = QHBoxLayout()
        self.request_button = QPushButton(t("refund.request", lang))
        self.approve_button = QPushButton(t("refund.approve", lang))
        self.deny_button = QPushButton(t("refund.deny", lang))
        for b in (self.request_button, self.approve_button, self.deny_button):
            refund_buttons.addWidget(b)
        refund_buttons.addStretch(1)
        rl.addLayout(refund_buttons)
        split.addWidget(refunds_box)

        delivery_box = QGroupBox(t("delivery.title", lang))
        dl = QVBoxLayout(delivery_box)
        self.delivery_model: RowsModel[DeliveryRow] = RowsModel(
            [
                Column(t("delivery.col.rx", lang), lambda r: r.rx_number),
                Column(
                    t("delivery.col.receiver", lang),
                    lambda r: (
                        f"{_addr(r.delivery.receiver, 'name')} {mask_phone(_addr(r.delivery.receiver, 'mobile'))}"
                    ),
                ),
                Column(
                    t("delivery.col.address", lang),
                    lambda r: "".join(
                        _addr(r.delivery.receiver, k) for k in ("province", "city", "district", "detail")
                    ),
                ),
                Column(t("delivery.col.waybill", lang), lambda r: r.delivery.waybill_no),
                Column(
                    t("delivery.col.status", lang),
                    lambda r: t(f"delivery.status.{r.delivery.status}", lang),
                ),
            ]
        )
        self.delivery_table = table_view(self.delivery_model, stretch=2)
        dl.addWidget(self.delivery_table, 1)
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.mobile_edit = QLineEdit()
        address_row = QHBoxLayout()
        self.province_edit = QLineEdit()
        self.city_edit = QLineEdit()
        self.district_edit = QLineEdit()
        for edit, hint in (
            (self.province_edit, "province"),
            (self.city_edit, "city"),
            (self.district_edit, "district"),
        ):
            edit.setPlaceholderText(t(f"delivery.hint.{hint}", lang))
            address_row.addWidget(edit)
        self.detail_edit = QLineEdit()
        self.detail_edit.setPlaceholderText(t("delivery.hint.detail", lang))
        form.addRow(t("delivery.receiver", lang), self.name_edit)
        form.addRow(t("delivery.mobile", lang), self.mobile_edit)
        form.addRow(t("delivery.region", lang), address_row)
        form.addRow(t("delivery.detail", lang), self.detail_edit)
        dl.addLayout(form)
        self.address_error = QLabel()
        self.address_error.setProperty("role", "error")
        self.address_error.setWordWrap(True)
        dl.addWidget(self.address_error)
        delivery_buttons = QHBoxLayout()
        self.confirm_button = QPushButton(t("delivery.confirm", lang))
        self.ship_button = QPushButton(t("delivery.ship", lang))
        self.size_combo = QComboBox()
        self.size_combo.addItem("100×150 mm", "100x150")
        self.size_combo.addItem("76×130 mm", "76x130")
        self.waybill_button = QPushButton(t("delivery.print", lang))
        for w in (
            self.confirm_button,
            self.ship_button,
            QLabel(t("delivery.size", lang)),
            self.size_combo,
            self.waybill_button,
        ):
            delivery_buttons.addWidget(w)
        delivery_buttons.addStretch(1)
        dl.addLayout(delivery_buttons)
        tracking_buttons = QHBoxLayout()
        self.track_button = QPushButton(t("delivery.track", lang))
        self.cancel_button = QPushButton(t("delivery.cancel", lang))
        self.tracking_label = QLabel()
        self.tracking_label.setWordWrap(True)
        tracking_buttons.addWidget(self.track_button)
        tracking_buttons.addWidget(self.cancel_button)
        tracking_buttons.addWidget(self.tracking_label, 1)
        dl.addLayout(tracking_buttons)
        split.addWidget(delivery_box)
        split.setSizes([560, 760])
        layout.addWidget(split, 1)

        self.search_button.clicked.connect(lambda: self.search(self.search_edit.text()))
        self.search_edit.returnPressed.connect(lambda: self.search(self.search_edit.text()))
        self.request_button.clicked.connect(self.request_refund)
        self.approve_button.clicked.connect(lambda: self.review_refund("approve"))
        self.deny_button.clicked.connect(lambda: self.review_refund("reject"))
        self.confirm_button.clicked.connect(self.create_delivery)
        self.ship_button.clicked.connect(self.mark_shipped)
        self.waybill_button.clicked.connect(self.print_waybill)
        self.track_button.clicked.connect(self.refresh_tracking)
        self.cancel_button.clicked.connect(self.cancel_delivery)
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)
        state.sig_pharmacy_changed.connect(lambda _id: self.reload())
        self.reload()

    # -- loading ---------------------------------------------------------------------------------------

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches(*WATCHED):
            self.reload_when_shown()

    def reload(self) -> None:
        pharmacy = self.state.pharmacy_id
        if not pharmacy:
            return
        QueryOp(
            parent=self, op=lambda store: returns_data(store, pharmacy), success=self._loaded
        ).run_in_background()

    def _loaded(self, data: ReturnsData) -> None:
        self.data = data
        self.refund_model.set_rows(data.refunds)
        self.delivery_model.set_rows(data.deliveries)
        self.sig_loaded.emit(data)

    def search(self, query: str) -> None:
        self.search_edit.setText(query)
        pharmacy, campus = self.state.pharmacy_id or None, self.state.campus_id
        QueryOp(
            parent=self,
            op=lambda store: find_for_dispensing(store, query, pharmacy, campus)[0],
            success=self._found,
        ).run_in_background()

    def _found(self, rows: list[RxRow]) -> None:
        self.rx_model.set_rows(rows)
        if rows:
            self.rx_table.selectRow(0)

    def selected_rx(self) -> RxRow | None:
        row = selected_row(self.rx_table)
        return self.rx_model.row(row) if row is not None else None

    # -- refunds ------------------------------------------------------------------------------------------

    def request_refund(self) -> None:
        chosen = self.selected_rx()
        if chosen is None:
            return
        rx_id = chosen.rx.id
        QueryOp(
            parent=self,
            op=lambda store: refundable_lines(store, rx_id),
            success=lambda lines: self._refund_with(rx_id, lines),
        ).run_in_background()

    def _refund_with(self, rx_id: str, lines: list[RefundableLine]) -> None:
        if not any(line.refundable for line in lines):
            self.state.message(t("dispense.nothing", self.lang), "warning")
            return
        answer = RefundDialog.ask(self, lang=self.lang, lines=lines)
        if answer is None:
            return
        code, text, chosen = answer
        lang = self.lang
        self._record(
            "rx.refund_request",
            lambda store: actions.request_refund(
                store, rx_id=rx_id, reason_code=code, reason=text, lines=chosen, lang=lang
            ),
            t("refund.requested", lang),
        )

    def review_refund(self, decision: str) -> None:
        row = selected_row(self.refund_table)
        if row is None:
            return
        refund = self.refund_model.row(row).refund
        if refund.status != "requested":
            return
        now, lang = self.state.now(), self.lang
        self._record(
            "rx.refund_review",
            lambda store: actions.review_refund(
                store, refund_id=refund.id, decision=decision, note="", now=now, lang=lang
            ),
            t("refund.reviewed", lang),
        )

    def _record(self, name: str, op: Any, done_text: str) -> None:
        def done(_entry: Any) -> None:
            self.state.message(done_text, "ok")
            self.sig_refund_recorded.emit(name)

        CollectionOp(
            self, op, changes=("refund", "rx", "stock_batch", "stock_movement", "delivery", OpChanges.OUTBOX)
        ).success(done).failure(self._failed).run_in_background()

    # -- delivery ----------------------------------------------------------------------------------------

    def receiver(self) -> dict[str, str]:
        return {
            "name": self.name_edit.text().strip(),
            "mobile": self.mobile_edit.text().strip(),
            "province": self.province_edit.text().strip(),
            "city": self.city_edit.text().strip(),
            "district": self.district_edit.text().strip(),
            "detail": self.detail_edit.text().strip(),
        }

    def create_delivery(self) -> None:
        chosen = self.selected_rx()
        if chosen is None:
            return
        receiver = self.receiver()
        problems = address_problems(Address(**receiver))
        if problems:
            self.address_error.setText("；".join(p.message for p in problems))
            return
        self.address_error.clear()
        count = sum(int(line.get("quantity", 0)) for line in chosen.rx.lines)
        text = t(
            "delivery.confirm_text",
            self.lang,
            name=receiver["name"],
            phone=mask_phone(receiver["mobile"]),
            address=f"{receiver['province']}{receiver['city']}{receiver['district']}{receiver['detail']}",
            count=count,
        )
        if not confirm_delivery(self, lang=self.lang, text=text):
            return
        rx_id, pharmacy, lang = chosen.rx.id, self.state.pharmacy_id, self.lang
        CollectionOp(
            self,
            lambda store: actions.create_delivery(
                store,
                rx_id=rx_id,
                pharmacy_id=pharmacy,
                receiver=receiver,
                dispense_id=_latest_dispense(store, rx_id),
                lang=lang,
            ),
            changes=("delivery", OpChanges.OUTBOX),
        ).success(self._book_courier).failure(self._failed).run_in_background()

    def _book_courier(self, delivery_id: str) -> None:
        """Book the courier off the GUI thread (an adapter call), then record the waybill."""
        courier = self.courier
        lang = self.lang

        def load(store: Any) -> Any:
            from shared.domain.entities import Delivery

            return store.get(Delivery, delivery_id)

        def booked(booking: Any) -> None:
            now = self.state.now()
            CollectionOp(
                self,
                lambda store: actions.ship_delivery(
                    store,
                    delivery_id=delivery_id,
                    courier=booking.courier,
                    waybill_no=booking.waybill_no,
                    sort_code=booking.sort_code,
                    handed_over=False,
                    now=now,
                    lang=lang,
                ),
                changes=("delivery", OpChanges.OUTBOX),
            ).success(lambda _e: self._placed(booking.waybill_no)).failure(self._failed).run_in_background()

        def with_row(row: Any) -> None:
            order = delivery_order(row)
            run_in_background(
                lambda: courier.create_order(order),
                on_success=booked,
                on_failure=self._failed,
                label="courier",
            )

        QueryOp(parent=self, op=load, success=with_row).run_in_background()

    def _placed(self, waybill: str) -> None:
        self.state.message(t("delivery.created", self.lang, waybill=waybill), "ok")
        self.sig_delivery_placed.emit(waybill)

    def selected_delivery(self) -> Any | None:
        row = selected_row(self.delivery_table)
        if row is None:
            return self.delivery_model.row(0).delivery if self.delivery_model.rowCount() else None
        return self.delivery_model.row(row).delivery

    def mark_shipped(self) -> None:
        delivery = self.selected_delivery()
        if delivery is None or not delivery.waybill_no:
            return
        now, lang = self.state.now(), self.lang
        CollectionOp(
            self,
            lambda store: actions.ship_delivery(
                store,
                delivery_id=delivery.id,
                courier=delivery.courier or "stub",
                waybill_no=delivery.waybill_no,
                sort_code=delivery.sort_code,
                handed_over=True,
                now=now,
                lang=lang,
            ),
            changes=("delivery", OpChanges.OUTBOX),
        ).success(lambda _e: self.state.message(t("delivery.shipped", lang), "ok")).failure(
            self._failed
        ).run_in_background()

    def print_waybill(self, size: Literal["100x150", "76x130"] | None = None) -> None:
        delivery = self.selected_delivery()
        if delivery is None or not delivery.waybill_no:
            return
        chosen: Literal["100x150", "76x130"] = size or (
            "76x130" if self.size_combo.currentData() == "76x130" else "100x150"
        )
        now = self.state.now()
        order = delivery_order(delivery)
        doc = WaybillPrint.from_order(
            order,
            courier_name=t("delivery.stub_courier", self.lang)
            if delivery.courier in ("stub", "")
            else delivery.courier,
            sort_code=delivery.sort_code,
            printed_at=now,
            order_ref=delivery.id[-8:],
        )

        def render(store: Any) -> tuple[bytes, bool]:
            reprint = actions.printed_before(store, "waybill", delivery.id)
            return render_waybill(doc, size=chosen, reprint=reprint), reprint

        def rendered(result: tuple[bytes, bool]) -> None:
            data, reprint = result
            self.state.print_document(
                "waybill", delivery.waybill_no, "pdf", data, ref_id=delivery.id, reprint=reprint
            )

        QueryOp(parent=self, op=render, success=rendered).failure(self._failed).run_in_background()

    # -- tracking and cancelling ----------------------------------------------------------------------

    def refresh_tracking(self) -> None:
        """Ask the courier (off the GUI thread) where the parcel is, then record it (``delivery.track``)."""
        delivery = self.selected_delivery()
        if delivery is None or not delivery.waybill_no:
            return
        courier, lang, waybill = self.courier, self.lang, delivery.waybill_no

        def record(events: list[Any]) -> None:
            self.tracking_label.setText(_tracking_text(events, lang))
            CollectionOp(
                self,
                lambda store: actions.track_delivery(
                    store, delivery_id=delivery.id, events=events, lang=lang
                ),
                changes=("delivery", OpChanges.OUTBOX),
            ).success(lambda status: self._tracked(waybill, status or delivery.status)).failure(
                self._failed
            ).run_in_background()

        run_in_background(
            lambda: courier.track(waybill), on_success=record, on_failure=self._failed, label="courier"
        )

    def _tracked(self, waybill: str, status: str) -> None:
        text = t(
            "delivery.tracked", self.lang, waybill=waybill, status=t(f"delivery.status.{status}", self.lang)
        )
        self.state.message(text, "ok")
        self.sig_delivery_tracked.emit(status)

    def cancel_delivery(self) -> None:
        """Cancel with a reason: the courier first (a booked waybill is called off), then ``delivery.cancel``.

        The row is read again first (the table may be a moment behind a booking). Once the parcel has
        shipped neither the courier nor the rule allows it, and the message line says so."""
        shown = self.selected_delivery()
        if shown is None:
            return
        lang = self.lang
        if not self._cancellable(shown):
            return
        reason = TextDialog.ask(
            self,
            lang=lang,
            title=t("delivery.cancel_title", lang),
            label=t("delivery.cancel_reason", lang),
            error=t("delivery.cancel_reason_needed", lang),
        )
        if not reason:
            return
        courier, delivery_id = self.courier, shown.id

        def record(_done: object = None) -> None:
            CollectionOp(
                self,
                lambda store: actions.cancel_delivery(
                    store, delivery_id=delivery_id, reason=reason, lang=lang
                ),
                changes=("delivery", OpChanges.OUTBOX),
            ).success(lambda _e: self._cancelled()).failure(self._failed).run_in_background()

        def with_row(row: Any) -> None:
            if row is None or not self._cancellable(row):
                return
            if row.waybill_no:
                run_in_background(
                    lambda: courier.cancel(row.waybill_no),
                    on_success=record,
                    on_failure=self._failed,
                    label="courier",
                )
            else:
                record()

        QueryOp(parent=self, op=lambda store: _delivery(store, delivery_id), success=with_row).failure(
            self._failed
        ).run_in_background()

    def _cancellable(self, delivery: Any) -> bool:
        if delivery.status in ("draft", "confirmed", "placed"):
            return True
        status = t(f"delivery.status.{delivery.status}", self.lang)
        self.state.message(t("delivery.cannot_cancel", self.lang, status=status), "warning")
        return False

    def _cancelled(self) -> None:
        self.state.message(t("delivery.cancelled", self.lang), "ok")
        self.sig_delivery_tracked.emit("cancelled")

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, SuiteError):
            self.state.message(error.message, "error")
        else:
            self.state.runtime.bus.report_error(error)


def _addr(value: Any, key: str) -> str:
    """A field of a stored address (a mapping in the row; a model in older rows)."""
    if isinstance(value, dict):
        return str(value.get(key, ""))
    return str(getattr(value, key, ""))


def _delivery(store: Any, delivery_id: str) -> Any | None:
    from shared.domain.entities import Delivery

    return store.get(Delivery, delivery_id)


def _latest_dispense(store: Any, rx_id: str) -> str | None:
    from shared.domain.entities import Dispense

    found = sorted(store.find(Dispense, rx_id=rx_id), key=lambda d: d.dispensed_at)
    return found[-1].id if found else None


def _tracking_text(events: list[Any], lang: str) -> str:
    """The courier's latest event in one line (time, place, text)."""
    if not events:
        return t("delivery.no_tracking", lang)
    last = max(events, key=lambda e: e.at)
    when = (
        clinic_time.local(last.at).strftime("%m-%d %H:%M")
        if last.at.tzinfo
        else last.at.strftime("%m-%d %H:%M")
    )
    return " ".join(p for p in (when, last.place, last.text or last.status) if p)
