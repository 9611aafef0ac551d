"""Ticket numbers issued offline never collide, whatever the configuration: the server gives every
triage desk its own numbering slot at an online login (``queue_desk_slot`` is only a wish), the desk
numbers offline only from that slot, a desk that never got one numbers nothing, and the server moves a
pushed number that is not from the pushing desk's slot."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from shared.domain.entities import QueueTicket
from shared.errors import ValidationFailed
from shared.gui.app import ClientRuntime
from shared.ids import new_id
from shared.security import JsonFileVerifierStore, OfflineVerifier
from shared.store.store import LocalStore
from shared.sync.engine import assigned_desk_slot
from shared.sync.status import SyncState
from shared.sync.tokens import TokenStore
from tests.gui.conftest import save_screenshot
from tests.support.api import DEMO_PASSWORD
from tests.support.server import ServerProcess
from tests.triage.conftest import FAST
from tests.triage.support import first_queue, free_patients
from tests.triage.test_desk_flow import open_desk
from triage_desk import model
from triage_desk.check_in import check_in_in_store

ROOT = Path(__file__).resolve().parents[2]


def _args(queue_id: str, patient_id: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "queue_id": queue_id,
        "patient_id": patient_id,
        "day": model.local_day(now).isoformat(),
        "checked_in_at": now.isoformat(),
    }


def _offline(qtbot: QtBot, *pcs: Any) -> None:
    for pc in pcs:
        pc.runtime.network.wake()
        qtbot.waitUntil(
            lambda pc=pc: pc.runtime.network.last_status.state is SyncState.OFFLINE, timeout=30_000
        )


def _entry(store: LocalStore, ticket_id: str) -> Any:
    return next(e for e in store.outbox() if e.name == "queue.check_in" and e.args["id"] == ticket_id)


def test_two_desks_configured_alike_never_print_the_same_number_offline(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    # IT copied one site.toml to both desks: both wish for slot 1
    first = make_pc("triage", "nurse1", slot=1)
    second = make_pc("triage", "nurse3", slot=1)
    slots = first.state.desk_slot(), second.state.desk_slot()
    assert None not in slots and slots[0] != slots[1] and set(slots) <= {1, 2, 3}
    assert first.state.desk_slot_notice() == ""  # it got the slot it wished for
    moved = second.state.desk_slot() or 0
    assert second.state.desk_slot_notice() == (
        f"号段 1 已分给本院区另一台电脑，服务器给本机分配了号段 {moved}：本机按号段 {moved} 发号"
    )
    window = open_desk(qtbot, second)  # the desk says so when it starts
    qtbot.waitUntil(lambda: window.message_line.text() == second.state.desk_slot_notice(), timeout=10_000)
    window.resize(1366, 768)
    qtbot.waitUntil(lambda: window.width() == 1366, timeout=5_000)
    save_screenshot(window, "triage_desk_slot_notice_1366x768")
    queue = first_queue(first.runtime.store, first.state.campus_id)
    patients = free_patients(first.runtime.store, 4)

    triage_server.stop()
    _offline(qtbot, first, second)
    now = dt.datetime.now().astimezone()
    printed: dict[str, tuple[str, Any]] = {}  # ticket id -> (number on the slip, the desk)
    for n, patient in enumerate(patients):
        pc = (first, second)[n % 2]
        _entry_, slip = check_in_in_store(
            pc.runtime.store,
            args=_args(queue.id, patient.id, now),
            slot=pc.state.desk_slot(),
            now=now,
            lang="zh_CN",
        )
        assert slip is not None
        printed[slip.ticket_id] = (slip.number, pc)
    numbers = [number for number, _pc in printed.values()]
    assert len(set(numbers)) == 4, numbers  # no number twice, though both desks were offline

    triage_server.start()
    for pc in (first, second):
        pc.runtime.network.wake()

    def synced() -> bool:
        for pc in (first, second):
            pc.runtime.network.wake()
            if pc.runtime.store.pending_count():
                return False
            if any(pc.runtime.store.get(QueueTicket, ticket_id) is None for ticket_id in printed):
                return False
        return True

    qtbot.waitUntil(synced, timeout=60_000)
    for ticket_id, (number, pc) in printed.items():
        entry = _entry(pc.runtime.store, ticket_id)
        assert entry.status == "applied" and entry.warnings == []  # nobody renumbered
        for other in (first, second):
            assert other.runtime.store.get(QueueTicket, ticket_id).label == number  # type: ignore[union-attr]


def test_a_desk_without_a_slot_numbers_nothing_and_the_server_moves_a_number_not_its_own(
    qtbot: QtBot, make_pc: Any
) -> None:
    desks = [make_pc("triage", "nurse1", slot=2) for _ in range(3)]
    assert sorted(d.state.desk_slot() for d in desks) == [1, 2, 3]  # the campus's three desk slots
    late = make_pc("triage", "nurse3", slot=2)  # a fourth desk: every slot is held
    assert late.state.desk_slot() is None
    assert "不能发号" in late.state.desk_slot_notice()
    store = late.runtime.store
    queue = first_queue(store, late.state.campus_id)
    a, b = free_patients(store, 2)
    now = dt.datetime.now().astimezone()
    with pytest.raises(ValidationFailed) as refused:
        check_in_in_store(
            store, args=_args(queue.id, a.id, now), slot=late.state.desk_slot(), now=now, lang="en"
        )
    assert refused.value.code == "no_desk_slot"
    assert "cannot issue numbers offline: log in once while the server is reachable" in refused.value.message
    assert not store.find(QueueTicket, patient_id=a.id)  # nothing recorded, nothing printed

    # an old PC that ignores the assignment and numbers from slot 2 anyway: the server does not believe it
    args = _args(queue.id, b.id, now)
    with store.reading() as view:
        forged = model.next_number(view, queue, model.local_day(now), 2)
    store.record("queue.check_in", {**args, "number": forged})
    qtbot.waitUntil(lambda: _entry(store, args["id"]).status == "applied", timeout=30_000)
    entry = _entry(store, args["id"])
    number = int(entry.result["number"])
    assert number != forged and (number - 1) // 100 % 4 == 0  # the server's own slot: it gave none
    assert entry.warnings == [
        f"号码 {queue.prefix}{forged:03d} 不属于本机分配的号段，已改为 {queue.prefix}{number:03d}：请重打号票"
    ]


def test_the_slot_survives_a_restart_and_stays_the_same_at_every_login(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess, tmp_path: Path
) -> None:
    make_pc("triage", "nurse1", slot=3)  # another desk holds 3
    pc = make_pc("triage", "nurse3", slot=3)
    slot = pc.state.desk_slot()
    assert slot in (1, 2)
    folder = pc.runtime.data_folder
    assert folder is not None
    pc.runtime.shutdown()

    def reopen() -> ClientRuntime:
        return ClientRuntime.open(
            app="triage",
            server_url=triage_server.url,
            data_folder=folder,
            tokens=TokenStore(fallback_file=folder / "tokens.bin"),
            verifier=OfflineVerifier(JsonFileVerifierStore(folder / "verifiers.json"), hasher=FAST),
            timeout=5.0,
            install=False,
        )

    again = reopen()
    try:
        session = again.store.session()
        assert session is not None
        # before any server contact the PC knows its slot (it may have to number offline at once)
        assert assigned_desk_slot(again.store, session.campus_id) == slot
        for _ in range(2):
            again.engine.desk_slot_request = 3  # still wishes for 3: the server keeps its own slot
            again.engine.login("nurse3", DEMO_PASSWORD)
            assert assigned_desk_slot(again.store, session.campus_id) == slot
    finally:
        again.shutdown()
    pc.runtime = reopen()  # the fixture's teardown shuts it down and frees its slot


def test_it_lists_the_slots_and_frees_a_retired_pcs(make_pc: Any, triage_server: ServerProcess) -> None:
    pc = make_pc("triage", "nurse1", slot=2)
    device = pc.runtime.store.device_id

    def clinic(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.cli", "desk-slots", "--db", triage_server.db_url, *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )

    listed = clinic()
    assert listed.returncode == 0, listed.stderr
    assert f"\t2\t{device}\t" in listed.stdout
    freed = clinic("--release", device)
    assert freed.returncode == 0 and f"released: 1 slot(s) of device {device}" in freed.stdout
    assert device not in clinic().stdout
    assert clinic("--release", device).returncode == 1  # nothing left to free
    # its next online login gives it a slot again
    pc.runtime.engine.login("nurse1", DEMO_PASSWORD)
    assert pc.state.desk_slot() == 2


def test_a_desk_that_never_asked_online_numbers_nothing_until_its_next_online_login(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    pc = make_pc("display", "nurse1")  # logged in online without asking, as a build before slots did
    store = pc.runtime.store
    queue = first_queue(store, pc.state.campus_id)
    patient = free_patients(store, 1)[0]
    now = dt.datetime.now().astimezone()
    triage_server.stop()
    _offline(qtbot, pc)
    with pytest.raises(ValidationFailed) as refused:
        check_in_in_store(
            store, args=_args(queue.id, patient.id, now), slot=pc.state.desk_slot(), now=now, lang="zh_CN"
        )
    assert refused.value.code == "no_desk_slot" and "离线时不能发号" in refused.value.message
    triage_server.start()
    pc.state.ask_for_desk_slot()  # ``queue_desk_slot`` 1 in this PC's site.toml
    pc.runtime.engine.login("nurse1", DEMO_PASSWORD)
    assert pc.state.desk_slot() == 1 and pc.state.desk_slot_notice() == ""
    _entry_, slip = check_in_in_store(
        store, args=_args(queue.id, patient.id, now), slot=pc.state.desk_slot(), now=now, lang="zh_CN"
    )
    assert slip is not None and (int(slip.number.removeprefix(queue.prefix)) - 1) // 100 % 4 == 1  # slot 1
