"""Retention (410 after compaction) and the audit chain (clinic audit-verify) against a real database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

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


def _rewrite_and_rechain(db_url: str, entry_id: int, **changes: str) -> None:
    """What a database writer can do without the key: change an entry, then recompute every plain
    SHA-256 link from it to the head (the scheme's code is public), so the chain looks whole."""
    import hashlib

    import sqlalchemy as sa

    from server_stub.db.tables import audit_head, audit_log
    from server_stub.services.audit import _canonical

    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(audit_log).where(audit_log.c.id == entry_id).values(**changes))
            prev = conn.execute(sa.select(audit_log.c.hash).where(audit_log.c.id == entry_id - 1)).scalar()
            prev_hash = prev or "0" * 64
            rows = conn.execute(
                sa.select(audit_log).where(audit_log.c.id >= entry_id).order_by(audit_log.c.id)
            )
            for row in rows.mappings().all():
                new_hash = hashlib.sha256((prev_hash + _canonical(dict(row))).encode()).hexdigest()
                conn.execute(
                    sa.update(audit_log)
                    .where(audit_log.c.id == row["id"])
                    .values(prev_hash=prev_hash, hash=new_hash)
                )
                prev_hash = new_hash
            conn.execute(sa.update(audit_head).where(audit_head.c.id == 1).values(last_hash=prev_hash))
    finally:
        engine.dispose()


def _verify(server: ServerProcess) -> subprocess.CompletedProcess[str]:
    key = server.env.get("CLINIC_AUDIT_KEY_FILE")
    return clinic("audit-verify", "--db", server.db_url, *(["--key-file", key] if key else []))


def test_audit_verify_detects_a_rewrite_whose_hashes_were_recomputed(any_server: ServerProcess) -> None:
    import sqlalchemy as sa

    nurse = ApiUser(any_server.url, "nurse1")
    nurse.push_one("patient.register", patient_args())
    engine = sa.create_engine(any_server.db_url)
    with engine.connect() as conn:
        entry_id = conn.execute(
            sa.text("SELECT MAX(id) FROM audit_log WHERE action = 'mutation.patient.register'")
        ).scalar_one()
    engine.dispose()
    intact = _verify(any_server)
    assert intact.returncode == 0 and "sealed with key" in intact.stdout, intact.stdout
    _rewrite_and_rechain(any_server.db_url, entry_id, username="doctor7", staff_id="someone-else")
    result = _verify(any_server)
    assert result.returncode == 1, result.stdout
    assert f"entry {entry_id}: not sealed with the audit key" in result.stdout


def test_entries_from_before_the_key_are_verified_as_legacy_up_to_its_anchor(server: ServerProcess) -> None:
    ApiUser(server.url, "nurse1").push_one("patient.register", patient_args())
    intact = clinic("audit-verify", "--db", server.db_url)
    assert intact.returncode == 0 and " legacy unkeyed" in intact.stdout
    assert " 0 legacy" not in intact.stdout and "WARNING" not in intact.stdout  # the seeding's entries
    _rewrite_and_rechain(server.db_url, 1, outcome="rewritten")
    result = clinic("audit-verify", "--db", server.db_url)
    assert result.returncode == 1 and "anchored when the audit key was made" in result.stdout


def test_the_audit_key_lives_outside_the_database_readable_by_its_owner_only(server: ServerProcess) -> None:
    import base64
    import json
    import os
    import stat

    path = Path(_db_path(server.db_url))
    key_file = path.with_name(path.name + ".audit-key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 or os.name != "posix"
    key = base64.b64decode(json.loads(key_file.read_text())["key"])
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    assert key not in path.read_bytes() and key.hex().encode() not in path.read_bytes()
