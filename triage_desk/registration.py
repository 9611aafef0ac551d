"""Registering a walk-in patient: the dialog that stays open until the registration is recorded.

What the nurse types is checked as she types and again when she presses OK, with the same identity rule
the server applies (``shared.domain.identity.identity_problems``): a valid resident ID number fills in sex
and birth date, and a sex or birth date that contradicts it is shown next to that field and refused.
Nothing has a default a nurse could forget to change (no sex, no birth date); allergies are recorded as
"not asked", "no known allergy" or a list. A refusal of the recorded mutation (a duplicate ID number, a
bad phone number) comes back into the dialog next to its field; the dialog closes only once the
registration is in the outbox, so nothing typed is ever lost.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from shared import clinic_time
from shared.domain.identity import id_facts, identity_problems, normalise_id_number
from shared.errors import SuiteError
from shared.gui import theme
from shared.gui.ops import describe_error
from shared.i18n import register, tr
from shared.ids import new_id
from triage_desk.texts import t

FIELDS = ("name", "id_type", "id_number", "sex", "birth_date", "phone", "allergies")
ID_TYPES = ("resident_id", "passport", "hk_macao_permit", "taiwan_permit", "military_id", "birth_cert")
# What the nurse may type for a birth date: 1985-07-15, 1985/7/15, 1985.7.15 or 19850715.
_DATE = re.compile(r"^(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?$")

_TEXTS = {
    "register.sex_choose": ("请选择", "Choose", "請選擇"),
    "register.id_type": ("证件类型", "ID type", "證件類型"),
    "register.id_type.resident_id": ("居民身份证", "Resident ID card", "居民身份證"),
    "register.id_type.passport": ("护照", "Passport", "護照"),
    "register.id_type.hk_macao_permit": (
        "港澳居民来往内地通行证",
        "Home Return Permit (HK/Macao)",
        "港澳居民來往內地通行證",
    ),
    "register.id_type.taiwan_permit": (
        "台湾居民来往大陆通行证",
        "Taiwan Compatriot Permit",
        "台灣居民來往大陸通行證",
    ),
    "register.id_type.military_id": ("军官证", "Military ID", "軍官證"),
    "register.id_type.birth_cert": ("出生医学证明", "Birth certificate", "出生醫學證明"),
    "register.sex_required": ("请选择性别", "Choose the sex", "請選擇性別"),
    "register.birth_placeholder": ("例如 1985-07-15", "e.g. 1985-07-15", "例如 1985-07-15"),
    "register.birth_required": ("请填写出生日期", "Enter the date of birth", "請填寫出生日期"),
    "register.birth_bad": (
        "出生日期格式应为 年-月-日，例如 1985-07-15",
        "Write the date of birth as year-month-day, e.g. 1985-07-15",
        "出生日期格式應為 年-月-日，例如 1985-07-15",
    ),
    "register.id_placeholder": (
        "18位居民身份证号（可扫描）",
        "18-character resident ID (or scan it)",
        "18位居民身份證號（可掃描）",
    ),
    "register.id_filled": (
        "已按身份证号填入性别和出生日期",
        "Sex and date of birth filled in from the ID number",
        "已按身份證號填入性別和出生日期",
    ),
    "register.allergy": ("过敏史", "Allergies", "過敏史"),
    "register.allergy_not_asked": ("未询问", "Not asked", "未詢問"),
    "register.allergy_none": ("无已知过敏", "No known allergy", "無已知過敏"),
    "register.allergy_listed": ("有过敏：", "Allergic to:", "有過敏："),
    "register.allergy_placeholder": (
        "如：青霉素、磺胺类",
        "e.g. penicillin, sulfonamides",
        "如：青黴素、磺胺類",
    ),
    "register.saving": ("正在保存…", "Saving…", "正在保存…"),
}
for _key, (_zh, _en, _tw) in _TEXTS.items():
    register(f"triage.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})

Record = Callable[[dict[str, Any], Callable[[Any], None], Callable[[BaseException], None]], None]


def parse_birth_date(text: str) -> dt.date | None:
    """A typed birth date, or None when it is not one (see ``_DATE``)."""
    match = _DATE.match(text.strip())
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def split_allergies(text: str) -> list[str]:
    """``青霉素、磺胺类, 头孢`` → the allergens, in the order typed."""
    return [part.strip() for part in re.split(r"[、,，;；/\s]+", text) if part.strip()]


class RegisterDialog(QDialog):
    """A new walk-in patient's essentials. ``record(values, on_done, on_failed)`` records
    ``patient.register`` (off the GUI thread); the dialog closes only when it is recorded."""

    def __init__(
        self,
        parent: QWidget | None,
        lang: str,
        name: str = "",
        *,
        record: Record | None = None,
        today: dt.date | None = None,
    ) -> None:
        super().__init__(parent)
        self.lang = lang
        self.record = record
        self.today = today or clinic_time.today()
        self.values_sent: dict[str, Any] | None = None
        self.setWindowTitle(t("register.title", lang))
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self.name_edit = QLineEdit(name)
        self.id_type_combo = QComboBox()
        for id_type in ID_TYPES:
            self.id_type_combo.addItem(t(f"register.id_type.{id_type}", lang), id_type)
        self.id_edit = QLineEdit()
        self.id_edit.setMaxLength(22)  # 18 characters, with room for the spaces a scanner or a nurse adds
        self.id_edit.setPlaceholderText(t("register.id_placeholder", lang))
        digits = QFontMetrics(self.id_edit.font()).horizontalAdvance("0" * 18 + "X")
        self.id_edit.setMinimumWidth(max(digits + 40, 260))
        self.sex_combo = QComboBox()
        self.sex_combo.addItem(t("register.sex_choose", lang), None)
        for sex in ("M", "F", "U"):
            self.sex_combo.addItem(t(f"sex.{sex}", lang), sex)
        self.birth_edit = QLineEdit()
        self.birth_edit.setPlaceholderText(t("register.birth_placeholder", lang))
        self.phone_edit = QLineEdit()

        self.allergy_group = QButtonGroup(self)
        self.allergy_buttons: dict[str, QRadioButton] = {}
        allergy_row = QHBoxLayout()
        for status in ("not_asked", "none", "listed"):
            button = QRadioButton(t(f"register.allergy_{status}", lang))
            self.allergy_group.addButton(button)
            self.allergy_buttons[status] = button
            allergy_row.addWidget(button)
        self.allergy_edit = QLineEdit()
        self.allergy_edit.setPlaceholderText(t("register.allergy_placeholder", lang))
        allergy_row.addWidget(self.allergy_edit, 1)
        self.allergy_buttons["not_asked"].setChecked(True)  # the truth until someone asks
        allergy_box = QWidget()
        allergy_box.setLayout(allergy_row)
        allergy_row.setContentsMargins(0, 0, 0, 0)

        self.hint = QLabel()
        self.hint.setStyleSheet(f"color: {theme.MUTED};")
        self.hint.setVisible(False)
        self.errors: dict[str, QLabel] = {}
        rows: list[tuple[str, str, QWidget]] = [
            ("name", "register.name", self.name_edit),
            ("id_type", "register.id_type", self.id_type_combo),
            ("id_number", "register.id_number", self.id_edit),
            ("sex", "register.sex", self.sex_combo),
            ("birth_date", "register.birth", self.birth_edit),
            ("phone", "register.phone", self.phone_edit),
            ("allergies", "register.allergy", allergy_box),
        ]
        row = 0
        for field, label_key, widget in rows:
            label = QLabel(t(label_key, lang))
            label.setBuddy(widget)
            grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(widget, row, 1)
            row += 1
            if field == "id_number":
                grid.addWidget(self.hint, row, 1)
                row += 1
            error = QLabel()
            error.setObjectName(f"error_{field}")
            error.setWordWrap(True)
            error.setStyleSheet(f"color: {theme.ERROR};")
            error.setVisible(False)
            self.errors[field] = error
            grid.addWidget(error, row, 1)
            row += 1
        self.problem = QLabel()  # what belongs to no field (e.g. the network)
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {theme.ERROR};")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button: QPushButton = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(560)

        self.id_edit.textChanged.connect(lambda _text: self._id_typed())
        self.id_type_combo.currentIndexChanged.connect(lambda _i: self._id_typed())
        self.sex_combo.currentIndexChanged.connect(lambda _i: self._recheck(("sex",)))
        self.birth_edit.textChanged.connect(lambda _text: self._recheck(("birth_date",)))
        self.name_edit.textChanged.connect(lambda _text: self._clear("name"))
        self.phone_edit.textChanged.connect(lambda _text: self._clear("phone"))
        self.allergy_edit.textChanged.connect(lambda _text: self._allergy_typed())
        self.allergy_group.buttonToggled.connect(lambda *_a: self._clear("allergies"))
        (self.name_edit if not name else self.id_edit).setFocus()

    # -- what was typed --------------------------------------------------------------------------------

    def sex(self) -> str | None:
        data = self.sex_combo.currentData()
        return str(data) if data else None

    def birth_date(self) -> dt.date | None:
        return parse_birth_date(self.birth_edit.text())

    def id_type(self) -> str:
        return str(self.id_type_combo.currentData())

    def id_number(self) -> str:
        text = self.id_edit.text()
        return normalise_id_number(text) if self.id_type() == "resident_id" else " ".join(text.split())

    def allergy_status(self) -> str:
        return next(s for s, b in self.allergy_buttons.items() if b.isChecked())

    def values(self) -> dict[str, Any]:
        """``patient.register`` arguments (call only when ``problems()`` is empty)."""
        birth = self.birth_date()
        status = self.allergy_status()
        id_number = self.id_number()
        return {
            "id": new_id(),
            "name": " ".join(self.name_edit.text().split()),
            "sex": self.sex(),
            "birth_date": birth.isoformat() if birth else None,
            "id_type": self.id_type() if id_number else "none",
            "id_number": id_number or None,
            "phone": self.phone_edit.text().strip() or None,
            "allergy_status": status,
            "allergies": split_allergies(self.allergy_edit.text()) if status == "listed" else [],
        }

    def problems(self, *, complete: bool = True) -> dict[str, str]:
        """Field -> message. ``complete``: also what is still missing (on OK; not while typing)."""
        lang = self.lang
        out: dict[str, str] = {}
        birth_text = self.birth_edit.text().strip()
        birth = self.birth_date()
        if complete and not self.name_edit.text().strip():
            out["name"] = t("register.name_required", lang)
        if complete and self.sex() is None:
            out["sex"] = t("register.sex_required", lang)
        if birth_text and birth is None:
            out["birth_date"] = t("register.birth_bad", lang)
        elif complete and not birth_text:
            out["birth_date"] = t("register.birth_required", lang)
        id_number = self.id_number()
        resident = self.id_type() == "resident_id"
        if id_number and (complete or not resident or len(id_number) >= 18):
            for problem in identity_problems(
                id_type=self.id_type(),
                id_number=id_number,
                sex=self.sex(),
                birth_date=birth,
                today=self.today,
            ):
                out.setdefault(problem.field, problem.message(lang))
        elif birth is not None and birth > self.today:
            out["birth_date"] = tr("patient.birth_in_future", lang)
        if complete and self.allergy_status() == "listed" and not split_allergies(self.allergy_edit.text()):
            out["allergies"] = tr("patient.allergies_missing", lang)
        return out

    # -- as the nurse types ------------------------------------------------------------------------------

    def _id_typed(self) -> None:
        """A complete, valid resident ID number fills in what is still empty; a contradiction shows."""
        self._clear("id_number")
        resident = self.id_type() == "resident_id"
        self.id_edit.setPlaceholderText(t("register.id_placeholder", self.lang) if resident else "")
        facts = id_facts(self.id_number(), self.id_type())
        self.hint.setText("")
        self.hint.setVisible(False)
        if facts is not None:
            birth, sex = facts
            filled = False
            if self.sex() is None:
                self.sex_combo.setCurrentIndex(self.sex_combo.findData(sex))
                filled = True
            if not self.birth_edit.text().strip():
                self.birth_edit.setText(birth.isoformat())
                filled = True
            if filled:
                self.hint.setText(t("register.id_filled", self.lang))
                self.hint.setVisible(True)
        self._recheck(("id_number", "sex", "birth_date"))

    def _allergy_typed(self) -> None:
        if self.allergy_edit.text().strip():
            self.allergy_buttons["listed"].setChecked(True)

    def _recheck(self, fields: tuple[str, ...]) -> None:
        found = self.problems(complete=False)
        for field in fields:
            self._show(field, found.get(field, ""))

    def _clear(self, field: str) -> None:
        self._show(field, "")

    def _show(self, field: str, message: str) -> None:
        label = self.errors[field]
        label.setText(message)
        label.setVisible(bool(message))

    def show_problems(self, problems: dict[str, str]) -> None:
        for field in FIELDS:
            self._show(field, problems.get(field, ""))
        first = next((f for f in FIELDS if f in problems), None)
        widget = {
            "name": self.name_edit,
            "id_type": self.id_type_combo,
            "id_number": self.id_edit,
            "sex": self.sex_combo,
            "birth_date": self.birth_edit,
            "phone": self.phone_edit,
            "allergies": self.allergy_edit,
        }.get(first or "")
        if widget is not None:
            widget.setFocus()

    # -- OK ------------------------------------------------------------------------------------------------

    def submit(self) -> None:
        """Check, then record; the dialog closes when the registration is in the outbox."""
        self.problem.setText("")
        found = self.problems()
        if found:
            self.show_problems(found)
            return
        values = self.values()
        if self.record is None:  # nothing to record with: hand the values back
            self.values_sent = values
            self.accept()
            return
        self.ok_button.setEnabled(False)
        self.problem.setText(t("register.saving", self.lang))
        self.record(values, lambda _entry: self._recorded(values), self._refused)

    def _recorded(self, values: dict[str, Any]) -> None:
        self.values_sent = values
        self.ok_button.setEnabled(True)
        self.problem.setText("")
        self.accept()

    def _refused(self, error: BaseException) -> None:
        """The local rule refused it: the message goes next to its field, and everything stays typed."""
        self.ok_button.setEnabled(True)
        self.problem.setText("")
        message = describe_error(error, self.lang).message
        detail = error.detail if isinstance(error, SuiteError) else None
        detail = detail if isinstance(detail, dict) else {}
        field = detail.get("field")
        if field in self.errors:
            problems = {str(p["field"]): str(p["message"]) for p in detail.get("problems", ())}
            self.show_problems(problems or {str(field): message})
        else:
            self.problem.setText(message)

    @classmethod
    def ask(
        cls,
        parent: QWidget | None,
        lang: str,
        name: str = "",
        *,
        record: Record | None = None,
        on_registered: Callable[[dict[str, Any]], None] | None = None,
        today: dt.date | None = None,
    ) -> RegisterDialog:
        """Open the dialog (window-modal, not blocking); ``on_registered(values)`` once it is recorded."""
        dialog = cls(parent, lang, name, record=record, today=today)
        if on_registered is not None:
            dialog.accepted.connect(lambda: on_registered(dict(dialog.values_sent or {})))
        dialog.open()
        return dialog
