"""Every state a user can read goes through the translation (``shared.i18n.state_name``): a reject message
said "当前状态为 dispensed，不能作废"."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path
from typing import get_args

import pytest

from shared.domain.entities import RxStatus, TicketStatus
from shared.domain.pickup import issue_pickup_code
from shared.errors import BusinessRuleViolation
from shared.i18n import state_name, state_names

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "server_stub", "workstation", "pharmacy_desk", "triage_desk")
MESSAGE_FUNCTIONS = {"t", "tr", "_t"}
STATE_KEYWORDS = {"status", "state", "current", "target", "from_status", "to_status"}
RAW_STATE = re.compile(r"(^|_)(status|state)$")


def _raw_states(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name not in MESSAGE_FUNCTIONS:
            continue
        for keyword in node.keywords:
            value = keyword.value
            raw = (isinstance(value, ast.Attribute) and RAW_STATE.search(value.attr)) or (
                isinstance(value, ast.Name) and value.id.endswith("_status")
            )
            if keyword.arg in STATE_KEYWORDS and raw:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {keyword.arg}={ast.unparse(value)}")
    return found


def test_no_message_is_formatted_with_a_raw_state() -> None:
    offenders = [
        hit for package in PACKAGES for path in (ROOT / package).rglob("*.py") for hit in _raw_states(path)
    ]
    assert offenders == []


@pytest.mark.parametrize(("kind", "states"), [("prescription", RxStatus), ("queue_ticket", TicketStatus)])
def test_every_state_has_a_name_in_each_language(kind: str, states: object) -> None:
    assert set(state_names(kind)) == set(get_args(states))
    for state in get_args(states):
        for lang in ("zh_CN", "en", "zh_TW"):
            assert state_name(kind, state, lang) and (
                lang == "en" or not re.search("[a-z]", state_name(kind, state, lang))
            )


def test_a_refused_pickup_code_names_the_state_in_chinese() -> None:
    with pytest.raises(BusinessRuleViolation) as refused:
        issue_pickup_code("rx-1", rx_status="dispensed", paid=True, now=dt.datetime(2026, 12, 6, 9, 0))
    assert "已发药" in refused.value.message and "dispensed" not in refused.value.message
    assert state_name("prescription", "no_such_state") == "no_such_state"  # never blank
