"""Waits in the GUI tests survive a busy machine: every qtbot wait gets a generous ceiling (tests/conftest.py)."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from pytestqt.qtbot import QtBot

from tests.conftest import QT_WAIT_MS


class Late(QObject):
    sig_done = Signal()


def test_an_answer_later_than_the_asked_timeout_still_counts_when_it_comes(qtbot: QtBot) -> None:
    """As under load: the test asks for 200 ms, the answer takes 700 ms; the wait still sees it."""
    late = Late()
    QTimer.singleShot(700, late.sig_done.emit)
    with qtbot.waitSignal(late.sig_done, timeout=200):
        pass
    done: list[bool] = []
    QTimer.singleShot(700, lambda: done.append(True))
    qtbot.waitUntil(lambda: bool(done), timeout=200)
    assert QT_WAIT_MS >= 20_000
