"""``clinic import staff`` / ``clinic export staff`` as IT runs them on the server: the shipped example
is the demo's staff exported and imports unchanged; a GB18030 file from a HIS with a mapping adds people
and prints each new person's setup code once (and into ``--report``), never storing it in plain; a
password column is refused whole."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, select

from server_stub.config import sqlite_url
from server_stub.db.tables import staff_setup_code
from tests.reference_io.test_import import EXAMPLES, db, run_import  # noqa: F401 - the db fixture

HIS_HEADERS = ["工号", "姓名", "角色", "职称", "院区", "科室", "处方权", "特殊药品处方权"]


def write_his_file(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="gb18030", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HIS_HEADERS)
        writer.writerows(rows)
    return path


MAPPING = """
[columns]
username = "工号"
name = "姓名"
roles = "角色"
title = "职称"
campus = "院区"
department = "科室"
prescribing_rights = "处方权"
controlled_rights = "特殊药品处方权"

[values.roles]
"医生" = "doctor"
"护士" = "nurse"
"""


def test_the_shipped_staff_example_is_the_demo_exported_and_imports_unchanged(
    db: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    exported = tmp_path / "staff.csv"
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "export", "staff", str(exported), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert exported.read_bytes() == (EXAMPLES / "staff.csv").read_bytes()
    assert "password" not in exported.read_text(encoding="utf-8-sig").splitlines()[0]
    again = run_import(db, "staff", EXAMPLES / "staff.csv", "--dry-run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "staff: 0 added, 0 changed, 0 retired, " in again.stdout and "0 refused" in again.stdout


def test_a_his_staff_file_adds_people_with_setup_codes_shown_once_and_stored_only_hashed(
    db: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = write_his_file(
        tmp_path / "his_staff.csv",
        [
            ["D1001", "陈静", "医生", "主治医师", "MAIN", "MAIN-NK", "ordinary", "narcotic"],
            ["N2001", "刘洋", "护士", "护师", "EAST", "EAST-FZ", "", ""],
            ["D1002", "吴昊", "医生", "", "MAIN", "NOPE", "", ""],
        ],
    )
    mapping = tmp_path / "staff_mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    preview = run_import(db, "staff", path, "--mapping", mapping, "--dry-run")
    assert preview.returncode == 1  # a refused row
    assert "staff: 2 added, 0 changed, 0 retired, 0 unchanged, 1 refused" in preview.stdout
    assert "row 4 D1002" in preview.stdout and "NOPE" in preview.stdout
    assert "setup codes" not in preview.stdout

    report = tmp_path / "report.csv"
    applied = run_import(db, "staff", path, "--mapping", mapping, "--report", report)
    lines = applied.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("setup codes"))
    shown = dict(line.split() for line in lines[start + 1 : start + 3])
    assert set(shown) == {"D1001", "N2001"}
    with report.open(encoding="utf-8-sig") as handle:
        in_report = {r["code"]: r["detail"] for r in csv.DictReader(handle) if r["section"] == "setup_code"}
    assert in_report == shown
    engine = create_engine(sqlite_url(db))
    try:
        with engine.connect() as conn:
            stored = [row.code_hash for row in conn.execute(select(staff_setup_code))]
    finally:
        engine.dispose()
    assert len(stored) == 2 and all(h.startswith("$argon2id$") for h in stored)
    assert not any(code.replace("-", "") in h or code in h for code in shown.values() for h in stored)
    twice = run_import(db, "staff", path, "--mapping", mapping)
    assert "0 added, 0 changed, 0 retired, 2 unchanged" in twice.stdout and "setup codes" not in twice.stdout


def test_a_staff_file_with_a_password_column_is_refused(db: Path, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "staff.csv"
    path.write_text("username,name,roles,password\nzhang3,张三,nurse,Secret-2026\n", encoding="utf-8")
    refused = run_import(db, "staff", path)
    assert refused.returncode == 2
    assert "passwords are never imported" in refused.stderr
