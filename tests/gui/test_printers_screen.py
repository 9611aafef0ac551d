"""Printer settings in every app: reachable from each window, editable out of the box, printers picked
from the OS's list (typing a target still works), saved for this user and used at once, a test page per
kind. Screenshots at 1366×768 of each app's screen."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.gui.printers import PrintersDialog, PrintersScreen
from shared.printing.escpos_decode import decode
from shared.site import SiteConfig
from tests.gui.conftest import save_screenshot
from tests.printing.conftest import fake_cups  # noqa: F401 - the OS print system's stand-in
from tests.support.server import free_port


def _workstation(site: SiteConfig, folder: Path) -> Any:
    from workstation.main import build_window

    return build_window(site, "zh_CN", folder)


def _triage(site: SiteConfig, folder: Path) -> Any:
    from triage_desk.main import build_window

    return build_window("triage", site, "zh_CN", folder)


def _pharmacy(site: SiteConfig, folder: Path) -> Any:
    from pharmacy_desk.main import build_window

    return build_window(site, "zh_CN", folder)


def _open_screen(qtbot: QtBot, window: Any) -> tuple[PrintersScreen, Any]:
    """The printers screen as the app offers it: a tab in the pharmacy, a button's dialog elsewhere."""
    if hasattr(window, "printers"):
        window.tabs.setCurrentWidget(window.printers)
        return window.printers, window
    qtbot.mouseClick(window.printers_button, Qt.MouseButton.LeftButton)
    dialog = window.printers_button.dialog
    assert isinstance(dialog, PrintersDialog)
    qtbot.waitExposed(dialog)
    return dialog.printers, dialog


@pytest.mark.parametrize(
    ("build", "app", "kinds"),
    [
        (_workstation, "workstation", ["prescription", "visit_note"]),
        (_triage, "triage", ["ticket"]),
        (_pharmacy, "pharmacy", ["prescription", "pick_list", "drug_label", "receipt", "waybill", "report"]),
    ],
    ids=["workstation", "triage", "pharmacy"],
)
def test_each_app_picks_its_printers_from_the_os_list_and_keeps_the_choice(
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_cups: Path,  # noqa: F811
    build: Callable[[SiteConfig, Path], Any],
    app: str,
    kinds: list[str],
) -> None:
    monkeypatch.setenv("CLINIC_USER_CONFIG", str(tmp_path / "user.toml"))
    window = build(SiteConfig(server_url=f"http://127.0.0.1:{free_port()}"), tmp_path / "data")
    qtbot.addWidget(window)
    try:
        window.resize(1366, 768)
        window.show()
        qtbot.waitExposed(window)
        screen, shown = _open_screen(qtbot, window)
        assert list(screen.rows) == kinds
        # out of the box: editable (IT did not lock it), every kind has a file printer in the data folder
        assert screen.save_button.isVisibleTo(screen) and not screen.notice.isVisibleTo(screen)
        first = screen.rows[kinds[0]]
        assert first.target.isEnabled()
        assert first.target_text() == f"file:{tmp_path / 'data' / 'prints'}"
        # the OS's printers are offered, the default first
        qtbot.waitUntil(lambda: first.target.findData("cups:Office_A4") >= 0, timeout=15_000)
        assert first.target.itemText(0).startswith("Office_A4")
        first.target.setCurrentIndex(first.target.findData("cups:Label_70x50"))
        assert first.target_text() == "cups:Label_70x50"
        shown.resize(1366, 768)
        save_screenshot(shown, f"{app}_printer_settings_1366x768")

        # a test page to the chosen OS printer reaches it
        with qtbot.waitSignal(screen.host.print_queue.sig_job_finished, timeout=15_000) as finished:
            qtbot.mouseClick(first.test, Qt.MouseButton.LeftButton)
        assert finished.args[0].state == "sent", finished.args[0].error
        (job,) = fake_cups.glob("Label_70x50-*.job")
        data = job.read_bytes()
        if first.kind.content == "pdf":
            assert data.startswith(b"%PDF")
        else:
            assert "-o raw" in job.with_suffix(".args").read_text() and decode(data).cut_count >= 1

        # saved for this user, in force at once
        qtbot.mouseClick(screen.save_button, Qt.MouseButton.LeftButton)
        saved = tomllib.loads((tmp_path / "user.toml").read_text(encoding="utf-8"))
        assert saved["printers"][kinds[0]]["target"] == "cups:Label_70x50"
        assert screen.host.print_queue.setting_for(kinds[0]).target == "cups:Label_70x50"
        assert "立即生效" in screen.message.text()
    finally:
        window.close()
        window.state.runtime.shutdown() if hasattr(
            window, "state"
        ) else window.triage_state.runtime.shutdown()


def test_a_typed_network_target_still_works(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLINIC_USER_CONFIG", str(tmp_path / "user.toml"))
    window = _triage(SiteConfig(server_url=f"http://127.0.0.1:{free_port()}"), tmp_path / "data")
    qtbot.addWidget(window)
    try:
        screen, _shown = _open_screen(qtbot, window)
        row = screen.rows["ticket"]
        row.target.setCurrentText(f"file:{tmp_path}/slips.bin")
        with qtbot.waitSignal(screen.host.print_queue.sig_job_finished, timeout=15_000):
            qtbot.mouseClick(row.test, Qt.MouseButton.LeftButton)
        assert "A023" in decode((tmp_path / "slips.bin").read_bytes()).text  # the sample slip
        assert "测试页已保存为文件" in screen.message.text()
    finally:
        window.close()
        window.triage_state.runtime.shutdown()
