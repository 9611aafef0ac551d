"""``clinic import rx_rules`` / ``clinic export rx_rules``: the prescription rule table as one JSON file (the
form ``shared/demo_data/rx_rules.json`` has). An import adds a dated version (``rx_rule_sets.new_version``,
the rule ``reference.set_rx_rules`` applies) on the change feed, with one audit entry; it shows what
changes first, and a file equal to the rules in effect at its moment changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES
from server_stub.services.entities import to_entity, write_entities
from server_stub.services.import_file import audit_import
from shared.domain.entities import RxRuleSet
from shared.domain.prices import PAST_SLACK
from shared.domain.rx_rule_sets import new_version, parse_rules, rule_problems, rules_at, table_json
from shared.errors import SuiteError, ValidationFailed
from shared.ids import new_id


@dataclass(frozen=True)
class RulesImport:
    effective_from: dt.datetime
    changes: list[str] = field(default_factory=list)
    applied: bool = False
    file_sha256: str = ""


def read_rules_file(path: Path) -> dict[str, object]:
    """The file's rule table as data; a file that is not a valid table is refused naming the field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValidationFailed(
            f"{path.name}: not a JSON rule table ({error})", code="invalid_rules"
        ) from error
    problem = rule_problems(data)
    if problem is not None:
        raise ValidationFailed(f"{path.name}: {problem}", code="invalid_rules")
    return data


def _versions(conn: Connection) -> list[RxRuleSet]:
    return [to_entity(RxRuleSet, row) for row in conn.execute(select(ENTITY_TABLES[RxRuleSet.KIND]))]


def import_rules(
    db: Database,
    path: Path,
    *,
    effective_from: dt.datetime | None = None,
    dry_run: bool = False,
    username: str | None = None,
    staff_id: str | None = None,
    device_id: str | None = None,
    now: dt.datetime | None = None,
) -> RulesImport:
    """Plan (and unless ``dry_run`` apply, in one transaction) the rule table of ``path`` from
    ``effective_from`` (default: now; a time already past is refused) on. ``clinic import rx_rules`` and
    the administration API (``/admin/import/rx_rules``) both run this; ``username`` (``staff_id``,
    ``device_id``) is who runs it, recorded in the audit entry."""
    data = read_rules_file(path)
    table = parse_rules(data)
    now = now or dt.datetime.now(dt.UTC)
    effective = effective_from or now
    if effective < now - PAST_SLACK:
        raise SuiteError(
            f"the effective time {effective.isoformat()} has passed: rules apply from now or a later time",
            code="rules_in_past",
        )
    effective = max(effective, now)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with db.read() if dry_run else db.write() as conn:
        row, changes = new_version(
            _versions(conn), table, effective, version_id=new_id(), set_by=None, now=now, note=path.name
        )
        if row is None or dry_run:
            return RulesImport(effective, changes, False, digest)
        write_entities(conn, [row])
        audit_import(
            conn,
            at=now,
            target=f"rx_rules:{path.name}",
            file=(path.name, digest),
            detail={"effective_from": effective.isoformat(), "changes": changes[:50]},
            username=username,
            staff_id=staff_id,
            device_id=device_id,
        )
    return RulesImport(effective, changes, True, digest)


def export_rules(db: Database, path: Path, *, moment: dt.datetime | None = None) -> None:
    """The rule table in effect at ``moment`` (default: now) to ``path``, in the import's form."""
    with db.read() as conn:
        table = rules_at(_versions(conn), moment or dt.datetime.now(dt.UTC))
    text = json.dumps(table_json(table), ensure_ascii=False, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
