"""The message line above each app's tabs keeps its height: a message coming and going never moves the
rows below it (clicks landed on the wrong row)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from shared.site import SiteConfig
from tests.support.server import free_port


def _workstation(site: SiteConfig, folder: Path) -> Any:
    from workstation.main import build_window

    return build_window(site, "zh_CN", folder)


def _pharmacy(site: SiteConfig, folder: Path) -> Any:
    from pharmacy_desk.main import build_window

    return build_window(site, "zh_CN", folder)


def _triage(site: SiteConfig, folder: Path) -> Any:
    from triage_desk.main import build_window

    return build_window("triage", site, "zh_CN", folder)


@pytest.mark.parametrize(
    "build", [_workstation, _pharmacy, _triage], ids=["workstation", "pharmacy", "triage"]
)
def test_a_message_coming_and_going_never_moves_the_tabs(
    qtbot: QtBot, tmp_path: Path, build: Callable[[SiteConfig, Path], Any]
) -> None:
    site = SiteConfig(server_url=f"http://127.0.0.1:{free_port()}")
    window = build(site, tmp_path / "data")
    qtbot.addWidget(window)
    try:
        window.resize(1366, 768)
        window.show()
        qtbot.waitExposed(window)
        tabs = getattr(window, "tabs", None) or window.splitter  # the workstation: day list | consult

        def tabs_top() -> int:
            QApplication.processEvents()
            return tabs.mapTo(window, tabs.rect().topLeft()).y()

        before = tabs_top()
        long_text = "处方已发送到打印机“药房A5”，" * 20  # far longer than one line at 1366 px
        window.message_line.show_message(long_text, "error")
        with_message = tabs_top()
        window.message_line.show_message("已保存", "ok")
        short = tabs_top()
        window.message_line.clear()
        after = tabs_top()
        assert before == with_message == short == after
        window.message_line.show_message(long_text, "error")
        assert window.message_line.text() == long_text and window.message_line.toolTip() == long_text
    finally:
        window.close()
        window.state.runtime.shutdown()
