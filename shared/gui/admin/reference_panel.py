"""Browse and edit one kind of reference data (drugs first) with search: new rows, changes and retiring
(never deleting) are recorded as ``reference.save`` / ``reference.retire`` mutations in this PC's outbox,
so they follow the usual rules (admin role, audit, sync to every PC) and survive a network outage."""

from __future__ import annotations

import functools
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
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from shared.domain.entities import ENTITY_BY_KIND, Entity
from shared.gui import theme
from shared.gui.admin.texts import KIND_ORDER, field_label, kind_label, t
from shared.gui.ops import CollectionOp, OpBus, OpChanges, QueryOp
from shared.gui.widgets import Column, MessageLine, RowsModel, selected_row, table_view
from shared.reference_io import export
from shared.reference_io.plan import KINDS


@dataclass(frozen=True)
class RefRow:
    entity: Entity
    cells: tuple[str, ...]  # export.columns(kind) order
    haystack: str  # lower-case text the search looks in


def _cell(index: int, row: RefRow) -> str:
    return row.cells[index]


def _muted(row: RefRow) -> str | None:
    return theme.MUTED if row.entity.voided else None


def load_rows(store: Any, kind: str) -> list[RefRow]:
    """Every row of ``kind`` (retired ones too) as the texts an import file would hold; database thread."""
    spec = KINDS[kind]
    codes_by_id = {
        other: {
            e.id: str(getattr(e, "code", "")) for e in store.all(ENTITY_BY_KIND[other], include_voided=True)
        }
        for other in set(spec.references.values())
    }
    entities = sorted(store.all(spec.entity, include_voided=True), key=lambda e: str(getattr(e, "code", "")))
    rows = []
    for entity in entities:
        cells = tuple(export.row(spec, entity, codes_by_id))
        rows.append(RefRow(entity, cells, " ".join(cells).lower()))
    return rows


class RowDialog(QDialog):
    """One row's fields, as ``clinic export`` names them; yes/no fields as check boxes."""

    def __init__(
        self, kind: str, lang: str, values: dict[str, str] | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.kind = kind
        self.lang = lang
        spec = KINDS[kind]
        editing = values is not None
        values = values or {}
        code = values.get("code", "")
        self.setWindowTitle(
            t("edit.title.change", lang, kind=kind_label(kind, lang), code=code)
            if editing
            else t("edit.title.new", lang, kind=kind_label(kind, lang))
        )
        self.inputs: dict[str, QLineEdit | QCheckBox] = {}
        form_host = QWidget()
        form = QFormLayout(form_host)
        for name in export.columns(spec):
            widget: QLineEdit | QCheckBox
            if name in spec.flags:
                widget = QCheckBox()
                widget.setChecked(values.get(name) == "1")
            else:
                widget = QLineEdit(values.get(name, ""))
                if name == "code" and editing:
                    widget.setReadOnly(True)  # a row's identity is its code
            widget.setObjectName(f"field-{name}")
            self.inputs[name] = widget
            form.addRow(field_label(name, lang), widget)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_host)
        hint = QLabel(t("edit.hint", lang))
        hint.setWordWrap(True)
        hint.setStyleSheet(f"color: {theme.MUTED};")
        self.problem = MessageLine()
        buttons = QDialogButtonBox()
        buttons.addButton(t("save", lang), QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(t("cancel", lang), QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.resize(560, 620)

    def fields(self) -> dict[str, str]:
        out = {}
        for name, widget in self.inputs.items():
            if isinstance(widget, QCheckBox):
                out[name] = "1" if widget.isChecked() else "0"
            else:
                out[name] = widget.text().strip()
        return out

    def _accept(self) -> None:
        if not self.fields().get("code"):
            self.problem.show_message(t("code_required", self.lang), "error")
            return
        self.accept()

    @classmethod
    def ask(
        cls, parent: QWidget | None, kind: str, lang: str, values: dict[str, str] | None
    ) -> dict[str, str] | None:
        """The edited fields, or None if cancelled (tests replace this)."""
        dialog = cls(kind, lang, values, parent)
        return dialog.fields() if dialog.exec() == QDialog.DialogCode.Accepted else None


def ask_reason(parent: QWidget | None, title: str, label: str) -> str | None:
    text, ok = QInputDialog.getText(parent, title, label)
    return text.strip() if ok and text.strip() else None


class ReferencePanel(QWidget):
    """Kind, search, the table (retired rows greyed, hidden unless asked), New / Edit / Retire."""

    # "who changed this row and when": the window shows the audit log filtered to the row's edits
    sig_history_requested = Signal(str, str)  # kind, code

    ask_row: Callable[..., dict[str, str] | None] = RowDialog.ask
    ask_reason: Callable[[QWidget | None, str, str], str | None] = staticmethod(ask_reason)

    def __init__(self, bus: OpBus, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lang = lang
        self._rows: list[RefRow] = []
        self._query: QueryOp[list[RefRow]] | None = None
        self.loaded_kind = ""
        self.kind_box = QComboBox()
        for kind in KIND_ORDER:
            self.kind_box.addItem(kind_label(kind, lang), kind)
        self.search = QLineEdit()
        self.search.setPlaceholderText(t("search", lang))
        self.search.setClearButtonEnabled(True)
        self.show_retired = QCheckBox(t("show_retired", lang))
        self.new_button = QPushButton(t("new", lang))
        self.edit_button = QPushButton(t("edit", lang))
        self.retire_button = QPushButton(t("retire", lang))
        self.history_button = QPushButton(t("history", lang))
        self.count = QLabel()
        self.message = MessageLine()
        self.model: RowsModel[RefRow] = RowsModel([])
        self.view = table_view(self.model)
        top = QHBoxLayout()
        top.addWidget(QLabel(t("kind", lang)))
        top.addWidget(self.kind_box)
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
        self.kind_box.currentIndexChanged.connect(lambda _i: self.reload())
        self.new_button.clicked.connect(self.new_row)
        self.edit_button.clicked.connect(self.edit_row)
        self.retire_button.clicked.connect(self.retire_row)
        self.history_button.clicked.connect(self._history)
        self.view.doubleClicked.connect(lambda _index: self.edit_row())
        bus.sig_operation_did_execute.connect(self._changed)

    @property
    def kind(self) -> str:
        return str(self.kind_box.currentData())

    def set_kind(self, kind: str) -> None:
        self.kind_box.setCurrentIndex(KIND_ORDER.index(kind))

    def reload(self) -> None:
        kind = self.kind
        if self._query is not None:
            self._query.cancel()
        self.count.setText(t("loading", self.lang))
        self._query = QueryOp(
            parent=self,
            op=lambda store: load_rows(store, kind),
            success=lambda rows: self._loaded(kind, rows),
        )
        self._query.failure(lambda error: self.message.show_message(str(error), "error")).run_in_background()

    def _loaded(self, kind: str, rows: list[RefRow]) -> None:
        if kind != self.kind:
            return
        names = export.columns(KINDS[kind])
        columns: list[Column[RefRow]] = [
            Column(
                t("status", self.lang),
                lambda r: t("status.retired" if r.entity.voided else "status.live", self.lang),
                colour=lambda r: theme.MUTED if r.entity.voided else theme.OK,
            )
        ]
        for i, name in enumerate(names):
            columns.append(Column(field_label(name, self.lang), functools.partial(_cell, i), colour=_muted))
        header = self.view.horizontalHeader()
        # sized once per load, not on every search (sizing to 20,000 drugs at each keystroke would lag)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.model.columns = columns
        self._rows = rows
        self.loaded_kind = kind
        self._filter()
        self.view.resizeColumnsToContents()
        header.setStretchLastSection(True)

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
        if self.loaded_kind and changes.touches(self.loaded_kind):
            self.reload()

    def _history(self) -> None:
        row = self._selected()
        if row is not None:
            self.sig_history_requested.emit(self.kind, str(getattr(row.entity, "code", "")))

    def _selected(self) -> RefRow | None:
        index = selected_row(self.view)
        if index is None or index >= self.model.rowCount():
            self.message.show_message(t("select_row", self.lang), "warning")
            return None
        return self.model.row(index)

    def new_row(self) -> None:
        fields = type(self).ask_row(self, self.kind, self.lang, None)
        if fields is not None:
            self._save(fields, None)

    def edit_row(self) -> None:
        row = self._selected()
        if row is None:
            return
        names = export.columns(KINDS[self.kind])
        before = dict(zip(names, row.cells, strict=True))
        fields = type(self).ask_row(self, self.kind, self.lang, before)
        if fields is not None:
            # only what was changed: a new name then gets new pinyin initials, as on import
            changed = {k: v for k, v in fields.items() if v != before.get(k)}
            # a diagnosis is one code of one set: the set names the row (code sets side by side)
            identity: dict[str, str] = {k: before[k] for k in ("code", "code_set") if k in before}
            self._save({**identity, **changed}, row.entity.version)

    def _save(self, fields: dict[str, str], base_version: int | None) -> None:
        kind, lang = self.kind, self.lang
        code = fields.get("code", "")
        args = {"kind": kind, "fields": {k: v for k, v in fields.items() if v != ""}}

        def record(store: Any) -> Any:
            return store.record("reference.save", args, base_version=base_version, lang=lang)

        CollectionOp(self, record, changes=(kind, OpChanges.OUTBOX)).success(
            lambda _entry: self.message.show_message(
                t("saved", lang, kind=kind_label(kind, lang), code=code), "ok"
            )
        ).failure(
            lambda error: self.message.show_message(getattr(error, "message", str(error)), "error")
        ).run_in_background()

    def retire_row(self) -> None:
        row = self._selected()
        if row is None:
            return
        kind, lang = self.kind, self.lang
        code = str(getattr(row.entity, "code", ""))
        reason = type(self).ask_reason(
            self, t("retire.title", lang, kind=kind_label(kind, lang), code=code), t("retire.reason", lang)
        )
        if reason is None:
            return
        args = {"kind": kind, "code": code, "reason": reason}
        code_set = getattr(row.entity, "code_set", None)
        if code_set:
            args["code_set"] = str(code_set)
        version = row.entity.version

        def record(store: Any) -> Any:
            return store.record("reference.retire", args, base_version=version, lang=lang)

        CollectionOp(self, record, changes=(kind, OpChanges.OUTBOX)).success(
            lambda _entry: self.message.show_message(
                t("retired", lang, kind=kind_label(kind, lang), code=code), "ok"
            )
        ).failure(
            lambda error: self.message.show_message(getattr(error, "message", str(error)), "error")
        ).run_in_background()
