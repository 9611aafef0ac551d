"""The signing-PIN dialog of every app: one copy, so the doctor's and the pharmacist's behave alike.

``PinDialog.ask(parent, lang=..., what=...)`` asks for the PIN that unlocks this PC's signing key; the
PIN box has the focus when the dialog opens and OK stays disabled while it is empty, so Enter never
signs with an empty PIN. ``setup=True`` (or ``NewPinDialog``) asks a new PIN twice, with the PIN
policy (``shared.security.device_keys.check_pin_policy``) checked before OK closes it; errors show in
the dialog and nothing typed is lost. ``ask`` is the one seam tests replace.

``wait_for_registration`` waits (polling, off the GUI thread) until the server confirmed a key this PC
just registered: both apps sign only with a confirmed key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from shared.errors import ValidationFailed
from shared.i18n import register, tr
from shared.security.device_keys import check_pin_policy
from shared.security.device_signing import KeyStatus
from shared.security.signing import MIN_PIN_LENGTH

_TEXTS: dict[str, tuple[str, str, str]] = {
    "pin_dialog.title": ("电子签名", "Electronic signature", "電子簽名"),
    "pin_dialog.intro": (
        "输入签名 PIN 以签署{what}",
        "Enter your signing PIN to sign {what}",
        "輸入簽名 PIN 以簽署{what}",
    ),
    "pin_dialog.prompt": ("请输入您的签名 PIN 码", "Enter your signing PIN", "請輸入您的簽名 PIN 碼"),
    "pin_dialog.setup_title": ("设置签名 PIN 码", "Set your signing PIN", "設定簽名 PIN 碼"),
    "pin_dialog.setup_intro": (
        "本机首次为您签名：请设置至少 {min} 位的签名 PIN（不要用重复或连续的数字）。本机生成您的签名密钥，"
        "私钥只保存在本机系统密钥库中，公钥需联网向服务器登记一次。连续输错 {max} 次密钥将被清除。",
        "Your first signature on this PC: set a signing PIN of at least {min} characters (no repeated or "
        "consecutive digits). This PC makes your signing key; the private key stays in this PC's key store "
        "and its public key is registered with the server once, online. {max} wrong PINs in a row erase it.",
        "本機首次為您簽名：請設定至少 {min} 位的簽名 PIN（不要用重複或連續的數字）。本機產生您的簽名密鑰，"
        "私鑰只保存在本機系統密鑰庫中，公鑰需連網向伺服器登記一次。連續輸錯 {max} 次密鑰將被清除。",
    ),
    "pin_dialog.pin": ("PIN 码", "PIN", "PIN 碼"),
    "pin_dialog.again": ("再次输入", "Again", "再次輸入"),
    "pin_dialog.mismatch": ("两次输入的 PIN 码不一致", "The two PINs differ", "兩次輸入的 PIN 碼不一致"),
    "pin_dialog.ok": ("确定", "OK", "確定"),
    "pin_dialog.cancel": ("取消", "Cancel", "取消"),
}
for _key, (_zh, _en, _tw) in _TEXTS.items():
    register(_key, {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


class PinDialog(QDialog):
    """Asks the signing PIN (``setup``: a new PIN, twice)."""

    def __init__(
        self, parent: QWidget | None = None, lang: str = "zh_CN", what: str = "", *, setup: bool = False
    ) -> None:
        super().__init__(parent)
        from shared.security.device_keys import MAX_ATTEMPTS

        self.lang = lang
        self.setup = setup
        self.setWindowTitle(tr("pin_dialog.setup_title" if setup else "pin_dialog.title", lang))
        layout = QVBoxLayout(self)
        if setup:
            intro = tr("pin_dialog.setup_intro", lang, min=MIN_PIN_LENGTH, max=MAX_ATTEMPTS)
        elif what:
            intro = tr("pin_dialog.intro", lang, what=what)
        else:
            intro = tr("pin_dialog.prompt", lang)
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        form = QFormLayout()
        self.pin_edit = QLineEdit()
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_edit.setMaxLength(64)
        form.addRow(tr("pin_dialog.pin", lang), self.pin_edit)
        self.again_edit = QLineEdit()
        self.again_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.again_edit.setMaxLength(64)
        if setup:
            form.addRow(tr("pin_dialog.again", lang), self.again_edit)
        layout.addLayout(form)
        self.error = QLabel()
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button: QPushButton = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(tr("pin_dialog.ok", lang))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(tr("pin_dialog.cancel", lang))
        # OK is not the default button: Enter in the PIN box accepts only once OK is enabled
        self.ok_button.setAutoDefault(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.pin_edit.textChanged.connect(self._update_ok)
        self.again_edit.textChanged.connect(self._update_ok)
        self._update_ok()
        self.setMinimumWidth(440)
        self.pin_edit.setFocus()

    def showEvent(self, event: object) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)  # type: ignore[arg-type]
        self.pin_edit.setFocus()
        QTimer.singleShot(0, self, self._focus_pin)  # after the window manager activated the dialog

    def _focus_pin(self) -> None:
        self.pin_edit.setFocus()

    def _update_ok(self) -> None:
        filled = bool(self.pin_edit.text()) and (not self.setup or bool(self.again_edit.text()))
        self.ok_button.setEnabled(filled)
        self.ok_button.setDefault(filled)
        if self.error.text():
            self.error.clear()

    def problem(self) -> str:
        pin = self.pin_edit.text()
        if not pin:
            return tr("pin_dialog.prompt", self.lang)
        if not self.setup:
            return ""
        try:
            check_pin_policy(pin, self.lang)
        except ValidationFailed as error:
            return error.message
        if pin != self.again_edit.text():
            return tr("pin_dialog.mismatch", self.lang)
        return ""

    def accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error.setText(problem)
            return
        super().accept()

    @classmethod
    def ask(cls, parent: QWidget | None, *, lang: str, what: str = "", setup: bool = False) -> str | None:
        dialog = cls(parent, lang, what, setup=setup)
        return dialog.pin_edit.text() if dialog.exec() == QDialog.DialogCode.Accepted else None


class NewPinDialog(PinDialog):
    """A new signing PIN, twice (first signature on this PC, or after the key was reset or erased)."""

    def __init__(
        self, parent: QWidget | None = None, lang: str = "zh_CN", what: str = "", **_: object
    ) -> None:
        super().__init__(parent, lang, what, setup=True)

    @classmethod
    def ask(  # type: ignore[override]
        cls, parent: QWidget | None, *, lang: str, what: str = "", setup: bool = True
    ) -> str | None:
        dialog = cls(parent, lang, what)
        return dialog.pin_edit.text() if dialog.exec() == QDialog.DialogCode.Accepted else None


REGISTRATION_WAIT_SECONDS = 30.0
POLL_MS = 400


def wait_for_registration(
    parent: QWidget,
    query: Callable[[Callable[[Any], KeyStatus], Callable[[KeyStatus], None]], Any],
    find: Callable[[Any], KeyStatus],
    done: Callable[[KeyStatus | None], None],
    *,
    wake: Callable[[], None] | None = None,
    seconds: float | None = None,
) -> None:
    """Look (``query(find, callback)`` runs ``find`` on the DB thread) every ``POLL_MS`` until this
    PC's new key is no longer ``pending``, then ``done(status)``; ``done(None)`` after ``seconds``
    (default ``REGISTRATION_WAIT_SECONDS``). ``wake`` pushes the outbox at once. Never blocks the GUI."""
    if seconds is None:
        seconds = REGISTRATION_WAIT_SECONDS
    if wake is not None:
        wake()
    left = seconds

    def looked(status: KeyStatus) -> None:
        if status.state != "pending":
            done(status)
        elif left <= 0:
            done(None)
        else:
            QTimer.singleShot(
                POLL_MS,
                parent,
                lambda: wait_for_registration(
                    parent, query, find, done, wake=None, seconds=left - POLL_MS / 1000
                ),
            )

    query(find, looked)
