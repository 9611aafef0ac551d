"""Every view of a patient's record is audited on the nurse's desk too: choosing a patient at check-in
records ``patient.view`` in the outbox once (a refresh of the same patient is not a new view); the server
audits it when pushed (tests/security/test_patient_need_to_know.py)."""

from __future__ import annotations

from typing import Any

from pytestqt.qtbot import QtBot

from shared.store.store import LocalStore
from tests.support.server import ServerProcess
from tests.triage.support import free_patients
from tests.triage.test_desk_flow import open_desk, search_for


def views(store: LocalStore) -> list[tuple[str, str]]:
    return [(e.args["patient_id"], e.args["screen"]) for e in store.outbox() if e.name == "patient.view"]


def test_choosing_a_patient_at_check_in_records_one_view_per_patient(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    pc = make_pc()
    window = open_desk(qtbot, pc)
    store = pc.runtime.store
    first, second = free_patients(store, 2)
    search_for(qtbot, window, first.name, first.id)
    qtbot.waitUntil(lambda: (first.id, "check_in") in views(store), timeout=20_000)
    search_for(qtbot, window, first.name, first.id)  # the same patient again: not a new view
    search_for(qtbot, window, second.name, second.id)
    qtbot.waitUntil(lambda: (second.id, "check_in") in views(store), timeout=20_000)
    assert views(store).count((first.id, "check_in")) == 1
