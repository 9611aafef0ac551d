"""Browse and edit one kind of reference data (drugs first) with search: new rows, changes and retiring
(never deleting) are recorded as ``reference.save`` / ``reference.retire`` mutations in this PC's outbox,
so they follow the usual rules (admin role, audit, sync to every PC) and survive a network outage."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from shared.domain.entities import ENTITY_BY_KIND, Entity
from shared.gui.admin.list_panel import ReferenceListPanel, muted_if_retired, scrolled_edit, status_column
from shared.gui.admin.texts import KIND_ORDER, field_label, kind_label, t
from shared.gui.ops import OpBus, OpChanges
from shared.gui.widgets import Column
from shared.reference_io import export
from shared.reference_io.plan import KINDS


@dataclass(frozen=True)
class RefRow:
    entity: Entity
    cells: tuple[str, ...]  # export.columns(kind) order
    haystack: str  # lower-case text the search looks in


def _cell(index: int, row: RefRow) -> str:
    return row.cells[index]


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
        self.problem = scrolled_edit(self, lang, t("edit.hint", lang), form_host, self._accept)
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


class ReferencePanel(ReferenceListPanel[RefRow]):
    """Kind, search, the table (retired rows greyed, hidden unless asked), New / Edit / Retire."""

    ask_row: Callable[..., dict[str, str] | None] = RowDialog.ask

    def __init__(self, bus: OpBus, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(bus, lang, t("search", lang), [], parent)
        self.loaded_kind = ""
        self.kind_box = QComboBox()
        for kind in KIND_ORDER:
            self.kind_box.addItem(kind_label(kind, lang), kind)
        self._lay_out(self.buttons, leading=(QLabel(t("kind", lang)), self.kind_box))
        self.kind_box.currentIndexChanged.connect(lambda _i: self.reload())

    @property
    def kind(self) -> str:
        return str(self.kind_box.currentData())

    def set_kind(self, kind: str) -> None:
        self.kind_box.setCurrentIndex(KIND_ORDER.index(kind))

    def reload(self) -> None:
        kind = self.kind
        self._load(lambda store: load_rows(store, kind), lambda rows: self._loaded(kind, rows))

    def _loaded(self, kind: str, rows: list[RefRow]) -> None:
        if kind != self.kind:
            return
        names = export.columns(KINDS[kind])
        columns: list[Column[RefRow]] = [status_column(self.lang)]
        for i, name in enumerate(names):
            columns.append(
                Column(field_label(name, self.lang), functools.partial(_cell, i), colour=muted_if_retired)
            )
        self.model.columns = columns
        self.loaded_kind = kind
        self._show(rows)

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if self.loaded_kind and changes.touches(self.loaded_kind):
            self.reload()

    def _history(self) -> None:
        row = self._selected()
        if row is not None:
            self.sig_history_requested.emit(self.kind, str(getattr(row.entity, "code", "")))

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
        self._save_row(self.kind, {k: v for k, v in fields.items() if v != ""}, base_version)

    def retire_row(self) -> None:
        row = self._selected()
        if row is None:
            return
        code_set = getattr(row.entity, "code_set", None)
        extra = {"code_set": str(code_set)} if code_set else {}
        self._retire_row(self.kind, row, str(getattr(row.entity, "code", "")), extra)
