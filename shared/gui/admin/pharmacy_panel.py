"""Pharmacies and their settings for the administrator: whether a pharmacy takes payment before it issues
pickup codes and whether it checks a pickup code at all, in plain words; new, edit, retire, history.
Saved as ``reference.save`` / ``reference.retire`` of kind ``pharmacy`` (the import's row rule), so a
change is audited and reaches every pharmacy PC through the feed, and waits in the outbox while offline."""

from __future__ import annotations

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
    QVBoxLayout,
    QWidget,
)

from shared.domain.entities import Campus, Pharmacy
from shared.gui import theme
from shared.gui.admin.list_panel import OneKindPanel, muted_if_retired, save_cancel, status_column
from shared.gui.admin.settings_texts import s
from shared.gui.admin.texts import kind_label, t
from shared.gui.ops import OpBus
from shared.gui.widgets import Column, MessageLine, note_label
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
        note = note_label(s("ph.hint", lang))
        layout.addWidget(note)
        self.problem = MessageLine()
        layout.addWidget(self.problem)
        layout.addStretch(1)
        buttons = save_cancel(self, t("save", lang), t("cancel", lang), self._accept)
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


def _columns(lang: str) -> list[Column[PharmacyRow]]:
    def yes_no(name: str) -> Callable[[PharmacyRow], str]:
        return lambda r: s("yes" if r.cells[name] == "1" else "no", lang)

    muted = muted_if_retired
    return [
        status_column(lang),
        Column(s("ph.code", lang), lambda r: r.cells["code"], colour=muted),
        Column(s("ph.name", lang), lambda r: r.cells["name"], colour=muted),
        Column(s("ph.campus", lang), lambda r: r.campus_name, colour=muted),
        Column(s("ph.kind", lang), lambda r: s(f"ph.kind.{r.cells['kind']}", lang), colour=muted),
        Column(s("ph.payment", lang), yes_no("payment_required"), colour=muted),
        Column(s("ph.pickup", lang), yes_no("pickup_code_required"), colour=muted),
    ]


class PharmacyPanel(OneKindPanel[PharmacyRow]):
    KIND = KIND
    load_op = staticmethod(load)
    ask_pharmacy: Callable[..., dict[str, str] | None] = PharmacyDialog.ask

    def __init__(self, bus: OpBus, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(bus, lang, s("search.pharmacies", lang), _columns(lang), parent)
        self.campuses: list[tuple[str, str]] = []
        self._lay_out(self.buttons)

    def _took(self, campuses: list[tuple[str, str]]) -> None:
        self.campuses = campuses

    def _ask(self, values: dict[str, str] | None) -> dict[str, str] | None:
        return type(self).ask_pharmacy(self, self.lang, values, self.campuses)
