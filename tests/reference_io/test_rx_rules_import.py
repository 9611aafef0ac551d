"""``clinic import rx_rules`` / ``clinic export rx_rules``: the prescription rule table as a JSON file, the
diff printed before anything is applied, applied as a dated version, idempotent, a bad file refused naming
the field. The real command on a real SQLite copy of the demo database."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from server_stub.config import sqlite_url
from server_stub.db.tables import ENTITY_TABLES

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "import_examples" / "rx_rules.json"


@pytest.fixture
def db(demo_template: Path, tmp_path: Path) -> Path:
    from tests.conftest import copy_sqlite

    return copy_sqlite(demo_template, tmp_path / "server.db")


def clinic(db: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *map(str, args), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def versions(db: Path) -> list[dict[str, object]]:
    table = ENTITY_TABLES["rx_rule_set"]
    engine = create_engine(sqlite_url(db))
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.effective_from))]
    finally:
        engine.dispose()


def tighter(tmp_path: Path) -> Path:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["types"]["ordinary"]["max_days"] = 5
    data["max_drugs_per_rx"] = 4
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_the_shipped_example_is_the_demo_exported_and_imports_unchanged(db: Path, tmp_path: Path) -> None:
    exported = tmp_path / "rx_rules.json"
    done = clinic(db, "export", "rx_rules", exported)
    assert done.returncode == 0, done.stderr
    assert exported.read_bytes() == EXAMPLE.read_bytes()
    again = clinic(db, "import", "rx_rules", EXAMPLE)
    assert again.returncode == 0, again.stderr
    assert "rx_rules: 0 changed" in again.stdout and "nothing to apply" in again.stdout
    assert len(versions(db)) == 1  # the demo's shipped version only


def test_a_dry_run_prints_the_diff_and_applies_nothing_and_applying_twice_changes_nothing(
    db: Path, tmp_path: Path
) -> None:
    source = tighter(tmp_path)
    dry = clinic(db, "import", "rx_rules", source, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "ordinary.max_days 7 → 5" in dry.stdout and "max_drugs_per_rx 5 → 4" in dry.stdout
    assert "rx_rules: 2 changed" in dry.stdout and "dry run: nothing applied" in dry.stdout
    assert len(versions(db)) == 1

    applied = clinic(db, "import", "rx_rules", source, "--by", "admin")
    assert applied.returncode == 0 and "applied as a new version" in applied.stdout, applied.stderr
    rows = versions(db)
    assert len(rows) == 2 and rows[-1]["rules"]["types"]["ordinary"]["max_days"] == 5  # type: ignore[index]

    twice = clinic(db, "import", "rx_rules", source)
    assert twice.returncode == 0 and "rx_rules: 0 changed" in twice.stdout, twice.stderr
    assert len(versions(db)) == 2

    exported = tmp_path / "now.json"
    assert clinic(db, "export", "rx_rules", exported).returncode == 0
    assert json.loads(exported.read_text(encoding="utf-8"))["types"]["ordinary"]["max_days"] == 5


def test_a_version_for_later_is_stored_but_the_rules_of_now_stay(db: Path, tmp_path: Path) -> None:
    later = (dt.datetime.now().astimezone() + dt.timedelta(days=3)).replace(microsecond=0)
    done = clinic(db, "import", "rx_rules", tighter(tmp_path), "--effective-from", later.isoformat())
    assert done.returncode == 0, done.stderr
    assert versions(db)[-1]["effective_from"] == later.astimezone(dt.UTC)
    exported = tmp_path / "now.json"
    assert clinic(db, "export", "rx_rules", exported).returncode == 0
    assert exported.read_bytes() == EXAMPLE.read_bytes()


def test_a_time_already_past_is_refused(db: Path, tmp_path: Path) -> None:
    done = clinic(db, "import", "rx_rules", tighter(tmp_path), "--effective-from", "2020-01-01T00:00")
    assert done.returncode == 2 and "has passed" in done.stderr
    assert len(versions(db)) == 1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["types"]["ordinary"].update(max_days="seven"), "types.ordinary.max_days"),
        (lambda d: d["types"].update(weekly=d["types"]["ordinary"]), "types.weekly"),
        (lambda d: d.update(max_drugs_per_rx=[5]), "max_drugs_per_rx"),
    ],
)
def test_a_bad_file_is_refused_naming_the_field_and_nothing_is_written(  # type: ignore[no-untyped-def]
    db: Path, tmp_path: Path, change, named: str
) -> None:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    change(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    done = clinic(db, "import", "rx_rules", bad)
    assert done.returncode == 2 and named in done.stderr, done.stderr
    assert len(versions(db)) == 1


def test_a_file_that_is_not_json_is_refused(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "rules.json"
    bad.write_text("ordinary,7\n", encoding="utf-8")
    done = clinic(db, "import", "rx_rules", bad)
    assert done.returncode == 2 and "not a JSON rule table" in done.stderr
