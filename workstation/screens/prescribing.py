"""Prescribing: drug search as you type, line editing, type and splitting, live checks, sign and print.

Type in the search box (pinyin initials, Chinese, English or code): the list shows spec, form, price and
stock in this PC's pharmacy; Down moves into the list, Enter adds the drug with its default usage and
the quantity computed for the days. Each line's dose, unit, route, frequency, days, quantity and note
are edited in place; the quantity follows the usage until the doctor overrides it. The lines are split
into prescriptions by type (controlled classes) and five drugs at most, and the shared checks run on
each as the doctor writes: blocking findings stop signing, warnings need a tick (the acknowledgement is
recorded). F10 signs with the PIN and prints the A5 prescriptions. A pharmacist's rejection opens here
in "amend" mode; signing then amends and re-signs the same prescription.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, cast

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from shared import clinic_time
from shared.domain.entities import Drug, OrderSet, Prescription
from shared.domain.prescribing import (
    DrugFacts,
    PatientFacts,
    PrescriberFacts,
    RxLine,
    edit_line,
    format_decimal,
    new_line,
    total_amount,
    type_name,
    usage_zh,
)
from shared.domain.rx_rule_sets import rules_at
from shared.domain.rx_rules import BASE_TYPES, RuleTable, RxType
from shared.domain.units import packs_and_units
from shared.errors import ValidationFailed
from shared.gui import theme
from shared.gui.ops import OpChanges
from shared.gui.widgets import Column, RowsModel, selected_row, table_view
from workstation import actions, queries
from workstation.dialogs import NameScopeDialog, ReasonDialog
from workstation.formats import money
from workstation.queries import ConsultData, DrugHit, Formulary
from workstation.rx_plan import AckKey, Plan, plan_prescriptions
from workstation.sign_flow import pin_refused, with_key
from workstation.state import WorkState
from workstation.texts import t

COLUMNS = ("drug", "dose", "unit", "route", "frequency", "days", "quantity", "amount", "note")
BASE_TYPE_ORDER: tuple[RxType, ...] = ("ordinary", "emergency", "paediatric", "chronic")


class PrescribingScreen(QWidget):
    """The prescription editor of the open consultation."""

    sig_results_shown = Signal(int)  # drug search results on screen (count)
    sig_signed = Signal(list)  # the signed Prescription rows

    def __init__(self, state: WorkState) -> None:
        super().__init__()
        self.state = state
        lang = state.lang
        self.formulary: Formulary | None = None
        self.stock: dict[str, int] | None = None
        self.consult: ConsultData | None = None
        self.diagnoses: Any = lambda: []  # set by the window: () -> list[DiagnosisFacts]
        self.lines: list[RxLine] = []
        self.acknowledged: set[AckKey] = set()
        self.plan: Plan | None = None
        self.renewed_from: str | None = None
        self.amending: Prescription | None = None
        self.order_sets: list[OrderSet] = []
        self.previous: list[Prescription] = []
        self._search_seq = 0
        self._filling = False
        self.usage: Any = None  # shared.store.search.Usage of drugs for this doctor and department

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel(t("rx.type", lang)))
        self.type_combo = QComboBox()
        for rx_type in BASE_TYPE_ORDER:
            self.type_combo.addItem(type_name(rx_type, lang), rx_type)
        top.addWidget(self.type_combo)
        top.addWidget(QLabel(t("rx.weight", lang)))
        self.weight_spin = QDoubleSpinBox()
        self.weight_spin.setRange(0, 300)
        self.weight_spin.setDecimals(1)
        self.weight_spin.setSpecialValueText("—")
        self.weight_spin.setSuffix(" kg")
        top.addWidget(self.weight_spin)
        top.addStretch(1)
        self.renew_combo = QComboBox()
        self.renew_combo.setMinimumWidth(160)
        self.renew_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.renew_combo.setMinimumContentsLength(14)
        self.renew_button = QPushButton(t("rx.renew", lang))
        top.addWidget(self.renew_combo, 1)
        top.addWidget(self.renew_button)
        layout.addLayout(top)
        self.set_combo = QComboBox()
        self.set_combo.setMinimumWidth(120)
        self.set_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.set_combo.setMinimumContentsLength(8)
        self.set_button = QPushButton(t("rx.insert_set", lang))
        self.save_set_button = QPushButton(t("rx.save_set", lang))

        self.amend_label = QLabel("")
        self.amend_label.setWordWrap(True)
        self.amend_label.setStyleSheet(f"color: {theme.ERROR}; font-weight: 600;")
        self.amend_label.setVisible(False)
        layout.addWidget(self.amend_label)

        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(t("rx.search", lang))
        self.search_edit.installEventFilter(self)
        search_row = QHBoxLayout()
        search_row.addWidget(self.search_edit, 1)
        for widget in (self.set_combo, self.set_button, self.save_set_button):
            search_row.addWidget(widget)
        layout.addLayout(search_row)
        self.results_model: RowsModel[DrugHit] = RowsModel(
            [
                Column(t("rx.col.code", lang), lambda h: h.drug.code),
                Column(t("rx.col.name", lang), lambda h: self._drug_title(h.drug)),
                Column(t("rx.col.spec", lang), lambda h: h.drug.spec),
                Column(t("rx.col.form", lang), lambda h: h.drug.form),
                Column(
                    t("rx.col.price", lang),
                    lambda h: f"{money(h.drug.price)}/{h.drug.pack_unit}",
                    align_right=True,
                ),
                Column(
                    t("rx.col.stock", lang),
                    lambda h: self._stock_text(h),
                    colour=lambda h: theme.ERROR if h.stock_units == 0 else None,
                    align_right=True,
                ),
                Column(
                    t("rx.col.class", lang),
                    lambda h: (
                        ""
                        if h.drug.controlled_class == "none"
                        else t(f"class.{h.drug.controlled_class}", lang)
                    ),
                    colour=lambda h: theme.ERROR,
                ),
            ]
        )
        self.results = table_view(self.results_model, stretch=1)
        self.results.setMaximumHeight(170)
        # Fixed column widths: sizing columns to their contents would read every cell of every
        # result on each keystroke; with fixed widths only the rows on screen are drawn.
        header = self.results.horizontalHeader()
        metrics = self.results.fontMetrics()
        samples = ("YP000000", "", "0.25g×24粒/盒", "颗粒剂", "¥1234.56/盒", "999 盒（23976 粒）", "精神二类")
        for column, sample in enumerate(samples):
            if column == 1:
                continue
            title = self.results_model.columns[column].title
            width = max(metrics.horizontalAdvance(sample), metrics.horizontalAdvance(title)) + 18
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(column, width)
        self.results.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.results.verticalHeader().setDefaultSectionSize(metrics.height() + 8)
        self.results.setVisible(False)
        self.results.installEventFilter(self)
        layout.addWidget(self.results)

        splitter = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([t(f"rx.line.{c}", lang) for c in COLUMNS])
        self.table.verticalHeader().setVisible(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.installEventFilter(self)
        splitter.addWidget(self.table)

        lower = QWidget()
        lower_layout = QHBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        checks_box = QGroupBox(t("rx.checks", lang))
        checks_layout = QVBoxLayout(checks_box)
        self.split_label = QLabel("")
        self.split_label.setWordWrap(True)
        checks_layout.addWidget(self.split_label)
        # Blocking findings sit above the scrolling list, so none can scroll out of view.
        self.blocking_label = QLabel("")
        self.blocking_label.setMinimumWidth(120)
        self.blocking_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.blocking_label.setTextFormat(Qt.TextFormat.PlainText)
        self.blocking_label.setStyleSheet(
            f"QLabel {{ color: {theme.ERROR}; font-weight: 600; background: #fdecea; padding: 3px; }}"
        )
        self.blocking_label.setVisible(False)
        checks_layout.addWidget(self.blocking_label)
        self.findings_list = QListWidget()
        self.findings_list.setWordWrap(True)
        checks_layout.addWidget(self.findings_list, 1)
        lower_layout.addWidget(checks_box, 1)
        written_box = QGroupBox(t("rx.written", lang))
        written_layout = QVBoxLayout(written_box)
        self.written_model: RowsModel[Prescription] = RowsModel(
            [
                Column(t("rx.col.number", lang), lambda r: r.number),
                Column(t("rx.col.type", lang), lambda r: type_name(cast(RxType, r.rx_type), lang)),
                Column(
                    t("rx.col.status", lang),
                    lambda r: t(f"rx.status.{r.status}", lang),
                    colour=lambda r: theme.ERROR if r.status == "rejected" else None,
                ),
                Column(t("rx.col.amount", lang), lambda r: money(r.total_amount), align_right=True),
            ]
        )
        self.written_table = table_view(self.written_model, stretch=0)
        written_layout.addWidget(self.written_table, 1)
        written_buttons = QHBoxLayout()
        self.reprint_button = QPushButton(t("rx.reprint", lang))
        self.amend_button = QPushButton(t("rx.amend", lang))
        self.cancel_rx_button = QPushButton(t("rx.cancel", lang))
        for button in (self.reprint_button, self.amend_button, self.cancel_rx_button):
            written_buttons.addWidget(button)
        written_layout.addLayout(written_buttons)
        lower_layout.addWidget(written_box, 1)
        splitter.addWidget(lower)
        splitter.setSizes([260, 200])
        layout.addWidget(splitter, 1)

        bottom = QHBoxLayout()
        self.total_label = QLabel("")
        self.total_label.setStyleSheet("font-weight: 600;")
        bottom.addWidget(self.total_label)
        bottom.addStretch(1)
        self.remove_button = QPushButton(t("rx.remove_line", lang))
        self.clear_button = QPushButton(t("rx.clear", lang))
        self.sign_button = QPushButton(t("rx.sign", lang))
        self.sign_button.setToolTip("F10")
        self.sign_button.setStyleSheet(
            "QPushButton { font-weight: 700; padding: 4px 14px; }"
            f"QPushButton:enabled {{ color: white; background: {theme.BUSY}; }}"
        )
        for button in (self.remove_button, self.clear_button, self.sign_button):
            bottom.addWidget(button)
        layout.addLayout(bottom)

        self.search_edit.textEdited.connect(self.search)
        self.search_edit.returnPressed.connect(self._add_current_result)
        self.results.activated.connect(lambda _i: self._add_current_result())
        self.table.cellChanged.connect(self._cell_changed)
        self.type_combo.currentIndexChanged.connect(self._type_changed)
        self.weight_spin.valueChanged.connect(lambda _v: self.replan())
        self.findings_list.itemChanged.connect(self._ack_changed)
        self.renew_button.clicked.connect(self.renew_selected)
        self.set_button.clicked.connect(self.insert_selected_set)
        self.save_set_button.clicked.connect(self.save_as_set)
        self.remove_button.clicked.connect(self.remove_selected_line)
        self.clear_button.clicked.connect(self.clear)
        self.sign_button.clicked.connect(self.sign)
        self.reprint_button.clicked.connect(self.reprint_selected)
        self.amend_button.clicked.connect(self.amend_selected)
        self.cancel_rx_button.clicked.connect(self.cancel_selected)
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)
        self.setEnabled(False)
        self.replan()

    def install_shortcuts(self, window: QWidget) -> None:
        shortcut = QShortcut(QKeySequence("F10"), window)
        shortcut.activated.connect(self.sign)
        focus = QShortcut(QKeySequence("Ctrl+F"), window)
        focus.activated.connect(self.focus_search)

    def focus_search(self) -> None:
        """Ctrl+F from anywhere in the consult: bring the prescription tab forward, then focus its search
        (focusing a widget on a hidden tab would send the typing nowhere)."""
        if not self.isEnabled():
            return
        tabs = self._tab_widget()
        if tabs is not None:
            tabs.setCurrentWidget(self)
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def _tab_widget(self) -> QTabWidget | None:
        parent = self.parentWidget()
        while parent is not None:
            if isinstance(parent, QTabWidget) and parent.indexOf(self) >= 0:
                return parent
            parent = parent.parentWidget()
        return None

    # -- reference data -----------------------------------------------------------------------------

    def load_reference(self) -> None:
        state = self.state
        campus, code, today = state.campus_id, state.site.pharmacy, state.today()

        def load(store: Any) -> tuple[Formulary, dict[str, int] | None]:
            formulary = queries.formulary(store, campus, code)
            pharmacy_id = formulary.pharmacy.id if formulary.pharmacy else None
            from shared.domain.entities import StockBatch

            has_stock = bool(pharmacy_id) and bool(store.find(StockBatch, pharmacy_id=pharmacy_id))
            stock = queries.stock_by_drug(store, pharmacy_id, today) if has_stock else None
            return formulary, stock

        state.query(self, load, self._reference_loaded)
        self.load_usage()

    def load_usage(self) -> None:
        """Count how often this doctor and department prescribe each drug (for the search order)."""

        def got(usage: Any) -> None:
            self.usage = usage

        self.state.load_usage(self, Drug, got)

    def _reference_loaded(self, loaded: tuple[Formulary, dict[str, int] | None]) -> None:
        self.formulary, self.stock = loaded
        self.results_model.set_rows(self.results_model.rows())
        self.replan()  # the rules may have changed with the reference data

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches("frequency", "route", "pharmacy", "exam_item", "stock_batch", "rx_rule_set"):
            self.load_reference()
        if changes.touches("order_set"):
            self._load_sets()
        if self.consult is not None and changes.touches("rx"):
            self._load_written()
        if changes.touches("rx") and not changes.from_sync:  # the doctor's own new prescriptions
            self.load_usage()

    # -- consult ------------------------------------------------------------------------------------

    def set_consult(self, data: ConsultData | None) -> None:
        new_visit = data is None or self.consult is None or self.consult.visit.id != data.visit.id
        self.consult = data
        self.setEnabled(data is not None and data.visit.status != "withdrawn")
        if data is None:
            return
        if new_visit:
            self.clear()
            self._load_sets()
            self._load_previous()
            self.type_combo.setCurrentIndex(0)
            age = data.patient.birth_date
            if (self.state.today() - age).days < 14 * 365:
                index = self.type_combo.findData("paediatric")
                self.type_combo.setCurrentIndex(index)
        self.written_model.set_rows(data.prescriptions)
        self.replan()

    def _load_written(self) -> None:
        data = self.consult
        if data is None:
            return
        visit_id = data.visit.id

        def got(rows: list[Prescription]) -> None:
            if self.consult is not None and self.consult.visit.id == visit_id:
                self.written_model.set_rows(rows)

        self.state.query(
            self,
            lambda store: sorted(
                (r for r in store.find(Prescription, visit_id=visit_id) if not r.voided),
                key=lambda r: r.written_at,
            ),
            got,
        )

    def _load_sets(self) -> None:
        staff = self.state.staff
        if staff is None:
            return

        def got(sets: list[OrderSet]) -> None:
            self.order_sets = sets
            self.set_combo.clear()
            for order_set in sets:
                self.set_combo.addItem(order_set.name, order_set.id)

        self.state.query(self, lambda store: queries.order_sets_for(store, staff), got)

    def _load_previous(self) -> None:
        data = self.consult
        if data is None:
            return
        patient_id, visit_id = data.patient.id, data.visit.id

        self.previous = []
        self.renew_combo.clear()
        self.renew_combo.setEnabled(False)
        self.renew_button.setEnabled(False)

        def got(rows: list[Prescription]) -> None:
            if self.consult is None or self.consult.visit.id != visit_id:
                return  # another patient was opened meanwhile
            self.previous = rows
            self.renew_combo.clear()
            for rx in rows[:30]:
                names = "、".join(str(line.get("drug", {}).get("generic_name", "")) for line in rx.lines)
                self.renew_combo.addItem(f"{rx.day:%m-%d} {names}"[:40], rx.id)
                self.renew_combo.setItemData(self.renew_combo.count() - 1, names, Qt.ItemDataRole.ToolTipRole)
            if not rows:
                self.renew_combo.addItem(t("rx.no_previous", self.state.lang), None)
            self.renew_combo.setEnabled(bool(rows))
            self.renew_button.setEnabled(bool(rows))

        self.state.query(
            self, lambda store: queries.previous_prescriptions(store, patient_id, exclude_visit=visit_id), got
        )

    # -- search ---------------------------------------------------------------------------------------

    def search(self, text: str) -> None:
        self._search_seq += 1
        seq = self._search_seq
        stock, usage = self.stock, self.usage

        def shown(hits: list[DrugHit]) -> None:
            if seq != self._search_seq:
                return  # an older keystroke's answer
            self.results_model.set_rows(hits)
            self.results.setVisible(bool(hits))
            if hits:
                self.results.selectRow(0)
            self.sig_results_shown.emit(len(hits))

        self.state.query(self, lambda store: queries.search_drugs(store, text, stock, usage=usage), shown)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if watched is self.search_edit:
                if key == Qt.Key.Key_Down and self.results.isVisible():
                    # into the list at the highlighted row; further Down keys move in the list itself
                    row = selected_row(self.results) or 0
                    self.results.setFocus()
                    self.results.selectRow(min(row, self.results_model.rowCount() - 1))
                    return True
                if key == Qt.Key.Key_Escape:
                    self.results.setVisible(False)
                    return True
            elif watched is self.results:
                if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                    self._add_current_result()
                    return True
                if key == Qt.Key.Key_Escape:
                    self.search_edit.setFocus()
                    return True
            elif (
                watched is self.table
                and key == Qt.Key.Key_Delete
                and self.table.state() != QAbstractItemView.State.EditingState
            ):
                self.remove_selected_line()
                return True
        return super().eventFilter(watched, event)

    def _add_current_result(self) -> None:
        if not self.results.isVisible() or self.results_model.rowCount() == 0:
            return
        row = selected_row(self.results) or 0
        self.add_drug(self.results_model.row(row).drug)
        self.search_edit.clear()
        self.results.setVisible(False)
        self.search_edit.setFocus()

    # -- lines --------------------------------------------------------------------------------------

    def _rx_type(self) -> RxType:
        return cast(RxType, self.type_combo.currentData() or "ordinary")

    def rules(self) -> RuleTable:
        """The prescription rules in effect now (the dated version the PC holds, else the shipped one)."""
        moment = actions.now_local()
        return self.formulary.rules_at(moment) if self.formulary is not None else rules_at((), moment)

    def _default_days(self) -> int:
        return self.rules().type_rule(self._rx_type()).default_days

    def add_drug(self, drug: Drug | DrugFacts, **usage: Any) -> RxLine | None:
        formulary = self.formulary
        if formulary is None:
            return None
        try:
            line = new_line(
                drug,
                frequencies=formulary.frequencies,
                routes=formulary.routes,
                days=usage.pop("days", None) or self._default_days(),
                **usage,
            )
        except ValidationFailed as error:
            self.state.message(error.message, "error")
            return None
        self.lines.append(line)
        self._fill_table()
        return line

    def _drug_title(self, drug: Drug | DrugFacts) -> str:
        trade = f"（{drug.trade_name}）" if drug.trade_name else ""
        return f"{drug.generic_name}{trade}"

    def _stock_text(self, hit: DrugHit) -> str:
        if hit.stock_units is None:
            return "—"
        drug = hit.drug
        return packs_and_units(
            hit.stock_units, pack_qty=drug.pack_qty, pack_unit=drug.pack_unit, min_unit=drug.min_unit
        )

    def _fill_table(self) -> None:
        formulary = self.formulary
        self._filling = True
        self.table.setRowCount(len(self.lines))
        for row, line in enumerate(self.lines):
            drug = line.drug
            cells = {
                "drug": f"{self._drug_title(drug)} {drug.spec}",
                "dose": format_decimal(line.dose),
                "days": str(line.days),
                "quantity": f"{line.quantity}",
                "amount": money(line.amount),
                "note": line.note,
            }
            for column, name in enumerate(COLUMNS):
                if name in ("unit", "route", "frequency"):
                    continue
                item = QTableWidgetItem(cells[name])
                if name in ("drug", "amount"):
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if name == "drug":
                    item.setToolTip(usage_zh(line))
                if name == "quantity":
                    item.setToolTip(t("rx.quantity_tip", self.state.lang, unit=drug.pack_unit))
                    if line.quantity_overridden:
                        item.setForeground(Qt.GlobalColor.darkMagenta)
                self.table.setItem(row, column, item)
            self._set_combo(row, "unit", [drug.dose_unit, drug.min_unit], line.dose_unit)
            if formulary is not None:
                self._set_combo(
                    row,
                    "route",
                    list(formulary.routes),
                    line.route.code,
                    {c: r.name_zh for c, r in formulary.routes.items()},
                )
                self._set_combo(
                    row,
                    "frequency",
                    list(formulary.frequencies),
                    line.frequency.code,
                    {c: f"{c} {f.name_zh}" for c, f in formulary.frequencies.items()},
                )
        self._filling = False
        self.replan()

    def _set_combo(
        self, row: int, name: str, codes: list[str], current: str, labels: dict[str, str] | None = None
    ) -> None:
        column = COLUMNS.index(name)
        combo = self.table.cellWidget(row, column)
        if not isinstance(combo, QComboBox):
            combo = QComboBox()
            combo.currentIndexChanged.connect(lambda _i, c=combo, n=name: self._combo_changed(c, n))
            self.table.setCellWidget(row, column, combo)
        combo.blockSignals(True)
        combo.clear()
        for code in dict.fromkeys(codes):
            combo.addItem((labels or {}).get(code, code), code)
        combo.setCurrentIndex(max(combo.findData(current), 0))
        combo.blockSignals(False)

    def _combo_changed(self, combo: QComboBox, name: str) -> None:
        formulary = self.formulary
        if self._filling or formulary is None:
            return
        column = COLUMNS.index(name)
        row = next(
            (r for r in range(self.table.rowCount()) if self.table.cellWidget(r, column) is combo), None
        )
        if row is None:
            return
        code = str(combo.currentData())
        line = self.lines[row]
        if name == "unit":
            self._replace(row, partial(edit_line, line, dose_unit=code))
        elif name == "route":
            self._replace(row, partial(edit_line, line, route=formulary.routes[code]))
        else:
            self._replace(row, partial(edit_line, line, frequency=formulary.frequencies[code]))

    def _cell_changed(self, row: int, column: int) -> None:
        if self._filling or row >= len(self.lines):
            return
        name = COLUMNS[column]
        item = self.table.item(row, column)
        text = item.text().strip() if item else ""
        line = self.lines[row]
        lang = self.state.lang
        try:
            if name == "dose":
                dose = Decimal(text)
                if dose <= 0:
                    raise InvalidOperation
                self._replace(row, lambda: edit_line(line, dose=dose))
            elif name == "days":
                days = int(text)
                if not 1 <= days <= 366:
                    raise ValueError
                self._replace(row, lambda: edit_line(line, days=days))
            elif name == "quantity":
                quantity = int(text)
                if quantity < 1:
                    raise ValueError
                self._replace(row, lambda: edit_line(line, quantity=quantity))
            elif name == "note":
                self._replace(row, lambda: edit_line(line, note=text[:200]))
        except (InvalidOperation, ValueError):
            self.state.message(
                t("rx.bad_number", lang, column=t(f"rx.line.{name}", lang), value=text), "error"
            )
            self._fill_table()

    def _replace(self, row: int, make: Any) -> None:
        try:
            self.lines[row] = make()
        except ValidationFailed as error:
            self.state.message(error.message, "error")
        self._fill_table()

    def remove_selected_line(self) -> None:
        row = selected_row(self.table)
        if row is None or row >= len(self.lines):
            return
        del self.lines[row]
        self.acknowledged.clear()
        self._fill_table()

    def clear(self) -> None:
        self.lines = []
        self.acknowledged.clear()
        self.renewed_from = None
        self.amending = None
        self.amend_label.setVisible(False)
        self.type_combo.setEnabled(True)
        self._fill_table()

    def _type_changed(self, _index: int) -> None:
        self.replan()

    # -- checks -------------------------------------------------------------------------------------

    def patient_facts(self) -> PatientFacts | None:
        if self.consult is None:
            return None
        weight = Decimal(str(self.weight_spin.value())) if self.weight_spin.value() > 0 else None
        return PatientFacts.from_patient(self.consult.patient, weight_kg=weight)

    def replan(self) -> None:
        staff, patient = self.state.staff, self.patient_facts()
        lang = self.state.lang
        if staff is None or patient is None or not self.lines:
            self.plan = None
            self.findings_list.clear()
            self.blocking_label.clear()
            self.blocking_label.setVisible(False)
            self.split_label.setText(t("rx.no_lines", lang))
            self.total_label.setText(t("rx.total", lang, amount=money(Decimal(0))))
            self.sign_button.setEnabled(False)
            return
        written_at = actions.now_local()
        self.plan = plan_prescriptions(
            self.lines,
            self._rx_type(),
            patient=patient,
            prescriber=PrescriberFacts.from_staff(staff),
            visit_id=self.consult.visit.id if self.consult else None,
            diagnoses=self.diagnoses(),
            written_at=written_at,
            department=self.consult.department_name if self.consult else "",
            rules=self.formulary.rules_at(written_at) if self.formulary is not None else None,
            lang=lang,
        )
        groups = [
            t("rx.group", lang, type=type_name(p.group.rx_type, lang), n=len(p.group.lines))
            for p in self.plan.prescriptions
        ]
        key = "rx.split" if len(groups) > 1 else "rx.one"
        self.split_label.setText(t(key, lang, n=len(groups), groups="、".join(groups)))
        self.findings_list.blockSignals(True)
        self.findings_list.clear()
        blocking_texts = []
        for placed in self.plan.findings:
            where = (
                f"{t('rx.line_no', lang, n=placed.global_index + 1)} "
                if placed.global_index is not None
                else ""
            )
            level = t("rx.level_block" if placed.blocking else "rx.level_warn", lang)
            if placed.blocking:  # shown in the box above the list, which never scrolls
                blocking_texts.append(f"{level} {where}{placed.finding.message}")
                continue
            item = QListWidgetItem(f"{level} {where}{placed.finding.message}")
            item.setData(Qt.ItemDataRole.UserRole, placed.key)
            item.setForeground(Qt.GlobalColor.darkYellow)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if placed.key in self.acknowledged else Qt.CheckState.Unchecked
            )
            item.setToolTip(t("rx.ack_tip", lang))
            self.findings_list.addItem(item)
        if not self.plan.findings:
            ok = QListWidgetItem("✔ " + t("rx.no_findings", lang))
            ok.setForeground(Qt.GlobalColor.darkGreen)
            ok.setFlags(Qt.ItemFlag.ItemIsEnabled)  # nothing to acknowledge
            self.findings_list.addItem(ok)
        self.findings_list.blockSignals(False)
        self._blocking_texts = blocking_texts
        self.blocking_label.setToolTip("\n".join(blocking_texts))
        self.blocking_label.setVisible(bool(blocking_texts))
        self._fit_blocking()
        self.total_label.setText(t("rx.total", lang, amount=money(total_amount(self.lines))))
        self.sign_button.setEnabled(self.plan.signable(self.acknowledged))

    def _fit_blocking(self) -> None:
        """One line per blocking finding, elided to the box's width (the whole text in the tooltip), so
        every one stays in view without pushing the lines table off the screen."""
        label = self.blocking_label
        texts = getattr(self, "_blocking_texts", [])
        width = max(label.contentsRect().width(), 200)
        metrics = label.fontMetrics()
        label.setText(
            "\n".join(metrics.elidedText(text, Qt.TextElideMode.ElideRight, width) for text in texts)
        )

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_blocking()

    def _ack_changed(self, item: QListWidgetItem) -> None:
        key = item.data(Qt.ItemDataRole.UserRole)
        if key is None:
            return
        key = tuple(key)
        if item.checkState() == Qt.CheckState.Checked:
            self.acknowledged.add(key)  # type: ignore[arg-type]
        else:
            self.acknowledged.discard(key)  # type: ignore[arg-type]
        self.sign_button.setEnabled(self.plan is not None and self.plan.signable(self.acknowledged))

    def acknowledge_all(self) -> None:
        """Tick every warning (tests and the keyboard: Ctrl+K)."""
        if self.plan is None:
            return
        self.acknowledged |= {f.key for f in self.plan.findings if not f.blocking}
        self.replan()

    # -- renew and order sets -----------------------------------------------------------------------

    def renew_selected(self) -> None:
        rx = next((r for r in self.previous if r.id == self.renew_combo.currentData()), None)
        if rx is None or self.formulary is None or self.consult is None:
            return
        if rx.patient_id != self.consult.patient.id:  # never another patient's prescription
            return
        ids = [str(line["drug"]["id"]) for line in rx.lines]

        def got(drugs: dict[str, Drug]) -> None:
            for line in rx.lines:
                drug = drugs.get(str(line["drug"]["id"]))
                if drug is None:
                    self.state.message(
                        t("rx.drug_gone", self.state.lang, drug=line["drug"]["generic_name"]), "warning"
                    )
                    continue
                old = RxLine.model_validate(line)
                self.add_drug(
                    drug,
                    dose=old.dose,
                    dose_unit=old.dose_unit,
                    frequency=old.frequency.code,
                    route=old.route.code,
                    days=old.days,
                    note=old.note,
                )
            self.renewed_from = rx.id
            base = rx.rx_type if rx.rx_type in BASE_TYPES else "ordinary"
            self.type_combo.setCurrentIndex(max(self.type_combo.findData(base), 0))

        self.state.query(self, lambda store: _drugs_by_id(store, ids), got)

    def insert_selected_set(self) -> None:
        order_set = next((s for s in self.order_sets if s.id == self.set_combo.currentData()), None)
        if order_set is None:
            return
        ids = [line.drug_id for line in order_set.lines]

        def got(drugs: dict[str, Drug]) -> None:
            for set_line in order_set.lines:
                drug = drugs.get(set_line.drug_id)
                if drug is None:
                    self.state.message(t("rx.drug_gone", self.state.lang, drug=set_line.drug_name), "warning")
                    continue
                line = self.add_drug(
                    drug,
                    dose=set_line.dose,
                    dose_unit=set_line.dose_unit or None,
                    frequency=set_line.frequency or None,
                    route=set_line.route or None,
                    days=set_line.days,
                    note=set_line.note,
                )
                if line is not None and set_line.quantity:
                    self.lines[-1] = edit_line(line, quantity=set_line.quantity)
            self._fill_table()
            if order_set.exam_item_ids:
                self.sig_order_items.emit(list(order_set.exam_item_ids))

        self.state.query(self, lambda store: _drugs_by_id(store, ids), got)

    sig_order_items = Signal(list)  # exam item ids an order set asks for

    def save_as_set(self) -> None:
        if not self.lines:
            return
        lang = self.state.lang
        answer = NameScopeDialog.ask(self, lang=lang, title=t("rx.save_set", lang))
        if answer is None:
            return
        name, scope = answer
        lines, rx_type = list(self.lines), self._rx_type()
        exam_ids = [
            o.exam_item_id for o in (self.consult.orders if self.consult else []) if o.status == "ordered"
        ]
        self.state.act(
            self,
            lambda store: actions.save_order_set(store, name, scope, rx_type, lines, exam_ids, lang),
            changes=("order_set",),
            success=lambda _id: self.state.message(t("rx.set_saved", lang, name=name), "ok"),
        )

    # -- sign, print, amend, cancel -------------------------------------------------------------------

    def sign(self) -> None:
        plan, data, lang = self.plan, self.consult, self.state.lang
        if plan is None or data is None or not self.isEnabled():
            return
        if not plan.signable(self.acknowledged):
            blocks = plan.blocking()
            key = "rx.cannot_sign_blocked" if blocks else "rx.cannot_sign_unack"
            self.state.message(
                t(key, lang, n=len(blocks) or len(plan.open_warnings(self.acknowledged))), "error"
            )
            return
        acknowledged = set(self.acknowledged)
        amending = self.amending
        if amending is not None and len(plan.prescriptions) != 1:
            self.state.message(t("rx.amend_one", lang), "error")
            return
        formulary = self.formulary
        pharmacy_id = formulary.pharmacy.id if formulary and formulary.pharmacy else None
        patient_id, visit_id, renewed = data.patient.id, data.visit.id, self.renewed_from
        patient = self.patient_facts()
        diagnoses = list(self.diagnoses())

        def failed(error: BaseException) -> None:
            if not pin_refused(self.state, error):
                self.state.show_error(error)

        def signed(rows: list[Prescription]) -> None:
            self.state.message(t("rx.signed", lang, numbers="、".join(r.number for r in rows)), "ok")
            self.clear()
            self.sig_signed.emit(rows)
            for rx in rows:
                self.print_rx(rx)

        def go(key: Any, key_id: str, pin: str) -> None:
            self.state.remember_pin(pin)
            if amending is not None:
                planned = plan.prescriptions[0]
                from workstation.rx_plan import acknowledgements_for

                acks = acknowledgements_for(planned, acknowledged, self.state.staff.id, actions.now_local())  # type: ignore[union-attr]

                def amend(store: Any) -> list[Prescription]:
                    return [
                        actions.amend_and_sign(
                            store,
                            amending.id,
                            list(planned.group.lines),
                            acks,
                            rx_type=planned.group.rx_type,
                            diagnoses=diagnoses,
                            patient=patient,  # type: ignore[arg-type]
                            key=key,
                            key_id=key_id,
                            pin=pin,
                            lang=lang,
                        )
                    ]

                self.state.act(self, amend, changes=("rx",), success=signed, failure=failed)
                return
            self.state.act(
                self,
                lambda store: actions.write_and_sign(
                    store,
                    plan,
                    acknowledged,
                    patient_id=patient_id,
                    visit_id=visit_id,
                    pharmacy_id=pharmacy_id,
                    key=key,
                    key_id=key_id,
                    pin=pin,
                    renewed_from_id=renewed,
                    lang=lang,
                ),
                changes=("rx",),
                success=signed,
                failure=failed,
            )

        what = t(
            "pin.what_rx_detail",
            lang,
            n=len(plan.prescriptions),
            amount=money(total_amount([line for p in plan.prescriptions for line in p.group.lines])),
        )
        with_key(self, self.state, what, go)

    def print_rx(self, rx: Prescription) -> None:
        rx_id = rx.id

        def render(store: Any, reprint: bool) -> bytes:
            from shared.printing.prescription import render_prescription
            from workstation.documents import prescription_print

            row = store.get(Prescription, rx_id)
            return render_prescription(prescription_print(store, row, reprint=reprint))

        self.state.print_pdf(
            self, kind="prescription", document="prescription", ref_id=rx.id, title=rx.number, render=render
        )

    def _selected_written(self) -> Prescription | None:
        row = selected_row(self.written_table)
        return (
            self.written_model.row(row) if row is not None and row < self.written_model.rowCount() else None
        )

    def reprint_selected(self) -> None:
        rx = self._selected_written()
        if rx is not None:
            self.print_rx(rx)

    def amend_selected(self) -> None:
        rx = self._selected_written()
        if rx is not None:
            self.start_amend(rx)

    def start_amend(self, rx: Prescription) -> None:
        """Load a rejected (or draft) prescription into the editor; signing amends and re-signs it."""
        lang = self.state.lang
        if rx.status not in ("rejected", "draft"):
            self.state.message(t("rx.not_amendable", lang, number=rx.number), "info")
            return
        self.clear()
        self.lines = [RxLine.model_validate(line) for line in rx.lines]
        self.amending = rx
        base = rx.rx_type if rx.rx_type in BASE_TYPES else "ordinary"
        self.type_combo.setCurrentIndex(max(self.type_combo.findData(base), 0))
        self.amend_label.setText(t("rx.amending", lang, number=rx.number, reason=rx.review_reason or "—"))
        self.amend_label.setVisible(True)
        self._fill_table()

    def cancel_selected(self) -> None:
        rx = self._selected_written()
        if rx is None:
            return
        lang = self.state.lang
        reason = ReasonDialog.ask(self, lang=lang, title=t("rx.cancel", lang), intro=rx.number)
        if reason is None:
            return
        self.state.act(self, lambda store: actions.cancel_rx(store, rx.id, reason, lang), changes=("rx",))


def _drugs_by_id(store: Any, ids: list[str]) -> dict[str, Drug]:
    out: dict[str, Drug] = {}
    with store.reading() as view:
        for drug_id in ids:
            drug = view.get(Drug, drug_id)
            if drug is not None and not drug.voided:
                out[drug_id] = drug
    return out


def day_of(value: dt.datetime) -> dt.date:
    return clinic_time.local(value).date()
