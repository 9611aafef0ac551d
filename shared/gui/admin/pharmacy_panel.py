"""Pharmacies and their settings for the administrator: whether a pharmacy takes payment before it issues
pickup codes and whether it checks a pickup code at all, in plain words; new, edit, retire, history.
Saved as ``reference.save`` / ``reference.retire`` of kind ``pharmacy`` (the import's row rule), so a
change is audited and reaches every pharmacy PC through the feed, and waits in the outbox while offline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from shared.domain.entities import Campus, Pharmacy
from shared.gui import theme
from shared.gui.admin.reference_panel import ask_reason
from shared.gui.admin.settings_texts import s
from shared.gui.admin.texts import kind_label, t
from shared.gui.ops import CollectionOp, OpBus, OpChanges, QueryOp
from shared.gui.widgets import Column, MessageLine, RowsModel, selected_row, table_view
from shared.reference_io import export
from shared.reference_io.plan import KINDS

KIND = "pharmacy"
PHARMACY_KINDS = ("outpatient", "emergency", "tcm", "central")


@dataclass(frozen=True)
class PharmacyRow:
    entity: Pharmacy
    cells: dict[str, str]  # the export's fields -> text
    campus_name: str
    haystack: str


def load(store: Any) -> tuple[list[PharmacyRow], list[tuple[str, str]]]:
    """Every pharmacy (retired ones too) and the live campuses (code, text); database thread."""
    spec = KINDS[KIND]
    campuses = store.all(Campus, include_voided=True)
    codes = {"campus": {c.id: c.code for c in campuses}}
    names = {c.code: c.name for c in campuses}
    rows = []
    for pharmacy in sorted(store.all(Pharmacy, include_voided=True), key=lambda p: p.code):
        cells = dict(zip(export.columns(spec), export.row(spec, pharmacy, codes), strict=True))
        campus = names.get(cells["campus_id"], cells["campus_id"])
        rows.append(PharmacyRow(pharmacy, cells, campus, " ".join([*cells.values(), campus]).lower()))
    live = [(c.code, f"{c.name} ({c.code})") for c in sorted(campuses, key=lambda c: c.code) if not c.voided]
    return rows, live


class PharmacyDialog(QDialog):
    def __init__(
        self,
        lang: str,
        values: dict[str, str] | None,
        campuses: list[tuple[str, str]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.lang = lang
        editing = values is not None
        values = dict(values or {})
        self.setWindowTitle(
            t("edit.title.change", lang, kind=kind_label(KIND, lang), code=values.get("code", ""))
            if editing
            else t("edit.title.new", lang, kind=kind_label(KIND, lang))
        )
        self.code = QLineEdit(values.get("code", ""))
        self.code.setReadOnly(editing)
        self.name = QLineEdit(values.get("name", ""))
        self.campus = QComboBox()
        for code, text in campuses:
            self.campus.addItem(text, code)
        index = self.campus.findData(values.get("campus_id", ""))
        if index >= 0:
            self.campus.setCurrentIndex(index)
        self.kind = QComboBox()
        for kind_code in PHARMACY_KINDS:
            self.kind.addItem(s(f"ph.kind.{kind_code}", lang), kind_code)
        index = self.kind.findData(values.get("kind", "outpatient"))
        self.kind.setCurrentIndex(max(index, 0))
        self.payment = QCheckBox(s("ph.payment", lang))
        self.payment.setChecked(values.get("payment_required") == "1")
        self.pickup = QCheckBox(s("ph.pickup", lang))
        self.pickup.setChecked(values.get("pickup_code_required", "1") != "0")
        form = QFormLayout()
        form.addRow(s("ph.code", lang), self.code)
        form.addRow(s("ph.name", lang), self.name)
        form.addRow(s("ph.campus", lang), self.campus)
        form.addRow(s("ph.kind", lang), self.kind)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for box, hint_key in ((self.payment, "ph.payment.hint"), (self.pickup, "ph.pickup.hint")):
            layout.addWidget(box)
            hint = QLabel(s(hint_key, lang))
            hint.setWordWrap(True)
            hint.setStyleSheet(f"color: {theme.MUTED}; margin-left: 22px;")
            layout.addWidget(hint)
        note = QLabel(s("ph.hint", lang))
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {theme.MUTED};")
        layout.addWidget(note)
        self.problem = MessageLine()
        layout.addWidget(self.problem)
        layout.addStretch(1)
        buttons = QDialogButtonBox()
        buttons.addButton(t("save", lang), QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(t("cancel", lang), QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(560, 460)

    def fields(self) -> dict[str, str]:
        return {
            "code": self.code.text().strip(),
            "name": self.name.text().strip(),
            "campus_id": str(self.campus.currentData() or ""),
            "kind": str(self.kind.currentData()),
            "payment_required": "1" if self.payment.isChecked() else "0",
            "pickup_code_required": "1" if self.pickup.isChecked() else "0",
        }

    def _accept(self) -> None:
        if not self.fields()["code"]:
            self.problem.show_message(t("code_required", self.lang), "error")
            return
        self.accept()

    @classmethod
    def ask(
        cls, parent: QWidget | None, lang: str, values: dict[str, str] | None, campuses: list[tuple[str, str]]
    ) -> dict[str, str] | None:
        """The edited fields, or None if cancelled (tests replace this)."""
        dialog = cls(lang, values, campuses, parent)
        return dialog.fields() if dialog.exec() == QDialog.DialogCode.Accepted else None


class PharmacyPanel(QWidget):
    sig_history_requested = Signal(str, str)  # kind, code

    ask_pharmacy: Callable[..., dict[str, str] | None] = PharmacyDialog.ask
    ask_reason: Callable[[QWidget | None, str, str], str | None] = staticmethod(ask_reason)

    def __init__(self, bus: OpBus, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lang = lang
        self._rows: list[PharmacyRow] = []
        self.campuses: list[tuple[str, str]] = []
        self.loaded = False
        self._query: QueryOp[Any] | None = None
        self.search = QLineEdit()
        self.search.setPlaceholderText(s("search.pharmacies", lang))
        self.search.setClearButtonEnabled(True)
        self.show_retired = QCheckBox(t("show_retired", lang))
        self.new_button = QPushButton(t("new", lang))
        self.edit_button = QPushButton(t("edit", lang))
        self.retire_button = QPushButton(t("retire", lang))
        self.history_button = QPushButton(t("history", lang))
        self.count = QLabel()
        self.message = MessageLine()

        def yes_no(name: str) -> Callable[[PharmacyRow], str]:
            return lambda r: s("yes" if r.cells[name] == "1" else "no", lang)

        def muted(row: PharmacyRow) -> str | None:
            return theme.MUTED if row.entity.voided else None

        self.model: RowsModel[PharmacyRow] = RowsModel(
            [
                Column(
                    t("status", lang),
                    lambda r: t("status.retired" if r.entity.voided else "status.live", lang),
                    colour=lambda r: theme.MUTED if r.entity.voided else theme.OK,
                ),
                Column(s("ph.code", lang), lambda r: r.cells["code"], colour=muted),
                Column(s("ph.name", lang), lambda r: r.cells["name"], colour=muted),
                Column(s("ph.campus", lang), lambda r: r.campus_name, colour=muted),
                Column(s("ph.kind", lang), lambda r: s(f"ph.kind.{r.cells['kind']}", lang), colour=muted),
                Column(s("ph.payment", lang), yes_no("payment_required"), colour=muted),
                Column(s("ph.pickup", lang), yes_no("pickup_code_required"), colour=muted),
            ]
        )
        self.view = table_view(self.model)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.show_retired)
        for button in (self.new_button, self.edit_button, self.retire_button, self.history_button):
            top.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.count)
        layout.addLayout(bottom)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._filter)
        self.search.textChanged.connect(lambda _text: self._debounce.start())
        self.show_retired.toggled.connect(lambda _on: self._filter())
        self.new_button.clicked.connect(self.new_pharmacy)
        self.edit_button.clicked.connect(self.edit_pharmacy)
        self.retire_button.clicked.connect(self.retire_pharmacy)
        self.history_button.clicked.connect(self._history)
        self.view.doubleClicked.connect(lambda _index: self.edit_pharmacy())
        bus.sig_operation_did_execute.connect(self._changed)

    def reload(self) -> None:
        if self._query is not None:
            self._query.cancel()
        self.count.setText(t("loading", self.lang))
        self._query = QueryOp(parent=self, op=load, success=self._loaded)
        self._query.failure(lambda error: self.message.show_message(str(error), "error")).run_in_background()

    def _loaded(self, result: tuple[list[PharmacyRow], list[tuple[str, str]]]) -> None:
        self._rows, self.campuses = result
        self.loaded = True
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self._filter()
        self.view.resizeColumnsToContents()
        self.view.horizontalHeader().setStretchLastSection(True)

    def _filter(self) -> None:
        words = self.search.text().strip().lower().split()
        live_only = not self.show_retired.isChecked()
        shown = [
            r
            for r in self._rows
            if (not live_only or not r.entity.voided) and all(w in r.haystack for w in words)
        ]
        self.model.set_rows(shown)
        self.count.setText(t("rows", self.lang, shown=len(shown), total=len(self._rows)))

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if self.loaded and changes.touches(KIND):
            self.reload()

    def _selected(self) -> PharmacyRow | None:
        index = selected_row(self.view)
        if index is None or index >= self.model.rowCount():
            self.message.show_message(t("select_row", self.lang), "warning")
            return None
        return self.model.row(index)

    def select_code(self, code: str) -> bool:
        for index, row in enumerate(self.model.rows()):
            if row.cells["code"] == code:
                self.view.selectRow(index)
                return True
        return False

    def _history(self) -> None:
        row = self._selected()
        if row is not None:
            self.sig_history_requested.emit(KIND, row.cells["code"])

    def new_pharmacy(self) -> None:
        fields = type(self).ask_pharmacy(self, self.lang, None, self.campuses)
        if fields is not None:
            self._save({k: v for k, v in fields.items() if v != ""}, None)

    def edit_pharmacy(self) -> None:
        row = self._selected()
        if row is None:
            return
        before = dict(row.cells)
        fields = type(self).ask_pharmacy(self, self.lang, before, self.campuses)
        if fields is not None:
            changed = {k: v for k, v in fields.items() if v != before.get(k)}
            if changed:
                self._save({"code": before["code"], **changed}, row.entity.version)

    def _save(self, fields: dict[str, str], base_version: int | None) -> None:
        lang, code = self.lang, fields.get("code", "")
        args = {"kind": KIND, "fields": fields}

        def record(store: Any) -> Any:
            return store.record("reference.save", args, base_version=base_version, lang=lang)

        CollectionOp(self, record, changes=(KIND, OpChanges.OUTBOX)).success(
            lambda _entry: self.message.show_message(
                t("saved", lang, kind=kind_label(KIND, lang), code=code), "ok"
            )
        ).failure(
            lambda error: self.message.show_message(getattr(error, "message", str(error)), "error")
        ).run_in_background()

    def retire_pharmacy(self) -> None:
        row = self._selected()
        if row is None:
            return
        lang, code = self.lang, row.cells["code"]
        reason = type(self).ask_reason(
            self, t("retire.title", lang, kind=kind_label(KIND, lang), code=code), t("retire.reason", lang)
        )
        if reason is None:
            return
        args = {"kind": KIND, "code": code, "reason": reason}
        version = row.entity.version

        def record(store: Any) -> Any:
            return store.record("reference.retire", args, base_version=version, lang=lang)

        CollectionOp(self, record, changes=(KIND, OpChanges.OUTBOX)).success(
            lambda _entry: self.message.show_message(
                t("retired", lang, kind=kind_label(KIND, lang), code=code), "ok"
            )
        ).failure(
            lambda error: self.message.show_message(getattr(error, "message", str(error)), "error")
        ).run_in_background()
