"""The login dialog of all the apps: online login, offline unlock with a cached verifier, idle unlock, and
the first login with a one-time setup code (the person sets their own password).

Every check runs off the GUI thread (a login may wait on a dead network for its full timeout; an
Argon2 check takes tens of milliseconds), with a busy bar and a working Cancel. Problems are shown
inside the dialog, never as pop-ups. ``LoginDialog.ask(...)`` is the entry point; tests replace it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from shared.domain.entities import Staff
from shared.errors import AccountLocked, AuthFailed, SuiteError, TransientError
from shared.gui.ops import describe_error
from shared.gui.workers import BackgroundCall
from shared.i18n import DEFAULT_LANGUAGE, register, tr
from shared.security.password_policy import password_problem

log = logging.getLogger(__name__)

LoginFn = Callable[[str, str, "str | None"], Staff]
"""Online login: ``(username, password, campus_id) -> Staff``; raises AuthFailed, AccountLocked or
TransientError (or ConnectionError/OSError) when the server cannot be reached. ``SyncEngine.login``."""

SetupFn = Callable[[str, str, str, "str | None"], Staff]
"""First login with a one-time setup code: ``(username, setup_code, new_password, campus_id) -> Staff``;
raises ValidationFailed (``weak_password``), AuthFailed (``setup_failed``) or a network error.
``SyncEngine.setup_login``."""

CampusesFn = Callable[[], Sequence[tuple[str, str]]]
"""The campuses to offer as ``(campus_id, name)``; called on a worker thread when the dialog opens."""


class VerifierLike(Protocol):
    """The part of ``shared.security.OfflineVerifier`` the dialog uses (worker threads only)."""

    def remember(self, username: str, password: str, staff: Staff) -> None: ...

    def verify(self, username: str, password: str) -> Staff | None: ...

    def can_unlock(self, username: str) -> bool: ...


class LoginMode(StrEnum):
    LOGIN = "login"  # start of the app, or after a sign-out / expired token
    UNLOCK = "unlock"  # an idle session was locked; the same user types the password again


@dataclass(frozen=True)
class LoginResult:
    staff: Staff
    campus_id: str | None
    offline: bool  # True when the password was checked against the local verifier, not the server


_STRINGS: dict[str, dict[str, str]] = {
    "gui.login.title": {"zh_CN": "登录", "en": "Log in", "zh_TW": "登錄"},
    "gui.login.unlock_title": {"zh_CN": "会话已锁定", "en": "Session locked", "zh_TW": "會話已鎖定"},
    "gui.login.heading": {"zh_CN": "门诊系统登录", "en": "Clinic Suite log in", "zh_TW": "門診系統登錄"},
    "gui.login.unlock_heading": {
        "zh_CN": "{name}，会话因长时间未操作已锁定",
        "en": "{name}, your session locked after a while without activity",
        "zh_TW": "{name}，會話因長時間未操作已鎖定",
    },
    "gui.login.username": {"zh_CN": "用户名(&U)", "en": "&Username", "zh_TW": "用戶名(&U)"},
    "gui.login.password": {"zh_CN": "密码(&P)", "en": "&Password", "zh_TW": "密碼(&P)"},
    "gui.login.campus": {"zh_CN": "院区(&C)", "en": "&Campus", "zh_TW": "院區(&C)"},
    "gui.login.campus_default": {"zh_CN": "（默认院区）", "en": "(default campus)", "zh_TW": "（預設院區）"},
    "gui.login.submit": {"zh_CN": "登录", "en": "Log in", "zh_TW": "登錄"},
    "gui.login.unlock": {"zh_CN": "解锁", "en": "Unlock", "zh_TW": "解鎖"},
    "gui.login.offline": {"zh_CN": "离线解锁(&O)", "en": "Unlock &offline", "zh_TW": "離線解鎖(&O)"},
    "gui.login.cancel": {"zh_CN": "取消", "en": "Cancel", "zh_TW": "取消"},
    "gui.login.stop": {"zh_CN": "停止(&S)", "en": "&Stop", "zh_TW": "停止(&S)"},
    "gui.login.switch_user": {"zh_CN": "切换用户(&W)", "en": "S&witch user", "zh_TW": "切換用戶(&W)"},
    "gui.login.missing": {
        "zh_CN": "请输入用户名和密码",
        "en": "Enter your username and password",
        "zh_TW": "請輸入用戶名和密碼",
    },
    "gui.login.connecting": {
        "zh_CN": "正在连接服务器…",
        "en": "Connecting to the server…",
        "zh_TW": "正在連接伺服器…",
    },
    "gui.login.verifying": {"zh_CN": "正在验证…", "en": "Checking…", "zh_TW": "正在驗證…"},
    "gui.login.cancelled": {"zh_CN": "已停止登录", "en": "Login stopped", "zh_TW": "已停止登錄"},
    "gui.login.network_down_offline": {
        "zh_CN": "无法连接服务器。您近期在本机登录过，可以离线解锁：数据保存在本机，网络恢复后自动上传。",
        "en": "The server cannot be reached. You logged in here recently, so you can unlock offline: "
        "work is kept on this PC and uploaded when the network is back.",
        "zh_TW": "無法連接伺服器。您近期在本機登錄過，可以離線解鎖：資料保存在本機，網路恢復後自動上傳。",
    },
    "gui.login.network_down": {
        "zh_CN": "无法连接服务器，且本机没有该用户近期的登录记录，不能离线登录。请检查网络或联系信息科。",
        "en": "The server cannot be reached and this user has not logged in here recently, so offline "
        "login is not possible. Check the network or call IT.",
        "zh_TW": "無法連接伺服器，且本機沒有該用戶近期的登錄記錄，不能離線登錄。請檢查網路或聯繫資訊科。",
    },
    "gui.login.offline_failed": {
        "zh_CN": "密码错误，或本机缓存的登录凭据已过期（需联网登录）",
        "en": "Wrong password, or the cached credentials on this PC have expired (log in online)",
        "zh_TW": "密碼錯誤，或本機快取的登錄憑據已過期（需聯網登錄）",
    },
    "gui.login.unlock_failed": {"zh_CN": "密码错误", "en": "Wrong password", "zh_TW": "密碼錯誤"},
    "gui.login.first_login": {
        "zh_CN": "首次登录/设置密码(&F)",
        "en": "&First login / set password",
        "zh_TW": "首次登入/設定密碼(&F)",
    },
    "gui.login.back_to_login": {"zh_CN": "返回登录(&B)", "en": "&Back to log in", "zh_TW": "返回登入(&B)"},
    "gui.login.setup_heading": {
        "zh_CN": "首次登录：用一次性设置码设置您的密码",
        "en": "First login: set your own password with the one-time setup code IT gave you",
        "zh_TW": "首次登入：用一次性設定碼設定您的密碼",
    },
    "gui.login.setup_code": {"zh_CN": "设置码(&S)", "en": "&Setup code", "zh_TW": "設定碼(&S)"},
    "gui.login.new_password": {"zh_CN": "新密码(&N)", "en": "&New password", "zh_TW": "新密碼(&N)"},
    "gui.login.repeat_password": {"zh_CN": "再次输入(&R)", "en": "&Repeat it", "zh_TW": "再次輸入(&R)"},
    "gui.login.setup_submit": {
        "zh_CN": "设置密码并登录",
        "en": "Set password and log in",
        "zh_TW": "設定密碼並登入",
    },
    "gui.login.required": {"zh_CN": "必填", "en": "Required", "zh_TW": "必填"},
    "gui.login.mismatch": {
        "zh_CN": "两次输入的密码不一致",
        "en": "The two passwords differ",
        "zh_TW": "兩次輸入的密碼不一致",
    },
    "gui.login.setup_offline": {
        "zh_CN": "无法连接服务器：首次登录必须联网。请检查网络或联系信息科。",
        "en": "The server cannot be reached: a first login needs the network. Check it or call IT.",
        "zh_TW": "無法連接伺服器：首次登入必須連網。請檢查網路或聯繫資訊科。",
    },
    "gui.login.campuses_failed": {
        "zh_CN": "院区列表暂不可用，将使用默认院区",
        "en": "Campus list unavailable; the default campus will be used",
        "zh_TW": "院區列表暫不可用，將使用預設院區",
    },
}
for _key, _texts in _STRINGS.items():
    register(_key, _texts)


def is_network_error(error: BaseException) -> bool:
    """True when the server could not be reached (as opposed to refusing the login)."""
    return isinstance(error, TransientError | ConnectionError | TimeoutError | OSError)


class _NetworkDown(Exception):
    """Raised inside the worker so the GUI learns both facts at once: no server, and whether offline works."""

    def __init__(self, cause: BaseException, can_unlock: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.can_unlock = can_unlock


class _WrongPassword(Exception):
    pass


class LoginDialog(QDialog):
    """Username, password and campus; online login with offline fallback; also the idle-unlock screen."""

    sig_logged_in = Signal(object)  # LoginResult
    sig_busy_changed = Signal(bool)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        login: LoginFn | None,
        verifier: VerifierLike | None = None,
        campuses: CampusesFn | None = None,
        lang: str = DEFAULT_LANGUAGE,
        mode: LoginMode = LoginMode.LOGIN,
        username: str = "",
        display_name: str = "",
        campus_id: str | None = None,
        setup: SetupFn | None = None,
    ) -> None:
        super().__init__(parent)
        # Its own colours: a parent with a dark style sheet (the waiting-room display) must not make the
        # dialog's labels white on the light dialog; a widget's own style sheet wins over inherited ones.
        self.setStyleSheet("QLabel { color: palette(window-text); background: transparent; }")
        self.setObjectName("login-dialog")
        self.lang = lang
        self.mode = LoginMode(mode)
        self.result_value: LoginResult | None = None
        self._login = login
        self._setup = setup
        self.setup_mode = False
        self._verifier = verifier
        self._campus_id = campus_id
        self._call: BackgroundCall | None = None
        self._switching_user = False
        unlock = self.mode is LoginMode.UNLOCK
        self.setWindowTitle(tr("gui.login.unlock_title" if unlock else "gui.login.title", lang))
        self.setMinimumWidth(460)

        heading = (
            tr("gui.login.unlock_heading", lang, name=display_name or username)
            if unlock
            else tr("gui.login.heading", lang)
        )
        self.heading = QLabel(heading)
        self.heading.setProperty("role", "title")
        self.heading.setWordWrap(True)

        self.username_edit = QLineEdit(username)
        self.username_edit.setObjectName("login-username")
        self.username_edit.setMaxLength(64)
        self.username_edit.setReadOnly(unlock)
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("login-password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setMaxLength(256)
        self.campus_combo = QComboBox()
        self.campus_combo.setObjectName("login-campus")
        self.campus_combo.addItem(tr("gui.login.campus_default", lang), None)
        self.campus_combo.setMinimumContentsLength(16)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.form = form
        self._add_row(form, "gui.login.username", self.username_edit)
        self.password_label = self._add_row(form, "gui.login.password", self.password_edit)
        self.campus_label = self._add_row(form, "gui.login.campus", self.campus_combo)
        self.campus_label.setVisible(not unlock and campuses is not None)
        self.campus_combo.setVisible(not unlock and campuses is not None)

        self._build_setup_rows(form)

        self.message = QLabel()
        self.message.setObjectName("login-message")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        self.busy_bar = QProgressBar()
        self.busy_bar.setObjectName("login-busy")
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(6)
        self.busy_bar.hide()
        self.busy_label = QLabel()
        self.busy_label.setProperty("role", "notice")
        self.busy_label.hide()

        self.submit_button = QPushButton(tr("gui.login.unlock" if unlock else "gui.login.submit", lang))
        self.submit_button.setObjectName("login-submit")
        self.offline_button = QPushButton(tr("gui.login.offline", lang))
        self.offline_button.setObjectName("login-offline")
        self.cancel_button = QPushButton(tr("gui.login.switch_user" if unlock else "gui.login.cancel", lang))
        self.cancel_button.setObjectName("login-cancel")
        self.cancel_button.setAutoDefault(False)
        buttons = QDialogButtonBox()
        buttons.addButton(self.submit_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.offline_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.offline_button.hide()  # after addButton, which shows its buttons; offered when the server is down
        self.setup_toggle = QPushButton(tr("gui.login.first_login", lang))
        self.setup_toggle.setObjectName("login-first-login")
        self.setup_toggle.setFlat(True)
        self.setup_toggle.setAutoDefault(False)
        self.setup_toggle.setVisible(setup is not None and not unlock)
        self.setup_toggle.clicked.connect(lambda: self.show_setup(not self.setup_mode))

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(self.heading)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.busy_label)
        layout.addWidget(self.busy_bar)
        layout.addWidget(self.setup_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(buttons)

        self.submit_button.clicked.connect(self.submit)
        self.offline_button.clicked.connect(self.unlock_offline)
        self.cancel_button.clicked.connect(self._cancel_clicked)
        self.username_edit.textEdited.connect(self._credentials_edited)
        self.submit_button.setDefault(True)
        (self.password_edit if username else self.username_edit).setFocus()
        if campuses is not None and not unlock:
            self._load_campuses(campuses)

    def _add_row(self, form: QFormLayout, key: str, field: QWidget) -> QLabel:
        label = QLabel(tr(key, self.lang))
        label.setBuddy(field)
        form.addRow(label, field)
        return label

    # -- first login with a setup code --------------------------------------------------------------

    def _build_setup_rows(self, form: QFormLayout) -> None:
        """Setup code, new password twice: each with its problem shown right under it."""
        self.code_edit = QLineEdit()
        self.code_edit.setObjectName("login-setup-code")
        self.code_edit.setMaxLength(64)
        self.new_password_edit = QLineEdit()
        self.new_password_edit.setObjectName("login-new-password")
        self.new_password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.new_password_edit.setMaxLength(256)
        self.repeat_edit = QLineEdit()
        self.repeat_edit.setObjectName("login-repeat-password")
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat_edit.setMaxLength(256)
        self.field_errors: dict[str, QLabel] = {}
        self._setup_rows: list[QWidget] = []
        for key, name, edit in (
            ("gui.login.setup_code", "setup_code", self.code_edit),
            ("gui.login.new_password", "new_password", self.new_password_edit),
            ("gui.login.repeat_password", "repeat", self.repeat_edit),
        ):
            box = QWidget()
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(2)
            column.addWidget(edit)
            error = QLabel()
            error.setObjectName(f"login-error-{name}")
            error.setProperty("role", "error")
            error.setWordWrap(True)
            error.hide()
            column.addWidget(error)
            self.field_errors[name] = error
            label = self._add_row(form, key, box)
            label.setBuddy(edit)
            self._setup_rows += [label, box]
        for widget in self._setup_rows:
            widget.hide()
        for edit in (self.code_edit, self.new_password_edit, self.repeat_edit):
            edit.textEdited.connect(lambda _text: self._clear_field_errors())

    def show_setup(self, on: bool) -> None:
        """Switch between the log-in form and the first-login (setup code) form."""
        if self.busy or self._setup is None:
            return
        self.setup_mode = on
        for widget in self._setup_rows:
            widget.setVisible(on)
        self.password_label.setVisible(not on)
        self.password_edit.setVisible(not on)
        self.heading.setText(tr("gui.login.setup_heading" if on else "gui.login.heading", self.lang))
        self.setup_toggle.setText(tr("gui.login.back_to_login" if on else "gui.login.first_login", self.lang))
        self.submit_button.setText(tr("gui.login.setup_submit" if on else "gui.login.submit", self.lang))
        self._offer_offline(False)
        self.message.hide()
        self._clear_field_errors()
        (self.code_edit if on and self.username_edit.text() else self.username_edit).setFocus()

    def field_error(self, name: str) -> str:
        label = self.field_errors[name]
        return "" if label.isHidden() else label.text()

    def _show_field_error(self, name: str, text: str) -> None:
        label = self.field_errors[name]
        label.setText(text)
        label.style().unpolish(label)
        label.style().polish(label)
        label.show()

    def _clear_field_errors(self) -> None:
        for label in self.field_errors.values():
            label.hide()

    def submit_setup(self) -> None:
        """Check the fields here (empty, the two passwords differ, the password policy), then ask the
        server on a worker thread; its answer goes next to the field it is about."""
        if self.busy or self._setup is None:
            return
        self._clear_field_errors()
        self.message.hide()
        username = self.username_edit.text().strip()
        code = self.code_edit.text().strip()
        password, repeat = self.new_password_edit.text(), self.repeat_edit.text()
        if not username:
            self.show_message(tr("gui.login.missing", self.lang))
            self.username_edit.setFocus()
            return
        problems = {}
        if not code:
            problems["setup_code"] = tr("gui.login.required", self.lang)
        problem = password_problem(password, username=username, lang=self.lang)
        if problem:
            problems["new_password"] = problem
        elif repeat != password:
            problems["repeat"] = tr("gui.login.mismatch", self.lang)
        if problems:
            for name, text in problems.items():
                self._show_field_error(name, text)
            {
                "setup_code": self.code_edit,
                "new_password": self.new_password_edit,
                "repeat": self.repeat_edit,
            }[next(iter(problems))].setFocus()
            return
        setup, verifier = self._setup, self._verifier
        campus_id = self.campus_combo.currentData() if self.campus_combo.isVisible() else self._campus_id

        def attempt() -> LoginResult:
            try:
                staff = setup(username, code, password, campus_id)
            except SuiteError:
                raise
            except Exception as error:
                if is_network_error(error):
                    raise _NetworkDown(error, False) from error
                raise
            if verifier is not None:
                try:
                    verifier.remember(username, password, staff)
                except Exception:  # noqa: BLE001 - offline unlock is a convenience; the login stands
                    log.exception("could not store the offline verifier for %r", username)
            return LoginResult(staff, campus_id, offline=False)

        self._start(attempt, tr("gui.login.connecting", self.lang), "setup-login")

    def _setup_failed(self, error: BaseException) -> None:
        if isinstance(error, _NetworkDown) or is_network_error(error):
            self.show_message(tr("gui.login.setup_offline", self.lang))
        elif isinstance(error, SuiteError) and error.code == "weak_password":
            self._show_field_error("new_password", error.message)
            self.new_password_edit.setFocus()
        elif isinstance(error, SuiteError):
            self._show_field_error("setup_code", error.message)
            self.code_edit.setFocus()
        else:
            self.show_message(describe_error(error, self.lang).message)
            log.error("first login failed unexpectedly", exc_info=error)

    # -- state ------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._call is not None

    @property
    def message_text(self) -> str:
        return "" if self.message.isHidden() else self.message.text()

    @property
    def offline_offered(self) -> bool:
        return not self.offline_button.isHidden()

    def _set_busy(self, text: str | None) -> None:
        busy = text is not None
        self.busy_label.setText(text or "")
        self.busy_label.setVisible(busy)
        self.busy_bar.setVisible(busy)
        for widget in (
            self.username_edit,
            self.password_edit,
            self.campus_combo,
            self.submit_button,
            self.offline_button,
            self.code_edit,
            self.new_password_edit,
            self.repeat_edit,
            self.setup_toggle,
        ):
            widget.setEnabled(not busy)
        self.cancel_button.setText(
            tr("gui.login.stop", self.lang)
            if busy
            else tr(
                "gui.login.switch_user" if self.mode is LoginMode.UNLOCK else "gui.login.cancel", self.lang
            )
        )
        self.sig_busy_changed.emit(busy)

    def show_message(self, text: str, role: str = "error") -> None:
        self.message.setText(text)
        self.message.setProperty("role", role)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.show()

    def _offer_offline(self, offer: bool) -> None:
        self.offline_button.setVisible(offer)
        self.offline_button.setDefault(offer)
        self.submit_button.setDefault(not offer)

    def _credentials_edited(self) -> None:
        if self.mode is LoginMode.LOGIN:
            self._offer_offline(False)

    def _credentials(self) -> tuple[str, str] | None:
        username, password = self.username_edit.text().strip(), self.password_edit.text()
        if not username or not password:
            self.show_message(tr("gui.login.missing", self.lang))
            (self.password_edit if username else self.username_edit).setFocus()
            return None
        return username, password

    def _start(self, fn: Callable[[], LoginResult], busy_text: str, label: str) -> None:
        self._set_busy(busy_text)
        self.message.hide()
        self._call = BackgroundCall(
            fn, on_success=self._succeeded, on_failure=self._failed, label=label, parent=self
        )
        self._call.start()

    # -- actions ----------------------------------------------------------------------------------

    def submit(self) -> None:
        """Online login (login mode) or local check first (unlock mode); runs on a worker thread."""
        if self.busy:
            return
        if self.setup_mode:
            self.submit_setup()
            return
        credentials = self._credentials()
        if credentials is None:
            return
        username, password = credentials
        campus_id = self.campus_combo.currentData() if self.campus_combo.isVisible() else self._campus_id
        login, verifier, unlock = self._login, self._verifier, self.mode is LoginMode.UNLOCK

        def attempt() -> LoginResult:
            if unlock and verifier is not None and verifier.can_unlock(username):
                staff = verifier.verify(username, password)
                if staff is None:
                    raise _WrongPassword
                return LoginResult(staff, campus_id, offline=True)
            if login is None:
                raise _NetworkDown(TransientError("no server configured"), False)
            try:
                staff = login(username, password, campus_id)
            except AuthFailed:
                raise
            except Exception as error:
                if is_network_error(error):
                    raise _NetworkDown(
                        error, verifier is not None and verifier.can_unlock(username)
                    ) from error
                raise
            if verifier is not None:
                try:
                    verifier.remember(username, password, staff)
                except Exception:  # noqa: BLE001 - offline unlock is a convenience; the login stands
                    log.exception("could not store the offline verifier for %r", username)
            return LoginResult(staff, campus_id, offline=False)

        self._start(
            attempt, tr("gui.login.verifying" if unlock else "gui.login.connecting", self.lang), "login"
        )

    def unlock_offline(self) -> None:
        """Check the password against the cached verifier (offered after the server proved unreachable)."""
        if self.busy or self._verifier is None:
            return
        credentials = self._credentials()
        if credentials is None:
            return
        username, password = credentials
        verifier = self._verifier
        campus_id = self.campus_combo.currentData() if self.campus_combo.isVisible() else self._campus_id

        def attempt() -> LoginResult:
            staff = verifier.verify(username, password)
            if staff is None:
                raise _WrongPassword
            return LoginResult(staff, staff.campus_id if campus_id is None else campus_id, offline=True)

        self._start(attempt, tr("gui.login.verifying", self.lang), "offline-unlock")

    def cancel_attempt(self) -> None:
        """Stop waiting for the attempt in flight: its late answer is ignored."""
        if self._call is not None:
            self._call.cancel()
            self._call = None
            self._set_busy(None)
            self.show_message(tr("gui.login.cancelled", self.lang), "notice")
            self.password_edit.setFocus()

    def _cancel_clicked(self) -> None:
        if self.busy:
            self.cancel_attempt()
        elif self.mode is LoginMode.UNLOCK:
            self._switching_user = True
            self.reject()
        else:
            self.reject()

    # -- results (GUI thread) ---------------------------------------------------------------------

    def _succeeded(self, result: LoginResult) -> None:
        self._call = None
        self._set_busy(None)
        self.result_value = result
        for edit in (self.password_edit, self.new_password_edit, self.repeat_edit, self.code_edit):
            edit.clear()
        self.sig_logged_in.emit(result)
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self._call = None
        self._set_busy(None)
        if self.setup_mode:
            self._setup_failed(error)
            return
        self.password_edit.clear()
        self.password_edit.setFocus()
        if isinstance(error, _NetworkDown):
            log.info(
                "login: server unreachable (%s); offline unlock %s",
                error.cause,
                "offered" if error.can_unlock else "not possible",
            )
            key = "gui.login.network_down_offline" if error.can_unlock else "gui.login.network_down"
            self.show_message(tr(key, self.lang), "warning" if error.can_unlock else "error")
            self._offer_offline(error.can_unlock)
        elif isinstance(error, _WrongPassword):
            key = "gui.login.unlock_failed" if self.mode is LoginMode.UNLOCK else "gui.login.offline_failed"
            self.show_message(tr(key, self.lang))
        elif isinstance(error, AccountLocked | AuthFailed | SuiteError):
            self._offer_offline(False)
            self.show_message(error.message)
        else:
            self.show_message(describe_error(error, self.lang).message)
            log.error("login failed unexpectedly", exc_info=error)

    # -- campuses ---------------------------------------------------------------------------------

    def _load_campuses(self, campuses: CampusesFn) -> None:
        def loaded(items: Sequence[tuple[str, str]]) -> None:
            for campus_id, name in items:
                self.campus_combo.addItem(name, campus_id)
            if self._campus_id is not None:
                index = self.campus_combo.findData(self._campus_id)
                if index >= 0:
                    self.campus_combo.setCurrentIndex(index)

        def failed(error: BaseException) -> None:
            log.warning("could not list campuses: %s", error)
            self.campus_combo.setToolTip(tr("gui.login.campuses_failed", self.lang))

        self._campus_call = BackgroundCall(
            lambda: list(campuses()), on_success=loaded, on_failure=failed, label="campuses", parent=self
        ).start()

    # -- closing ----------------------------------------------------------------------------------

    def reject(self) -> None:
        """Esc cancels an attempt in flight; a locked session only closes through 'switch user'."""
        if self.busy:
            self.cancel_attempt()
            return
        if self.mode is LoginMode.UNLOCK and not self._switching_user:
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self.mode is LoginMode.UNLOCK and not self._switching_user:
            event.ignore()
            return
        if self._call is not None:
            self._call.cancel()
            self._call = None
        super().closeEvent(event)

    @classmethod
    def ask(
        cls,
        parent: QWidget | None = None,
        *,
        login: LoginFn | None,
        verifier: VerifierLike | None = None,
        campuses: CampusesFn | None = None,
        lang: str = DEFAULT_LANGUAGE,
        mode: LoginMode = LoginMode.LOGIN,
        username: str = "",
        display_name: str = "",
        campus_id: str | None = None,
        setup: SetupFn | None = None,
    ) -> LoginResult | None:
        """Show the dialog modally. ``None`` means cancelled (login) or 'switch user' (unlock: sign out)."""
        dialog = cls(
            parent,
            login=login,
            verifier=verifier,
            campuses=campuses,
            lang=lang,
            mode=mode,
            username=username,
            display_name=display_name,
            campus_id=campus_id,
            setup=setup,
        )
        dialog.exec()
        return dialog.result_value
