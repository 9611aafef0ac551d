"""The administration window's ICD code-set tab and drug-price tab, driven for real against a server on
loopback: choosing a set reaches the server and a doctor's pull; a price given from a later time shows as
scheduled in the drug's history and reaches the server dated. Screenshots at 1366x768 go to
docs/screenshots/admin_codesets*.png and admin_price*.png."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QDateTime
from pytestqt.qtbot import QtBot

from shared.domain.entities import Drug
from shared.domain.prices import price_at
from shared.gui.admin.code_sets_panel import CodeSetsPanel
from shared.gui.admin.window import AdminWindow
from tests.gui.conftest import save_screenshot
from tests.gui.test_admin_window import WAIT, admin_server, open_window  # noqa: F401 - fixtures
from tests.integration.test_code_sets_and_prices import INSURANCE, insurance_xlsx
from tests.support.api import ApiUser
from tests.support.server import ServerProcess


def test_the_code_set_tab_lists_the_sets_and_switches_the_site_to_another(
    open_window: Callable[..., AdminWindow], admin_server: ServerProcess, qtbot: QtBot,  # noqa: F811
    monkeypatch: Any,
) -> None:  # fmt: skip
    admin = ApiUser(admin_server.url, "admin")
    body = {"filename": "医保版.xlsx", "content": base64.b64encode(insurance_xlsx()).decode(), "dry_run": False,
            "code_set": INSURANCE}  # fmt: skip
    assert admin.http.post("/api/v1/admin/import/diagnosis", json=body).status_code == 200
    window = open_window("admin")
    panel = window.code_sets
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: {r.name for r in panel.rows} >= {"ICD-10", INSURANCE}, timeout=WAIT)
    rows = {r.name: r for r in panel.rows}
    assert rows["ICD-10"].chosen and rows["ICD-10"].live > 500 and rows[INSURANCE].live == 3
    assert "ICD-10" in panel.current.text()
    panel.select(INSURANCE)
    save_screenshot(window, "admin_codesets")

    monkeypatch.setattr(CodeSetsPanel, "ask_confirm", staticmethod(lambda parent, text: True))
    panel.use_button.click()
    qtbot.waitUntil(lambda: panel.message.level != "", timeout=10_000)
    assert panel.message.level == "ok", panel.message.text()
    doctor = ApiUser(admin_server.url, "doctor1")

    def chosen_on_server() -> str | None:
        changes, _ = doctor.pull_all()
        found = [c["data"] for c in changes if c["kind"] == "site_settings"]
        return found[-1]["diagnosis_code_set"] if found else None

    qtbot.waitUntil(lambda: chosen_on_server() == INSURANCE, timeout=WAIT)  # pushed by the sync engine
    qtbot.waitUntil(lambda: any(r.chosen and r.name == INSURANCE for r in panel.rows), timeout=WAIT)
    assert INSURANCE in panel.current.text()
    save_screenshot(window, "admin_codesets_switched")
    window.runtime.store.record("reference.choose_code_set", {"code_set": "ICD-10"})  # as it was


def test_a_price_from_a_later_time_shows_as_scheduled_and_reaches_the_server_dated(
    open_window: Callable[..., AdminWindow], admin_server: ServerProcess, qtbot: QtBot,  # noqa: F811
) -> None:  # fmt: skip
    window = open_window("admin")
    panel = window.prices
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.drugs.rowCount() > 10, timeout=WAIT)
    panel.search.setText("阿莫西林胶囊")
    qtbot.waitUntil(lambda: 0 < panel.drugs.rowCount() < 10, timeout=10_000)
    panel.drug_view.selectRow(0)
    row = panel.selected()
    assert row is not None and panel.history.rowCount() == 1
    code, old = row.drug.code, row.now_price
    later = dt.datetime.now().astimezone().replace(second=0, microsecond=0) + dt.timedelta(days=2)
    panel.new_price.setText("15.30")
    panel.when.at_time.setChecked(True)
    panel.when.effective.setDateTime(QDateTime(later))
    assert panel.effective_from() == later
    panel.apply_button.click()
    qtbot.waitUntil(lambda: panel.message.level == "ok", timeout=10_000)
    doctor = ApiUser(admin_server.url, "doctor1")

    def server_drug() -> dict[str, Any]:
        changes, _ = doctor.pull_all()
        return [c["data"] for c in changes if c["kind"] == "drug" and c["data"]["code"] == code][-1]

    qtbot.waitUntil(lambda: bool(server_drug()["price_changes"]), timeout=WAIT)
    served = Drug.model_validate(server_drug())
    assert price_at(served, later - dt.timedelta(minutes=1)) == old  # the old price until then …
    assert price_at(served, later) == Decimal("15.30")  # … the new one from then on
    qtbot.waitUntil(lambda: panel.history.rowCount() == 2, timeout=WAIT)
    states = [r.state for r in panel.history.rows()]
    assert states == ["current", "future"]
    assert "15.30" in panel.drugs.data(panel.drugs.index(0, 4))
    save_screenshot(window, "admin_price")
    panel.when.immediately.setChecked(True)
    panel.new_price.setText("-1")
    panel.apply_button.click()
    assert panel.message.level == "error"  # refused in the window, nothing queued
