"""The pharmacy's printers tab (the shared printer-settings screen with the pharmacy's test pages): test
pages per document kind, a printer that is off, saving the PC's choices where IT allows it, read-only when
IT manages them, the command's self-test, and a failed job surviving a restart."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from shared.gui.app import ClientRuntime
from shared.printing.escpos_decode import decode
from shared.site import PrinterSetting, SiteConfig
from tests.gui.conftest import save_screenshot
from tests.support.server import free_port


@pytest.fixture
def offline_window(tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The desk with no server reachable and nobody logged in (the printers screen still works)."""
    from pharmacy_desk.desk import DeskState, PharmacyWindow

    monkeypatch.setenv("CLINIC_USER_CONFIG", str(tmp_path / "user.toml"))
    runtime = ClientRuntime.open(
        app="pharmacy", server_url=f"http://127.0.0.1:{free_port()}", data_folder=tmp_path / "desk"
    )
    site = SiteConfig(
        printers={"receipt": PrinterSetting(target=f"file:{tmp_path}/receipt.bin")},  # type: ignore[dict-item]
        user_may_override=["printers"],
    )
    window = PharmacyWindow(DeskState(runtime, site=site, data_folder=tmp_path / "desk", lang="zh_CN"))
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()
    runtime.shutdown()


def test_the_printers_screen_prints_test_pages_and_saves_the_choices(
    qtbot: QtBot, offline_window: Any, tmp_path: Path
) -> None:
    window = offline_window
    screen = window.printers
    window.tabs.setCurrentWidget(screen)

    # A receipt test page: Chinese in GB18030, an amount and a QR code.
    with qtbot.waitSignal(screen.host.print_queue.sig_job_finished, timeout=10_000):
        qtbot.mouseClick(screen.rows["receipt"].test, Qt.MouseButton.LeftButton)
    decoded = decode((tmp_path / "receipt.bin").read_bytes())
    assert (
        "打印机测试页" in decoded.text
        and "￥25.60" in decoded.text
        and decoded.qr_payloads == ["clinic:test"]
    )

    # A label printer set to a folder: the test label is a 70×50 mm PDF.
    screen.rows["drug_label"].target.setCurrentText(f"file:{tmp_path}/labels")
    with qtbot.waitSignal(screen.host.print_queue.sig_job_finished, timeout=10_000):
        qtbot.mouseClick(screen.rows["drug_label"].test, Qt.MouseButton.LeftButton)
    label = PdfReader(io.BytesIO(next((tmp_path / "labels").glob("*.pdf")).read_bytes())).pages[0]
    assert round(float(label.mediabox.width) / 72 * 25.4) == 70 and "阿莫西林" in label.extract_text()

    # A network printer that is off: a clear message, nothing crashes.
    screen.rows["pick_list"].target.setCurrentText(f"tcp:127.0.0.1:{free_port()}")
    with qtbot.waitSignal(screen.host.print_queue.sig_job_finished, timeout=15_000):
        qtbot.mouseClick(screen.rows["pick_list"].test, Qt.MouseButton.LeftButton)
    assert "无法连接打印机" in screen.message.text()
    save_screenshot(window, "pharmacy_printers_1366x768")
    window.resize(1920, 1080)
    save_screenshot(window, "pharmacy_printers_1920x1080")

    # Saved into the user's file because IT allows per-user printers; the desk uses it at once.
    qtbot.mouseClick(screen.save_button, Qt.MouseButton.LeftButton)
    saved = tomllib.loads((tmp_path / "user.toml").read_text(encoding="utf-8"))
    assert saved["printers"]["drug_label"]["target"] == f"file:{tmp_path}/labels"
    assert screen.host.site.printer("drug_label").target == f"file:{tmp_path}/labels"


def test_printers_are_read_only_when_it_manages_them(qtbot: QtBot, tmp_path: Path) -> None:
    from pharmacy_desk.desk import DeskState
    from shared.gui.printers import PrintersScreen

    runtime = ClientRuntime.open(app="pharmacy", server_url="http://127.0.0.1:9", data_folder=tmp_path)
    try:
        it_managed = SiteConfig(user_may_override=["language", "display.theme"])
        state = DeskState(runtime, site=it_managed, data_folder=tmp_path, lang="zh_CN")
        screen = PrintersScreen(state, "pharmacy")
        qtbot.addWidget(screen)
        assert not screen.save_button.isVisibleTo(screen) and screen.notice.isVisibleTo(screen)
        assert not screen.rows["receipt"].target.isEnabled()
        assert "信息科" in screen.notice.text()
    finally:
        runtime.shutdown()


def test_self_test_builds_the_window_and_renders_a_drug_label(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "pharmacy", "--self-test", "--data-folder", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["window"] == "PharmacyWindow"
    text = PdfReader(report["document"]).pages[0].extract_text()
    assert "阿莫西林胶囊" in text and "每日3次" in text


def test_a_failed_job_survives_a_restart_and_is_recorded_once_it_prints(qtbot: QtBot, tmp_path: Path) -> None:
    from shared.gui.printing import PrintQueue

    spool = tmp_path / "print_spool"
    site = SiteConfig(printers={"receipt": PrinterSetting(target="none")})  # type: ignore[dict-item]
    first = PrintQueue(lambda: site, spool=spool)
    with qtbot.waitSignal(first.sig_job_finished, timeout=10_000) as failed:
        first.print("receipt", "RX1", "escpos", b"\x1b@again", ref_id="dispense-1", reprint=True)
    assert failed.args[0].state == "failed" and len(list(spool.glob("*.json"))) == 1

    # The app restarts: the job comes back from the spool with what its print record needs.
    site = SiteConfig(printers={"receipt": PrinterSetting(target=f"file:{tmp_path}/r.bin")})  # type: ignore[dict-item]
    second = PrintQueue(lambda: site, spool=spool)
    (waiting,) = second.failed()
    assert (waiting.job.ref_id, waiting.job.reprint, waiting.job.data) == ("dispense-1", True, b"\x1b@again")
    with qtbot.waitSignal(second.sig_job_finished, timeout=10_000) as sent:
        assert second.retry() == 1
    assert sent.args[0].state == "sent" and sent.args[0].job.ref_id == "dispense-1"
    assert (tmp_path / "r.bin").read_bytes() == b"\x1b@again" and not list(spool.iterdir())
