"""Rules that every app and the server share have one home in shared/ (they existed two or three times and
disagreed): print records, money, printer targets."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "server_stub", "workstation", "pharmacy_desk", "triage_desk")


def _functions(name: str) -> dict[str, ast.FunctionDef]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module-level functions
                if isinstance(node, ast.FunctionDef) and node.name == name:
                    found[str(path.relative_to(ROOT))] = node
    return found


def _calls(node: ast.AST) -> set[str]:
    return {
        call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
    }


def test_print_records_have_one_home() -> None:
    # the mutation's rule (run by the server and the client) and the client's one way to record a print
    assert set(_functions("record_print")) == {
        "shared/domain/mutations/printing.py",
        "shared/printing/records.py",
    }
    assert set(_functions("printed_before")) == {"shared/printing/records.py"}


def test_every_money_helper_is_the_one_rule() -> None:
    helpers = _functions("money")
    assert helpers, "no money helpers found"
    for path, node in helpers.items():
        assert _calls(node) & {"round_money", "format_money"}, f"{path} rounds money its own way"


def test_one_printer_target_interpreter() -> None:
    """Only the router reads a target's scheme; apps and the settings screen ask it."""
    readers = {path for path in _functions("send") if "printing" in path}
    assert readers == {"shared/printing/router.py"}
    assert set(_functions("send_pdf")) == set() and set(_functions("send_slip")) == set()
