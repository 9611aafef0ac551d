"""Small modal questions: a PIN change, a reason, a name for a template or an order set. The signing
PIN itself is asked by the dialog every app shares (``shared.gui.pin_dialog``, re-exported here).

Each dialog has an ``ask(...)`` class method returning the answer or ``None``; tests replace ``ask``.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from shared.errors import ValidationFailed
from shared.gui.pin_dialog import NewPinDialog, PinDialog
from shared.security.device_keys import check_pin_policy
from shared.security.signing import MIN_PIN_LENGTH
from workstation.texts import t

__all__ = [
    "ChangePinDialog",
    "NameScopeDialog",
    "NewPinDialog",
    "PinDialog",
    "ReasonDialog",
    "ResetKeyDialog",
]


class _Form(QDialog):
    def __init__(self, parent: QWidget | None, title: str, lang: str, intro: str = "") -> None:
        super().__init__(parent)
        self.lang = lang
        self.setWindowTitle(title)
        self.setMinimumWidth(420)
        self.layout_ = QVBoxLayout(self)
        if intro:
            label = QLabel(intro)
            label.setWordWrap(True)
            self.layout_.addWidget(label)
        self.form = QFormLayout()
        self.layout_.addLayout(self.form)
        self.error = QLabel("")
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.layout_.addWidget(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(t("dialog.ok", lang))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(t("dialog.cancel", lang))
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.layout_.addWidget(self.buttons)

    def _accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error.setText(problem)
            return
        self.accept()

    def problem(self) -> str:
        return ""


class ChangePinDialog(_Form):
    def __init__(self, parent: QWidget | None, lang: str) -> None:
        super().__init__(parent, t("pin.change_title", lang), lang)
        self.old_edit = QLineEdit()
        self.old_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_edit = QLineEdit()
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.again_edit = QLineEdit()
        self.again_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.form.addRow(t("pin.old", lang), self.old_edit)
        self.form.addRow(t("pin.pin", lang), self.pin_edit)
        self.form.addRow(t("pin.again", lang), self.again_edit)

    def problem(self) -> str:
        if len(self.pin_edit.text()) < MIN_PIN_LENGTH:
            return t("pin.too_short", self.lang, min=MIN_PIN_LENGTH)
        try:
            check_pin_policy(self.pin_edit.text(), self.lang)
        except ValidationFailed as error:
            return error.message
        if self.pin_edit.text() != self.again_edit.text():
            return t("pin.mismatch", self.lang)
        return ""

    @classmethod
    def ask(cls, parent: QWidget | None, *, lang: str) -> tuple[str, str] | None:
        dialog = cls(parent, lang)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.old_edit.text(), dialog.pin_edit.text()


class ReasonDialog(_Form):
    """A reason (withdrawing a consult, cancelling an order or a prescription)."""

    def __init__(self, parent: QWidget | None, lang: str, title: str, intro: str) -> None:
        super().__init__(parent, title, lang, intro)
        self.reason_edit = QPlainTextEdit()
        self.reason_edit.setFixedHeight(90)
        self.form.addRow(t("reason.label", lang), self.reason_edit)

    def problem(self) -> str:
        text = self.reason_edit.toPlainText().strip()
        if not text:
            return t("reason.empty", self.lang)
        if len(text) > 500:
            return t("reason.too_long", self.lang)
        return ""

    @classmethod
    def ask(cls, parent: QWidget | None, *, lang: str, title: str, intro: str) -> str | None:
        dialog = cls(parent, lang, title, intro)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.reason_edit.toPlainText().strip()


class NameScopeDialog(_Form):
    """A name and personal/department scope for a new template or order set."""

    def __init__(self, parent: QWidget | None, lang: str, title: str) -> None:
        super().__init__(parent, title, lang)
        self.name_edit = QLineEdit()
        self.name_edit.setMaxLength(64)
        self.scope_combo = QComboBox()
        self.scope_combo.addItem(t("scope.personal", lang), "personal")
        self.scope_combo.addItem(t("scope.department", lang), "department")
        self.form.addRow(t("name.label", lang), self.name_edit)
        self.form.addRow(t("scope.label", lang), self.scope_combo)

    def problem(self) -> str:
        return "" if self.name_edit.text().strip() else t("name.empty", self.lang)

    @classmethod
    def ask(cls, parent: QWidget | None, *, lang: str, title: str) -> tuple[str, str] | None:
        dialog = cls(parent, lang, title)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.name_edit.text().strip(), str(dialog.scope_combo.currentData())


class ResetKeyDialog(_Form):
    """An administrator chooses whose signing key to revoke, with a reason (``signing_key.revoke``)."""

    def __init__(self, parent: QWidget | None, lang: str, holders: list[tuple[str, str]]) -> None:
        super().__init__(parent, t("pin.reset_title", lang), lang, t("pin.reset_intro", lang))
        self.who_combo = QComboBox()
        for key_id, label in holders:
            self.who_combo.addItem(label, key_id)
        self.reason_edit = QLineEdit()
        self.reason_edit.setMaxLength(200)
        self.form.addRow(t("pin.reset_who", lang), self.who_combo)
        self.form.addRow(t("reason.label", lang), self.reason_edit)

    def problem(self) -> str:
        if self.who_combo.currentData() is None:
            return t("pin.reset_none", self.lang)
        return "" if self.reason_edit.text().strip() else t("reason.empty", self.lang)

    @classmethod
    def ask(
        cls, parent: QWidget | None, *, lang: str, holders: list[tuple[str, str]]
    ) -> tuple[str, str] | None:
        """``holders``: (key id, label); the answer is (key id, reason)."""
        dialog = cls(parent, lang, holders)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return str(dialog.who_combo.currentData()), dialog.reason_edit.text().strip()
