"""Stock of the pharmacy served: on hand per drug and batch (from the ledger's batch balances), expiry and
low-stock alerts, negative stock, receive / move / stocktake, the dispensing and sales list for a date
range with totals, and exports (xlsx, PDF)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pharmacy_desk import actions
from pharmacy_desk.dialogs import finish_form, ok_cancel
from pharmacy_desk.queries import BatchRow, LowRow, overview, pharmacies, sales, stock_screen
from pharmacy_desk.queries import StockScreen as StockData
from pharmacy_desk.texts import t
from shared.domain.entities import Drug, Pharmacy
from shared.domain.pharmacy import MOVE_KINDS, reason_text
from shared.domain.pharmacy_queries import SalesLine, SalesReport
from shared.domain.units import packs_and_units
from shared.errors import SuiteError
from shared.gui import theme
from shared.gui.ops import CollectionOp, OpChanges, QueryOp
from shared.gui.widgets import Column, ReloadWhenShown, RowsModel, selected_row, table_view
from shared.printing.stock_report import sales_summary

WATCHED = ("stock_batch", "stock_movement", "stocktake", "stock_minimum", "dispense", "refund")


def _alert_colour(row: BatchRow) -> str | None:
    return {"expired": theme.ERROR, "negative": theme.ERROR, "expiring": theme.WARN}.get(row.alert)


def _quantity_text(row: BatchRow) -> str:
    """ "51 盒（1224 粒）": whole packs as doctors and the counter count them, the ledger's smallest unit
    alongside (``shared.domain.units``)."""
    drug = row.drug
    if drug is None:
        return str(row.batch.quantity)
    return _units(row.batch.quantity, drug)


def _units(quantity: int, drug: Any) -> str:
    return packs_and_units(quantity, pack_qty=drug.pack_qty, pack_unit=drug.pack_unit, min_unit=drug.min_unit)


def _date(value: QDate) -> dt.date:
    return dt.date(value.year(), value.month(), value.day())


class ReceiveDialog(QDialog):
    """One batch received from a supplier: drug, batch, expiry, quantity (packs or smallest units), price."""

    def __init__(self, parent: QWidget | None, *, lang: str, drugs: list[Drug], today: dt.date) -> None:
        super().__init__(parent)
        self.lang = lang
        self.setWindowTitle(t("stock.receive", lang).replace("(&I)…", "").replace("&", "").rstrip("…"))
        form = QFormLayout(self)
        self.drug_combo = QComboBox()
        self.drug_combo.setEditable(True)
        for drug in drugs:
            self.drug_combo.addItem(f"{drug.code}  {drug.generic_name}  {drug.spec}", drug.id)
        form.addRow(t("stock.drug", lang), self.drug_combo)
        self.supplier_edit = QLineEdit()
        form.addRow(t("stock.supplier", lang), self.supplier_edit)
        self.batch_edit = QLineEdit()
        form.addRow(t("stock.batch", lang), self.batch_edit)
        self.expiry_edit = QDateEdit(QDate(today.year + 2, today.month, 1))
        self.expiry_edit.setCalendarPopup(True)
        self.expiry_edit.setDisplayFormat("yyyy-MM-dd")
        form.addRow(t("stock.expiry", lang), self.expiry_edit)
        self.quantity_spin = QSpinBox()
        self.quantity_spin.setRange(1, 1_000_000)
        self.unit_combo = QComboBox()
        self.unit_combo.addItem(t("stock.unit.pack", lang), "pack")
        self.unit_combo.addItem(t("stock.unit.min", lang), "min")
        row = QHBoxLayout()
        row.addWidget(self.quantity_spin)
        row.addWidget(self.unit_combo)
        form.addRow(t("stock.quantity", lang), row)
        self.price_spin = QDoubleSpinBox()
        self.price_spin.setDecimals(4)
        self.price_spin.setRange(0, 1_000_000)
        form.addRow(t("stock.price", lang), self.price_spin)
        self.error = finish_form(self, form, lang)

    def value(self) -> dict[str, Any]:
        return {
            "drug_id": self.drug_combo.currentData(),
            "supplier": self.supplier_edit.text().strip(),
            "batch_no": self.batch_edit.text().strip(),
            "expiry": _date(self.expiry_edit.date()),
            "quantity": self.quantity_spin.value(),
            "unit": self.unit_combo.currentData(),
            "price": Decimal(str(round(self.price_spin.value(), 4))),
        }

    def accept(self) -> None:
        value = self.value()
        missing = [key for key in ("drug_id", "supplier", "batch_no") if not value[key]]
        if missing:
            self.error.setText(
                "、".join(
                    t(f"stock.{ {'drug_id': 'drug', 'batch_no': 'batch'}.get(k, k) }", self.lang)
                    for k in missing
                )
            )
            return
        super().accept()

    @classmethod
    def ask(
        cls, parent: QWidget | None, *, lang: str, drugs: list[Drug], today: dt.date
    ) -> dict[str, Any] | None:
        dialog = cls(parent, lang=lang, drugs=drugs, today=today)
        return dialog.value() if dialog.exec() == QDialog.DialogCode.Accepted else None


class MoveDialog(QDialog):
    """Move stock of one batch out, to another pharmacy, or to scrap, with a reason."""

    def __init__(self, parent: QWidget | None, *, lang: str, batch: BatchRow, others: list[Pharmacy]) -> None:
        super().__init__(parent)
        self.lang = lang
        self.setWindowTitle(f"{batch.drug_name}  {batch.batch.batch_no}")
        form = QFormLayout(self)
        self.kind_combo = QComboBox()
        for code in MOVE_KINDS:
            self.kind_combo.addItem(reason_text("move_kind", code, lang), code)
        form.addRow(t("stock.kind", lang), self.kind_combo)
        self.to_combo = QComboBox()
        for pharmacy in others:
            self.to_combo.addItem(pharmacy.name, pharmacy.id)
        form.addRow(t("stock.to_pharmacy", lang), self.to_combo)
        self.quantity_spin = QSpinBox()
        self.quantity_spin.setRange(1, max(1, batch.batch.quantity))
        form.addRow(t("stock.quantity", lang), self.quantity_spin)
        self.reason_edit = QLineEdit()
        form.addRow(t("stock.reason", lang), self.reason_edit)
        self.error = finish_form(self, form, lang)
        self.kind_combo.currentIndexChanged.connect(
            lambda _i: self.to_combo.setEnabled(self.kind_combo.currentData() == "transfer")
        )
        self.to_combo.setEnabled(False)

    def value(self) -> dict[str, Any]:
        return {
            "kind": self.kind_combo.currentData(),
            "to_pharmacy_id": self.to_combo.currentData(),
            "quantity": self.quantity_spin.value(),
            "reason": self.reason_edit.text().strip(),
        }

    def accept(self) -> None:
        if not self.reason_edit.text().strip():
            self.error.setText(t("stock.reason", self.lang))
            return
        super().accept()

    @classmethod
    def ask(
        cls, parent: QWidget | None, *, lang: str, batch: BatchRow, others: list[Pharmacy]
    ) -> dict[str, Any] | None:
        dialog = cls(parent, lang=lang, batch=batch, others=others)
        return dialog.value() if dialog.exec() == QDialog.DialogCode.Accepted else None


class CountDialog(QDialog):
    """A stocktake of one drug: each batch's book quantity and the counted quantity typed in."""

    def __init__(self, parent: QWidget | None, *, lang: str, batches: list[BatchRow]) -> None:
        super().__init__(parent)
        self.batches = batches
        self.setWindowTitle(t("stock.count_title", lang, drug=batches[0].drug_name if batches else ""))
        layout = QVBoxLayout(self)
        self.table = QTableWidget(len(batches), 4)
        self.table.setHorizontalHeaderLabels(
            [
                t("stock.col.batch", lang),
                t("stock.col.expiry", lang),
                t("stock.book", lang),
                t("stock.counted", lang),
            ]
        )
        self.spins: list[QSpinBox] = []
        for row, b in enumerate(batches):
            self.table.setItem(row, 0, QTableWidgetItem(b.batch.batch_no))
            self.table.setItem(row, 1, QTableWidgetItem(b.batch.expiry.isoformat()))
            self.table.setItem(row, 2, QTableWidgetItem(str(b.batch.quantity)))
            spin = QSpinBox()
            spin.setRange(0, 10_000_000)
            spin.setValue(max(0, b.batch.quantity))
            self.table.setCellWidget(row, 3, spin)
            self.spins.append(spin)
        self.table.resizeColumnsToContents()
        layout.addWidget(self.table)
        box = ok_cancel(self, lang)
        layout.addWidget(box)
        self.resize(560, 320)

    def value(self) -> list[tuple[str, str, int]]:
        return [
            (b.batch.drug_id, b.batch.batch_no, spin.value())
            for b, spin in zip(self.batches, self.spins, strict=True)
        ]

    @classmethod
    def ask(
        cls, parent: QWidget | None, *, lang: str, batches: list[BatchRow]
    ) -> list[tuple[str, str, int]] | None:
        dialog = cls(parent, lang=lang, batches=batches)
        return dialog.value() if dialog.exec() == QDialog.DialogCode.Accepted else None


class StockScreen(ReloadWhenShown):
    sig_loaded = Signal(object)  # StockData
    sig_sales_loaded = Signal(object)  # Sales
    sig_recorded = Signal(str)  # mutation name
    sig_exported = Signal(str)  # path written

    def __init__(self, state: Any) -> None:
        super().__init__()
        self.state = state
        lang = self.lang = state.lang
        self.data = StockData([], [])
        self._drugs: dict[str, Any] | None = (
            None  # the drug table of the last load (reused until a drug changes)
        )
        self.sales_data: SalesReport | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        tools = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(t("stock.filter", lang))
        tools.addWidget(self.filter_edit, 1)
        self.refresh_button = QPushButton(t("stock.refresh", lang))
        self.receive_button = QPushButton(t("stock.receive", lang))
        self.move_button = QPushButton(t("stock.move", lang))
        self.count_button = QPushButton(t("stock.count", lang))
        self.xlsx_button = QPushButton(t("stock.export_xlsx", lang))
        self.pdf_button = QPushButton(t("stock.export_pdf", lang))
        for button in (
            self.refresh_button,
            self.receive_button,
            self.move_button,
            self.count_button,
            self.xlsx_button,
            self.pdf_button,
        ):
            tools.addWidget(button)
        layout.addLayout(tools)

        batch_columns = [
            Column(t("stock.col.code", lang), lambda r: r.drug.code if r.drug else ""),
            Column(t("stock.col.drug", lang), lambda r: r.drug_name),
            Column(t("stock.col.spec", lang), lambda r: r.drug.spec if r.drug else ""),
            Column(t("stock.col.batch", lang), lambda r: r.batch.batch_no),
            Column(t("stock.col.expiry", lang), lambda r: r.batch.expiry.isoformat(), colour=_alert_colour),
            Column(
                t("stock.col.qty", lang),
                _quantity_text,
                colour=_alert_colour,
                align_right=True,
            ),
            Column(t("stock.col.alert", lang), self._alert_text, colour=_alert_colour),
        ]
        self.tabs = QTabWidget()
        self.models: dict[str, RowsModel[BatchRow]] = {}
        self.views: dict[str, Any] = {}
        for key in ("all", "expired", "expiring", "negative"):
            model: RowsModel[BatchRow] = RowsModel(batch_columns)
            view = table_view(model, stretch=1)
            self.models[key], self.views[key] = model, view
            self.tabs.addTab(view, "")
        self.low_model: RowsModel[LowRow] = RowsModel(
            [
                Column(t("stock.col.code", lang), lambda r: r.drug.code),
                Column(t("stock.col.drug", lang), lambda r: r.drug.generic_name),
                Column(t("stock.col.spec", lang), lambda r: r.drug.spec),
                Column(
                    t("stock.col.qty", lang),
                    lambda r: _units(r.usable, r.drug),
                    colour=lambda _r: theme.WARN,
                    align_right=True,
                ),
                Column(t("stock.col.min", lang), lambda r: _units(r.minimum, r.drug), align_right=True),
            ]
        )
        self.tabs.insertTab(3, table_view(self.low_model, stretch=1), "")
        sales_page = QWidget()
        sl = QVBoxLayout(sales_page)
        range_row = QHBoxLayout()
        today = state.today()
        self.from_edit = QDateEdit(QDate(today.year, today.month, 1))
        self.to_edit = QDateEdit(QDate(today.year, today.month, today.day))
        for edit in (self.from_edit, self.to_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.sales_button = QPushButton(t("stock.query", lang))
        range_row.addWidget(QLabel(t("stock.from", lang)))
        range_row.addWidget(self.from_edit)
        range_row.addWidget(QLabel(t("stock.to", lang)))
        range_row.addWidget(self.to_edit)
        range_row.addWidget(self.sales_button)
        range_row.addStretch(1)
        sl.addLayout(range_row)
        self.sales_model: RowsModel[SalesLine] = RowsModel(
            [
                Column(t("stock.col.time", lang), lambda r: r.day.isoformat()),
                Column(
                    t("stock.col.kind", lang),
                    lambda r: t("stock.kind.dispense" if r.kind == "dispense" else "stock.kind.refund", lang),
                ),
                Column(t("stock.col.rx", lang), lambda r: r.rx_number),
                Column(t("stock.col.drug", lang), lambda r: r.drug_name),
                Column(t("stock.col.batch", lang), lambda r: r.batches),
                Column(t("stock.col.qty", lang), lambda r: str(r.quantity), align_right=True),
                Column(t("stock.col.amount", lang), lambda r: f"{r.amount:.2f}", align_right=True),
            ]
        )
        sl.addWidget(table_view(self.sales_model, stretch=3), 1)
        self.totals_label = QLabel()
        self.totals_label.setStyleSheet("font-weight: 600;")
        sl.addWidget(self.totals_label)
        self.tabs.addTab(sales_page, t("stock.tab.sales", lang))
        layout.addWidget(self.tabs, 1)
        self._update_tab_titles()

        self.refresh_button.clicked.connect(self.reload)
        self.filter_edit.textChanged.connect(lambda _text: self._fill())
        self.receive_button.clicked.connect(self.receive)
        self.move_button.clicked.connect(self.move_stock)
        self.count_button.clicked.connect(self.count)
        self.sales_button.clicked.connect(self.load_sales)
        self.xlsx_button.clicked.connect(lambda: self.export("xlsx"))
        self.pdf_button.clicked.connect(lambda: self.export("pdf"))
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)
        state.sig_pharmacy_changed.connect(lambda _id: self.reload())
        self.reload()

    def _alert_text(self, row: BatchRow) -> str:
        if row.alert == "expired":
            return t("stock.expired", self.lang)
        if row.alert == "expiring":
            return t("stock.expiring", self.lang, days=row.days_left)
        if row.alert == "negative":
            return t("stock.negative", self.lang)
        return ""

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches("drug"):
            self._drugs = None  # reference data changed: the next load reads the drug table again
        if changes.touches(*WATCHED):
            self.reload_when_shown()

    def reload(self) -> None:
        pharmacy = self.state.pharmacy_id
        if not pharmacy:
            return
        today = self.state.today()
        drugs = self._drugs
        QueryOp(
            parent=self,
            op=lambda store: stock_screen(store, pharmacy, today, drugs=drugs),
            success=self._loaded,
        ).run_in_background()

    def _loaded(self, data: StockData) -> None:
        self.data = data
        self._drugs = data.drugs
        self._fill()
        self.sig_loaded.emit(data)

    def _matches(self, row: BatchRow, text: str) -> bool:
        if not text:
            return True
        drug = row.drug
        hay = " ".join(
            [row.drug_name, drug.code if drug else "", drug.pinyin if drug else "", row.batch.batch_no]
        ).lower()
        return text.lower() in hay

    def _fill(self) -> None:
        text = self.filter_edit.text().strip()
        rows = [r for r in self.data.batches if self._matches(r, text)]
        self.models["all"].set_rows(rows)
        for key in ("expired", "expiring", "negative"):
            self.models[key].set_rows([r for r in rows if r.alert == key])
        self.low_model.set_rows(self.data.low)
        self._update_tab_titles()

    def _update_tab_titles(self) -> None:
        lang = self.lang
        titles = [
            t("stock.tab.all", lang, n=self.models["all"].rowCount()),
            t("stock.tab.expired", lang, n=self.models["expired"].rowCount()),
            t("stock.tab.expiring", lang, n=self.models["expiring"].rowCount()),
            t("stock.tab.low", lang, n=self.low_model.rowCount()),
            t("stock.tab.negative", lang, n=self.models["negative"].rowCount()),
        ]
        for index, title in enumerate(titles):
            self.tabs.setTabText(index, title)

    def selected_batch(self) -> BatchRow | None:
        view = self.tabs.currentWidget()
        for key, candidate in self.views.items():
            if candidate is view:
                row = selected_row(candidate)  # type: ignore[arg-type]  # one of our table views
                return self.models[key].row(row) if row is not None else None
        return None

    # -- receive, move, count --------------------------------------------------------------------------

    def _record(self, name: str, op: Any) -> None:
        lang = self.lang

        def done(_entry: Any) -> None:
            self.state.message(t("stock.recorded", lang, what=name), "ok")
            self.sig_recorded.emit(name)

        CollectionOp(
            self, op, changes=("stock_batch", "stock_movement", "stocktake", OpChanges.OUTBOX)
        ).success(done).failure(self._failed).run_in_background()

    def receive(self) -> None:
        drugs_wanted = self.filter_edit.text().strip()

        def load(store: Any) -> list[Drug]:
            return store.search_drugs(drugs_wanted, limit=50) if drugs_wanted else store.all(Drug)[:300]

        QueryOp(parent=self, op=load, success=self._receive_with).run_in_background()

    def _receive_with(self, drugs: list[Drug]) -> None:
        value = ReceiveDialog.ask(self, lang=self.lang, drugs=drugs, today=self.state.today())
        if value is None:
            return
        pharmacy, now, lang = self.state.pharmacy_id, self.state.now(), self.lang
        self._record(
            "stock.receive",
            lambda store: actions.receive(store, pharmacy_id=pharmacy, now=now, lang=lang, **value),
        )

    def move_stock(self) -> None:
        batch = self.selected_batch()
        if batch is None:
            self.state.message(t("stock.choose_drug", self.lang), "warning")
            return
        campus = self.state.campus_id
        QueryOp(
            parent=self,
            op=lambda store: pharmacies(store, None),
            success=lambda found: self._move_with(batch, found, campus),
        ).run_in_background()

    def _move_with(self, batch: BatchRow, found: list[Pharmacy], _campus: str | None) -> None:
        others = [p for p in found if p.id != self.state.pharmacy_id]
        value = MoveDialog.ask(self, lang=self.lang, batch=batch, others=others)
        if value is None:
            return
        pharmacy, now, lang = self.state.pharmacy_id, self.state.now(), self.lang
        self._record(
            "stock.move",
            lambda store: actions.move(
                store,
                pharmacy_id=pharmacy,
                kind=value["kind"],
                reason=value["reason"],
                drug_id=batch.batch.drug_id,
                batch_no=batch.batch.batch_no,
                quantity=value["quantity"],
                to_pharmacy_id=value["to_pharmacy_id"],
                now=now,
                lang=lang,
            ),
        )

    def count(self) -> None:
        batch = self.selected_batch()
        if batch is None:
            self.state.message(t("stock.choose_drug", self.lang), "warning")
            return
        batches = [b for b in self.data.batches if b.batch.drug_id == batch.batch.drug_id]
        counted = CountDialog.ask(self, lang=self.lang, batches=batches)
        if counted is None:
            return
        pharmacy, now, lang = self.state.pharmacy_id, self.state.now(), self.lang
        self._record(
            "stock.count",
            lambda store: actions.count(
                store, pharmacy_id=pharmacy, counted=counted, counted_at=now, lang=lang
            ),
        )

    # -- sales list and exports ------------------------------------------------------------------------

    def load_sales(self) -> None:
        pharmacy = self.state.pharmacy_id
        start, end = _date(self.from_edit.date()), _date(self.to_edit.date())
        QueryOp(
            parent=self, op=lambda store: sales(store, pharmacy, start, end), success=self._sales_loaded
        ).run_in_background()

    def _sales_loaded(self, data: SalesReport) -> None:
        self.sales_data = data
        self.sales_model.set_rows(data.lines)
        self.totals_label.setText(sales_summary(data, self.lang))
        self.sig_sales_loaded.emit(data)

    def export(self, fmt: str, path: str | None = None) -> None:
        """Write the list of the tab shown (the stock, or the sales list) to ``path`` as xlsx or PDF."""
        which = "sales" if self.tabs.currentIndex() == self.tabs.count() - 1 else "stock"
        if path is None:
            suffix = "xlsx" if fmt == "xlsx" else "pdf"
            default = str(Path.home() / f"{which}-{self.state.today():%Y%m%d}.{suffix}")
            path, _ = QFileDialog.getSaveFileName(
                self, t(f"stock.export_{fmt}", self.lang), default, f"*.{suffix}"
            )
            if not path:
                return
        target = Path(path)
        pharmacy_id, pharmacy = self.state.pharmacy_id, self.state.pharmacy_name
        today, now, lang = self.state.today(), self.state.now(), self.lang
        start, end = _date(self.from_edit.date()), _date(self.to_edit.date())
        staff = self.state.staff
        by = staff.name if staff else ""

        def write(store: Any) -> Path:
            from pharmacy_desk.exports import export_sales, export_stock

            if which == "sales":
                return export_sales(
                    target,
                    fmt,
                    report=sales(store, pharmacy_id, start, end),
                    pharmacy=pharmacy,
                    now=now,
                    by=by,
                    lang=lang,
                )
            return export_stock(
                target,
                fmt,
                overview=overview(store, pharmacy_id, today),
                pharmacy=pharmacy,
                now=now,
                by=by,
                lang=lang,
            )

        QueryOp(
            parent=self,
            op=write,
            success=lambda written: self._exported(written),
        ).failure(self._failed).run_in_background()

    def _exported(self, written: Path) -> None:
        self.last_export = written
        self.state.message(t("stock.exported", self.lang, path=str(written)), "ok")
        self.sig_exported.emit(str(written))

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, SuiteError):
            self.state.message(error.message, "error")
        else:
            self.state.runtime.bus.report_error(error)
