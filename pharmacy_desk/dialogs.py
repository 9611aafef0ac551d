"""Small modal dialogs of the desk (reasons, confirmations, payment), each reachable through an ``ask``
class method that a test replaces. The signing PIN is asked by the dialog every app shares
(``shared.gui.pin_dialog``, re-exported here)."""

from __future__ import annotations

from collections.abc import Sequence

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

from pharmacy_desk.payment import METHODS, PaymentMethod
from pharmacy_desk.texts import t
from shared.gui.pin_dialog import PinDialog

__all__ = [
    "PaymentDialog",
    "PinDialog",
    "ReasonDialog",
    "TextDialog",
    "close_box",
    "error_line",
    "finish_form",
    "ok_cancel",
]


def ok_cancel(dialog: QDialog, lang: str) -> QDialogButtonBox:
    """OK / Cancel in the desk's language (Qt's own translations may be missing on a PC)."""
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    box.button(QDialogButtonBox.StandardButton.Ok).setText(t("common.ok", lang))
    box.button(QDialogButtonBox.StandardButton.Cancel).setText(t("common.cancel", lang))
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


def close_box(dialog: QDialog, lang: str) -> QDialogButtonBox:
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    box.button(QDialogButtonBox.StandardButton.Close).setText(t("common.close", lang))
    box.rejected.connect(dialog.reject)
    return box


def error_line() -> QLabel:
    """The line a dialog says what is wrong on (red, empty until then)."""
    label = QLabel()
    label.setProperty("role", "error")
    return label


def finish_form(dialog: QDialog, form: QFormLayout, lang: str) -> QLabel:
    """A form dialog's last rows: its error line (returned), then OK / Cancel."""
    error = error_line()
    form.addRow(error)
    form.addRow(ok_cancel(dialog, lang))
    return error


class ReasonDialog(QDialog):
    """A reason from a list plus free text (rejecting a prescription, overriding a batch, a refund)."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        lang: str,
        title: str,
        choices: Sequence[tuple[str, str]],
        free_text_label: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.lang = lang
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.reason_combo = QComboBox()
        self.reason_combo.addItem("", "")
        for code, label in choices:
            self.reason_combo.addItem(label, code)
        form.addRow(t("review.reason", lang), self.reason_combo)
        self.text_edit = QPlainTextEdit()
        self.text_edit.setFixedHeight(80)
        form.addRow(free_text_label or t("review.reason_text", lang), self.text_edit)
        layout.addLayout(form)
        self.error = error_line()
        layout.addWidget(self.error)
        layout.addWidget(ok_cancel(self, lang))
        self.setMinimumWidth(460)

    def value(self) -> tuple[str, str]:
        return str(self.reason_combo.currentData() or ""), self.text_edit.toPlainText().strip()

    def accept(self) -> None:
        code, text = self.value()
        if not code:
            self.error.setText(t("review.reason_required", self.lang))
            return
        if code == "other" and not text:
            self.error.setText(t("review.reason_other_text", self.lang))
            return
        super().accept()

    @classmethod
    def ask(
        cls, parent: QWidget | None, *, lang: str, title: str, choices: Sequence[tuple[str, str]]
    ) -> tuple[str, str] | None:
        dialog = cls(parent, lang=lang, title=title, choices=choices)
        return dialog.value() if dialog.exec() == QDialog.DialogCode.Accepted else None


class TextDialog(QDialog):
    """One required line of text (an override reason, a refund note)."""

    def __init__(
        self, parent: QWidget | None = None, *, lang: str, title: str, label: str, error: str
    ) -> None:
        super().__init__(parent)
        self.lang = lang
        self._error_text = error
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.edit = QLineEdit()
        form.addRow(label, self.edit)
        layout.addLayout(form)
        self.error = error_line()
        layout.addWidget(self.error)
        layout.addWidget(ok_cancel(self, lang))
        self.setMinimumWidth(420)

    def accept(self) -> None:
        if not self.edit.text().strip():
            self.error.setText(self._error_text)
            return
        super().accept()

    @classmethod
    def ask(cls, parent: QWidget | None, *, lang: str, title: str, label: str, error: str) -> str | None:
        dialog = cls(parent, lang=lang, title=title, label=label, error=error)
        return dialog.edit.text().strip() if dialog.exec() == QDialog.DialogCode.Accepted else None


class PaymentDialog(QDialog):
    """Take payment for one prescription: the amount due and the method (replaced in tests via ``ask``)."""

    def __init__(
        self, parent: QWidget | None = None, *, lang: str, number: str, amount: str, methods: Sequence[str]
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(t("pay.title", lang, number=number))
        form = QFormLayout(self)
        due = QLabel(f"¥{amount}")
        due.setStyleSheet("font-size: 20px; font-weight: 600;")
        form.addRow(t("pay.amount", lang), due)
        self.method_combo = QComboBox()
        for method in methods:
            self.method_combo.addItem(t(f"pay.method.{method}", lang), method)
        form.addRow(t("pay.method", lang), self.method_combo)
        form.addRow(ok_cancel(self, lang))

    @classmethod
    def ask(
        cls,
        parent: QWidget | None,
        *,
        lang: str,
        number: str,
        amount: str,
        methods: Sequence[PaymentMethod] = METHODS,
    ) -> PaymentMethod | None:
        """The chosen method (one of ``methods``), or None when cancelled."""
        dialog = cls(parent, lang=lang, number=number, amount=amount, methods=methods)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        chosen = dialog.method_combo.currentData()
        return next(method for method in methods if method == chosen)
