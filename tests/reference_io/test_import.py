"""``clinic import``: a hospital's HIS exports (a GB18030 CSV as Excel writes it, an xlsx workbook) with a
column mapping, previewed with every refusal named by row, applied in one audited batch that every PC
pulls, idempotent, retiring without deleting. Real files, a real SQLite database, the real command."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import create_engine, select, text

from server_stub.config import sqlite_url
from server_stub.db.tables import ENTITY_TABLES
from server_stub.seed.reference import read_csv
from tests.support.api import ApiUser
from tests.support.server import ServerProcess

HIS_HEADERS = ["药品编码", "通用名", "商品名", "规格", "剂型", "包装单位", "包装数量", "最小单位", "单位剂量",
               "剂量单位", "常用剂量", "给药途径", "频次", "零售价", "管制类别"]  # fmt: skip

MAPPING = """
[columns]
code = "药品编码"
generic_name = "通用名"
trade_name = "商品名"
spec = "规格"
form = "剂型"
pack_unit = "包装单位"
pack_qty = "包装数量"
min_unit = "最小单位"
dose_per_min_unit = "单位剂量"
dose_unit = "剂量单位"
default_dose = "常用剂量"
default_route = "给药途径"
default_frequency = "频次"
price = "零售价"
controlled_class = "管制类别"

[values.controlled_class]
"普通" = "none"
"麻醉药品" = "narcotic"
"精神药品二类" = "psychotropic_2"
"""


def his_row(code: str, name: str, *, price: str = "12.50", route: str = "po", pack_qty: str = "24",
            controlled: str = "普通") -> list[str]:  # fmt: skip
    return [code, name, "", "0.25g×24粒", "胶囊", "盒", pack_qty, "粒", "0.25", "g", "0.5", route, "tid",
            price, controlled]  # fmt: skip


def write_gb18030_csv(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")  # as Excel saves "CSV" on a Chinese Windows
    writer.writerow(HIS_HEADERS)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode("gb18030"))
    return path


def run_import(db: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "import", *map(str, args), "--db", str(db), "--show", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def drug_rows(db: Path) -> dict[str, dict[str, object]]:
    table = ENTITY_TABLES["drug"]
    engine = create_engine(sqlite_url(db))
    try:
        with engine.connect() as conn:
            return {row.code: dict(row._mapping) for row in conn.execute(select(table))}
    finally:
        engine.dispose()


@pytest.fixture
def db(demo_template: Path, tmp_path: Path) -> Path:
    from tests.conftest import copy_sqlite

    return copy_sqlite(demo_template, tmp_path / "server.db")


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "his_drugs.toml"
    path.write_text(MAPPING, encoding="utf-8")
    return path


def test_a_gb18030_csv_is_previewed_with_each_bad_row_named_and_nothing_applied(
    db: Path, mapping: Path, tmp_path: Path
) -> None:
    before = drug_rows(db)
    source = write_gb18030_csv(
        tmp_path / "his.csv",
        [
            his_row("HIS0001", "奥司他韦胶囊"),
            his_row("HIS0002", "氯雷他定片", price="十二元"),  # wrong type
            his_row("HIS0003", "布地奈德吸入剂", route="xyz"),  # unknown route code
            his_row("HIS0001", "奥司他韦胶囊（重复）"),  # duplicate code
            his_row("HIS0004", "吗啡缓释片", controlled="麻醉药品"),
            his_row("HIS0005", "坏包装", pack_qty="0"),  # out of range
        ],
    )
    done = run_import(db, "drug", source, "--mapping", mapping, "--dry-run")
    assert done.returncode == 1, done.stderr  # refusals make a non-zero exit
    out = done.stdout
    assert "drug: 2 added, 0 changed, 0 retired" in out and "4 refused" in out
    assert "+ HIS0001  奥司他韦胶囊" in out and "+ HIS0004  吗啡缓释片" in out
    assert "! row 3 HIS0002  price" in out
    assert "! row 4 HIS0003  default_route: unknown route code 'xyz'" in out
    assert "! row 5 HIS0001  duplicate code HIS0001: already in row 2" in out
    assert "! row 7 HIS0005  pack_qty" in out
    assert "dry run: nothing applied" in out
    assert drug_rows(db) == before


def test_an_import_applies_in_one_audited_batch_and_twice_changes_nothing(
    db: Path, mapping: Path, tmp_path: Path
) -> None:
    source = write_gb18030_csv(
        tmp_path / "his.csv",
        [his_row("HIS0001", "奥司他韦胶囊"), his_row("HIS0004", "吗啡缓释片", controlled="麻醉药品")],
    )
    first = run_import(db, "drug", source, "--mapping", mapping, "--by", "admin")
    assert first.returncode == 0, first.stderr + first.stdout
    assert "applied in one batch: 2 added, 0 changed, 0 retired" in first.stdout
    rows = drug_rows(db)
    assert rows["HIS0004"]["controlled_class"] == "narcotic" and rows["HIS0001"]["pinyin"] == "astwjn"

    engine = create_engine(sqlite_url(db))
    with engine.connect() as conn:
        audits = conn.execute(
            text("SELECT username, target, detail FROM audit_log WHERE action = 'reference.import'")
        ).all()
    engine.dispose()
    assert len(audits) == 1 and audits[0].username == "admin" and audits[0].target == "drug:his.csv"
    detail = audits[0].detail if isinstance(audits[0].detail, dict) else json.loads(audits[0].detail)
    assert detail["added"] == 2 and len(detail["sha256"]) == 64

    again = run_import(db, "drug", source, "--mapping", mapping)
    assert again.returncode == 0 and "0 added, 0 changed, 0 retired, 2 unchanged" in again.stdout
    assert "nothing to apply" in again.stdout
    assert drug_rows(db) == rows


def test_an_xlsx_change_of_price_is_shown_field_by_field_and_retiring_keeps_the_row(
    db: Path, tmp_path: Path
) -> None:
    demo = read_csv("drugs.csv")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(demo[0]))
    for n, row in enumerate(demo[:-1]):  # the last demo drug is missing from the hospital's file
        values: list[object] = list(row.values())
        if n == 0:
            values[list(row).index("price")] = 13.5  # a number cell, as Excel stores it
        values[list(row).index("pack_qty")] = int(row["pack_qty"])
        sheet.append(values)
    path = tmp_path / "drugs.xlsx"
    workbook.save(path)
    before = drug_rows(db)

    done = run_import(db, "drug", path, "--retire-missing")
    assert done.returncode == 0, done.stderr + done.stdout
    first, last = demo[0]["code"], demo[-1]["code"]
    assert f"~ {first}  price: {before[first]['price']} -> 13.5" in done.stdout
    assert f"- {last}  {demo[-1]['generic_name']}" in done.stdout
    assert f"0 added, 1 changed, 1 retired, {len(demo) - 2} unchanged, 0 refused" in done.stdout

    after = drug_rows(db)
    assert after[last]["voided"] and "retired by import drugs.xlsx" in str(after[last]["void_reason"])
    assert after[last]["generic_name"] == demo[-1]["generic_name"]  # still readable on old records
    assert after[first]["version"] == before[first]["version"] + 1


def test_an_imported_drug_reaches_a_pc_syncing_with_a_running_server(
    db: Path, mapping: Path, tmp_path: Path
) -> None:
    server = ServerProcess(sqlite_url(db), tmp_path / "server.log").start()
    doctor = ApiUser(server.url, "doctor1")
    try:
        _changes, cursor = doctor.pull_all()
        source = write_gb18030_csv(tmp_path / "his.csv", [his_row("HIS0100", "奥司他韦颗粒")])
        assert run_import(db, "drug", source, "--mapping", mapping).returncode == 0
        changes, _ = doctor.pull_all(cursor=cursor)
        new = [c for c in changes if c["kind"] == "drug"]
        assert [c["data"]["code"] for c in new] == ["HIS0100"]
        # the server's searchable copy follows the feed too (it polls for other writers' changes)
        deadline = time.monotonic() + 30
        codes: list[str] = []
        while time.monotonic() < deadline and "HIS0100" not in codes:
            found = doctor.http.get("/api/v1/reference/drug", params={"q": "astwkl"})
            codes = [d["code"] for d in found.json()]
            time.sleep(0.2)
        assert codes == ["HIS0100"]
    finally:
        doctor.close()
        server.stop()


EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "import_examples"


@pytest.mark.parametrize("kind", ["campus", "department", "room", "pharmacy", "queue", "drug", "frequency", "route", "diagnosis", "exam_item"])  # fmt: skip
def test_the_shipped_example_file_is_the_demo_data_exported_and_imports_unchanged(
    kind: str, db: Path, tmp_path: Path
) -> None:
    exported = tmp_path / f"{kind}.csv"
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "export", kind, str(exported), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert exported.read_bytes() == (EXAMPLES / f"{kind}.csv").read_bytes()
    again = run_import(db, kind, EXAMPLES / f"{kind}.csv", "--dry-run")
    assert (
        again.returncode == 0
        and " 0 added, 0 changed, 0 retired, " in again.stdout
        and "0 refused" in again.stdout
    )


def test_a_room_names_its_department_by_code_and_an_unknown_one_is_refused(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "rooms.csv"
    path.write_text(
        "campus_id,department_id,code,name,name_en,floor\n"
        "MAIN,MAIN-NK,MAIN-NK-99,内科99诊室,Internal Medicine Room 99,3F\n"
        "MAIN,NOPE,MAIN-XX-01,无科室诊室,,1F\n",
        encoding="utf-8",
    )
    done = run_import(db, "room", path)
    assert done.returncode == 1
    assert "! row 3 MAIN-XX-01  department_id: unknown department code 'NOPE'" in done.stdout
    assert "applied in one batch: 1 added" in done.stdout
    engine = create_engine(sqlite_url(db))
    with engine.connect() as conn:
        room = conn.execute(text("SELECT department_id, name_en FROM room WHERE code = 'MAIN-NK-99'")).one()
        department = conn.execute(text("SELECT id FROM department WHERE code = 'MAIN-NK'")).scalar_one()
    engine.dispose()
    assert room.department_id == department and room.name_en == "Internal Medicine Room 99"
