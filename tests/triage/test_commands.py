"""``clinic triage`` and ``clinic display`` started the way ``./run demo`` starts them, against a real server
(the login dialog answered by a real online login; the event loop left after a few seconds)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from shared.gui.app import ClientRuntime, uninstall_excepthook
from shared.gui.login import LoginResult
from shared.store import LocalStore
from tests.support.api import DEMO_PASSWORD
from tests.support.server import ServerProcess
from triage_desk import main


@pytest.fixture
def logged_in_by(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Answer each login dialog with an online login of the next name in the returned list."""
    monkeypatch.setenv("CLINIC_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.setenv("CLINIC_USER_CONFIG", str(tmp_path / "no-user.toml"))
    monkeypatch.setenv("CLINIC_TOKEN_FILE", str(tmp_path / "tokens.bin"))
    names: list[str] = []

    def ask_login(self: ClientRuntime, parent: Any = None, **_kw: Any) -> LoginResult:
        staff = self.engine.login(names.pop(0), DEMO_PASSWORD)
        session = self.store.session()
        assert session is not None
        self.current = LoginResult(staff, session.campus_id, False)
        return self.current

    monkeypatch.setattr(ClientRuntime, "ask_login", ask_login)
    return names


def run_for(seconds: float, command: Any, args: argparse.Namespace) -> int:
    """Run ``command`` and quit its event loop after ``seconds``; the app must not have quit by itself.

    The quit timer is stopped afterwards: a ``quit()`` outside ``exec()`` would leave Qt's quit flag set
    and every later ``QEventLoop.exec`` (pytest-qt's waits) would return at once.
    """
    app = QApplication.instance()
    assert app is not None
    fired: list[bool] = []
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: (fired.append(True), app.quit()))
    timer.start(int(seconds * 1000))
    try:
        code = int(command(args))
    finally:
        timer.stop()
        uninstall_excepthook()
        _drain(app)
    assert fired, "the app left its event loop before it was told to quit"
    return code


def _drain(app: Any) -> None:
    """Let Qt finish the quit it started (on some platforms it completes after ``exec()`` returned and
    would leave the quit flag set for the next test); one short ``exec()`` clears the flag either way."""
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(app.quit)
    timer.start(100)
    try:
        app.exec()
    finally:
        timer.stop()


def namespace(server: ServerProcess, folder: Path, **extra: Any) -> argparse.Namespace:
    values = {
        "server": server.url,
        "data_folder": str(folder),
        "lang": None,
        "self_test": False,
        "windowed": True,
    }
    return argparse.Namespace(**{**values, **extra})


def test_clinic_triage_and_clinic_display_start_log_in_and_sync(
    triage_server: ServerProcess, tmp_path: Path, logged_in_by: list[str]
) -> None:
    logged_in_by.append("nurse1")
    assert (
        run_for(8, main.run_triage, namespace(triage_server, tmp_path / "desk", kiosk=False, desk_slot=1))
        == 0
    )
    desk = LocalStore.open(tmp_path / "desk" / "triage.db", app="triage", key="os")  # as the app opens it
    try:
        assert desk.cursor() is not None and desk.session() is not None
    finally:
        desk.close()

    logged_in_by.append("nurse3")
    args = namespace(triage_server, tmp_path / "screen", screen=None, queues=None, english=True, silent=True)
    assert run_for(8, main.run_display, args) == 0
    screen = LocalStore.open(tmp_path / "screen" / "display.db", app="display", key="os")
    try:
        assert screen.cursor() is not None
    finally:
        screen.close()
    assert logged_in_by == []
