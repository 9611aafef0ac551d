"""The GUI plumbing wired to the real LocalStore and SyncEngine against a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, Type
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QWidget
from pytestqt.qtbot import QtBot

from shared.gui.app import ClientRuntime
from shared.gui.attention import AttentionDialog
from shared.gui.login import LoginDialog
from shared.gui.ops import CollectionOp, OpChanges
from shared.gui.status_bar import SyncStatusBar
from shared.ids import new_id
from shared.security import JsonFileVerifierStore, OfflineVerifier
from shared.sync.status import SyncState
from shared.sync.tokens import TokenStore
from tests.gui.conftest import save_screenshot
from tests.support.api import DEMO_PASSWORD, ApiUser, patient_args
from tests.support.server import ServerProcess

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)


@pytest.fixture
def runtime(server: ServerProcess, tmp_path: Path, qtbot: QtBot) -> Iterator[ClientRuntime]:
    """One PC's triage app, wired the way the apps wire it (fast hashing and retries for the test)."""
    runtime = ClientRuntime.open(
        app="triage",
        server_url=server.url,
        data_folder=tmp_path,
        tokens=TokenStore(fallback_file=tmp_path / "tokens.bin"),
        verifier=OfflineVerifier(JsonFileVerifierStore(tmp_path / "verifiers.json"), hasher=FAST),
        timeout=5.0,
        engine_options={"long_poll_seconds": 2.0, "backoff_base": 0.2, "backoff_max": 1.0},
    )
    yield runtime
    runtime.shutdown()
    assert not runtime.network.is_running() and not runtime.context.db.isRunning()


@pytest.fixture
def window(runtime: ClientRuntime, qtbot: QtBot) -> QMainWindow:
    window = QMainWindow()
    window.setCentralWidget(QWidget())
    window.setStatusBar(runtime.status_bar(window))
    window.resize(1100, 200)
    qtbot.addWidget(window)
    window.show()
    return window


def log_in(qtbot: QtBot, runtime: ClientRuntime, username: str = "nurse1") -> LoginDialog:
    dialog = LoginDialog(login=runtime.engine.login, verifier=runtime.verifier, campuses=runtime.campuses)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username_edit, username)
    qtbot.keyClicks(dialog.password_edit, DEMO_PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    return dialog


def test_login_sync_rejection_dismissal_and_offline_unlock_with_the_real_engine(
    qtbot: QtBot,
    runtime: ClientRuntime,
    window: QMainWindow,
    server: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bar = window.statusBar()
    assert isinstance(bar, SyncStatusBar)
    qtbot.waitUntil(lambda: bar.status.state is SyncState.NOT_LOGGED_IN)
    dialog = log_in(qtbot, runtime)
    qtbot.waitUntil(lambda: dialog.result_value is not None, timeout=15_000)
    assert dialog.result_value is not None
    assert dialog.result_value.staff.username == "nurse1" and not dialog.result_value.offline
    assert runtime.verifier.can_unlock("nurse1")

    # Another desk registers a patient first; this PC, not yet synced, registers the same id.
    patient_id = new_id()
    other = ApiUser(server.url, "nurse1")
    assert other.push_one("patient.register", patient_args(id=patient_id))["status"] == "applied"
    other.close()
    with qtbot.waitSignal(runtime.bus.sig_operation_did_execute):
        CollectionOp(
            None,
            lambda store: store.record("patient.register", patient_args(id=patient_id)),
            changes=("patient", OpChanges.OUTBOX),
            context=runtime.context,
        ).run_in_background()
    qtbot.waitUntil(lambda: bar.status.pending == 1)

    # The network thread bootstraps, pushes, gets the rejection, and the bar shows it.
    runtime.start_sync()
    qtbot.waitUntil(lambda: bar.status.needs_attention == 1, timeout=30_000)
    qtbot.waitUntil(lambda: bar.status.state is SyncState.ONLINE, timeout=10_000)
    assert bar.status.pending == 0 and bar.status.last_sync is not None
    assert bar.attention_button.isVisible()
    save_screenshot(bar, "gui_status_bar_real_engine_needs_attention")

    opened: list[AttentionDialog] = []

    def ask(cls: type[AttentionDialog], parent: QWidget | None = None, **kw: Any) -> list[str]:
        opened.append(cls(parent, **kw))  # not modal, so the test can drive it
        opened[-1].show()
        return []

    monkeypatch.setattr(AttentionDialog, "ask", classmethod(ask))
    qtbot.mouseClick(bar.attention_button, Qt.MouseButton.LeftButton)
    attention = opened[0]
    qtbot.addWidget(attention)
    qtbot.waitUntil(lambda: attention.model.rowCount() == 1)
    assert patient_id in attention.model.row(0).message  # the server's own words
    qtbot.keyClick(attention.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: bar.status.needs_attention == 0)
    assert not bar.attention_button.isVisible()

    # The server dies: the bar turns offline, and the login dialog offers offline unlock.
    server.kill()
    runtime.network.wake()
    qtbot.waitUntil(lambda: bar.status.state is SyncState.OFFLINE, timeout=20_000)
    assert "离线" in bar.state_label.text()
    again = log_in(qtbot, runtime)
    qtbot.waitUntil(lambda: again.offline_offered, timeout=15_000)
    qtbot.keyClicks(again.password_edit, DEMO_PASSWORD)
    qtbot.keyClick(again.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: again.result_value is not None, timeout=5_000)
    assert again.result_value is not None and again.result_value.offline
    assert again.result_value.staff.username == "nurse1"
