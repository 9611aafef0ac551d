"""PCs keep the hospital's time zone, whatever their own clock's zone: the central API says its zone
(``CLINIC_TIMEZONE``) at login, the PC keeps it in its store and takes "today", its slips' times and its
replays' ``today`` from it. Here the hospital is on a zone whose date differs from UTC's right now, and
the PCs' own clock is set to UTC (as IT may leave a Windows PC): the desk's check-in, the doctor's
waiting list and the slip all follow the hospital."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import datetime as dt  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import pytest  # noqa: E402
from argon2 import PasswordHasher, Type  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from server_stub.config import sqlite_url  # noqa: E402
from server_stub.seed.demo import seed_demo  # noqa: E402
from shared import clinic_time  # noqa: E402
from shared.clinic_time import CLINIC_TIMEZONE_STATE  # noqa: E402
from shared.domain.entities import Patient, Queue, QueueTicket, Staff  # noqa: E402
from shared.gui.app import ClientRuntime  # noqa: E402
from shared.gui.login import LoginResult  # noqa: E402
from shared.ids import new_id  # noqa: E402
from shared.printing.escpos_decode import decode  # noqa: E402
from shared.printing.ticket import ticket_escpos  # noqa: E402
from shared.security import JsonFileVerifierStore, OfflineVerifier  # noqa: E402
from shared.site import PrinterSetting, SiteConfig  # noqa: E402
from shared.store.store import rebuild_overlay  # noqa: E402
from shared.sync.tokens import TokenStore  # noqa: E402
from tests.conftest import SMALL_DEMO_PATIENTS  # noqa: E402
from tests.support.api import DEMO_PASSWORD, ApiUser  # noqa: E402
from tests.support.keyring_file import file_keyring  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
# +14 and -12 hours: whatever the hour, the hospital's date in one of them is not UTC's
HOSPITAL_ZONES = ("Pacific/Kiritimati", "Etc/GMT+12")


def zone_unlike_utc() -> str:
    now = dt.datetime.now(dt.UTC)
    return next(z for z in HOSPITAL_ZONES if now.astimezone(ZoneInfo(z)).date() != now.date())


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A real central API whose hospital is in a zone whose date is not UTC's now (its demo day too)."""
    zone = zone_unlike_utc()
    folder = tmp_path_factory.mktemp("hospital")
    url = sqlite_url(folder / "hospital.db")
    seed_demo(url, timezone=zone, patients=SMALL_DEMO_PATIENTS)
    server = ServerProcess(url, folder / "server.log", env={"CLINIC_TIMEZONE": zone}).start()
    yield server, zone
    server.stop()


@pytest.fixture
def pc_clock_in_utc() -> Iterator[None]:
    """This process's own zone is UTC while the test runs (the PC's OS setting; the apps never set it);
    no hospital zone known yet."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    clinic_time.use_zone(None)
    try:
        yield
    finally:
        clinic_time.use_zone(None)
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.fixture
def open_pc(
    hospital: tuple[ServerProcess, str],
    pc_clock_in_utc: None,
    tmp_path: Path,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., ClientRuntime]]:
    """``open_pc(app, username)``: a PC of that app logged in online and bootstrapped."""
    server, _zone = hospital
    monkeypatch.setenv("CLINIC_USER_CONFIG", str(tmp_path / "user.toml"))
    opened: list[ClientRuntime] = []

    def open_(app: str, username: str) -> ClientRuntime:
        folder = tmp_path / f"{app}-{username}"
        folder.mkdir()
        runtime = ClientRuntime.open(
            app=app,
            server_url=server.url,
            data_folder=folder,
            tokens=TokenStore(fallback_file=folder / "tokens.bin"),
            verifier=OfflineVerifier(JsonFileVerifierStore(folder / "verifiers.json"), hasher=FAST),
            timeout=5.0,
            engine_options={"long_poll_seconds": 1.0, "backoff_base": 0.2, "backoff_max": 1.0},
            install=not opened,
        )
        opened.append(runtime)
        if app == "triage":
            runtime.engine.desk_slot_request = 1
        staff = runtime.engine.login(username, DEMO_PASSWORD)
        session = runtime.store.session()
        assert session is not None
        runtime.current = LoginResult(staff, session.campus_id, False)
        runtime.start_sync()
        qtbot.waitUntil(
            lambda: runtime.store.cursor() is not None and not runtime.store.needs_bootstrap(), timeout=60_000
        )
        return runtime

    with file_keyring(tmp_path / "keyring.json"):
        yield open_
        for runtime in reversed(opened):
            runtime.shutdown()


def doctors_queue(store: Any, username: str = "doctor1") -> tuple[Staff, Queue]:
    doctor = next(s for s in store.all(Staff) if s.username == username)
    queue = next(
        q for q in store.all(Queue) if q.department_id == doctor.department_id and q.kind == "department"
    )
    return doctor, queue


def test_a_pc_on_utc_checks_in_lists_and_prints_in_the_hospitals_zone(
    hospital: tuple[ServerProcess, str], open_pc: Callable[..., ClientRuntime], qtbot: QtBot, tmp_path: Path
) -> None:
    from triage_desk import model
    from triage_desk.check_in import check_in_in_store
    from workstation.state import WorkState
    from workstation.window import WorkstationWindow

    server, zone = hospital
    hospital_today = dt.datetime.now(ZoneInfo(zone)).date()
    assert hospital_today != dt.date.today()  # the PC's own calendar (UTC) is on another day

    desk = open_pc("triage", "nurse1")
    assert desk.store.state(CLINIC_TIMEZONE_STATE) == zone  # the login answer said it; the PC kept it
    assert clinic_time.today() == hospital_today
    _doctor, queue = doctors_queue(desk.store)
    walk_in, told_by_server = [p for p in desk.store.all(Patient) if p.id_number_tail][:2]

    # the desk checks a walk-in in, as its check-in screen does
    now = clinic_time.now()
    args = {
        "id": new_id(),
        "queue_id": queue.id,
        "patient_id": walk_in.id,
        "day": model.local_day(now).isoformat(),
        "checked_in_at": now.isoformat(),
    }
    _entry, slip = check_in_in_store(desk.store, args=args, slot=1, now=now, lang="zh_CN")
    assert slip is not None
    printed = "\n".join(decode(ticket_escpos(slip, mode="text")).lines)
    checked_in_at = dt.datetime.fromisoformat(args["checked_in_at"])
    assert checked_in_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") in printed
    assert checked_in_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") not in printed

    # a check-in the server dates itself (no day given): the hospital's today there too
    nurse = ApiUser(server.url, "nurse3")
    try:
        outcome = nurse.push_one(
            "queue.check_in", {"id": new_id(), "queue_id": queue.id, "patient_id": told_by_server.id}
        )
    finally:
        nurse.close()
    assert outcome["status"] in ("applied", "applied_with_warning"), outcome

    def confirmed_at_the_desk() -> bool:
        desk.network.wake()
        tickets = desk.store.find(QueueTicket, queue_id=queue.id)
        return desk.store.pending_count() == 0 and {t.patient_id for t in tickets} >= {
            walk_in.id,
            told_by_server.id,
        }

    qtbot.waitUntil(confirmed_at_the_desk, timeout=60_000)
    days = {t.patient_id: t.day for t in desk.store.find(QueueTicket, queue_id=queue.id)}
    assert days[walk_in.id] == days[told_by_server.id] == hospital_today

    # the doctor's PC, also on UTC, lists both for today
    clinic_time.use_zone(None)  # a PC of its own: it learns the zone at its own login
    doctor_pc = open_pc("workstation", "doctor1")
    site = SiteConfig(printers={"prescription": PrinterSetting(target=f"file:{tmp_path / 'printed'}")})
    state = WorkState(doctor_pc, site=site, data_folder=tmp_path / "workstation-doctor1", lang="zh_CN")
    assert state.today() == hospital_today
    window = WorkstationWindow(state)
    qtbot.addWidget(window)
    window.show()
    window.start()
    try:

        def listed() -> set[str]:
            return {row.ticket.patient_id for row in window.day.waiting_model.rows()}

        qtbot.waitUntil(lambda: {walk_in.id, told_by_server.id} <= listed(), timeout=60_000)
    finally:
        window.close()
        qtbot.wait(100)


def test_the_stores_replay_takes_today_in_the_hospitals_zone(
    hospital: tuple[ServerProcess, str], open_pc: Callable[..., ClientRuntime], qtbot: QtBot
) -> None:
    _server, zone = hospital
    hospital_today = dt.datetime.now(ZoneInfo(zone)).date()
    desk = open_pc("triage", "nurse1")
    desk.network.stop()  # offline: the check-in stays pending, replayed over whatever comes in
    store = desk.store
    _doctor, queue = doctors_queue(store)
    ticketed = {t.patient_id for t in store.all(QueueTicket)}
    patient = next(p for p in store.all(Patient) if p.id not in ticketed)
    ticket_id = new_id()
    # no day given: the local handler takes ``ctx.today``, as the server would
    store.record("queue.check_in", {"id": ticket_id, "queue_id": queue.id, "patient_id": patient.id})
    ticket = store.get(QueueTicket, ticket_id)
    assert ticket is not None and ticket.day == hospital_today

    clinic_time.use_zone(None)  # whatever the process holds: the store replays in its own zone
    store.write(rebuild_overlay)  # every pending mutation replayed from scratch
    replayed = store.get(QueueTicket, ticket_id)
    assert replayed is not None and replayed.day == hospital_today != dt.date.today()
