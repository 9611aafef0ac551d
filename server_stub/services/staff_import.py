"""``clinic import staff``: a hospital's staff list applied like the other kinds (one audited batch,
idempotent, every PC pulls it), and one setup code per new person, returned once to whoever ran the
import and kept only as a slow hash (``setup_codes``). Passwords never come from a file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Connection, select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES
from server_stub.services import setup_codes
from server_stub.services.entities import to_entity, write_entities
from server_stub.services.import_file import ImportFile
from shared.domain.entities import Campus, Department, Entity, Staff
from shared.reference_io import export
from shared.reference_io.plan import ColumnMapping, ImportPlan
from shared.reference_io.staff import COLUMNS, TableDirectory, export_rows, plan_staff_import
from shared.reference_io.tables import Table

DEFAULT_CODE_TTL = dt.timedelta(hours=72)


def _all(conn: Connection, entity: type[Staff] | type[Campus] | type[Department]) -> list:  # type: ignore[type-arg]
    return [to_entity(entity, row) for row in conn.execute(select(ENTITY_TABLES[entity.KIND]))]


def _people(entities: Iterable[Entity]) -> list[Staff]:
    return [e for e in entities if isinstance(e, Staff)]


def directory(conn: Connection) -> TableDirectory:
    return TableDirectory(_all(conn, Campus), _all(conn, Department))


def plan_staff(
    conn: Connection,
    table: Table,
    *,
    mapping: ColumnMapping | None,
    retire_missing: bool,
    now: dt.datetime,
    lang: str,
) -> ImportPlan:
    return plan_staff_import(
        table,
        _all(conn, Staff),
        directory(conn),
        mapping=mapping,
        retire_missing=retire_missing,
        now=now,
        source=table.path.name,
        lang=lang,
    )


def import_staff(
    db: Database,
    path: Path,
    *,
    mapping: ColumnMapping | None,
    retire_missing: bool,
    dry_run: bool,
    username: str | None,
    staff_id: str | None,
    device_id: str | None,
    sheet: str | None,
    source_name: str | None,
    lang: str,
    code_ttl: dt.timedelta = DEFAULT_CODE_TTL,
) -> tuple[ImportPlan, bool, str, dict[str, str], dt.datetime | None]:
    """(plan, applied, file sha256, username -> setup code of each person added, the codes' expiry)."""
    file = ImportFile.read(path, source_name, sheet)
    table, now = file.table, file.now
    with db.read() as conn:
        plan = plan_staff(conn, table, mapping=mapping, retire_missing=retire_missing, now=now, lang=lang)
    if dry_run:
        return plan, False, file.digest, {}, None
    # the slow hashes before the write transaction, which must stay short
    issued = {staff.username: setup_codes.IssuedCode.make() for staff in _people(plan.added)}
    codes: dict[str, str] = {}
    expires_at = None
    with db.write() as conn:
        plan = plan_staff(conn, table, mapping=mapping, retire_missing=retire_missing, now=now, lang=lang)
        writes = plan.writes
        if writes:
            write_entities(conn, writes)
            for staff in _people(plan.added):
                code = issued.get(staff.username) or setup_codes.IssuedCode.make()
                expires_at = setup_codes.store_code(
                    conn,
                    staff_id=staff.id,
                    code_hash=code.code_hash,
                    now=now,
                    ttl=code_ttl,
                    issued_by=staff_id,
                )
                codes[staff.username] = code.code
            detail = {"setup_codes_issued": sorted(codes), **plan.summary()}
            file.audit_applied(
                conn, "staff", detail, username=username, staff_id=staff_id, device_id=device_id
            )
    return plan, bool(writes), file.digest, codes, expires_at


def export_staff(db: Database, path: Path) -> int:
    """Live staff to ``path`` (CSV or xlsx) as ``import_staff`` reads them back; no secret is exported."""
    with db.read() as conn:
        body = export_rows(_all(conn, Staff), _all(conn, Campus), _all(conn, Department))
    export.write(path, list(COLUMNS), body)
    return len(body)
