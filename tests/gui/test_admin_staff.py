"""The administration window's 人员 / Staff tab against a real server: the system administrator creates a
person (a bad department code is refused in the window) who reaches the server; the security
administrator, who sees only the credential actions, resets that person's password (the one-time code is
shown once and works once) and unlocks the account after failed logins. Screenshots at 1366x768:
docs/screenshots/admin_staff*.png."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytestqt.qtbot import QtBot

from shared.gui.admin.staff_panel import SetupCodeDialog, StaffDialog, StaffPanel
from shared.gui.admin.window import AdminWindow
from tests.gui.conftest import save_screenshot
from tests.gui.test_admin_window import WAIT, admin_server, open_window  # noqa: F401 - fixtures
from tests.support.server import ServerProcess

NEW_PERSON = {
    "username": "gaoyan", "name": "高燕", "title": "主治医师", "campus": "MAIN", "campuses": "EAST",
    "department": "MAIN-NK", "roles": "doctor", "prescribing_rights": "ordinary",
    "controlled_rights": "psychotropic2", "active": "1",
}  # fmt: skip


def shown(panel: StaffPanel) -> dict[str, dict[str, Any]]:
    return {r["username"]: r for r in panel._rows}


def test_the_administrator_creates_a_person_and_the_security_administrator_resets_and_unlocks(
    open_window: Callable[..., AdminWindow],  # noqa: F811
    admin_server: ServerProcess,  # noqa: F811
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = open_window("admin")
    panel = window.staff
    assert window.tabs.widget(1) is panel
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.model.rowCount() > 30, timeout=WAIT)
    assert panel.new_button.isVisible() and not panel.reset_password_button.isVisible()

    answers = [{**NEW_PERSON, "department": "NOPE-9"}, NEW_PERSON]
    dialogs: list[StaffDialog] = []

    def ask(parent: Any, lang: str, values: dict[str, str] | None) -> dict[str, str]:
        dialog = StaffDialog(lang, values, parent)
        for name, edit in dialog.edits.items():
            edit.setText(answers[0].get(name, ""))
        for field, checks in dialog.checks.items():
            for option, check in checks.items():
                check.setChecked(option in answers[0][field].split(";"))
        dialogs.append(dialog)
        return dialog.fields()

    monkeypatch.setattr(StaffPanel, "ask_record", staticmethod(ask))
    panel.new_button.click()
    qtbot.waitUntil(lambda: panel.message.level == "error", timeout=10_000)
    assert "NOPE-9" in panel.message.text()
    answers.pop(0)
    panel.new_button.click()
    qtbot.waitUntil(lambda: panel.message.level == "ok", timeout=10_000)
    qtbot.waitUntil(lambda: "gaoyan" in shown(panel), timeout=WAIT)  # pushed, pulled, listed again
    person = shown(panel)["gaoyan"]
    assert (person["department"], person["controlled_rights"], person["has_password"]) == (
        "MAIN-NK",
        "psychotropic2",
        False,
    )
    panel.search.setText("高燕")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=10_000)
    save_screenshot(window, "admin_staff")
    dialog = dialogs[-1]
    dialog.show()
    save_screenshot(dialog, "admin_staff_edit")
    dialog.close()

    security = open_window("security")
    spanel = security.staff
    assert security.tabs.count() == 2 and security.tabs.widget(0) is spanel  # staff, then clinic hubs
    qtbot.waitUntil(lambda: "gaoyan" in shown(spanel), timeout=WAIT)
    assert spanel.reset_password_button.isVisible() and not spanel.new_button.isVisible()
    spanel.search.setText("gaoyan")
    qtbot.waitUntil(lambda: spanel.model.rowCount() == 1, timeout=10_000)
    assert spanel.select("gaoyan")

    confirmations: list[str] = []
    codes: list[dict[str, Any]] = []
    monkeypatch.setattr(
        StaffPanel, "ask_confirm", staticmethod(lambda _p, _t, text: confirmations.append(text) or True)
    )

    def show_code(parent: Any, lang: str, row: dict[str, Any], answer: dict[str, Any]) -> None:
        codes.append(answer)
        code_dialog = SetupCodeDialog(lang, row, answer, parent)
        code_dialog.show()
        save_screenshot(code_dialog, "admin_staff_code")
        code_dialog.close()

    monkeypatch.setattr(StaffPanel, "show_code", staticmethod(show_code))
    spanel.reset_password_button.click()
    qtbot.waitUntil(lambda: bool(codes), timeout=30_000)
    assert "高燕" in confirmations[0]
    code = codes[0]["setup_code"]
    url = f"{admin_server.url}/api/v1/auth"
    login = {"username": "gaoyan", "password": "Gy-clinic-2026", "device_id": "pc-gaoyan"}
    setup = {
        "username": "gaoyan",
        "setup_code": code,
        "new_password": login["password"],
        "device_id": "pc-gaoyan",
    }
    assert httpx.post(f"{url}/setup", json=setup).status_code == 200
    assert httpx.post(f"{url}/setup", json=setup).status_code == 401  # once only

    for _ in range(5):
        httpx.post(f"{url}/login", json={**login, "password": "wrong-guess-1"})
    assert httpx.post(f"{url}/login", json=login).status_code == 401
    spanel.refresh()
    qtbot.waitUntil(lambda: shown(spanel).get("gaoyan", {}).get("locked") is True, timeout=10_000)
    assert spanel.select("gaoyan")
    save_screenshot(security, "admin_staff_security")
    spanel.unlock_button.click()
    qtbot.waitUntil(lambda: spanel.message.level == "ok", timeout=10_000)
    assert "gaoyan" in spanel.message.text()
    qtbot.waitUntil(lambda: shown(spanel).get("gaoyan", {}).get("locked") is False, timeout=10_000)
    assert httpx.post(f"{url}/login", json=login).status_code == 200


def test_a_staff_file_imported_in_the_window_shows_each_new_persons_setup_code_once(
    open_window: Callable[..., AdminWindow],  # noqa: F811
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = open_window("admin")
    panel = window.imports
    monkeypatch.setattr(type(panel), "ask_confirm", staticmethod(lambda parent, text: True))
    path = tmp_path / "人员.csv"
    path.write_text(
        "username,name,roles,campus,department,password\nlinfeng,林峰,doctor,MAIN,MAIN-NK,Secret-99\n",
        encoding="utf-8",
    )
    panel.set_kind("staff")
    assert panel.kind == "staff"
    panel.set_file(path)
    panel.preview_button.click()
    qtbot.waitUntil(lambda: panel.message.level == "error", timeout=WAIT)
    assert "密码" in panel.message.text()  # a password column: refused whole, in the reader's language
    path.write_text(
        "username,name,roles,campus,department\nlinfeng,林峰,doctor,MAIN,MAIN-NK\n", encoding="utf-8"
    )
    panel.set_file(path)
    panel.preview_button.click()
    qtbot.waitUntil(lambda: panel.apply_button.isEnabled(), timeout=WAIT)
    assert [r["section"] for r in panel.model.rows()] == ["added"]
    panel.apply_button.click()
    qtbot.waitUntil(lambda: panel.message.level == "ok", timeout=WAIT)
    codes = [r for r in panel.model.rows() if r["section"] == "setup_code"]
    assert len(codes) == 1 and codes[0]["code"] == "linfeng" and len(codes[0]["detail"]) == 14
    window.tabs.setCurrentWidget(panel)
    save_screenshot(window, "admin_staff_import")
