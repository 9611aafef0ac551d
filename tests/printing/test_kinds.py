"""One vocabulary of printed documents, and one interpreter of printer targets for all three apps."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from shared.domain.entities import PrintDocument
from shared.printing.kinds import KINDS, kinds_for, record_document
from shared.site import DocumentKind

ROOT = Path(__file__).resolve().parents[2]


def test_the_registry_is_the_site_vocabulary_and_every_kind_is_recordable() -> None:
    assert set(KINDS) == set(get_args(DocumentKind))
    assert {k.record for k in KINDS.values()} <= set(get_args(PrintDocument))
    assert record_document("drug_label") == "label" and record_document("report") == "stock_report"
    assert record_document("sales_report") == "sales_report"  # a record name is taken as it is
    with pytest.raises(ValueError):
        record_document("fax")


def test_each_app_prints_its_own_kinds() -> None:
    assert [k.key for k in kinds_for("workstation")] == ["prescription", "visit_note"]
    assert [k.key for k in kinds_for("triage")] == ["ticket"]
    assert {k.key for k in kinds_for("pharmacy")} == {
        "prescription",
        "pick_list",
        "drug_label",
        "receipt",
        "waybill",
        "report",
    }
    assert all(k.name("zh_CN") and k.name("en") and k.name("zh_TW") for k in KINDS.values())


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("app", ["workstation", "pharmacy_desk", "triage_desk"])
def test_no_app_interprets_printer_targets_itself(app: str) -> None:
    """Targets are read in one place (shared.printing.router, through the shared print queue): an app that
    sends bytes itself is a second interpreter (a ``win:`` printer failed on the doctor's PC that way)."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in _imports(path)
            if name.startswith("shared.printing.transports") or name == "shared.printing.router.send"
        )
        for path in (ROOT / app).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}
