"""The administration window's queue and pharmacy screens driven for real against a server on loopback:
a queue made and its rule set changed in plain words reach a triage desk's feed, a bad ratio is explained
in the form, a pharmacy's pickup-code step turned off reaches the pharmacy PCs. Screenshots at 1366x768
go to docs/screenshots/admin_queue*.png and admin_pharmacy*.png."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from shared.gui.admin.pharmacy_panel import PharmacyDialog, PharmacyPanel
from shared.gui.admin.queue_panel import QueueDialog, QueuePanel
from shared.gui.admin.window import AdminWindow
from tests.gui import test_admin_window as admin_tests
from tests.gui.conftest import save_screenshot
from tests.support.api import ApiUser
from tests.support.server import ServerProcess

WAIT = admin_tests.WAIT
# the administration window's fixtures: a server of this module's own, a window logged in to it
admin_server = admin_tests.admin_server
open_window = admin_tests.open_window


def desk_sees(server: ServerProcess, kind: str, code: str) -> dict[str, Any] | None:
    nurse = ApiUser(server.url, "nurse1")
    try:
        changes, _ = nurse.pull_all()
    finally:
        nurse.close()
    found = [c["data"] for c in changes if c["kind"] == kind and c["data"]["code"] == code]
    return found[-1] if found else None


def test_an_administrator_makes_a_queue_and_changes_its_rules_in_plain_words(
    open_window: Callable[..., AdminWindow], admin_server: ServerProcess, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    window = open_window("admin")
    panel = window.queues
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.model.rowCount() > 5, timeout=WAIT)
    panel.search.setText("心血管")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=10_000)
    panel.search.setText("")
    qtbot.waitUntil(lambda: panel.model.rowCount() > 5, timeout=10_000)
    save_screenshot(window, "admin_queues")

    dialogs: list[QueueDialog] = []

    def ask_new(parent: Any, lang: str, values: dict[str, str] | None, choices: Any) -> dict[str, str] | None:
        dialog = QueueDialog(lang, values, choices, parent)
        dialogs.append(dialog)
        dialog.code.setText("MAIN-NK-GUI")
        dialog.name.setText("心内科夜间候诊")
        dialog.campus.setCurrentIndex(dialog.campus.findData("MAIN"))
        dialog.department.setCurrentIndex(dialog.department.findData("MAIN-NK"))
        dialog.set_rooms(["MAIN-NK-03"])
        dialog.prefix.setText("N")
        dialog.appointments.setValue(0)  # a ratio with nothing on one side is explained in the form
        fields = dialog.fields()
        assert "预约 : 现场 比例应写成两个 1–20 的整数" in (dialog.problem_with(fields) or "")
        dialog.appointments.setValue(3)
        dialog.set_priorities(["emergency", "elderly"])
        dialog.rule_boxes["second_queue_cap"].setValue(1)
        fields = dialog.fields()
        assert dialog.problem_with(fields) is None
        return fields

    monkeypatch.setattr(QueuePanel, "ask_queue", staticmethod(ask_new))
    panel.new_button.click()
    qtbot.waitUntil(lambda: panel.message.level in ("ok", "error"), timeout=10_000)
    assert panel.message.level == "ok", panel.message.text()
    dialog = dialogs[0]
    dialog.show()
    dialog.resize(1320, 640)
    save_screenshot(dialog, "admin_queue_edit")
    dialog.appointments.setValue(0)
    dialog.problem.show_message(dialog.problem_with(dialog.fields()) or "", "error")
    save_screenshot(dialog, "admin_queue_edit_refused")
    dialog.close()
    qtbot.waitUntil(
        lambda: (desk_sees(admin_server, "queue", "MAIN-NK-GUI") or {}).get("prefix") == "N", timeout=WAIT
    )
    made = desk_sees(admin_server, "queue", "MAIN-NK-GUI")
    assert made is not None and made["rules"]["interleave"] == [3, 1]
    assert (
        made["rules"]["priority_order"] == ["emergency", "elderly"] and made["rules"]["second_queue_cap"] == 1
    )

    # change the ratio of the new queue: only what changed is sent
    qtbot.waitUntil(lambda: panel.select_code("MAIN-NK-GUI"), timeout=WAIT)
    monkeypatch.setattr(
        QueuePanel,
        "ask_queue",
        staticmethod(lambda parent, lang, values, choices: {**values, "interleave": "1:1"}),
    )
    panel.edit_button.click()
    qtbot.waitUntil(
        lambda: (
            (desk_sees(admin_server, "queue", "MAIN-NK-GUI") or {}).get("rules", {}).get("interleave")
            == [1, 1]
        ),
        timeout=WAIT,
    )
    assert desk_sees(admin_server, "queue", "MAIN-NK-GUI")["prefix"] == "N"  # type: ignore[index]
    qtbot.waitUntil(
        lambda: any(
            r.cells["code"] == "MAIN-NK-GUI" and r.cells["interleave"] == "1:1" for r in panel.rows()
        ),
        timeout=WAIT,
    )
    panel.search.setText("MAIN-NK-GUI")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=10_000)
    panel.view.selectRow(0)
    panel.history_button.click()
    assert window.tabs.currentWidget() is window.audit
    qtbot.waitUntil(lambda: window.audit.model.rowCount() == 2, timeout=WAIT)
    assert all(e["username"] == "admin" for e in window.audit.model.rows())
    save_screenshot(window, "admin_queue_history")


def test_an_administrator_turns_off_a_pharmacys_pickup_code_step(
    open_window: Callable[..., AdminWindow], admin_server: ServerProcess, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    window = open_window("admin")
    panel = window.pharmacies
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.model.rowCount() > 0, timeout=WAIT)
    row = next(r for r in panel.model.rows() if r.cells["pickup_code_required"] == "1")
    code = row.cells["code"]
    assert panel.select_code(code)
    dialogs: list[PharmacyDialog] = []

    def ask(parent: Any, lang: str, values: dict[str, str] | None, campuses: Any) -> dict[str, str]:
        dialog = PharmacyDialog(lang, values, campuses, parent)
        dialogs.append(dialog)
        dialog.pickup.setChecked(False)
        return dialog.fields()

    monkeypatch.setattr(PharmacyPanel, "ask_pharmacy", staticmethod(ask))
    panel.edit_button.click()
    qtbot.waitUntil(lambda: panel.message.level == "ok", timeout=10_000)
    dialogs[0].show()
    save_screenshot(dialogs[0], "admin_pharmacy_edit")
    dialogs[0].close()
    qtbot.waitUntil(
        lambda: (desk_sees(admin_server, "pharmacy", code) or {}).get("pickup_code_required") is False,
        timeout=WAIT,
    )
    qtbot.waitUntil(
        lambda: (
            any(
                r.cells["code"] == code and r.cells["pickup_code_required"] == "0" for r in panel.model.rows()
            )
            and not panel.count.text().startswith("正在")
        ),
        timeout=WAIT,
    )
    save_screenshot(window, "admin_pharmacies")
