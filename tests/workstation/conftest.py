"""Workstation test setup: offscreen Qt with the suite's theme, a real server, one PC's workstation."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from argon2 import PasswordHasher, Type  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from shared.gui.app import ClientRuntime  # noqa: E402
from shared.gui.login import LoginResult  # noqa: E402
from shared.gui.theme import apply_theme  # noqa: E402
from shared.ids import new_id  # noqa: E402
from shared.security import JsonFileVerifierStore, OfflineVerifier  # noqa: E402
from shared.site import PrinterSetting, SiteConfig  # noqa: E402
from shared.sync.tokens import TokenStore  # noqa: E402
from tests.support.api import DEMO_PASSWORD, ApiUser  # noqa: E402
from tests.support.keyring_file import FileKeyring, file_keyring  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
PIN = "135790"


@pytest.fixture(scope="session", autouse=True)
def themed_app(qapp: QApplication) -> QApplication:
    apply_theme(qapp, "zh_CN")
    return qapp


@pytest.fixture(autouse=True)
def key_store(tmp_path: Path) -> Iterator[FileKeyring]:
    """The OS key store of the test's PC: a file-backed keyring (signing keys and tokens live there)."""
    with file_keyring(tmp_path / "keyring.json") as backend:
        yield backend


@pytest.fixture(autouse=True)
def finish_unsigned_notes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """F9 on an unsigned note asks the doctor (a modal reminder); unless a test answers it itself, the
    doctor finishes anyway and signs later, as the reminder allows. Returns the patients it was asked for."""
    from workstation.screens.consult import UnsignedNoteDialog

    asked: list[str] = []

    def finish(cls: Any, parent: Any = None, **kw: Any) -> str:
        asked.append(kw.get("patient", ""))
        return "finish"

    monkeypatch.setattr(UnsignedNoteDialog, "ask", classmethod(finish))
    return asked


@dataclass
class Clinic:
    """What the server holds for the test: the doctor, their queue and three checked-in patients."""

    doctor: dict[str, Any]
    queue: dict[str, Any]
    patients: list[dict[str, Any]]
    tickets: list[str]


def server_rows(user: ApiUser) -> dict[str, dict[str, dict[str, Any]]]:
    changes, _cursor = user.pull_all()
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for change in changes:
        rows.setdefault(change["kind"], {})[change["id"]] = change["data"]
    return rows


def check_in_three(server: ServerProcess, doctor_username: str = "doctor1") -> Clinic:
    """A nurse checks three patients (no allergies) into the doctor's department queue."""
    nurse = ApiUser(server.url, "nurse1")
    try:
        rows = server_rows(nurse)
        doctor = next(s for s in rows["staff"].values() if s["username"] == doctor_username)
        queue = next(
            q
            for q in rows["queue"].values()
            if q["department_id"] == doctor["department_id"] and q["kind"] == "department"
        )
        patients = sorted(
            (p for p in rows["patient"].values() if not p["allergies"] and p.get("id_number")),
            key=lambda p: p["mrn"] or "",
        )[:3]
        tickets = []
        for patient in patients:
            ticket_id = new_id()
            outcome = nurse.push_one(
                "queue.check_in", {"id": ticket_id, "queue_id": queue["id"], "patient_id": patient["id"]}
            )
            assert outcome["status"] in ("applied", "applied_with_warning"), outcome
            tickets.append(ticket_id)
    finally:
        nurse.close()
    return Clinic(doctor, queue, patients, tickets)


@pytest.fixture
def clinic(server: ServerProcess) -> Clinic:
    return check_in_three(server)


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    return SiteConfig(
        printers={
            "prescription": PrinterSetting(target=f"file:{tmp_path / 'printed'}", paper="A5"),
            "visit_note": PrinterSetting(target=f"file:{tmp_path / 'printed'}", paper="A4"),
        }
    )


@pytest.fixture
def runtime(server: ServerProcess, tmp_path: Path) -> Iterator[ClientRuntime]:
    """The doctor's PC wired the way the app wires it (fast hashing and retries for the test)."""
    runtime = ClientRuntime.open(
        app="workstation",
        server_url=server.url,
        data_folder=tmp_path / "pc",
        tokens=TokenStore(fallback_file=tmp_path / "tokens.bin"),
        verifier=OfflineVerifier(JsonFileVerifierStore(tmp_path / "verifiers.json"), hasher=FAST),
        timeout=5.0,
        engine_options={"long_poll_seconds": 1.0, "backoff_base": 0.2, "backoff_max": 1.0},
    )
    yield runtime
    runtime.shutdown()


def log_in(runtime: ClientRuntime, username: str = "doctor1", campus_id: str | None = None) -> None:
    """Log in through the engine (the dialog itself is tested in tests/gui) at the campus chosen (the
    login dialog's campus list), and start syncing."""
    staff = runtime.engine.login(username, DEMO_PASSWORD, campus_id)
    session = runtime.store.session()
    runtime.current = LoginResult(
        staff=staff, campus_id=session.campus_id if session else campus_id, offline=False
    )
    runtime.start_sync()


@pytest.fixture
def window(runtime: ClientRuntime, site: SiteConfig, tmp_path: Path, qtbot: QtBot) -> Iterator[Any]:
    from workstation.state import WorkState
    from workstation.window import WorkstationWindow

    state = WorkState(runtime, site=site, data_folder=tmp_path / "pc", lang="zh_CN")
    window = WorkstationWindow(state)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    yield window
    window.close()  # the last autosave and the timers stop while the runtime is still there
    qtbot.wait(100)
