"""Retention (410 after compaction) and the audit chain (clinic audit-verify) against a real database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess


def clinic(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_a_cursor_older_than_retention_gets_410_with_a_clear_body(server: ServerProcess) -> None:
    nurse = ApiUser(server.url, "nurse1")
    _, cursor = nurse.pull_all()
    nurse.push_one("patient.register", patient_args())
    assert clinic("sync-compact", "--db", server.db_url).returncode == 0
    response = nurse.http.get("/api/v1/sync/pull", params={"cursor": cursor})
    assert response.status_code == 410
    body = response.json()
    assert body["code"] == "cursor_expired" and body["detail"]["min_cursor"] > cursor
    assert "重新初始化" in body["message"]
    assert nurse.http.get("/api/v1/sync/bootstrap").status_code == 200


def _db_path(url: str) -> str:
    return url.split("///", 1)[1]


def test_audit_verify_passes_on_an_untouched_chain(server: ServerProcess) -> None:
    ApiUser(server.url, "nurse1").push_one("patient.register", patient_args())
    result = clinic("audit-verify", "--db", server.db_url)
    assert result.returncode == 0 and "intact" in result.stdout


def test_audit_verify_detects_an_edited_entry(server: ServerProcess) -> None:
    ApiUser(server.url, "nurse1").push_one("patient.register", patient_args())
    with sqlite3.connect(_db_path(server.db_url)) as conn:
        conn.execute("UPDATE audit_log SET outcome = 'ok' WHERE action = 'auth.login' AND id = 2")
        conn.execute(
            "UPDATE audit_log SET username = 'someone-else' WHERE id = (SELECT MAX(id) FROM audit_log)"
        )
    result = clinic("audit-verify", "--db", server.db_url)
    assert result.returncode == 1 and "edited" in result.stdout


def test_audit_verify_detects_deleted_entries_in_the_middle_and_at_the_end(server: ServerProcess) -> None:
    user = ApiUser(server.url, "nurse1")
    for _ in range(3):
        user.push_one("patient.register", patient_args())
    path = _db_path(server.db_url)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM audit_log WHERE id = 3")
    middle = clinic("audit-verify", "--db", server.db_url)
    assert middle.returncode == 1 and "missing" in middle.stdout
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM audit_log WHERE id >= 3")
    tail = clinic("audit-verify", "--db", server.db_url)
    assert tail.returncode == 1 and "newest entries deleted" in tail.stdout


def test_every_login_and_mutation_is_audited_with_who_what_and_device(server: ServerProcess) -> None:
    user = ApiUser(server.url, "nurse2", device_id="desk-3")
    outcome = user.push_one("patient.register", patient_args())
    with sqlite3.connect(_db_path(server.db_url)) as conn:
        rows = conn.execute(
            "SELECT username, device_id, action, outcome, target FROM audit_log ORDER BY id DESC LIMIT 2"
        ).fetchall()
    assert rows[0] == ("nurse2", "desk-3", "mutation.patient.register", "applied", outcome["mutation_id"])
    assert rows[1][:4] == ("nurse2", "desk-3", "auth.login", "ok")
