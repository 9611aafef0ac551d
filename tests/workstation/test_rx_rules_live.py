"""The doctor's prescribing screen picks up changed prescription rules live: with a 6-day ordinary line on
screen, an administrator tightens ordinary prescriptions to 5 days (and their default to 2); after the PC's
next pull the same line is blocked and a new line gets the new default. A real server, a real workstation."""

from __future__ import annotations

from typing import Any

from pytestqt.qtbot import QtBot

from shared.domain.rx_rule_sets import table_json, with_limits
from shared.domain.rx_rules import default_rules
from shared.ids import new_id
from tests.support.api import ApiUser
from tests.support.server import ServerProcess
from tests.workstation.conftest import Clinic
from tests.workstation.test_consult_with_server import add_drug, call_and_start, ready


def test_the_prescribing_screen_checks_by_new_rules_once_the_pc_has_them(
    qtbot: QtBot, window: Any, runtime: Any, clinic: Clinic, server: ServerProcess
) -> None:
    ready(qtbot, window, runtime)
    call_and_start(qtbot, window)
    window.consult.tabs.setCurrentWidget(window.prescribing)
    rx = window.prescribing
    add_drug(qtbot, window, "盐酸氨溴", "盐酸氨溴索片")
    assert rx.lines[0].days == 3  # the shipped default
    rx.table.item(0, 5).setText("6")
    assert rx.lines[0].days == 6
    assert rx.plan is not None and not rx.plan.blocking()

    tighter = with_limits(default_rules(), days={"ordinary": (5, 2)})
    admin = ApiUser(server.url, "admin")
    done = admin.push_one("reference.set_rx_rules", {"id": new_id(), "rules": table_json(tighter)})
    assert done["status"] == "applied", done

    runtime.network.wake()
    qtbot.waitUntil(lambda: rx.formulary is not None and len(rx.formulary.rule_sets) == 2, timeout=30_000)
    qtbot.waitUntil(lambda: rx.plan is not None and bool(rx.plan.blocking()), timeout=10_000)
    assert [f.finding.code for f in rx.plan.blocking()] == ["rx.days_exceeded"]
    assert not rx.sign_button.isEnabled()
    add_drug(qtbot, window, "mtss", "蒙脱石散")
    assert rx.lines[-1].days == 2  # the new default
