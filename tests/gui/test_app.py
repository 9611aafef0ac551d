"""App setup: the themed QApplication (a font that renders Chinese) and the one route for uncaught errors."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from shared.domain.entities import Staff
from shared.gui.app import ClientRuntime, create_app, install_excepthook, uninstall_excepthook
from shared.gui.login import LoginDialog, LoginMode, LoginResult
from shared.gui.ops import OpBus, OpContext
from shared.gui.theme import pick_font_family
from shared.sync.status import SyncState
from shared.sync.tokens import TokenStore
from tests.support.server import free_port


def test_create_app_reuses_the_application_and_picks_a_cjk_font(qapp: QApplication) -> None:
    app = create_app(app_name="workstation", lang="zh_CN")
    assert app is qapp and app.applicationName() == "workstation"
    family = pick_font_family("zh_CN")
    assert family is not None, "no CJK font installed: apt-get install fonts-noto-cjk"
    assert app.font().families()[0] == family
    assert pick_font_family("zh_TW") is not None
    with pytest.raises(ValueError):
        create_app(lang="fr")


@pytest.fixture
def hooked(bus: OpBus) -> Iterator[OpBus]:
    install_excepthook(bus)
    yield bus
    uninstall_excepthook()


@pytest.mark.qt_no_exception_capture
def test_an_uncaught_error_in_a_slot_reaches_the_error_display(qtbot: QtBot, hooked: OpBus) -> None:
    def broken_slot() -> None:
        raise KeyError("visit")

    with qtbot.waitSignal(hooked.sig_error_reported) as reported:
        QTimer.singleShot(0, broken_slot)
    report = reported.args[0]
    assert report.code == "unexpected" and "KeyError" in report.message


@pytest.mark.qt_no_exception_capture
def test_an_uncaught_error_on_a_worker_thread_reaches_it_too(qtbot: QtBot, hooked: OpBus) -> None:
    def broken() -> None:
        raise ValueError("bad row")

    with qtbot.waitSignal(hooked.sig_error_reported) as reported:
        thread = threading.Thread(target=broken)
        thread.start()
        thread.join()
    assert "ValueError" in reported.args[0].message


def test_uninstall_restores_the_previous_hook(bus: OpBus) -> None:
    before = sys.excepthook
    install_excepthook(bus)
    assert sys.excepthook is not before
    uninstall_excepthook()
    assert sys.excepthook is before


@pytest.fixture
def offline_runtime(tmp_path: Path) -> Iterator[ClientRuntime]:
    """A runtime whose server is a dead loopback port: everything must still open and work locally."""
    runtime = ClientRuntime.open(
        app="workstation",
        server_url=f"http://127.0.0.1:{free_port()}",
        data_folder=tmp_path,
        tokens=TokenStore(fallback_file=tmp_path / "tokens.bin"),
        timeout=2.0,
    )
    yield runtime
    runtime.shutdown()


def test_the_runtime_opens_offline_and_remembers_who_logged_in(
    qtbot: QtBot, offline_runtime: ClientRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = offline_runtime
    assert OpContext.current() is runtime.context
    assert (runtime.store.path.parent, runtime.store.path.name) == (
        runtime.verifier.store.path.parent,
        "workstation.db",
    )  # type: ignore[attr-defined]
    bar = runtime.status_bar()
    qtbot.addWidget(bar)
    qtbot.waitUntil(lambda: bar.status.state is SyncState.NOT_LOGGED_IN)
    assert runtime.campuses() == []  # nothing bootstrapped yet

    calls: list[dict[str, object]] = []
    doctor = Staff(id="staff-doctor1", username="doctor1", name="张伟", roles=["doctor"])

    def ask(cls: type[LoginDialog], parent: object = None, **kw: object) -> LoginResult:
        calls.append(kw)
        return LoginResult(doctor, "campus-main", offline=True)

    monkeypatch.setattr(LoginDialog, "ask", classmethod(ask))
    assert runtime.ask_login() is not None and runtime.current is not None
    assert runtime.ask_unlock() is not None
    assert calls[1]["mode"] is LoginMode.UNLOCK and calls[1]["username"] == "doctor1"
    assert calls[1]["display_name"] == "张伟"
    runtime.ask_login()
    assert calls[2]["username"] == "doctor1" and calls[2]["campus_id"] == "campus-main"

    done: list[bool] = []
    runtime.sign_out(lambda: done.append(True))
    qtbot.waitUntil(lambda: done == [True], timeout=10_000)
    assert runtime.current is None
