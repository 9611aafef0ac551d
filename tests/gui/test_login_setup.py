"""The login dialog's first-login path against a real server: a person imported with a one-time setup code
chooses a password (problems shown next to the field they are about: the repeat that differs, a weak
password, a wrong code from the server), is logged in, and the code never works again.
Screenshot: docs/screenshots/login_setup.png."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from pytestqt.qtbot import QtBot

from shared.gui.app import ClientRuntime
from shared.gui.login import LoginDialog
from shared.security import JsonFileVerifierStore, OfflineVerifier
from shared.sync.tokens import TokenStore
from tests.gui.conftest import save_screenshot
from tests.support.api import ApiUser
from tests.support.server import ServerProcess

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
STAFF_CSV = "username,name,roles,campus,department\nchenjing,陈静,doctor,MAIN,MAIN-NK\n"


@pytest.fixture
def runtime(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ClientRuntime]:
    monkeypatch.setenv("CLINIC_USER_CONFIG", str(tmp_path / "user.toml"))
    folder = tmp_path / "pc"
    folder.mkdir()
    runtime = ClientRuntime.open(
        app="workstation",
        server_url=server.url,
        lang="zh_CN",
        data_folder=folder,
        tokens=TokenStore(fallback_file=folder / "tokens.bin"),
        verifier=OfflineVerifier(JsonFileVerifierStore(folder / "verifiers.json"), hasher=FAST),
        timeout=10.0,
    )
    yield runtime
    runtime.shutdown()


def imported_code(server: ServerProcess) -> str:
    admin = ApiUser(server.url, "admin")
    body = {
        "filename": "staff.csv",
        "content": base64.b64encode(STAFF_CSV.encode()).decode(),
        "dry_run": False,
    }
    answer = admin.http.post("/api/v1/admin/import/staff", json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["setup_codes"][0]["code"])


def test_a_new_person_sets_a_password_with_the_setup_code_and_is_logged_in(
    server: ServerProcess, runtime: ClientRuntime, qtbot: QtBot
) -> None:
    code = imported_code(server)
    dialog = LoginDialog(
        login=runtime.engine.login, setup=runtime.engine.setup_login, verifier=runtime.verifier, lang="zh_CN"
    )
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.setup_toggle.isVisible() and not dialog.code_edit.isVisible()
    dialog.setup_toggle.click()
    assert dialog.setup_mode and dialog.code_edit.isVisible() and not dialog.password_edit.isVisible()

    dialog.username_edit.setText("chenjing")
    dialog.code_edit.setText(code)
    dialog.new_password_edit.setText("Clinic-2026x")
    dialog.repeat_edit.setText("Clinic-2026y")
    dialog.submit_button.click()
    assert dialog.field_error("repeat") == "两次输入的密码不一致" and not dialog.busy

    dialog.new_password_edit.setText("12345678")
    dialog.repeat_edit.setText("12345678")
    dialog.submit_button.click()
    assert "字母和数字" in dialog.field_error("new_password") and not dialog.field_error("repeat")

    dialog.code_edit.setText("AAAA-BBBB-CCCC")
    dialog.new_password_edit.setText("Clinic-2026x")
    dialog.repeat_edit.setText("Clinic-2026x")
    dialog.submit_button.click()
    qtbot.waitUntil(lambda: bool(dialog.field_error("setup_code")), timeout=30_000)
    assert "设置码" in dialog.field_error("setup_code") and dialog.result_value is None
    dialog.resize(520, dialog.sizeHint().height())
    save_screenshot(dialog, "login_setup")

    dialog.code_edit.setText(code)
    with qtbot.waitSignal(dialog.sig_logged_in, timeout=30_000) as logged_in:
        dialog.submit_button.click()
    assert logged_in.args[0].staff.username == "chenjing" and not logged_in.args[0].offline
    assert runtime.verifier.can_unlock("chenjing")  # the new password unlocks this PC offline later

    again = LoginDialog(login=runtime.engine.login, setup=runtime.engine.setup_login, lang="zh_CN")
    qtbot.addWidget(again)
    again.show_setup(True)
    again.username_edit.setText("chenjing")
    again.code_edit.setText(code)
    again.new_password_edit.setText("Other-2026zz")
    again.repeat_edit.setText("Other-2026zz")
    again.submit_button.click()
    qtbot.waitUntil(lambda: bool(again.field_error("setup_code")), timeout=30_000)
    assert runtime.engine.login("chenjing", "Clinic-2026x").username == "chenjing"
