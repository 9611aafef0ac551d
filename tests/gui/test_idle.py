"""Idle lock: inactivity locks the session behind a cover and the login dialog in unlock mode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow
from pytestqt.qtbot import QtBot

from shared.domain.entities import Staff
from shared.gui.idle import IdleLock
from shared.gui.login import LoginDialog, LoginMode, LoginResult
from tests.gui.conftest import save_screenshot

DOCTOR = Staff(id="staff-doctor1", username="doctor1", name="张伟", roles=["doctor"])
SHORT = 0.3 / 60  # 300 ms, in minutes


@pytest.fixture
def window(qtbot: QtBot) -> QMainWindow:
    window = QMainWindow()
    window.setCentralWidget(QLabel("患者：张*三  138****5678"))
    window.resize(640, 400)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def idle_lock(window: QMainWindow) -> Iterator[IdleLock]:
    lock = IdleLock(timeout_minutes=SHORT, window=window)
    yield lock
    lock.stop()


def test_inactivity_emits_the_idle_lock_signal(qtbot: QtBot, idle_lock: IdleLock) -> None:
    idle_lock.start()
    with qtbot.waitSignal(idle_lock.sig_idle_lock, timeout=3000):
        pass
    assert idle_lock.locked and idle_lock.idle_seconds >= 0.3


def test_typing_keeps_the_session_open(qtbot: QtBot, window: QMainWindow) -> None:
    now = [1000.0]
    lock = IdleLock(timeout_minutes=1.0, window=window, clock=lambda: now[0])
    lock.start()
    for _ in range(5):  # five keystrokes 50 s apart: never a full minute idle
        now[0] += 50
        qtbot.keyClick(window.centralWidget(), Qt.Key.Key_A)
        assert lock.idle_seconds == 0
        lock._tick()
    assert not lock.locked
    now[0] += 61
    with qtbot.waitSignal(lock.sig_idle_lock):
        lock._tick()
    qtbot.keyClick(window.centralWidget(), Qt.Key.Key_A)
    assert lock.idle_seconds == 0 or lock.locked  # input while locked does not count
    lock.stop()


def test_locking_covers_the_window_and_an_unlock_releases_it(qtbot: QtBot, window: QMainWindow) -> None:
    asked: list[object] = []
    unlocked: list[LoginResult] = []

    def unlock(parent: QMainWindow) -> LoginResult:
        # What the user sees behind the unlock dialog: the cover, over the whole window.
        asked.append(parent)
        assert lock.cover is not None and lock.cover.isVisible()
        assert lock.cover.geometry() == parent.rect()
        save_screenshot(parent, "gui_idle_locked")
        return LoginResult(DOCTOR, None, offline=True)

    lock = IdleLock(timeout_minutes=SHORT, window=window, unlock=unlock)
    lock.sig_unlocked.connect(unlocked.append)
    lock.sig_unlocked.connect(lock.stop)
    lock.start()
    qtbot.waitUntil(lambda: bool(unlocked), timeout=3000)
    assert unlocked[0].staff == DOCTOR and asked == [window]
    assert not lock.locked and lock.cover is None


def test_the_cover_follows_the_window_size(qtbot: QtBot, window: QMainWindow, idle_lock: IdleLock) -> None:
    idle_lock.start()
    idle_lock.lock()
    window.resize(800, 500)
    qtbot.waitUntil(lambda: idle_lock.cover is not None and idle_lock.cover.geometry() == window.rect())
    idle_lock.release()


def test_switch_user_on_the_lock_screen_asks_the_app_to_sign_out(
    qtbot: QtBot, window: QMainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(LoginDialog, "ask", classmethod(lambda cls, parent=None, **kw: calls.append(kw)))
    lock = IdleLock(
        timeout_minutes=SHORT,
        window=window,
        unlock=lambda parent: LoginDialog.ask(parent, login=None, mode=LoginMode.UNLOCK, username="doctor1"),
    )
    with qtbot.waitSignal(lock.sig_sign_out_requested):
        lock.lock()  # the app's "lock now" shortcut does the same as waiting
    assert calls[0]["mode"] is LoginMode.UNLOCK and lock.locked
    assert lock.cover is not None and lock.cover.isVisible()  # stays covered until the app signs in anew
    lock.release()
    assert not lock.locked and lock.cover is None


def test_a_non_positive_timeout_is_refused() -> None:
    with pytest.raises(ValueError):
        IdleLock(timeout_minutes=0)
