"""The administration window's prescription-rules tab, driven for real against a server on loopback: the
rules in effect and their versions shown, an edit previewed as a diff before it is saved, saved from now
(reaching the server and the versions list as "in effect") and from a later time (shown as scheduled),
an invalid edit refused naming the field. Screenshots at 1366x768 go to docs/screenshots/admin_rx_rules*.png."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QDateTime
from pytestqt.qtbot import QtBot

from shared.gui.admin.window import AdminWindow
from tests.gui.conftest import save_screenshot
from tests.gui.test_admin_window import WAIT, admin_server, open_window  # noqa: F401 - fixtures
from tests.support.api import ApiUser
from tests.support.server import ServerProcess


def server_versions(url: str) -> list[dict[str, Any]]:
    changes, _ = ApiUser(url, "doctor1").pull_all()
    return sorted(
        (c["data"] for c in changes if c["kind"] == "rx_rule_set"), key=lambda v: v["effective_from"]
    )


def test_the_rules_tab_previews_and_saves_a_change_from_now_and_one_for_later(
    open_window: Callable[..., AdminWindow], admin_server: ServerProcess, qtbot: QtBot,  # noqa: F811
) -> None:  # fmt: skip
    window = open_window("admin")
    panel = window.rx_rules
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.versions.rowCount() == 1, timeout=WAIT)
    assert window.tabs.tabText(window.tabs.indexOf(panel)) == "处方规则"
    assert panel.types.rowCount() == 7 and panel.types.row(0).rule.max_days == 7
    assert panel.days["ordinary"][0].value() == 7 and panel.max_drugs.value() == 5
    assert panel.versions.row(0).state == "current" and panel.versions.row(0).since_always
    save_screenshot(window, "admin_rx_rules")

    # an edit that is not a table (default days beyond the limit) is refused naming the field
    panel.days["ordinary"][1].setValue(9)
    panel.preview_button.click()
    assert panel.message.level == "error" and "types.ordinary" in panel.message.text()
    assert not panel.save_button.isEnabled()
    panel.days["ordinary"][1].setValue(3)

    # from now: ordinary at most 5 days; saving waits for a preview
    panel.days["ordinary"][0].setValue(5)
    assert not panel.save_button.isEnabled()
    panel.preview_button.click()
    assert [panel.preview.item(i).text() for i in range(panel.preview.count())] == ["ordinary.max_days 7 → 5"]
    assert panel.save_button.isEnabled()
    save_screenshot(window, "admin_rx_rules_preview")
    panel.save_button.click()
    qtbot.waitUntil(lambda: panel.message.level == "ok", timeout=10_000)
    qtbot.waitUntil(lambda: len(server_versions(admin_server.url)) == 2, timeout=WAIT)  # pushed by the sync
    assert server_versions(admin_server.url)[-1]["rules"]["types"]["ordinary"]["max_days"] == 5
    qtbot.waitUntil(
        lambda: panel.versions.rowCount() == 2 and panel.versions.row(1).state == "current", timeout=WAIT
    )
    assert panel.versions.row(1).changes == ("ordinary.max_days 7 → 5",)
    assert panel.versions.row(1).version.set_by == window.runtime.staff.id
    assert panel.types.row(0).rule.max_days == 5

    # from tomorrow: four drugs per prescription, scheduled; the rules of now stay
    panel.max_drugs.setValue(4)
    panel.when.at_time.setChecked(True)
    tomorrow = dt.datetime.now().astimezone() + dt.timedelta(days=1)
    panel.when.effective.setDateTime(QDateTime(tomorrow.replace(second=0, microsecond=0, tzinfo=None)))
    assert panel.show_preview() == ["max_drugs_per_rx 5 → 4"]
    panel.save_button.click()
    qtbot.waitUntil(lambda: panel.versions.rowCount() == 3, timeout=WAIT)
    scheduled = panel.versions.row(2)
    assert scheduled.state == "future" and scheduled.changes == ("max_drugs_per_rx 5 → 4",)
    assert panel.max_drugs_label.text() == "每张处方最多 5 种药品"
    qtbot.waitUntil(lambda: len(server_versions(admin_server.url)) == 3, timeout=WAIT)
    save_screenshot(window, "admin_rx_rules_saved")


def test_the_rules_tab_speaks_english_and_traditional_chinese(
    open_window: Callable[..., AdminWindow],  # noqa: F811
    qtbot: QtBot,
) -> None:
    for lang, title, save in (
        ("en", "Prescription rules", "Save as a new version"),
        ("zh_TW", "處方規則", "儲存新版本"),
    ):
        window = open_window("admin", lang)
        panel = window.rx_rules
        window.tabs.setCurrentWidget(panel)
        qtbot.waitUntil(lambda panel=panel: panel.types.rowCount() == 7, timeout=WAIT)  # type: ignore[misc]
        assert window.tabs.tabText(window.tabs.indexOf(panel)) == title
        assert panel.save_button.text() == save
        if lang == "en":
            save_screenshot(window, "admin_rx_rules_en")
