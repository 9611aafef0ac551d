"""The consultation: patient banner, visit note with templates and autosave, diagnoses, orders, history.

The note autosaves (``emr.save`` to the local store) a few seconds after the doctor stops typing; Ctrl+S
saves at once; "sign note" signs it with the personal key (``emr.sign``); Ctrl+P prints it (A4).
Diagnoses are searched by ICD code, Chinese, English or pinyin initials; one is primary, each may carry
a free-text supplement, and a free-text diagnosis can be added. Orders come from the exam-item
catalogue (``order.create``). "Withdraw" (退诊) asks for a reason (``visit.withdraw``).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from shared import clinic_time
from shared.domain.allergies import allergy_status, allergy_text
from shared.domain.entities import ClinicalOrder, Diagnosis, EmrNote, ExamItem, NoteDiagnosis, NoteTemplate
from shared.domain.masking import mask_id_number
from shared.domain.prescribing import DiagnosisFacts, age_text_zh
from shared.errors import SuiteError
from shared.gui import theme
from shared.gui.ops import OpChanges
from shared.ids import new_id
from shared.store.patient_views import record_patient_view
from workstation import actions, queries
from workstation.dialogs import NameScopeDialog, ReasonDialog
from workstation.formats import NOTE_TITLES, money
from workstation.queries import ConsultData, HistoryEntry
from workstation.sign_flow import pin_refused, with_key
from workstation.state import WorkState
from workstation.texts import t

AUTOSAVE_MS = 4000
SECTIONS = tuple(NOTE_TITLES)


class DiagnosisPicker(QGroupBox):
    """Search the ICD-10 dictionary and keep the visit's diagnoses (one primary, supplements)."""

    sig_changed = Signal()

    def __init__(self, state: WorkState) -> None:
        super().__init__(t("dx.title", state.lang))
        self.state = state
        lang = state.lang
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(t("dx.search", lang))
        row.addWidget(self.search_edit, 1)
        self.free_button = QPushButton(t("dx.free_text", lang))
        row.addWidget(self.free_button)
        layout.addLayout(row)
        self.results = QListWidget()
        self.results.setMaximumHeight(110)
        self.results.setVisible(False)
        layout.addWidget(self.results)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(
            [t("dx.code", lang), t("dx.name", lang), t("dx.primary", lang), t("dx.supplement", lang)]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(96)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.primary_button = QPushButton(t("dx.set_primary", lang))
        self.remove_button = QPushButton(t("dx.remove", lang))
        buttons.addWidget(self.primary_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self._seq = 0
        self._filling = False
        self.usage: Any = None  # shared.store.search.Usage of diagnoses for this doctor and department
        self.search_edit.textEdited.connect(self._search)
        self.search_edit.returnPressed.connect(self._pick_first)
        self.search_edit.installEventFilter(self)
        self.results.itemActivated.connect(self._picked)
        self.free_button.clicked.connect(self.add_free_text)
        self.primary_button.clicked.connect(self.set_primary)
        self.remove_button.clicked.connect(self.remove_selected)
        self.table.itemChanged.connect(self._item_changed)
        self.read_only = False

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 - Qt override
        from PySide6.QtCore import QEvent

        if (
            watched is self.search_edit
            and event.type() == QEvent.Type.KeyPress
            and event.key() == Qt.Key.Key_Down
            and self.results.isVisible()
        ):
            self.results.setFocus()
            self.results.setCurrentRow(0)
            return True
        return super().eventFilter(watched, event)

    def load_usage(self) -> None:
        """Count how often this doctor and department diagnose each ICD entry (for the search order)."""

        def got(usage: Any) -> None:
            self.usage = usage

        self.state.load_usage(self, Diagnosis, got)

    def _search(self, text: str) -> None:
        self._seq += 1
        seq = self._seq
        usage = self.usage

        def shown(found: list[Diagnosis]) -> None:
            if seq != self._seq:
                return
            self.results.clear()
            for dx in found:
                item = QListWidgetItem(f"{dx.code}  {dx.name_zh}  {dx.name_en}")
                item.setData(Qt.ItemDataRole.UserRole, dx)
                self.results.addItem(item)
            self.results.setVisible(bool(found))

        self.state.query(self, lambda store: queries.search_diagnoses(store, text, 20, usage=usage), shown)

    def _pick_first(self) -> None:
        if self.results.count():
            self._picked(self.results.item(0))

    def _picked(self, item: QListWidgetItem) -> None:
        dx: Diagnosis = item.data(Qt.ItemDataRole.UserRole)
        self.add(NoteDiagnosis(code=dx.code, name=dx.name_zh, code_set=dx.code_set))
        self.search_edit.clear()
        self.results.clear()
        self.results.setVisible(False)
        self.search_edit.setFocus()

    def add_free_text(self) -> None:
        text = self.search_edit.text().strip()
        if not text:
            self.state.message(t("dx.free_text_hint", self.state.lang), "info")
            return
        self.add(NoteDiagnosis(code="", name=text[:200]))
        self.search_edit.clear()
        self.results.setVisible(False)

    def add(self, diagnosis: NoteDiagnosis) -> None:
        if self.read_only:
            return
        current = self.diagnoses()
        key = diagnosis.code or diagnosis.name
        if any((d.code or d.name) == key for d in current):
            self.state.message(t("dx.already", self.state.lang, name=diagnosis.name), "info")
            return
        if not current:
            diagnosis = diagnosis.model_copy(update={"primary": True})
        self.set_diagnoses([*current, diagnosis])
        self.sig_changed.emit()

    def set_diagnoses(self, diagnoses: list[NoteDiagnosis]) -> None:
        self._filling = True
        self.table.setRowCount(0)
        for row, dx in enumerate(diagnoses):
            self.table.insertRow(row)
            code = QTableWidgetItem(dx.code or t("dx.free", self.state.lang))
            code.setFlags(code.flags() & ~Qt.ItemFlag.ItemIsEditable)
            code.setData(Qt.ItemDataRole.UserRole, dx.code)
            code.setData(Qt.ItemDataRole.UserRole + 1, dx.code_set)  # the set it was chosen from, kept
            if dx.code_set:
                code.setToolTip(dx.code_set)
            name = QTableWidgetItem(dx.name)
            if dx.code:
                name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            primary = QTableWidgetItem("★" if dx.primary else "")
            primary.setFlags(primary.flags() & ~Qt.ItemFlag.ItemIsEditable)
            primary.setForeground(Qt.GlobalColor.darkRed)
            supplement = QTableWidgetItem(dx.supplement)
            for column, item in enumerate((code, name, primary, supplement)):
                self.table.setItem(row, column, item)
        self._filling = False

    def diagnoses(self) -> list[NoteDiagnosis]:
        out = []
        for row in range(self.table.rowCount()):
            items = [self.table.item(row, c) for c in range(4)]
            if any(i is None for i in items):
                continue
            name = items[1].text().strip()  # type: ignore[union-attr]
            if not name:
                continue
            out.append(
                NoteDiagnosis(
                    code=str(items[0].data(Qt.ItemDataRole.UserRole) or ""),  # type: ignore[union-attr]
                    name=name[:200],
                    primary=items[2].text() == "★",  # type: ignore[union-attr]
                    supplement=items[3].text().strip()[:200],  # type: ignore[union-attr]
                    code_set=str(items[0].data(Qt.ItemDataRole.UserRole + 1) or ""),  # type: ignore[union-attr]
                )
            )
        return out

    def facts(self) -> list[DiagnosisFacts]:
        """The diagnoses for a prescription, primary first."""
        ordered = sorted(self.diagnoses(), key=lambda d: not d.primary)
        return [
            DiagnosisFacts(
                code=d.code,
                name=d.name + (f"（{d.supplement}）" if d.supplement else ""),
                code_set=d.code_set,
            )
            for d in ordered
        ]

    def set_primary(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.read_only:
            return
        chosen = rows[0].row()
        current = self.diagnoses()
        self.set_diagnoses([d.model_copy(update={"primary": i == chosen}) for i, d in enumerate(current)])
        self.sig_changed.emit()

    def remove_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.read_only:
            return
        current = self.diagnoses()
        del current[rows[0].row()]
        if current and not any(d.primary for d in current):
            current[0] = current[0].model_copy(update={"primary": True})
        self.set_diagnoses(current)
        self.sig_changed.emit()

    def _item_changed(self, _item: QTableWidgetItem) -> None:
        if not self._filling:
            self.sig_changed.emit()

    def set_read_only(self, read_only: bool) -> None:
        self.read_only = read_only
        for widget in (self.search_edit, self.free_button, self.primary_button, self.remove_button):
            widget.setEnabled(not read_only)
        triggers = (
            QAbstractItemView.EditTrigger.NoEditTriggers
            if read_only
            else QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.table.setEditTriggers(triggers)


class NoteEditor(QWidget):
    """The visit note's sections, templates and diagnoses; autosaves drafts."""

    sig_saved = Signal(object)  # EmrNote

    def __init__(self, state: WorkState) -> None:
        super().__init__()
        self.state = state
        lang = state.lang
        self.note_id = ""
        self.visit_id = ""
        self.status = "draft"
        self._dirty = False
        self._saving = False
        self._filling = False
        self.templates: list[NoteTemplate] = []

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel(t("note.template", lang)))
        self.template_combo = QComboBox()
        self.template_combo.setMinimumWidth(160)
        top.addWidget(self.template_combo, 1)
        self.apply_template_button = QPushButton(t("note.apply_template", lang))
        self.save_template_button = QPushButton(t("note.save_template", lang))
        top.addWidget(self.apply_template_button)
        top.addWidget(self.save_template_button)
        self.save_state = QLabel("")
        self.save_state.setProperty("role", "notice")
        self.save_state.setMinimumWidth(
            self.save_state.fontMetrics().horizontalAdvance("已自动保存 00:00:00") + 8
        )
        top.addWidget(self.save_state)
        outer.addLayout(top)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        form = QFormLayout(body)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.edits: dict[str, QPlainTextEdit] = {}
        # compact enough that the diagnoses start inside the first screen at 1366×768
        heights = {
            "chief_complaint": 40,
            "present_illness": 64,
            "past_history": 48,
            "allergy_history": 40,
            "examination": 56,
            "advice": 48,
        }
        for name in SECTIONS:
            edit = QPlainTextEdit()
            edit.setTabChangesFocus(True)
            edit.setFixedHeight(heights.get(name, 56))
            edit.textChanged.connect(self._edited)
            self.edits[name] = edit
            label = QLabel(t(f"note.{name}", lang))
            label.setBuddy(edit)
            form.addRow(label, edit)
        self.diagnosis = DiagnosisPicker(state)
        self.diagnosis.sig_changed.connect(self._edited)
        form.addRow(self.diagnosis)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)

        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_MS)
        self._autosave.timeout.connect(self.save)
        self.apply_template_button.clicked.connect(self.apply_template)
        self.save_template_button.clicked.connect(self.save_as_template)

    # -- content ------------------------------------------------------------------------------------

    def content(self) -> actions.NoteContent:
        return actions.NoteContent(
            {name: self.edits[name].toPlainText().strip()[: _limit(name)] for name in SECTIONS},
            self.diagnosis.diagnoses(),
        )

    def load(self, data: ConsultData) -> None:
        """Show the visit's note, or a new draft prefilled from the pre-consult text and allergies."""
        self._autosave.stop()
        self._filling = True
        self.visit_id = data.visit.id
        note = data.note
        if note is not None:
            self.note_id = note.id
            self.status = note.status
            for name in SECTIONS:
                self.edits[name].setPlainText(getattr(note, name))
            self.diagnosis.set_diagnoses(list(note.diagnoses))
        else:
            self.note_id = new_id()
            self.status = "draft"
            for edit in self.edits.values():
                edit.clear()
            if data.appointment and data.appointment.pre_consult_text:
                self.edits["chief_complaint"].setPlainText(data.appointment.pre_consult_text)
            if data.patient.allergies:
                self.edits["allergy_history"].setPlainText("、".join(data.patient.allergies))
            self.diagnosis.set_diagnoses([])
        self._filling = False
        self._dirty = False
        self._apply_status(note)

    def _apply_status(self, note: EmrNote | None) -> None:
        signed = self.status != "draft"
        for edit in self.edits.values():
            edit.setReadOnly(signed)
        self.diagnosis.set_read_only(signed)
        self.apply_template_button.setEnabled(not signed)
        lang = self.state.lang
        if signed and note is not None and note.signed_at:
            self.save_state.setText(
                t("note.signed_at", lang, at=clinic_time.local(note.signed_at).strftime("%H:%M"))
            )
        elif note is not None:
            self.save_state.setText(
                t("note.saved_at", lang, at=clinic_time.local(note.saved_at).strftime("%H:%M:%S"))
            )
        else:
            self.save_state.setText(t("note.new", lang))

    def _edited(self) -> None:
        if self._filling or self.status != "draft" or not self.visit_id:
            return
        self._dirty = True
        self.save_state.setText(t("note.unsaved", self.state.lang))
        self._autosave.start()

    @property
    def dirty(self) -> bool:
        return self._dirty

    def flush(self) -> None:
        """Save a dirty draft now and stop autosaving (the window is closing)."""
        if self._dirty:
            self.save()
        self._autosave.stop()

    def save(self) -> None:
        """Record ``emr.save`` with the current text (autosave and Ctrl+S)."""
        self._autosave.stop()
        if not self.visit_id or self.status != "draft" or not self._dirty:
            return
        if self._saving:
            self._autosave.start()
            return
        self._saving = True
        self._dirty = False
        lang = self.state.lang
        note_id, visit_id, content = self.note_id, self.visit_id, self.content()

        def done(note: EmrNote) -> None:
            self._saving = False
            self._apply_status(note)
            self.sig_saved.emit(note)

        def failed(error: BaseException) -> None:
            self._saving = False
            self._dirty = True
            detail = getattr(error, "detail", None)
            if getattr(error, "code", "") == "note_exists" and isinstance(detail, dict):
                self.note_id = str(detail.get("note_id") or self.note_id)
            self.state.show_error(error)

        self.state.act(
            self,
            lambda store: actions.save_note(store, note_id, visit_id, content, lang),
            changes=("emr_note",),
            success=done,
            failure=failed,
        )

    def sign(self, on_signed: Any = None) -> None:
        if not self.visit_id:
            return
        if self.status != "draft":
            self.state.message(t("note.already_signed", self.state.lang), "info")
            return
        lang = self.state.lang
        self._autosave.stop()
        note_id, visit_id, content = self.note_id, self.visit_id, self.content()

        def signed(note: EmrNote) -> None:
            self._dirty = False
            self.status = note.status
            self._apply_status(note)
            self.state.message(t("note.signed", lang), "ok")
            self.sig_saved.emit(note)
            self.diagnosis.load_usage()  # this note's diagnoses count from now on
            if on_signed is not None:
                on_signed(note)

        def failed(error: BaseException) -> None:
            if not pin_refused(self.state, error):
                self.state.show_error(error)

        def go(key: Any, key_id: str, pin: str) -> None:
            self.state.remember_pin(pin)
            self.state.act(
                self,
                lambda store: actions.sign_note(store, note_id, visit_id, content, key, key_id, pin, lang),
                changes=("emr_note",),
                success=signed,
                failure=failed,
            )

        with_key(self, self.state, t("pin.what_note", lang), go)

    # -- templates ----------------------------------------------------------------------------------

    def set_templates(self, templates: list[NoteTemplate]) -> None:
        self.templates = templates
        current = self.template_combo.currentData()
        self.template_combo.clear()
        for template in templates:
            scope = t(f"scope.{template.scope}", self.state.lang)
            self.template_combo.addItem(f"{template.name}（{scope}）", template.id)
        index = self.template_combo.findData(current)
        if index >= 0:
            self.template_combo.setCurrentIndex(index)

    def apply_template(self) -> None:
        template = next((x for x in self.templates if x.id == self.template_combo.currentData()), None)
        if template is None or self.status != "draft":
            return
        for name in SECTIONS:
            text = getattr(template, name)
            if not text:
                continue
            edit = self.edits[name]
            current = edit.toPlainText().strip()
            edit.setPlainText(f"{current}\n{text}" if current and text not in current else current or text)
        for dx in template.diagnoses:
            self.diagnosis.add(dx.model_copy(update={"primary": False}))
        self._edited()

    def save_as_template(self) -> None:
        lang = self.state.lang
        answer = NameScopeDialog.ask(self, lang=lang, title=t("note.save_template", lang))
        if answer is None:
            return
        name, scope = answer
        content = self.content()
        self.state.act(
            self,
            lambda store: actions.save_template(store, name, scope, content, lang),
            changes=("note_template",),
            success=lambda _id: self.state.message(t("note.template_saved", lang, name=name), "ok"),
        )


def _limit(section: str) -> int:
    return {"chief_complaint": 500, "allergy_history": 1000, "advice": 2000}.get(section, 4000)


class OrdersPanel(QWidget):
    """Lab and imaging requests from the exam-item catalogue."""

    def __init__(self, state: WorkState) -> None:
        super().__init__()
        self.state = state
        lang = state.lang
        self.items: list[ExamItem] = []
        self.visit_id = ""
        self.orders: list[ClinicalOrder] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.kind_combo = QComboBox()
        self.kind_combo.addItem(t("order.kind_all", lang), "")
        self.kind_combo.addItem(t("order.kind_lab", lang), "lab")
        self.kind_combo.addItem(t("order.kind_imaging", lang), "imaging")
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(t("order.search", lang))
        row.addWidget(self.kind_combo)
        row.addWidget(self.search_edit, 1)
        layout.addLayout(row)
        self.item_list = QListWidget()
        self.item_list.setMaximumHeight(150)
        layout.addWidget(self.item_list)
        form = QHBoxLayout()
        self.urgent_box = QCheckBox(t("order.urgent", lang))
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText(t("order.note", lang))
        self.add_button = QPushButton(t("order.add", lang))
        form.addWidget(self.urgent_box)
        form.addWidget(self.note_edit, 1)
        form.addWidget(self.add_button)
        layout.addLayout(form)
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(
            [
                t("order.col.item", lang),
                t("order.col.kind", lang),
                t("order.col.site", lang),
                t("order.col.price", lang),
                t("order.col.status", lang),
                t("order.col.result", lang),
            ]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        bottom = QHBoxLayout()
        self.total_label = QLabel("")
        self.cancel_button = QPushButton(t("order.cancel", lang))
        bottom.addWidget(self.total_label)
        bottom.addStretch(1)
        bottom.addWidget(self.cancel_button)
        layout.addLayout(bottom)
        self.search_edit.textChanged.connect(self._filter)
        self.kind_combo.currentIndexChanged.connect(lambda _i: self._filter(self.search_edit.text()))
        self.search_edit.returnPressed.connect(self.add_selected)
        self.item_list.itemActivated.connect(lambda _item: self.add_selected())
        self.add_button.clicked.connect(self.add_selected)
        self.cancel_button.clicked.connect(self.cancel_selected)

    def set_items(self, items: list[ExamItem]) -> None:
        self.items = items
        self._filter(self.search_edit.text())

    def _filter(self, text: str) -> None:
        self.item_list.clear()
        for item in queries.filter_exam_items(self.items, text, self.kind_combo.currentData() or None)[:200]:
            kind = t(f"order.kind_{item.kind}", self.state.lang)
            entry = QListWidgetItem(
                f"{item.code}  {item.name_zh}  [{kind}] {item.specimen_or_site}  {money(item.price)}"
            )
            entry.setData(Qt.ItemDataRole.UserRole, item.id)
            self.item_list.addItem(entry)
        if self.item_list.count():
            self.item_list.setCurrentRow(0)

    def set_orders(self, visit_id: str, orders: list[ClinicalOrder]) -> None:
        self.visit_id = visit_id
        self.orders = orders
        lang = self.state.lang
        self.table.setRowCount(0)
        total = Decimal(0)
        for row, order in enumerate(orders):
            self.table.insertRow(row)
            status = t(f"order.status.{order.status}", lang) + (
                f"（{t('order.urgent', lang)}）" if order.urgent else ""
            )
            values = (
                order.item_name,
                t(f"order.kind_{order.kind}", lang),
                order.specimen_or_site,
                money(order.price),
                status,
                order.result_text or order.cancel_reason,
            )
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if order.result_flag in ("abnormal", "critical") and column == 5:
                    item.setForeground(Qt.GlobalColor.red)
                self.table.setItem(row, column, item)
            if order.status != "cancelled":
                total += order.price
        self.total_label.setText(t("order.total", lang, n=len(orders), amount=money(total)))

    def add_selected(self) -> None:
        item = self.item_list.currentItem()
        if item is None or not self.visit_id:
            return
        lang = self.state.lang
        item_id = str(item.data(Qt.ItemDataRole.UserRole))
        visit_id, urgent, note = (
            self.visit_id,
            self.urgent_box.isChecked(),
            self.note_edit.text().strip()[:500],
        )
        self.state.act(
            self,
            lambda store: actions.create_order(store, visit_id, item_id, urgent, note, lang),
            changes=("clinical_order",),
            success=lambda _id: self.state.message(
                t("order.added", lang, item=item.text().split("  ")[1]), "ok"
            ),
        )
        self.note_edit.clear()
        self.urgent_box.setChecked(False)

    def add_item_ids(self, item_ids: list[str]) -> None:
        """Order several catalogue items at once (an order set); already ordered ones are skipped."""
        if not self.visit_id or not item_ids:
            return
        lang, visit_id = self.state.lang, self.visit_id
        ordered = {o.exam_item_id for o in self.orders if o.status == "ordered"}

        def job(store: Any) -> int:
            count = 0
            for item_id in item_ids:
                if item_id not in ordered:
                    actions.create_order(store, visit_id, item_id, False, "", lang)
                    count += 1
            return count

        self.state.act(self, job, changes=("clinical_order",))

    def cancel_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        order = self.orders[rows[0].row()]
        lang = self.state.lang
        reason = ReasonDialog.ask(self, lang=lang, title=t("order.cancel", lang), intro=order.item_name)
        if reason is None:
            return
        self.state.act(
            self,
            lambda store: actions.cancel_order(store, order.id, reason, lang),
            changes=("clinical_order",),
        )


def history_html(entries: list[HistoryEntry], lang: str) -> str:
    """The patient's past visits as simple HTML (newest first)."""
    if not entries:
        return f"<p style='color:{theme.MUTED}'>{html.escape(t('history.empty', lang))}</p>"
    parts = []
    for entry in entries:
        visit = entry.visit
        head = f"{visit.visit_date:%Y-%m-%d}　{entry.department}　{entry.doctor}"
        if visit.status == "withdrawn":
            head += f"　<span style='color:{theme.WARN}'>{html.escape(t('history.withdrawn', lang))}</span>"
        parts.append(
            f"<h4 style='margin:8px 0 2px 0'>{html.escape(head) if '<span' not in head else head}</h4>"
        )
        for note in entry.notes:
            dx = "；".join(d.name + ("★" if d.primary else "") for d in note.diagnoses)
            parts.append(
                f"<div><b>{html.escape(t('note.chief_complaint', lang))}</b> {html.escape(note.chief_complaint)}"
                f"<br><b>{html.escape(t('dx.title', lang))}</b> {html.escape(dx)}</div>"
            )
        for rx in entry.prescriptions:
            names = "、".join(str(line.get("drug", {}).get("generic_name", "")) for line in rx.lines)
            status = t(f"rx.status.{rx.status}", lang)
            parts.append(
                f"<div>℞ {html.escape(rx.number)}（{html.escape(status)}）{html.escape(names)}</div>"
            )
        for order in entry.orders:
            result = f"：{order.result_text}" if order.result_text else ""
            colour = theme.ERROR if order.result_flag in ("abnormal", "critical") else "inherit"
            parts.append(
                f"<div style='color:{colour}'>▣ {html.escape(order.item_name)}{html.escape(result)}</div>"
            )
    return "".join(parts)


class ConsultScreen(QWidget):
    """Banner and tabs of the open consultation; the prescribing tab is added by the window."""

    sig_consult_loaded = Signal(object)  # ConsultData

    def __init__(self, state: WorkState) -> None:
        super().__init__()
        self.state = state
        lang = state.lang
        self.data: ConsultData | None = None
        self.ticket_id = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = QLabel(t("consult.none", lang))
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #eef3f8; padding: 6px; border-radius: 4px; }")
        layout.addWidget(self.banner)
        self.tabs = QTabWidget()
        self.note = NoteEditor(state)
        self.orders = OrdersPanel(state)
        self.history = QTextBrowser()
        self.tabs.addTab(self.note, t("tab.note", lang))
        self.tabs.addTab(self.orders, t("tab.orders", lang))
        self.tabs.addTab(self.history, t("tab.history", lang))
        layout.addWidget(self.tabs, 1)
        buttons = QHBoxLayout()
        self.save_button = QPushButton(t("consult.save", lang))
        self.sign_note_button = QPushButton(t("consult.sign_note", lang))
        self.print_note_button = QPushButton(t("consult.print_note", lang))
        self.withdraw_button = QPushButton(t("consult.withdraw", lang))
        self.withdraw_button.setStyleSheet(f"QPushButton:enabled {{ color: {theme.ERROR}; }}")
        for button in (self.save_button, self.sign_note_button, self.print_note_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.withdraw_button)
        layout.addLayout(buttons)
        self.save_button.clicked.connect(self.note_save_now)
        self.sign_note_button.clicked.connect(lambda: self.note.sign())
        self.print_note_button.clicked.connect(self.print_note)
        self.withdraw_button.clicked.connect(self.withdraw)
        self._set_enabled(False)
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)

    def install_shortcuts(self, window: QWidget) -> None:
        for key, slot in (("Ctrl+S", self.note_save_now), ("Ctrl+P", self.print_note)):
            shortcut = QShortcut(QKeySequence(key), window)
            shortcut.activated.connect(slot)
        self.save_button.setToolTip("Ctrl+S")
        self.print_note_button.setToolTip("Ctrl+P")

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (
            self.tabs,
            self.save_button,
            self.sign_note_button,
            self.print_note_button,
            self.withdraw_button,
        ):
            widget.setEnabled(enabled)

    # -- loading ------------------------------------------------------------------------------------

    def open(self, visit_id: str, ticket_id: str = "") -> None:
        if self.data is not None and self.data.visit.id != visit_id and self.note.dirty:
            self.note.save()
        self.ticket_id = ticket_id
        self.state.query(
            self, lambda store: queries.consult_data(store, visit_id, ticket_id or None), self._opened
        )
        self._load_templates()

    def _opened(self, data: ConsultData | None) -> None:
        if data is None:
            self.state.message(t("consult.not_found", self.state.lang), "error")
            return
        patient_id = data.visit.patient_id  # the record is shown now: audited (patient.view)
        self.state.act(self, lambda store: record_patient_view(store, patient_id, "consult"), changes=())
        self.data = data
        self.note.load(data)
        if self.note.diagnosis.usage is None:  # counted at login and after each signed note
            self.note.diagnosis.load_usage()
        self.orders.set_orders(data.visit.id, data.orders)
        self.history.setHtml(history_html(data.history, self.state.lang))
        self._fill_banner(data)
        live = data.visit.status != "withdrawn"
        self._set_enabled(True)
        self.withdraw_button.setEnabled(live)
        self.orders.setEnabled(live)
        self.tabs.setCurrentIndex(0)
        self.note.edits["chief_complaint"].setFocus()
        self.sig_consult_loaded.emit(data)

    def _refresh(self) -> None:
        """Reload lists after changes, leaving the note's text alone."""
        data = self.data
        if data is None:
            return
        visit_id, ticket_id = data.visit.id, self.ticket_id

        def got(fresh: ConsultData | None) -> None:
            if fresh is None or self.data is None or fresh.visit.id != self.data.visit.id:
                return
            self.data = fresh
            self.orders.set_orders(fresh.visit.id, fresh.orders)
            self.history.setHtml(history_html(fresh.history, self.state.lang))
            self._fill_banner(fresh)
            if fresh.note is not None and fresh.note.status != self.note.status and not self.note.dirty:
                self.note.load(fresh)
            if fresh.visit.status == "withdrawn":
                self.withdraw_button.setEnabled(False)
                self.orders.setEnabled(False)
            self.sig_consult_loaded.emit(fresh)

        self.state.query(self, lambda store: queries.consult_data(store, visit_id, ticket_id or None), got)

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches("note_template"):
            self._load_templates()
        if self.data is not None and changes.touches(
            "clinical_order", "rx", "visit", "emr_note", "patient", "queue_ticket"
        ):
            self._refresh()

    def _load_templates(self) -> None:
        staff = self.state.staff
        if staff is None:
            return
        self.state.query(self, lambda store: queries.templates_for(store, staff), self.note.set_templates)

    def _fill_banner(self, data: ConsultData) -> None:
        lang = self.state.lang
        patient, visit = data.patient, data.visit
        age = age_text_zh(patient.birth_date, self.state.today())
        allergies = "、".join(patient.allergies)
        if allergies:
            allergy_html = f"<span style='color:{theme.ERROR}; font-weight:700'>{html.escape(t('banner.allergies', lang, items=allergies))}</span>"
        elif allergy_status(patient.allergy_status, ()) == "not_asked":  # nobody asked: say so, ask now
            allergy_html = f"<span style='color:{theme.WARN}; font-weight:700'>{html.escape(allergy_text(None, (), lang))}</span>"
        else:
            allergy_html = (
                f"<span style='color:{theme.MUTED}'>{html.escape(t('banner.no_allergies', lang))}</span>"
            )
        bits = [
            f"<span style='font-size:14pt; font-weight:700'>{html.escape(patient.name)}</span>",
            html.escape(t(f"sex.{patient.sex}", lang)),
            html.escape(age),
            html.escape(t("banner.mrn", lang, mrn=patient.mrn or "—")),
        ]
        if patient.id_number:
            bits.append(html.escape(t("banner.id", lang, id=mask_id_number(patient.id_number))))
        bits.append(html.escape(t("banner.source", lang, source=t(f"visit_source.{visit.source}", lang))))
        if data.ticket is not None:
            bits.append(html.escape(t("banner.ticket", lang, label=data.ticket.label)))
        if data.department_name:
            bits.append(html.escape(data.department_name))
        if visit.status == "withdrawn":
            bits.append(
                f"<span style='color:{theme.WARN}; font-weight:700'>"
                f"{html.escape(t('banner.withdrawn', lang, reason=visit.withdraw_reason))}</span>"
            )
        self.banner.setText("　".join(bits) + "<br>" + allergy_html)

    # -- actions ------------------------------------------------------------------------------------

    def note_save_now(self) -> None:
        if self.data is None:
            return
        self.note._dirty = self.note._dirty or self.note.status == "draft"
        self.note.save()

    def print_note(self) -> None:
        data = self.data
        if data is None:
            return
        lang = self.state.lang
        note_id = self.note.note_id

        def render(store: Any, reprint: bool) -> bytes:
            from shared.printing.visit_note import render_visit_note
            from workstation.documents import note_print

            note = store.get(EmrNote, note_id)
            if note is None:
                raise _NothingToPrint(t("note.nothing_to_print", lang))
            return render_visit_note(note_print(store, note, reprint=reprint))

        if self.note.dirty:
            self.note.save()
        self.state.print_pdf(
            self,
            kind="visit_note",
            document="visit_note",
            ref_id=note_id,
            title=data.patient.name,
            render=render,
        )

    def confirm_finish(self, ticket_id: str, visit_id: str, proceed: Callable[[], None]) -> None:
        """Before F9 finishes the open visit with its note still unsigned: remind the doctor, who may
        sign now (the visit finishes once signed), finish anyway (the draft is kept and can be signed
        later from the seen list) or go back. Any other visit finishes at once."""
        data = self.data
        ours = data is not None and (
            data.visit.id == visit_id
            or (bool(ticket_id) and ticket_id in (self.ticket_id, data.ticket.id if data.ticket else ""))
        )
        if data is None or not ours or data.visit.status == "withdrawn" or self.note.status != "draft":
            proceed()
            return
        lang = self.state.lang
        answer = UnsignedNoteDialog.ask(self, lang=lang, patient=data.patient.name)
        if answer == "sign":
            self.tabs.setCurrentWidget(self.note)
            self.note.sign(on_signed=lambda _note: proceed())
        elif answer == "finish":
            if self.note.dirty:
                self.note.save()
            proceed()

    def withdraw(self) -> None:
        data = self.data
        if data is None:
            return
        lang = self.state.lang
        reason = ReasonDialog.ask(
            self, lang=lang, title=t("consult.withdraw", lang), intro=t("consult.withdraw_intro", lang)
        )
        if reason is None:
            return
        visit_id, ticket_id = data.visit.id, self.ticket_id or (data.ticket.id if data.ticket else None)
        self.state.act(
            self,
            lambda store: actions.withdraw(store, visit_id, ticket_id, reason, lang),
            changes=("visit", "rx", "clinical_order", "queue_ticket"),
            success=lambda _r: self.state.message(t("consult.withdrawn", lang), "ok"),
        )


class UnsignedNoteDialog(QDialog):
    """ "The note is not signed": sign and finish (default), finish anyway, or go back."""

    def __init__(self, parent: QWidget | None, *, lang: str, patient: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(t("finish.unsigned_title", lang))
        self.choice: str | None = None
        layout = QVBoxLayout(self)
        text = QLabel(t("finish.unsigned_text", lang, patient=patient))
        text.setWordWrap(True)
        layout.addWidget(text)
        buttons = QDialogButtonBox()
        self.sign_button = buttons.addButton(t("finish.sign", lang), QDialogButtonBox.ButtonRole.AcceptRole)
        self.finish_button = buttons.addButton(
            t("finish.anyway", lang), QDialogButtonBox.ButtonRole.DestructiveRole
        )
        self.back_button = buttons.addButton(t("finish.back", lang), QDialogButtonBox.ButtonRole.RejectRole)
        self.sign_button.setDefault(True)
        self.sign_button.setFocus()
        self.sign_button.clicked.connect(lambda: self._chosen("sign"))
        self.finish_button.clicked.connect(lambda: self._chosen("finish"))
        self.back_button.clicked.connect(self.reject)
        layout.addWidget(buttons)

    def _chosen(self, choice: str) -> None:
        self.choice = choice
        self.accept()

    @classmethod
    def ask(cls, parent: QWidget | None, *, lang: str, patient: str) -> str | None:
        """ "sign", "finish" or None (go back)."""
        dialog = cls(parent, lang=lang, patient=patient)
        dialog.exec()
        return dialog.choice


class _NothingToPrint(SuiteError):
    code = "nothing_to_print"
