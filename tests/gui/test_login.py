"""The login dialog: online login off the GUI thread, clear messages, offline unlock, idle unlock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from PySide6.QtCore import Qt, QTimer
from pytestqt.qtbot import QtBot

from shared.domain.entities import Staff
from shared.errors import AccountLocked, AuthFailed, TransientError
from shared.gui.login import LoginDialog, LoginMode, LoginResult
from shared.security import JsonFileVerifierStore, OfflineVerifier
from tests.gui.conftest import save_screenshot

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
DOCTOR = Staff(
    id="staff-doctor1",
    username="doctor1",
    name="张伟",
    roles=["doctor"],
    title="主治医师",
    campus_id="campus-main",
)
CAMPUSES = [("campus-main", "总院"), ("campus-east", "东院区")]


@pytest.fixture
def verifier(tmp_path: Path) -> OfflineVerifier:
    return OfflineVerifier(JsonFileVerifierStore(tmp_path / "verifiers.json"), hasher=FAST)


class FakeServer:
    """An online login that answers like the API would, optionally only after ``release`` is set."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, str, str | None]] = []
        self.release: threading.Event | None = None
        self.thread: threading.Thread | None = None

    def login(self, username: str, password: str, campus_id: str | None) -> Staff:
        self.thread = threading.current_thread()
        self.calls.append((username, password, campus_id))
        if self.release is not None:
            self.release.wait(5.0)
        if self.error is not None:
            raise self.error
        return DOCTOR


def dialog_for(
    qtbot: QtBot, server: FakeServer | None, verifier: OfflineVerifier | None = None, **kw: object
) -> LoginDialog:
    dialog = LoginDialog(login=server.login if server else None, verifier=verifier, **kw)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def type_credentials(
    qtbot: QtBot, dialog: LoginDialog, username: str = "doctor1", password: str = "Demo-2026"
) -> None:
    dialog.username_edit.clear()
    qtbot.keyClicks(dialog.username_edit, username)
    dialog.password_edit.clear()
    qtbot.keyClicks(dialog.password_edit, password)


def test_an_online_login_runs_off_the_gui_thread_and_remembers_the_verifier(
    qtbot: QtBot, verifier: OfflineVerifier
) -> None:
    server = FakeServer()
    dialog = dialog_for(qtbot, server, verifier, campuses=lambda: CAMPUSES)
    qtbot.waitUntil(lambda: dialog.campus_combo.count() == 3)
    dialog.campus_combo.setCurrentIndex(2)
    type_credentials(qtbot, dialog)
    with qtbot.waitSignal(dialog.sig_logged_in) as logged_in:
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)  # Enter logs in
    result = logged_in.args[0]
    assert result == LoginResult(DOCTOR, "campus-east", offline=False)
    assert server.calls == [("doctor1", "Demo-2026", "campus-east")]
    assert server.thread is not threading.current_thread()
    assert dialog.result() == dialog.DialogCode.Accepted
    assert verifier.verify("doctor1", "Demo-2026") == DOCTOR


def test_a_slow_server_leaves_the_gui_responsive_and_cancel_stops_waiting(qtbot: QtBot) -> None:
    server = FakeServer()
    server.release = threading.Event()
    dialog = dialog_for(qtbot, server)
    type_credentials(qtbot, dialog)
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    with qtbot.waitSignal(dialog.sig_busy_changed):
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert dialog.busy and dialog.busy_bar.isVisible() and not dialog.password_edit.isEnabled()
    assert dialog.busy_label.text() == "正在连接服务器…" and dialog.cancel_button.text() == "停止(&S)"
    save_screenshot(dialog, "gui_login_dialog_busy")
    qtbot.waitUntil(lambda: len(ticks) >= 10)  # the event loop runs while the login waits
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # Esc stops the attempt, the dialog stays
    timer.stop()
    assert not dialog.busy and dialog.isVisible() and dialog.message_text == "已停止登录"
    server.release.set()
    qtbot.waitUntil(lambda: server.thread is not None and not server.thread.is_alive(), timeout=5000)
    qtbot.wait(50)  # the late answer would arrive now; it must be ignored
    assert dialog.result_value is None and dialog.isVisible()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AuthFailed("用户名或密码错误（还可尝试 4 次）"), "用户名或密码错误（还可尝试 4 次）"),
        (
            AccountLocked("账户因多次密码错误已锁定，请于 10:45 后重试或联系管理员"),
            "账户因多次密码错误已锁定",
        ),
        (AuthFailed("账户已停用"), "账户已停用"),
    ],
)
def test_refused_logins_show_the_servers_message_inside_the_dialog(
    qtbot: QtBot, error: BaseException, expected: str, verifier: OfflineVerifier
) -> None:
    verifier.remember("doctor1", "Demo-2026", DOCTOR)
    dialog = dialog_for(qtbot, FakeServer(error), verifier)
    type_credentials(qtbot, dialog, password="wrong")
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.message_text.startswith(expected))
    assert not dialog.offline_offered  # a refusal is not an outage: no offline way around it
    assert dialog.password_edit.text() == "" and dialog.focusWidget() is dialog.password_edit
    assert dialog.message.property("role") == "error"


def test_empty_fields_are_caught_before_any_network_call(qtbot: QtBot) -> None:
    server = FakeServer()
    dialog = dialog_for(qtbot, server)
    qtbot.keyClicks(dialog.username_edit, "doctor1")
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert dialog.message_text == "请输入用户名和密码" and server.calls == []


@pytest.fixture
def dead_engine(tmp_path: Path) -> Iterator[object]:
    """The real SyncEngine and ApiTransport, pointed at a loopback port nobody listens on."""
    from shared.store import LocalStore
    from shared.sync.engine import SyncEngine
    from shared.sync.tokens import TokenStore
    from shared.sync.transport import ApiTransport
    from tests.support.server import free_port

    store = LocalStore.open(tmp_path / "local.db", app="gui-test")
    transport = ApiTransport(f"http://127.0.0.1:{free_port()}", timeout=3.0)
    engine = SyncEngine(store, transport, tokens=TokenStore(fallback_file=tmp_path / "tokens.bin"))
    yield engine
    transport.close()
    store.close()


def test_a_dead_server_offers_offline_unlock_to_a_recent_user(
    qtbot: QtBot, verifier: OfflineVerifier, dead_engine: object
) -> None:
    verifier.remember("doctor1", "Demo-2026", DOCTOR)
    dialog = LoginDialog(login=dead_engine.login, verifier=verifier)  # type: ignore[attr-defined]
    qtbot.addWidget(dialog)
    dialog.show()
    type_credentials(qtbot, dialog)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.offline_offered, timeout=10_000)
    assert dialog.message_text.startswith("无法连接服务器。您近期在本机登录过，可以离线解锁")
    assert dialog.offline_button.isDefault()  # pressing Enter again unlocks offline
    save_screenshot(dialog, "gui_login_dialog_network_down")
    qtbot.keyClicks(dialog.password_edit, "Demo-2026")
    with qtbot.waitSignal(dialog.sig_logged_in) as logged_in:
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert logged_in.args[0] == LoginResult(DOCTOR, "campus-main", offline=True)


def test_a_dead_server_and_no_cached_verifier_explains_why_offline_login_is_impossible(
    qtbot: QtBot, verifier: OfflineVerifier, dead_engine: object
) -> None:
    dialog = LoginDialog(login=dead_engine.login, verifier=verifier)  # type: ignore[attr-defined]
    qtbot.addWidget(dialog)
    dialog.show()
    type_credentials(qtbot, dialog, username="nurse1")
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(dialog.message_text), timeout=10_000)
    assert dialog.message_text.startswith("无法连接服务器，且本机没有该用户近期的登录记录")
    assert not dialog.offline_offered


def test_a_wrong_password_offline_says_so(qtbot: QtBot, verifier: OfflineVerifier) -> None:
    verifier.remember("doctor1", "Demo-2026", DOCTOR)
    dialog = dialog_for(qtbot, FakeServer(TransientError("connection refused")), verifier)
    type_credentials(qtbot, dialog)
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.offline_offered)
    qtbot.keyClicks(dialog.password_edit, "not-it")
    qtbot.mouseClick(dialog.offline_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.message_text.startswith("密码错误，或本机缓存的登录凭据已过期"))
    assert dialog.result_value is None


def test_editing_the_username_withdraws_the_offline_offer(qtbot: QtBot, verifier: OfflineVerifier) -> None:
    verifier.remember("doctor1", "Demo-2026", DOCTOR)
    dialog = dialog_for(qtbot, FakeServer(TransientError("down")), verifier)
    type_credentials(qtbot, dialog)
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.offline_offered)
    qtbot.keyClicks(dialog.username_edit, "x")
    assert not dialog.offline_offered


def test_unlock_mode_checks_locally_and_cannot_be_escaped(qtbot: QtBot, verifier: OfflineVerifier) -> None:
    verifier.remember("doctor1", "Demo-2026", DOCTOR)
    server = FakeServer()
    dialog = dialog_for(
        qtbot, server, verifier, mode=LoginMode.UNLOCK, username="doctor1", display_name="张伟"
    )
    assert dialog.username_edit.isReadOnly() and dialog.focusWidget() is dialog.password_edit
    assert dialog.windowTitle() == "会话已锁定" and "张伟" in dialog.heading.text()
    assert not dialog.campus_combo.isVisible()
    save_screenshot(dialog, "gui_login_dialog_unlock")
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible()  # a locked session stays locked
    qtbot.keyClicks(dialog.password_edit, "nope")
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.message_text == "密码错误")
    qtbot.keyClicks(dialog.password_edit, "Demo-2026")
    with qtbot.waitSignal(dialog.sig_logged_in) as unlocked:
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert unlocked.args[0].offline and unlocked.args[0].staff == DOCTOR
    assert server.calls == []  # no network needed to unlock


def test_switch_user_on_the_lock_screen_returns_none(qtbot: QtBot, verifier: OfflineVerifier) -> None:
    dialog = dialog_for(qtbot, FakeServer(), verifier, mode=LoginMode.UNLOCK, username="doctor1")
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and dialog.result_value is None


def test_the_login_dialog_looks_right(qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, FakeServer(), campuses=lambda: CAMPUSES, username="doctor1")
    qtbot.waitUntil(lambda: dialog.campus_combo.count() == 3)
    assert dialog.windowTitle() == "登录" and dialog.focusWidget() is dialog.password_edit
    assert not dialog.offline_button.isVisible() and not dialog.busy_bar.isVisible()
    save_screenshot(dialog, "gui_login_dialog")
    english = dialog_for(qtbot, FakeServer(), campuses=lambda: CAMPUSES, lang="en")
    assert english.submit_button.text() == "Log in"
    save_screenshot(english, "gui_login_dialog_en")


def test_ask_can_be_replaced_by_a_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        LoginDialog, "ask", classmethod(lambda cls, *a, **kw: LoginResult(DOCTOR, None, False))
    )
    assert LoginDialog.ask(None, login=None).staff == DOCTOR  # type: ignore[union-attr]


def test_the_dialog_keeps_readable_labels_under_a_dark_parent(qtbot: QtBot) -> None:
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QLabel, QWidget

    dark = QWidget()
    dark.setObjectName("display")
    dark.setStyleSheet("QWidget#display { background: #101820; } QLabel { color: #ffffff; }")
    qtbot.addWidget(dark)
    dialog = LoginDialog(dark, login=lambda *a, **k: None, lang="zh_CN")
    dialog.show()
    qtbot.waitExposed(dialog)
    label = dialog.findChildren(QLabel)[0]
    text = label.palette().color(label.foregroundRole())
    background = dialog.palette().color(dialog.backgroundRole())
    assert text != QColor("#ffffff")
    assert abs(text.lightness() - background.lightness()) > 100, (text.name(), background.name())
