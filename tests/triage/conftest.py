"""Triage fixtures: one real server per test module on a copy of the demo database, and triage PCs (nurse
desk, kiosk, display) wired the way ``clinic triage|kiosk|display`` wire them, each with its own data folder."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from argon2 import PasswordHasher, Type  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from server_stub.config import sqlite_url  # noqa: E402
from shared.gui.app import ClientRuntime  # noqa: E402
from shared.gui.login import LoginResult  # noqa: E402
from shared.gui.theme import apply_theme  # noqa: E402
from shared.security import JsonFileVerifierStore, OfflineVerifier  # noqa: E402
from shared.site import PrinterSetting, SiteConfig, VoiceSetting  # noqa: E402
from shared.sync.tokens import TokenStore  # noqa: E402
from tests.conftest import copy_sqlite  # noqa: E402
from tests.support.api import DEMO_PASSWORD  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from triage_desk.state import TriageState  # noqa: E402

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)


@pytest.fixture(scope="session", autouse=True)
def themed_app(qapp: QApplication) -> QApplication:
    apply_theme(qapp, "zh_CN")
    return qapp


@pytest.fixture(scope="module")
def triage_server(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per test module (tests use different patients, so they do not disturb each other)."""
    folder = tmp_path_factory.mktemp("triage-server")
    process = ServerProcess(
        sqlite_url(copy_sqlite(demo_template, folder / "demo.db")), folder / "server.log"
    ).start()
    yield process
    process.stop()


def site_for(server_url: str, prints: Path, *, slot: int = 1) -> SiteConfig:
    return SiteConfig(
        server_url=server_url,
        queue_desk_slot=slot,
        printers={"ticket": PrinterSetting(target=f"file:{prints}/tickets.bin", paper="80mm")},
        voice=VoiceSetting(engine="none"),
    )


@dataclass
class Pc:
    """One triage PC: its runtime, shared state and where its slips go."""

    runtime: ClientRuntime
    state: TriageState
    prints: Path
    windows: list[Any] = field(default_factory=list)

    @property
    def slips(self) -> Path:
        return self.prints / "tickets.bin"


@pytest.fixture
def make_pc(
    triage_server: ServerProcess, tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Pc]]:
    """``make_pc(app, username, slot=1)``: a PC logged in and bootstrapped from the module's server
    (``sync=False``: logged in only, as a kiosk account, which may not download data)."""
    monkeypatch.setenv("CLINIC_USER_CONFIG", str(tmp_path / "user.toml"))
    made: list[Pc] = []

    def make(
        app: str = "triage",
        username: str = "nurse1",
        *,
        slot: int = 1,
        url: str | None = None,
        sync: bool = True,
    ) -> Pc:
        folder = tmp_path / f"{app}-{username}-{len(made)}"
        folder.mkdir()
        runtime = ClientRuntime.open(
            app=app,
            server_url=url or triage_server.url,
            data_folder=folder,
            tokens=TokenStore(fallback_file=folder / "tokens.bin"),
            verifier=OfflineVerifier(JsonFileVerifierStore(folder / "verifiers.json"), hasher=FAST),
            timeout=5.0,
            engine_options={"long_poll_seconds": 2.0, "backoff_base": 0.2, "backoff_max": 1.0},
            install=not made,
        )
        if app in ("triage", "kiosk"):  # as ``build_window`` asks: the server assigns the desk a slot
            runtime.engine.desk_slot_request = slot
        staff = runtime.engine.login(username, DEMO_PASSWORD)
        session = runtime.store.session()
        assert session is not None
        runtime.current = LoginResult(staff, session.campus_id, False)
        if sync:
            runtime.start_sync()
            qtbot.waitUntil(
                lambda: runtime.store.cursor() is not None and not runtime.store.needs_bootstrap(),
                timeout=60_000,
            )
        state = TriageState(
            runtime, site=site_for(triage_server.url, folder / "prints", slot=slot), lang="zh_CN"
        )
        pc = Pc(runtime, state, folder / "prints")
        made.append(pc)
        return pc

    yield make
    devices = [pc.runtime.store.device_id for pc in made]
    for pc in reversed(made):
        for window in pc.windows:
            controller = getattr(window, "controller", None)
            if controller is not None:
                controller.stop()
            window.close()
        pc.runtime.shutdown()
    # the module's server outlives the test: its PCs are retired and give their numbering slots back
    # (``clinic desk-slots --release``), so the next test's desks get slots of their own
    release_desk_slots(triage_server, devices)


def release_desk_slots(server: ServerProcess, device_ids: list[str]) -> None:
    from server_stub.db.engine import Database
    from server_stub.services import desk_slots

    db = Database.open(server.db_url, pool_size=1)
    try:
        with db.write() as conn:
            for device_id in device_ids:
                desk_slots.release(conn, device_id=device_id)
    finally:
        db.dispose()
