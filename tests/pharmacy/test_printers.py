"""Printer routing and the printers screen: test pages per document kind, a printer that is off, saving
the PC's choices where IT allows it, and the command's self-test."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import socket
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

from pharmacy_desk.print_routes import PrintJob, send
from pharmacy_desk.printer_settings import dumps_toml, save_user_printers
from shared.gui.app import ClientRuntime
from shared.printing.escpos_decode import decode
from shared.printing.transports import PrinterUnavailable
from shared.site import PrinterSetting, SiteConfig, load_site_config
from tests.gui.conftest import save_screenshot
from tests.support.server import free_port


def job(kind: str = "receipt", content: str = "escpos", data: bytes = b"\x1b@hello") -> PrintJob:
    return PrintJob("job-0001", kind, "RX1", content, data, dt.datetime(2026, 11, 22, 9, 30))  # type: ignore[arg-type]


def test_a_job_to_a_folder_becomes_one_file_per_job(tmp_path: Path) -> None:
    where = send(job("drug_label", "pdf", b"%PDF-1.4 x"), PrinterSetting(target=f"file:{tmp_path}/labels"))
    assert Path(where).parent == tmp_path / "labels" and Path(where).suffix == ".pdf"
    assert Path(where).read_bytes() == b"%PDF-1.4 x"


def test_escpos_jobs_append_to_a_file_and_copies_repeat(tmp_path: Path) -> None:
    setting = PrinterSetting(target=f"file:{tmp_path}/receipts.bin", copies=2)
    send(job(), setting)
    send(job(data=b"\x1b@again"), setting)
    assert (tmp_path / "receipts.bin").read_bytes() == b"\x1b@hello" * 2 + b"\x1b@again" * 2


def test_a_network_printer_receives_the_bytes(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.settimeout(5)
    try:
        where = send(job(), PrinterSetting(target=f"tcp:127.0.0.1:{port}"))
        connection, _ = server.accept()
        with connection:
            received = b""
            while chunk := connection.recv(4096):
                received += chunk
    finally:
        server.close()
    assert where == f"127.0.0.1:{port}" and received == b"\x1b@hello"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("none", "未给“小票”设置打印机"),
        ("", "未给“小票”设置打印机"),
        ("win:Kitchen Printer", "只能在 Windows 上使用"),
        ("fax:123", "打印机设置无效"),
    ],
)
def test_printers_that_cannot_print_say_why(target: str, expected: str) -> None:
    with pytest.raises(PrinterUnavailable) as caught:
        send(job(), PrinterSetting(target=target))
    assert expected in caught.value.message


class FakeSpooler:
    """Stands in for the Windows spooler (the one external thing): records what it was handed."""

    def __init__(self, *names: str, fail: bool = False) -> None:
        self.names = list(names)
        self.fail = fail
        self.raw: list[tuple[str, str, bytes]] = []
        self.pdfs: list[tuple[str, bytes]] = []

    def printers(self) -> list[str]:
        return self.names

    def print_raw(self, printer: str, title: str, data: bytes) -> None:
        self.raw.append((printer, title, data))

    def print_pdf(self, printer: str, path: Path) -> None:
        if self.fail:
            raise OSError(1155, "No application is associated with the specified file for this operation")
        self.pdfs.append((printer, path.read_bytes()))


def test_windows_printers_get_escpos_raw_and_pdfs_through_the_spooler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pharmacy_desk import print_routes

    spooler = FakeSpooler("POS-80C", "HP LaserJet M404")
    monkeypatch.setattr(print_routes, "windows_spooler", lambda: spooler)
    receipt = "收费小票".encode("gb18030")
    where = send(job(data=receipt), PrinterSetting(target="win:POS-80C", copies=2))
    assert where == "win:POS-80C" and spooler.raw == [("POS-80C", "RX1", receipt)] * 2
    pdf = b"%PDF-1.4 label"
    send(job("drug_label", "pdf", pdf), PrinterSetting(target="win:HP LaserJet M404"))
    assert spooler.pdfs == [("HP LaserJet M404", pdf)]

    with pytest.raises(PrinterUnavailable) as unknown:
        send(job(), PrinterSetting(target="win:Kitchen Printer"))
    assert "没有名为“Kitchen Printer”的打印机" in unknown.value.message
    assert "POS-80C" in unknown.value.message

    monkeypatch.setattr(print_routes, "windows_spooler", lambda: FakeSpooler("HP", fail=True))
    with pytest.raises(PrinterUnavailable) as no_viewer:
        send(job("drug_label", "pdf", pdf), PrinterSetting(target="win:HP"))
    assert "SumatraPDF" in no_viewer.value.message


def test_a_printer_that_is_off_raises_printer_unavailable() -> None:
    with pytest.raises(PrinterUnavailable) as caught:
        send(job(), PrinterSetting(target=f"tcp:127.0.0.1:{free_port()}"), timeout=2)
    assert "无法连接打印机" in caught.value.message


def test_user_printers_are_written_as_toml_the_site_loader_accepts(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        'server_url = "http://10.0.0.5:8750"\nuser_may_override = ["language", "printers"]\n',
        encoding="utf-8",
    )
    user = tmp_path / "user.toml"
    user.write_text('language = "en"\n', encoding="utf-8")
    save_user_printers(
        {
            "receipt": PrinterSetting(target="tcp:192.168.1.50:9100", paper="80mm", encoding="raster"),
            "drug_label": PrinterSetting(target='file:C:\\Labels "A"', copies=2),
        },
        user,
    )
    config = load_site_config(site, user_path=user)
    assert config.language == "en"
    assert (
        config.printer("receipt").target == "tcp:192.168.1.50:9100"
        and config.printer("receipt").encoding == "raster"
    )
    assert (
        config.printer("drug_label").target == 'file:C:\\Labels "A"'
        and config.printer("drug_label").copies == 2
    )
    assert tomllib.loads(dumps_toml({"a": {"b": {"c": 1}}, "x": "中文"})) == {
        "a": {"b": {"c": 1}},
        "x": "中文",
    }


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
    with qtbot.waitSignal(screen.state.print_queue.sig_job_finished, timeout=10_000):
        qtbot.mouseClick(screen.rows["receipt"][4], Qt.MouseButton.LeftButton)
    decoded = decode((tmp_path / "receipt.bin").read_bytes())
    assert (
        "打印机测试页" in decoded.text
        and "￥25.60" in decoded.text
        and decoded.qr_payloads == ["clinic:test"]
    )

    # A label printer set to a folder: the test label is a 70×50 mm PDF.
    screen.rows["drug_label"][0].setText(f"file:{tmp_path}/labels")
    with qtbot.waitSignal(screen.state.print_queue.sig_job_finished, timeout=10_000):
        qtbot.mouseClick(screen.rows["drug_label"][4], Qt.MouseButton.LeftButton)
    label = PdfReader(io.BytesIO(next((tmp_path / "labels").glob("*.pdf")).read_bytes())).pages[0]
    assert round(float(label.mediabox.width) / 72 * 25.4) == 70 and "阿莫西林" in label.extract_text()

    # A network printer that is off: a clear message, nothing crashes.
    screen.rows["pick_list"][0].setText(f"tcp:127.0.0.1:{free_port()}")
    with qtbot.waitSignal(screen.state.print_queue.sig_job_finished, timeout=15_000):
        qtbot.mouseClick(screen.rows["pick_list"][4], Qt.MouseButton.LeftButton)
    assert "无法连接打印机" in screen.message.text()
    save_screenshot(window, "pharmacy_printers_1366x768")
    window.resize(1920, 1080)
    save_screenshot(window, "pharmacy_printers_1920x1080")

    # Saved into the user's file because IT allows per-user printers; the desk uses it at once.
    qtbot.mouseClick(screen.save_button, Qt.MouseButton.LeftButton)
    saved = tomllib.loads((tmp_path / "user.toml").read_text(encoding="utf-8"))
    assert saved["printers"]["drug_label"]["target"] == f"file:{tmp_path}/labels"
    assert screen.state.site.printer("drug_label").target == f"file:{tmp_path}/labels"


def test_printers_are_read_only_when_it_manages_them(qtbot: QtBot, tmp_path: Path) -> None:
    from pharmacy_desk.desk import DeskState
    from pharmacy_desk.screens.printers import PrintersScreen

    runtime = ClientRuntime.open(app="pharmacy", server_url="http://127.0.0.1:9", data_folder=tmp_path)
    try:
        state = DeskState(runtime, site=SiteConfig(), data_folder=tmp_path, lang="zh_CN")
        screen = PrintersScreen(state)
        qtbot.addWidget(screen)
        assert not screen.save_button.isVisibleTo(screen) and screen.notice.isVisibleTo(screen)
        assert screen.rows["receipt"][0].isReadOnly()
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
    from pharmacy_desk.print_queue import PrintQueue

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
