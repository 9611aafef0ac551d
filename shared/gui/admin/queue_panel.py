"""Queues and their rule sets for the administrator: search, list, an edit form with the rules in plain
words (ratios, minutes, priority classes to tick and order), retire, history. Saved as ``reference.save``
/ ``reference.retire`` of kind ``queue`` in this PC's outbox, so an edit follows the usual rules (admin
role, audit, sync to every PC) and survives a network outage; the row's checks are the import's
(``shared.reference_io.queue_rows``), run in the form before it closes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from shared.domain.entities import ENTITY_BY_KIND, Queue
from shared.domain.queue_rules import PRIORITY_CLASSES
from shared.errors import ValidationFailed
from shared.gui import theme
from shared.gui.admin.list_panel import OneKindPanel, muted_if_retired, scrolled_edit, status_column
from shared.gui.admin.settings_texts import label, s
from shared.gui.admin.texts import t
from shared.gui.ops import OpBus
from shared.gui.widgets import Column, note_label
from shared.reference_io import export
from shared.reference_io.plan import KINDS
from shared.reference_io.queue_rows import QUEUE_RANGES, RULE_RANGES, QueueRows

KIND = "queue"
QUEUE_KINDS = ("department", "doctor", "room", "lab", "imaging")
POLICIES = ("interleave", "strict_priority", "weighted_wait")


@dataclass(frozen=True)
class Choice:
    code: str
    text: str  # as the reader sees it: name (code)
    campus: str = ""  # campus code
    department: str = ""  # department code (rooms)


@dataclass(frozen=True)
class Choices:
    """What a queue may name: campuses, departments in use, rooms in use (by code)."""

    campuses: list[Choice] = field(default_factory=list)
    departments: list[Choice] = field(default_factory=list)
    rooms: list[Choice] = field(default_factory=list)


@dataclass(frozen=True)
class QueueRow:
    entity: Queue
    cells: dict[str, str]  # the export's fields -> text
    haystack: str


def load(store: Any) -> tuple[list[QueueRow], Choices]:
    """Every queue this PC holds (retired ones too) as the export's texts, and the choices; database thread."""
    spec = KINDS[KIND]
    codes: dict[str, dict[str, str]] = {}
    names: dict[str, str] = {}
    live: dict[str, list[Any]] = {}
    for other in ("campus", "department", "room"):
        rows = store.all(ENTITY_BY_KIND[other], include_voided=True)
        codes[other] = {e.id: e.code for e in rows}
        names.update({e.code: e.name for e in rows})
        live[other] = sorted((e for e in rows if not e.voided), key=lambda e: e.code)
    campus_code = codes["campus"]
    department_code = codes["department"]
    choices = Choices(
        [Choice(e.code, f"{e.name} ({e.code})") for e in live["campus"]],
        [
            Choice(e.code, f"{e.name} ({e.code})", campus_code.get(e.campus_id, ""))
            for e in live["department"]
        ],
        [
            Choice(
                e.code,
                f"{e.name} ({e.code})",
                campus_code.get(e.campus_id, ""),
                department_code.get(e.department_id, ""),
            )
            for e in live["room"]
        ],
    )
    out = []
    for queue in sorted(store.all(Queue, include_voided=True), key=lambda q: q.code):
        cells = dict(zip(export.columns(spec), export.row(spec, queue, codes), strict=True))
        shown = [cells["code"], cells["name"], cells["name_en"], cells["department_id"], cells["room_ids"]]
        shown += [names.get(cells["department_id"], ""), names.get(cells["campus_id"], "")]
        out.append(QueueRow(queue, cells, " ".join(shown).lower()))
    return out, choices


def ordering_text(cells: dict[str, str], lang: str) -> str:
    policy = cells.get("policy", "")
    if policy == "interleave":
        n, _, m = cells.get("interleave", "2:1").partition(":")
        return s("ordering.interleave", lang, n=n, m=m)
    return s(f"ordering.{policy}", lang) if policy in POLICIES else policy


def priority_text(cells: dict[str, str], lang: str) -> str:
    classes = [c for c in cells.get("priority_order", "").split(";") if c]
    return " > ".join(s(f"prio.{c}", lang) for c in classes) if classes else s("none", lang)


def _spin(low: int, high: int, value: int, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    if suffix:
        box.setSuffix(suffix)
    return box


class QueueDialog(QDialog):
    """One queue and its rule set in plain words; ``fields()`` gives them as the export names them."""

    def __init__(
        self, lang: str, values: dict[str, str] | None, choices: Choices, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.lang = lang
        self.choices = choices
        editing = values is not None
        values = dict(values or {})
        code = values.get("code", "")
        self.setWindowTitle(
            t("edit.title.change", lang, kind=s("group.queue", lang), code=code)
            if editing
            else t("edit.title.new", lang, kind=s("group.queue", lang))
        )
        # the queue
        self.code = QLineEdit(code)
        self.code.setReadOnly(editing)  # a row's identity is its code
        self.name = QLineEdit(values.get("name", ""))
        self.name_en = QLineEdit(values.get("name_en", ""))
        self.campus = QComboBox()
        for choice in choices.campuses:
            self.campus.addItem(choice.text, choice.code)
        self.department = QComboBox()
        self.kind = QComboBox()
        for kind in QUEUE_KINDS:
            self.kind.addItem(s(f"kind.{kind}", lang), kind)
        self.rooms = QListWidget()
        self.rooms.setMinimumHeight(110)
        self.active = QCheckBox(label("active", lang))
        self.active.setChecked(values.get("active", "1") != "0")
        queue_box = QGroupBox(s("group.queue", lang))
        queue_form = QFormLayout(queue_box)
        for name, widget in (
            ("code", self.code),
            ("name", self.name),
            ("name_en", self.name_en),
            ("campus_id", self.campus),
            ("department_id", self.department),
            ("kind", self.kind),
        ):
            widget.setObjectName(f"field-{name}")
            queue_form.addRow(label(name, lang), widget)
        rooms_hint = QLabel(s("rooms.hint", lang))
        rooms_hint.setStyleSheet(f"color: {theme.MUTED};")
        queue_form.addRow(label("room_ids", lang), rooms_hint)
        queue_form.addRow("", self.rooms)
        queue_form.addRow("", self.active)
        # numbers
        self.prefix = QLineEdit(values.get("prefix", "A"))
        self.prefix.setMaxLength(4)
        block_low, block_high = QUEUE_RANGES["number_block"]
        slots_low, slots_high = QUEUE_RANGES["number_slots"]
        self.number_block = _spin(block_low, block_high, int(values.get("number_block") or 100))
        self.number_slots = _spin(slots_low, slots_high, int(values.get("number_slots") or 4))
        numbers_box = QGroupBox(s("group.numbers", lang))
        numbers_form = QFormLayout(numbers_box)
        numbers_form.addRow(label("prefix", lang), self.prefix)
        numbers_form.addRow(label("number_block", lang), self.number_block)
        numbers_form.addRow(label("number_slots", lang), self.number_slots)
        # ordering rules
        self.policy = QComboBox()
        for policy in POLICIES:
            self.policy.addItem(s(f"ordering.{policy}", lang, n="N", m="M"), policy)
        ratio = (values.get("interleave") or "2:1").split(":")
        # the spin boxes allow 0 so the rule, not the widget, says why 0 is not a ratio
        self.appointments = _spin(0, 99, int(ratio[0]))
        self.walk_ins = _spin(0, 99, int(ratio[1]))
        ratio_row = QHBoxLayout()
        ratio_row.addWidget(QLabel(s("interleave.between", lang)))
        ratio_row.addWidget(self.appointments)
        ratio_row.addWidget(QLabel(s("interleave.and", lang)))
        ratio_row.addWidget(self.walk_ins)
        ratio_row.addStretch(1)
        self.priorities = QListWidget()
        self.priorities.setFixedHeight(130)
        enabled = [c for c in (values.get("priority_order") or ";".join(PRIORITY_CLASSES)).split(";") if c]
        if not editing and "priority_order" not in values:
            enabled = list(PRIORITY_CLASSES)
        for klass in [*enabled, *(c for c in PRIORITY_CLASSES if c not in enabled)]:
            item = QListWidgetItem(s(f"prio.{klass}", lang))
            item.setData(Qt.ItemDataRole.UserRole, klass)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if klass in enabled else Qt.CheckState.Unchecked)
            self.priorities.addItem(item)
        up, down = QPushButton(s("up", lang)), QPushButton(s("down", lang))
        up.clicked.connect(lambda: self.move_priority(-1))
        down.clicked.connect(lambda: self.move_priority(1))
        moves = QVBoxLayout()
        moves.addWidget(up)
        moves.addWidget(down)
        moves.addStretch(1)
        priority_row = QHBoxLayout()
        priority_row.addWidget(self.priorities, 1, Qt.AlignmentFlag.AlignTop)
        priority_row.addLayout(moves)
        priority_hint = note_label(s("priority.hint", lang))
        minutes, persons = s("minutes", lang), s("persons", lang)
        self.rule_boxes: dict[str, QSpinBox] = {}
        for name, (low, high) in RULE_RANGES.items():
            suffix = minutes if name.endswith("minutes") else persons if name != "elderly_age" else ""
            # one below the rule's range: the rule explains a number out of range, the widget does not hide it
            box = _spin(low - 1, high, int(values.get(name) or _default(name)), suffix)
            if name in ("elderly_age", "starvation_guard_minutes"):
                box.setToolTip(s("zero_none", lang))
            box.setObjectName(f"field-{name}")
            self.rule_boxes[name] = box
        rules_box = QGroupBox(s("group.rules", lang))
        rules_form = QFormLayout(rules_box)
        rules_form.addRow(label("policy", lang), self.policy)
        rules_form.addRow(label("interleave", lang), ratio_row)
        rules_form.addRow(label("priority_order", lang), priority_row)
        rules_form.addRow("", priority_hint)
        for name in ("elderly_age", "starvation_guard_minutes", "appointment_bonus_minutes"):
            rules_form.addRow(label(name, lang), self.rule_boxes[name])
        arrival_box = QGroupBox(s("group.arrival", lang))
        arrival_form = QFormLayout(arrival_box)
        for name in ("early_minutes", "late_minutes", "skip_reinsert_after", "second_queue_cap"):
            arrival_form.addRow(label(name, lang), self.rule_boxes[name])
        host = QWidget()
        grid = QGridLayout(host)
        grid.addWidget(queue_box, 0, 0, 2, 1)
        grid.addWidget(numbers_box, 0, 1)
        grid.addWidget(arrival_box, 1, 1)
        grid.addWidget(rules_box, 0, 2, 2, 1)
        self.problem = scrolled_edit(self, lang, s("rules.hint", lang), host, self._accept)
        self.campus.currentIndexChanged.connect(lambda _i: self._campus_changed())
        self.department.currentIndexChanged.connect(lambda _i: self._fill_rooms(self._checked_rooms()))
        self._select(self.campus, values.get("campus_id", ""))
        self._campus_changed(values.get("department_id", ""), values.get("room_ids", "").split(";"))
        self._select(self.kind, values.get("kind", "department"))
        self._select(self.policy, values.get("policy", "interleave"))
        self.resize(1320, 640)

    @staticmethod
    def _select(box: QComboBox, data: str) -> None:
        index = box.findData(data)
        if index >= 0:
            box.setCurrentIndex(index)

    def _campus_changed(self, department: str | None = None, rooms: list[str] | None = None) -> None:
        campus = str(self.campus.currentData() or "")
        wanted = department if department is not None else str(self.department.currentData() or "")
        self.department.blockSignals(True)
        self.department.clear()
        self.department.addItem(s("none", self.lang), "")
        for choice in self.choices.departments:
            if choice.campus == campus:
                self.department.addItem(choice.text, choice.code)
        self._select(self.department, wanted)
        self.department.blockSignals(False)
        self._fill_rooms(rooms if rooms is not None else self._checked_rooms())

    def _fill_rooms(self, checked: list[str]) -> None:
        campus = str(self.campus.currentData() or "")
        department = str(self.department.currentData() or "")
        self.rooms.clear()
        for choice in self.choices.rooms:
            elsewhere = choice.campus != campus or (department and choice.department != department)
            if elsewhere and choice.code not in checked:
                continue
            item = QListWidgetItem(choice.text)
            item.setData(Qt.ItemDataRole.UserRole, choice.code)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if choice.code in checked else Qt.CheckState.Unchecked)
            self.rooms.addItem(item)

    def _checked_rooms(self) -> list[str]:
        return [
            str(self.rooms.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.rooms.count())
            if self.rooms.item(i).checkState() == Qt.CheckState.Checked
        ]

    def move_priority(self, step: int) -> None:
        row = self.priorities.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < self.priorities.count():
            return
        item = self.priorities.takeItem(row)
        self.priorities.insertItem(target, item)
        self.priorities.setCurrentRow(target)

    def set_priorities(self, order: list[str]) -> None:
        """Tick ``order``'s classes in that order, the others unticked below them."""
        items = [self.priorities.takeItem(0) for _ in range(self.priorities.count())]
        by_class = {str(i.data(Qt.ItemDataRole.UserRole)): i for i in items}
        for klass in [*order, *(c for c in PRIORITY_CLASSES if c not in order)]:
            item = by_class[klass]
            item.setCheckState(Qt.CheckState.Checked if klass in order else Qt.CheckState.Unchecked)
            self.priorities.addItem(item)

    def set_rooms(self, codes: list[str]) -> None:
        self._fill_rooms(codes)

    def fields(self) -> dict[str, str]:
        priorities = [
            str(self.priorities.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.priorities.count())
            if self.priorities.item(i).checkState() == Qt.CheckState.Checked
        ]
        out = {
            "code": self.code.text().strip(),
            "name": self.name.text().strip(),
            "name_en": self.name_en.text().strip(),
            "campus_id": str(self.campus.currentData() or ""),
            "department_id": str(self.department.currentData() or ""),
            "kind": str(self.kind.currentData()),
            "room_ids": ";".join(self._checked_rooms()),
            "prefix": self.prefix.text().strip(),
            "number_block": str(self.number_block.value()),
            "number_slots": str(self.number_slots.value()),
            "active": "1" if self.active.isChecked() else "0",
            "policy": str(self.policy.currentData()),
            "priority_order": ";".join(priorities),
            "interleave": f"{self.appointments.value()}:{self.walk_ins.value()}",
        }
        out.update({name: str(box.value()) for name, box in self.rule_boxes.items()})
        return out

    def problem_with(self, fields: dict[str, str]) -> str | None:
        """The import's rule on the form's rule set, so a bad number is explained before the form closes."""
        if not fields["code"]:
            return t("code_required", self.lang)
        data: dict[str, Any] = {k: v for k, v in fields.items() if k not in ("room_ids", "priority_order")}
        data["priority_order"] = [c for c in fields["priority_order"].split(";") if c]
        try:
            QueueRows().to_entity_data(data, None, self.lang)
        except ValidationFailed as error:
            return error.message
        return None

    def _accept(self) -> None:
        problem = self.problem_with(self.fields())
        if problem:
            self.problem.show_message(problem, "error")
            return
        self.accept()

    @classmethod
    def ask(
        cls, parent: QWidget | None, lang: str, values: dict[str, str] | None, choices: Choices
    ) -> dict[str, str] | None:
        """The edited fields, or None if cancelled (tests replace this)."""
        dialog = cls(lang, values, choices, parent)
        return dialog.fields() if dialog.exec() == QDialog.DialogCode.Accepted else None


def _default(name: str) -> int:
    from shared.domain.queue_rules import RuleSet

    value = getattr(RuleSet(), name)
    return 0 if value is None else int(value)


def _columns(lang: str) -> list[Column[QueueRow]]:
    muted = muted_if_retired

    def cell(name: str) -> Callable[[QueueRow], str]:
        return lambda r: r.cells.get(name, "")

    return [
        status_column(lang),
        Column(label("code", lang), cell("code"), colour=muted),
        Column(label("name", lang), cell("name"), colour=muted),
        Column(
            s("col.department", lang), lambda r: r.cells["department_id"] or s("none", lang), colour=muted
        ),
        Column(
            s("col.rooms", lang),
            lambda r: r.cells["room_ids"].replace(";", "、") or s("all_rooms", lang),
            colour=muted,
        ),
        Column(
            s("col.numbers", lang),
            lambda r: s(
                "numbers.text",
                lang,
                prefix=r.cells["prefix"],
                block=r.cells["number_block"],
                slots=r.cells["number_slots"],
            ),
            colour=muted,
        ),
        Column(s("col.ordering", lang), lambda r: ordering_text(r.cells, lang), colour=muted),
        Column(s("col.priority", lang), lambda r: priority_text(r.cells, lang), colour=muted),
        Column(
            s("col.window", lang),
            lambda r: s("window.text", lang, early=r.cells["early_minutes"], late=r.cells["late_minutes"]),
            colour=muted,
        ),
        Column(
            s("col.door", lang),
            lambda r: (
                s("door.text", lang, cap=r.cells["second_queue_cap"])
                if r.cells["second_queue_cap"] != "0"
                else s("door.off", lang)
            ),
            colour=muted,
        ),
        Column(
            s("col.checkin", lang),
            lambda r: s("open" if r.cells["active"] == "1" else "closed", lang),
            colour=lambda r: theme.MUTED if r.entity.voided or r.cells["active"] != "1" else None,
        ),
    ]


class QueuePanel(OneKindPanel[QueueRow]):
    """Search, the queues with their rules in plain words (retired ones greyed, hidden unless asked),
    New / Edit / Retire / History."""

    KIND = KIND
    load_op = staticmethod(load)
    ask_queue: Callable[..., dict[str, str] | None] = QueueDialog.ask

    def __init__(self, bus: OpBus, lang: str, parent: QWidget | None = None) -> None:
        super().__init__(bus, lang, s("search.queues", lang), _columns(lang), parent)
        self.choices = Choices()
        self._lay_out(self.buttons)

    def kind_text(self, kind: str) -> str:
        return s("group.queue", self.lang)

    def _took(self, choices: Choices) -> None:
        self.choices = choices

    def _ask(self, values: dict[str, str] | None) -> dict[str, str] | None:
        return type(self).ask_queue(self, self.lang, values, self.choices)

    def rows(self) -> list[QueueRow]:
        return list(self._rows)
