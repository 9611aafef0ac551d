"""Pharmacy desk fixtures: a real server on a demo database with signed prescriptions, and the desk's
window wired to it the way ``clinic pharmacy`` wires it (real store, sync engine, print queue to files)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from argon2 import PasswordHasher, Type  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from server_stub.config import sqlite_url  # noqa: E402
from shared.gui.app import ClientRuntime  # noqa: E402
from shared.gui.login import LoginResult  # noqa: E402
from shared.gui.theme import apply_theme  # noqa: E402
from shared.security import JsonFileVerifierStore, OfflineVerifier  # noqa: E402
from shared.site import PrinterSetting, SiteConfig  # noqa: E402
from shared.sync.tokens import TokenStore  # noqa: E402
from tests.conftest import copy_sqlite  # noqa: E402
from tests.pharmacy.support import SeededRx, seed_signed_prescriptions  # noqa: E402
from tests.support.api import DEMO_PASSWORD  # noqa: E402
from tests.support.keyring_file import FileKeyring, file_keyring  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)


@pytest.fixture(scope="session", autouse=True)
def themed_app(qapp: QApplication) -> QApplication:
    apply_theme(qapp, "zh_CN")
    return qapp


@pytest.fixture(autouse=True)
def key_store(tmp_path: Path) -> Iterator[FileKeyring]:
    """The OS key store of the test's PC: a file-backed keyring (signing keys and tokens live there)."""
    with file_keyring(tmp_path / "keyring.json") as backend:
        yield backend


@dataclass
class PharmacyServer:
    process: ServerProcess
    prescriptions: list[SeededRx]
    data_folder: Path
    db_url: str

    @property
    def url(self) -> str:
        return self.process.url


@pytest.fixture
def pharmacy_server(demo_template: Path, tmp_path: Path) -> Iterator[PharmacyServer]:
    """A server whose demo database holds two signed prescriptions for 本部门诊西药房 (the pharmacist has
    no signing key yet: the first review makes and registers one)."""
    url = sqlite_url(copy_sqlite(demo_template, tmp_path / "demo.db"))
    folder = tmp_path / "desk"
    seeded = seed_signed_prescriptions(url, count=2)
    process = ServerProcess(url, tmp_path / "server.log").start()
    yield PharmacyServer(process, seeded, folder, url)
    process.stop()


def site_for(server_url: str, prints: Path) -> SiteConfig:
    printers = {
        kind: PrinterSetting(target=f"file:{prints}")
        for kind in ("prescription", "pick_list", "drug_label", "waybill", "report")
    }
    printers["receipt"] = PrinterSetting(target=f"file:{prints}/receipt.bin", paper="80mm")
    return SiteConfig(
        server_url=server_url,
        pharmacy="MAIN-WY",
        printers=printers,  # type: ignore[arg-type]
        user_may_override=["language", "printers"],
    )


@pytest.fixture
def desk(
    pharmacy_server: PharmacyServer, tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    """The desk's main window, logged in as pharmacist1 and bootstrapped from the server."""
    from pharmacy_desk.desk import DeskState, PharmacyWindow

    monkeypatch.setenv("CLINIC_USER_CONFIG", str(tmp_path / "user.toml"))
    folder = pharmacy_server.data_folder
    runtime = ClientRuntime.open(
        app="pharmacy",
        server_url=pharmacy_server.url,
        data_folder=folder,
        tokens=TokenStore(fallback_file=tmp_path / "tokens.bin"),
        verifier=OfflineVerifier(JsonFileVerifierStore(tmp_path / "verifiers.json"), hasher=FAST),
        timeout=5.0,
        engine_options={"long_poll_seconds": 2.0, "backoff_base": 0.2, "backoff_max": 1.0},
    )
    state = DeskState(
        runtime, site=site_for(pharmacy_server.url, tmp_path / "prints"), data_folder=folder, lang="zh_CN"
    )
    window = PharmacyWindow(state)
    qtbot.addWidget(window)
    staff = runtime.engine.login("pharmacist1", DEMO_PASSWORD)
    runtime.current = LoginResult(staff, runtime.store.session().campus_id, False)  # type: ignore[union-attr]
    runtime.start_sync()
    qtbot.waitUntil(
        lambda: runtime.store.cursor() is not None and not runtime.store.needs_bootstrap(), timeout=60_000
    )
    window.load_pharmacies()
    qtbot.waitUntil(lambda: state.pharmacy_id != "", timeout=10_000)
    window.resize(1366, 768)
    window.show()
    yield window
    window.close()
    runtime.shutdown()
