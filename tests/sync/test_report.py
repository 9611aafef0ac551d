"""``clinic sync-report`` exports a PC's sync state for support, without patient data unless asked."""

from __future__ import annotations

import json
from pathlib import Path

from shared.cli import main
from tests.store.helpers import open_store


def test_the_report_lists_the_outbox_cursor_identity_and_integrity(tmp_path: Path) -> None:
    db = tmp_path / "workstation.db"
    with open_store(db) as store:
        store.record(
            "patient.register", {"id": "p-1", "name": "张三", "sex": "M", "birth_date": "1970-01-01"}
        )
        client_id = store.client_id
    out = tmp_path / "report.json"
    assert main(["sync-report", "--app", "workstation", "--db", str(db), "--out", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["integrity_check"] == ["ok"]
    assert report["identity"]["client_id"] == client_id
    assert report["counts"]["outbox"] == {"pending": 1}
    [entry] = report["unresolved"]
    assert entry["name"] == "patient.register" and "args" not in entry
    assert "张三" not in out.read_text(encoding="utf-8"), "no patient data by default"
    assert main(["sync-report", "--db", str(db), "--out", str(out), "--include-args"]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["unresolved"][0]["args"]["name"] == "张三"


def test_the_report_for_a_missing_database_fails_plainly(tmp_path: Path) -> None:
    assert main(["sync-report", "--db", str(tmp_path / "nope.db")]) == 2
