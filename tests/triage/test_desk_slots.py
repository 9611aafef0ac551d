"""Ticket numbers issued offline never collide: a triage desk's ``queue_desk_slot`` must be one of the
numbering plan's desk slots (not 0, the server's; not 5, which issues desk 1's numbers), checked by
``clinic config check``, at the app's start and before a number is taken; and a desk that finds
another PC numbering from its slot today stops instead of printing the same numbers."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from shared.domain.entities import QueueTicket
from shared.errors import Conflict, ValidationFailed
from shared.ids import new_id
from tests.support.server import ServerProcess
from tests.triage.support import first_queue, free_patients
from triage_desk import model
from triage_desk.check_in import check_in_in_store

ROOT = Path(__file__).resolve().parents[2]


def clinic(*args: str, site: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CLINIC_SITE_CONFIG": str(site),
        "CLINIC_USER_CONFIG": str(tmp_path / "user.toml"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("slot", "words"),
    [
        (0, "0 is the server's, for kiosks and phones"),
        (
            5,
            "Desk slot 5 does not exist (4 slots per queue, desks use 1 to 3): it would issue slot 1's numbers",
        ),
    ],
)
def test_config_check_and_the_triage_app_refuse_a_slot_that_is_no_desks(
    tmp_path: Path, slot: int, words: str
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f"queue_desk_slot = {slot}\n", encoding="utf-8")
    checked = clinic("config", "check", "--file", str(site), "--lang", "en", site=site, tmp_path=tmp_path)
    assert checked.returncode == 1, checked.stdout
    assert "queue_desk_slot: " in checked.stdout and words in checked.stdout

    started = clinic(
        "triage", "--lang", "en", "--data-folder", str(tmp_path / "data"), site=site, tmp_path=tmp_path
    )
    assert started.returncode == 2, (started.stdout, started.stderr)
    assert words in started.stderr


def test_a_pc_that_is_no_triage_desk_leaves_the_slot_out_and_a_desk_slot_is_fine(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('rooms = ["MAIN-NK-01"]\n', encoding="utf-8")
    assert clinic("config", "check", "--file", str(site), site=site, tmp_path=tmp_path).returncode == 0
    site.write_text("queue_desk_slot = 3\n", encoding="utf-8")
    assert clinic("config", "check", "--file", str(site), site=site, tmp_path=tmp_path).returncode == 0


def test_a_desk_never_numbers_from_a_bad_slot_or_one_another_pc_uses_today(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    first = make_pc("triage", "nurse1", slot=3)
    second = make_pc("triage", "nurse3", slot=3)  # IT gave both desks slot 3 by mistake
    now = dt.datetime.now().astimezone()
    queue = first_queue(first.runtime.store, first.runtime.campus_id)
    a, b, c = free_patients(first.runtime.store, 3)

    def args(patient: Any) -> dict[str, Any]:
        return {
            "id": new_id(),
            "queue_id": queue.id,
            "patient_id": patient.id,
            "day": model.local_day(now).isoformat(),
        }

    with pytest.raises(ValidationFailed) as bad:
        check_in_in_store(first.runtime.store, args=args(a), slot=0, now=now, lang="en")
    assert bad.value.code == "bad_desk_slot" and "0 is the server's" in bad.value.message

    _entry, slip = check_in_in_store(first.runtime.store, args=args(a), slot=3, now=now, lang="zh_CN")
    assert slip is not None and slip.number == f"{queue.prefix}301"
    # the second desk hears of it and goes on after it (as a new PC taking over a slot would)
    qtbot.waitUntil(lambda: _synced(first, second, slip.ticket_id), timeout=30_000)
    _entry, after = check_in_in_store(second.runtime.store, args=args(b), slot=3, now=now, lang="zh_CN")
    assert after is not None and after.number == f"{queue.prefix}302"
    # the first desk then sees another PC numbering from its slot alongside it, and stops
    qtbot.waitUntil(lambda: _synced(second, first, after.ticket_id), timeout=30_000)
    with pytest.raises(Conflict) as taken:
        check_in_in_store(first.runtime.store, args=args(c), slot=3, now=now, lang="en")
    assert (
        taken.value.code == "desk_slot_taken"
        and "is also issuing numbers from slot 3 today" in taken.value.message
    )
    # with its own slot it goes on
    _entry, other = check_in_in_store(first.runtime.store, args=args(c), slot=2, now=now, lang="zh_CN")
    assert other is not None and other.number == f"{queue.prefix}201"


def _synced(sender: Any, receiver: Any, ticket_id: str) -> bool:
    sender.runtime.network.wake()
    receiver.runtime.network.wake()
    return receiver.runtime.store.get(QueueTicket, ticket_id) is not None
