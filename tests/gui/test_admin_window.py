"""``clinic admin`` driven for real: an administrator's runtime logged in to a real server on loopback,
editing drugs (recorded as mutations, pushed by the sync engine, pulled by a doctor's PC), previewing
and applying an import, browsing and exporting the audit log; the auditor sees the audit log only.
Screenshots at 1366x768 go to docs/screenshots/admin_*.png."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, Type
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from server_stub.config import sqlite_url
from shared.domain.entities import Drug, RxRuleSet
from shared.gui.admin.reference_panel import ReferencePanel, RowDialog
from shared.gui.admin.texts import t
from shared.gui.admin.window import AdminWindow
from shared.gui.app import ClientRuntime
from shared.gui.login import LoginResult
from shared.security import JsonFileVerifierStore, OfflineVerifier
from shared.sync.tokens import TokenStore
from tests.conftest import copy_sqlite
from tests.gui.conftest import save_screenshot
from tests.reference_io.test_import import MAPPING, his_row, write_gb18030_csv
from tests.reference_io.test_rx_rules_import import tighter
from tests.support.api import DEMO_PASSWORD, ApiUser
from tests.support.server import ServerProcess

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
WAIT = 60_000


@pytest.fixture(scope="module")
def admin_server(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("admin-server")
    process = ServerProcess(sqlite_url(copy_sqlite(demo_template, folder / "demo.db")), folder / "server.log")
    yield process.start()
    process.stop()


@pytest.fixture
def open_window(
    admin_server: ServerProcess, tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., AdminWindow]]:
    """``open_window(username)``: the admin app as ``clinic admin`` wires it, logged in, started."""
    monkeypatch.setenv("CLINIC_USER_CONFIG", str(tmp_path / "user.toml"))
    made: list[AdminWindow] = []

    def open_(username: str = "admin", lang: str = "zh_CN", *, url: str | None = None) -> AdminWindow:
        folder = tmp_path / f"admin-{username}-{len(made)}"
        folder.mkdir()
        runtime = ClientRuntime.open(
            app="admin",
            server_url=url or admin_server.url,
            lang=lang,
            data_folder=folder,
            tokens=TokenStore(fallback_file=folder / "tokens.bin"),
            verifier=OfflineVerifier(JsonFileVerifierStore(folder / "verifiers.json"), hasher=FAST),
            timeout=10.0,
            engine_options={"long_poll_seconds": 2.0, "backoff_base": 0.2, "backoff_max": 1.0},
            install=not made,
        )
        staff = runtime.engine.login(username, DEMO_PASSWORD)
        session = runtime.store.session()
        assert session is not None
        runtime.current = LoginResult(staff, session.campus_id, False)
        window = AdminWindow(runtime, lang)
        qtbot.addWidget(window)
        made.append(window)
        if window.may_sync():
            runtime.start_sync()
            qtbot.waitUntil(
                lambda: runtime.store.cursor() is not None and not runtime.store.needs_bootstrap(),
                timeout=WAIT,
            )
        window.resize(1366, 768)
        window.show()
        window.start()
        return window

    yield open_
    for window in reversed(made):
        window.close()
        window.runtime.shutdown()
    made.clear()
    gc.collect()  # free the windows' Qt objects on the GUI thread, not in a later test's worker thread


def fill(dialog: RowDialog, values: dict[str, str]) -> dict[str, str]:
    for name, text in values.items():
        dialog.inputs[name].setText(text)  # type: ignore[union-attr]
    return dialog.fields()


def test_an_administrator_adds_changes_and_retires_a_drug_that_a_doctors_pc_receives(
    open_window: Callable[..., AdminWindow], admin_server: ServerProcess, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    window = open_window("admin")
    panel = window.reference
    assert window.tabs.count() == 11 and panel.kind == "drug"  # drugs first
    qtbot.waitUntil(lambda: panel.model.rowCount() > 10, timeout=WAIT)
    total = panel.model.rowCount()
    panel.search.setText("阿莫西林")
    qtbot.waitUntil(lambda: 0 < panel.model.rowCount() < total, timeout=10_000)
    assert all("阿莫西林" in " ".join(r.cells) for r in panel.model.rows())
    save_screenshot(window, "admin_reference")

    new_values = {
        "code": "GUI-0001", "generic_name": "氯雷他定片", "spec": "10mg×6片", "form": "片剂", "pack_unit": "盒",
        "pack_qty": "6", "min_unit": "片", "dose_per_min_unit": "10", "dose_unit": "mg", "default_dose": "10",
        "default_route": "po", "default_frequency": "qd", "price": "18.60",
    }  # fmt: skip
    dialogs: list[RowDialog] = []

    def ask_new(parent: Any, kind: str, lang: str, values: dict[str, str] | None) -> dict[str, str]:
        dialog = RowDialog(kind, lang, values, parent)
        dialogs.append(dialog)
        return fill(dialog, new_values)

    monkeypatch.setattr(ReferencePanel, "ask_row", staticmethod(ask_new))
    panel.new_button.click()
    qtbot.waitUntil(lambda: panel.message.level == "ok", timeout=10_000)
    dialog = dialogs[0]
    dialog.resize(560, 700)
    dialog.show()
    save_screenshot(dialog, "admin_reference_edit")
    dialog.close()

    doctor = ApiUser(admin_server.url, "doctor1")

    def doctor_drug() -> dict[str, Any] | None:
        changes, _ = doctor.pull_all()
        found = [c["data"] for c in changes if c["kind"] == "drug" and c["data"]["code"] == "GUI-0001"]
        return found[-1] if found else None

    qtbot.waitUntil(lambda: doctor_drug() is not None, timeout=WAIT)  # pushed by the sync engine
    assert doctor_drug()["generic_name"] == "氯雷他定片"  # type: ignore[index]

    panel.search.setText("GUI-0001")
    qtbot.waitUntil(lambda: [r.cells[0] for r in panel.model.rows()] == ["GUI-0001"], timeout=WAIT)
    panel.view.selectRow(0)
    monkeypatch.setattr(
        ReferencePanel,
        "ask_row",
        staticmethod(lambda parent, kind, lang, values: {**values, "price": "21.00"}),
    )
    panel.edit_button.click()
    qtbot.waitUntil(lambda: (doctor_drug() or {}).get("version") == 2, timeout=WAIT)
    assert float(doctor_drug()["price"]) == 21.0  # type: ignore[index]

    qtbot.waitUntil(
        lambda: panel.model.rowCount() == 1 and panel.model.row(0).entity.version == 2, timeout=WAIT
    )
    panel.view.selectRow(0)
    monkeypatch.setattr(
        ReferencePanel, "ask_reason", staticmethod(lambda parent, title, label: "医院停止采购")
    )
    panel.retire_button.click()
    qtbot.waitUntil(lambda: (doctor_drug() or {}).get("voided") is True, timeout=WAIT)
    assert doctor_drug()["void_reason"] == "医院停止采购"  # type: ignore[index]
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=WAIT)  # retired rows hidden …
    panel.show_retired.setChecked(True)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=WAIT)  # … never deleted
    retired = window.runtime.store.all(Drug, include_voided=True)
    assert any(d.code == "GUI-0001" and d.voided for d in retired)

    # who changed this drug and when: its edits in the audit log, newest first
    panel.view.selectRow(0)
    panel.history_button.click()
    assert window.tabs.currentWidget() is window.audit
    qtbot.waitUntil(lambda: window.audit.model.rowCount() == 3, timeout=WAIT)
    entries = window.audit.model.rows()
    assert [e["action"] for e in entries] == ["mutation.reference.retire", *["mutation.reference.save"] * 2]
    assert all(e["username"] == "admin" and e["detail"]["result"]["code"] == "GUI-0001" for e in entries)
    save_screenshot(window, "admin_reference_history")


def test_a_bad_row_is_refused_in_the_window_with_the_imports_reason_and_nothing_is_queued(
    open_window: Callable[..., AdminWindow], qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = open_window("admin")
    panel = window.reference
    panel.set_kind("route")
    qtbot.waitUntil(lambda: panel.loaded_kind == "route" and panel.model.rowCount() > 0, timeout=WAIT)
    pending = window.runtime.store.pending_count()
    monkeypatch.setattr(
        ReferencePanel,
        "ask_row",
        staticmethod(lambda *a: {"code": "inh", "name_zh": "吸入", "is_injection": "也许"}),
    )
    panel.new_button.click()
    qtbot.waitUntil(lambda: panel.message.level == "error", timeout=10_000)
    assert "inh" in panel.message.text() and "也许" in panel.message.text()
    if pending is not None:
        assert window.runtime.store.pending_count() == pending


def test_an_import_is_previewed_with_its_refusals_then_applied_from_the_window(
    open_window: Callable[..., AdminWindow], qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = open_window("admin")
    panel = window.imports
    window.tabs.setCurrentWidget(panel)
    path = write_gb18030_csv(
        tmp_path / "HIS药品导出.csv",
        [
            his_row("WIN-0001", "阿莫西林胶囊"),
            his_row("WIN-0002", "布洛芬缓释胶囊", price="十二元"),
            his_row("WIN-0003", "头孢克洛胶囊", route="XX"),
            his_row("WIN-0004", "盐酸吗啡片", controlled="麻醉药品"),
        ],
    )
    mapping = tmp_path / "his_mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    panel.set_kind("drug")
    panel.set_file(path)
    panel.set_mapping(mapping)
    panel.apply_button.click()  # nothing previewed yet: nothing happens
    assert panel.plan is None
    panel.preview_button.click()
    qtbot.waitUntil(lambda: panel.plan is not None, timeout=WAIT)
    assert panel.plan["summary"]["added"] == 2 and panel.plan["summary"]["refused"] == 2  # type: ignore[index]
    sections = [r["section"] for r in panel.model.rows()]
    assert sections[:2] == ["refused", "refused"] and sections.count("added") == 2
    assert panel.apply_button.isEnabled()
    save_screenshot(window, "admin_import_preview")

    panel.retire_missing.setChecked(True)  # a changed option needs a new preview
    assert not panel.apply_button.isEnabled()
    panel.retire_missing.setChecked(False)
    assert panel.apply_button.isEnabled()
    monkeypatch.setattr(type(panel), "ask_confirm", staticmethod(lambda parent, text: True))
    panel.apply_button.click()
    qtbot.waitUntil(lambda: panel.plan is not None and panel.plan["dry_run"] is False, timeout=WAIT)
    assert panel.plan["applied"] is True  # type: ignore[index]
    assert "2" in panel.summary.text()
    # this PC pulls the imported rows like every other PC
    qtbot.waitUntil(lambda: any(d.code == "WIN-0004" for d in window.runtime.store.all(Drug)), timeout=WAIT)


def test_the_audit_log_is_filtered_paged_and_exported_as_csv(
    open_window: Callable[..., AdminWindow], admin_server: ServerProcess, qtbot: QtBot, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    window = open_window("admin")
    panel = window.audit
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.model.rowCount() > 0, timeout=WAIT)
    panel.username.setText("admin")
    panel.action.setText("auth.")
    panel.search_button.click()
    qtbot.waitUntil(
        lambda: panel.model.rowCount() > 0 and all(e["username"] == "admin" for e in panel.model.rows()),
        timeout=WAIT,
    )
    assert all(e["action"].startswith("auth.") for e in panel.model.rows())
    save_screenshot(window, "admin_audit")

    panel.since.setText("next tuesday")
    panel.search_button.click()
    assert panel.message.level == "error"  # a clear message, the shown entries kept
    assert panel.model.rowCount() > 0
    panel.since.setText("")

    target = tmp_path / "审计导出.csv"
    monkeypatch.setattr(type(panel), "ask_save_file", staticmethod(lambda parent, title, suggested: target))
    panel.export_button.click()
    qtbot.waitUntil(target.exists, timeout=WAIT)
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(r["username"] == "admin" and r["action"].startswith("auth.") for r in rows)

    # a PC appears in the list once it has pushed
    ward = ApiUser(admin_server.url, "admin", device_id="ward-3-pc")
    ward.push_one("reference.save", {"kind": "route", "fields": {"code": "ward3", "name_zh": "病房三用"}})
    window.tabs.setCurrentWidget(window.clients)
    window.clients.refresh_button.click()
    qtbot.waitUntil(
        lambda: "ward-3-pc" in [c["device_id"] for c in window.clients.model.rows()], timeout=WAIT
    )
    save_screenshot(window, "admin_clients")


def test_the_auditor_sees_only_the_audit_log_and_keeps_no_copy_of_the_data(
    open_window: Callable[..., AdminWindow], qtbot: QtBot
) -> None:
    window = open_window("auditor", "zh_CN")
    assert window.tabs.count() == 1 and window.tabs.widget(0) is window.audit
    assert not window.runtime.network.is_running()  # no sync: nothing of the hospital's data on this PC
    qtbot.waitUntil(lambda: window.audit.model.rowCount() > 0, timeout=WAIT)
    assert "审计员" in window.role_note.text()
    qtbot.waitUntil(lambda: window.runtime.network.last_status.state == "online", timeout=10_000)
    save_screenshot(window, "admin_auditor")


def test_the_window_speaks_english_and_traditional_chinese(
    open_window: Callable[..., AdminWindow], qtbot: QtBot
) -> None:
    window = open_window("admin", "en")
    assert window.tabs.tabText(0) == "Reference data" and window.reference.new_button.text() == "New"
    qtbot.waitUntil(lambda: window.reference.model.rowCount() > 0, timeout=WAIT)
    assert window.reference.model.headerData(2, Qt.Orientation.Horizontal) == "Generic name"
    assert t("tab.audit", "zh_TW") == "稽核日誌" and t("tab.audit", "zh_CN") == "审计日志"
    save_screenshot(window, "admin_reference_en")


def test_an_edit_made_while_the_server_is_down_waits_in_the_outbox_and_reaches_the_server_after(
    open_window: Callable[..., AdminWindow], demo_template: Path, tmp_path: Path, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    own = ServerProcess(
        sqlite_url(copy_sqlite(demo_template, tmp_path / "own.db")), tmp_path / "own.log"
    ).start()
    try:
        window = open_window("admin", url=own.url)
        panel = window.reference
        panel.set_kind("frequency")
        qtbot.waitUntil(lambda: panel.loaded_kind == "frequency" and panel.model.rowCount() > 0, timeout=WAIT)
        own.stop()
        monkeypatch.setattr(
            ReferencePanel, "ask_row",
            staticmethod(lambda *a: {"code": "q5h", "name_zh": "每5小时一次", "times_per_day": "4.8"}),
        )  # fmt: skip
        panel.new_button.click()  # the window answers at once: recorded on this PC
        qtbot.waitUntil(lambda: panel.message.level == "ok", timeout=10_000)
        qtbot.waitUntil(lambda: any(r.cells[0] == "q5h" for r in panel._rows), timeout=WAIT)
        assert window.runtime.store.pending_count() == 1
        own.start()  # same port, same database
        qtbot.waitUntil(lambda: window.runtime.store.pending_count() == 0, timeout=WAIT)
        doctor = ApiUser(own.url, "doctor1")
        changes, _ = doctor.pull_all()
        assert any(c["kind"] == "frequency" and c["data"]["code"] == "q5h" for c in changes)
    finally:
        own.stop()


@pytest.mark.parametrize("username", ["admin", "auditor"])
def test_clinic_admin_logs_in_through_its_dialog_and_opens_its_window(
    shared_server: ServerProcess, tmp_path: Path, username: str
) -> None:
    """``clinic admin`` as IT starts it, in a subprocess (a crash in Qt fails the test, not the run)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CLINIC_TOKEN_FILE": str(tmp_path / "token.bin")}
    argv = ["--server", shared_server.url, "--data-folder", str(tmp_path / "data")]
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.launch_driver", "admin", username, *argv],
        capture_output=True, text=True, env=env, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["exit"] == 0 and seen["title"].startswith("系统管理 - "), seen


def test_a_mapping_that_does_not_fit_is_explained_in_the_window_and_nothing_is_lost(
    open_window: Callable[..., AdminWindow], qtbot: QtBot, tmp_path: Path
) -> None:
    window = open_window("admin")
    panel = window.imports
    path = write_gb18030_csv(tmp_path / "his.csv", [his_row("MAP-1", "阿莫西林胶囊")])
    mapping = tmp_path / "wrong.toml"
    mapping.write_text('[columns]\ncode = "编号"\n', encoding="utf-8")
    panel.set_file(path)
    panel.set_mapping(mapping)
    panel.preview_button.click()
    qtbot.waitUntil(lambda: panel.message.level == "error", timeout=WAIT)
    assert panel.message.text().startswith("列映射文件与数据文件不符") and "编号" in panel.message.text()
    assert panel.plan is None and not panel.apply_button.isEnabled() and panel.preview_button.isEnabled()
    assert panel.file == path and panel.mapping == mapping  # the choices stay for a corrected mapping


def tab_widgets(window: AdminWindow) -> list[Any]:
    return [window.tabs.widget(i) for i in range(window.tabs.count())]


def test_each_role_sees_its_tabs(open_window: Callable[..., AdminWindow]) -> None:
    admin = open_window("admin")
    assert tab_widgets(admin) == [
        admin.reference, admin.staff, admin.prices, admin.rx_rules, admin.code_sets, admin.queues,
        admin.pharmacies, admin.imports, admin.audit, admin.clients, admin.hubs,
    ]  # fmt: skip
    assert (
        admin.tabs.tabText(3) == "处方规则"
        and admin.tabs.tabText(10) == "中转服务器"
        and admin.hubs.audit_button.isVisibleTo(admin.hubs)
    )
    auditor = open_window("auditor")
    assert tab_widgets(auditor) == [auditor.audit]
    security = open_window("security")
    assert (
        tab_widgets(security) == [security.staff, security.hubs] and "安全管理员" in security.role_note.text()
    )
    assert not security.hubs.audit_button.isVisibleTo(security.hubs)  # the audit log is not its to read
    assert not security.runtime.network.is_running()  # keeps no copy of the hospital's data


def hub_identity(url: str, credential: str) -> httpx.Response:
    return httpx.get(
        f"{url}/api/v1/hub/whoami", headers={"Authorization": f"Bearer {credential}"}, timeout=30
    )


def test_the_security_administrator_enrols_a_hub_and_the_administrator_revokes_it(
    open_window: Callable[..., AdminWindow], admin_server: ServerProcess, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from PySide6.QtWidgets import QApplication

    from shared.gui.admin.hubs_panel import HubsPanel

    # The security administrator enrols the east campus's hub: the credential is shown once, to copy.
    security = open_window("security")
    panel = security.hubs
    qtbot.waitUntil(lambda: panel.count.text() != "", timeout=WAIT)
    panel.enrol_button.click()
    assert panel.message.level == "error" and not panel.credential_box.isVisibleTo(
        panel
    )  # name, campus first
    panel.name_edit.setText("东院区中转服务器")
    panel.campus_edit.setText("EAST")
    panel.enrol_button.click()
    qtbot.waitUntil(lambda: panel.credential_box.isVisibleTo(panel), timeout=WAIT)
    credential = panel.credential_edit.text()
    assert credential.startswith("hub_") and panel.credential_edit.isReadOnly()
    assert "只显示这一次" in panel.credential_warning.text()
    qtbot.waitUntil(lambda: any(h["name"] == "东院区中转服务器" for h in panel.model.rows()), timeout=WAIT)
    (hub,) = [h for h in panel.model.rows() if h["name"] == "东院区中转服务器"]
    assert hub["campus_code"] == "EAST" and not hub["revoked_at"] and hub["id"] in credential
    assert hub_identity(admin_server.url, credential).json()["hub_id"] == hub["id"]  # it works
    save_screenshot(security, "admin_hubs_enrolled")
    panel.copy_button.click()
    assert QApplication.clipboard().text() == credential
    panel.done_button.click()
    assert panel.credential_edit.text() == "" and not panel.credential_box.isVisibleTo(panel)

    # The system administrator lists hubs and may revoke them, but the server refuses an enrolment.
    window = open_window("admin")
    hubs = window.hubs
    window.tabs.setCurrentWidget(hubs)
    qtbot.waitUntil(lambda: any(h["id"] == hub["id"] for h in hubs.model.rows()), timeout=WAIT)
    hubs.name_edit.setText("另一台")
    hubs.campus_edit.setText("MAIN")
    hubs.enrol_button.click()
    qtbot.waitUntil(lambda: hubs.message.level == "error", timeout=WAIT)
    assert not hubs.credential_box.isVisibleTo(hubs) and len(hubs.model.rows()) == 1
    asked: list[str] = []
    answers = [False, True]

    def confirm(_parent: Any, text: str) -> bool:
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(HubsPanel, "ask_confirm", staticmethod(confirm))
    hubs.view.selectRow(0)
    hubs.revoke_button.click()  # declined: nothing happens
    assert len(asked) == 1 and "东院区中转服务器" in asked[0]
    assert hub_identity(admin_server.url, credential).status_code == 200
    hubs.revoke_button.click()
    qtbot.waitUntil(lambda: bool(hubs.model.rows()[0].get("revoked_at")), timeout=WAIT)
    refused = hub_identity(admin_server.url, credential)
    assert refused.status_code == 401 and refused.json()["code"] == "hub_revoked"
    assert hubs.model.data(hubs.model.index(0, 4)).startswith("已吊销 ")
    hubs.view.selectRow(0)
    save_screenshot(window, "admin_hubs")

    # What the hub did is in the audit log, found with the hub filter.
    hubs.view.selectRow(0)
    hubs.audit_button.click()
    assert window.tabs.currentWidget() is window.audit and window.audit.hub.text() == hub["id"]
    qtbot.waitUntil(lambda: window.audit.model.rowCount() > 0, timeout=WAIT)
    actions = {e["action"] for e in window.audit.model.rows()}
    assert all(hub["id"] in json.dumps(e, ensure_ascii=False) for e in window.audit.model.rows()), actions
    by = {e["action"]: e["username"] for e in window.audit.model.rows()}
    assert by["hub.enrol"] == "security" and by["hub.revoke"] == "admin"
    save_screenshot(window, "admin_hubs_audit")


def test_a_prescription_rule_table_is_previewed_as_its_field_diff_then_applied_from_the_import_tab(
    open_window: Callable[..., AdminWindow], qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = open_window("admin")
    panel = window.imports
    window.tabs.setCurrentWidget(panel)
    panel.set_kind("rx_rules")
    assert not panel.retire_missing.isVisibleTo(panel) and panel.when.isVisibleTo(panel)
    panel.set_file(tighter(tmp_path))
    panel.when.at_time.setChecked(True)
    later = (dt.datetime.now().astimezone() + dt.timedelta(days=1)).replace(second=0, microsecond=0)
    panel.when.effective.setDateTime(later.replace(tzinfo=None))
    panel.preview_button.click()
    qtbot.waitUntil(lambda: panel.plan is not None, timeout=WAIT)
    rows = {r["code"]: r for r in panel.model.rows()}
    assert (
        rows["ordinary.max_days"]["detail"] == "7 → 5" and rows["ordinary.max_days"]["section"] == "changed"
    )
    assert rows["max_drugs_per_rx"]["detail"] == "5 → 4"
    assert "2" in panel.summary.text() and later.strftime("%Y-%m-%d %H:%M") in panel.summary.text()
    assert panel.apply_button.isEnabled()
    save_screenshot(window, "admin_import_rx_rules")

    monkeypatch.setattr(type(panel), "ask_confirm", staticmethod(lambda parent, text: True))
    panel.apply_button.click()
    qtbot.waitUntil(lambda: panel.plan is not None and panel.plan["dry_run"] is False, timeout=WAIT)
    assert panel.plan["applied"] is True  # type: ignore[index]
    # this PC pulls the new dated version like every other PC; the rules of now stay until then
    qtbot.waitUntil(
        lambda: any(v.effective_from == later for v in window.runtime.store.all(RxRuleSet)), timeout=WAIT
    )
    panel.preview_button.click()  # the same file again: nothing to change
    qtbot.waitUntil(lambda: panel.plan is not None and panel.plan["dry_run"] is True, timeout=WAIT)
    assert panel.plan["changes"] == [] and panel.model.rows() == []  # type: ignore[index]
