"""Apply a planned reference-data import on the server: every write of the plan in one transaction, on
the change feed (so every PC picks it up), with one audit entry for the batch. Nothing is written when
the plan changes nothing, so importing the same file twice leaves the database as it was."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from sqlalchemy import Connection, select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES
from server_stub.services.entities import to_entity, write_entities
from server_stub.services.import_file import ImportFile
from shared.domain.code_sets import SITE_SETTINGS_ID, chosen_code_set
from shared.domain.entities import ENTITY_BY_KIND, Diagnosis, Drug, Entity, SiteSettings, Staff
from shared.domain.prices import price_at
from shared.reference_io import export
from shared.reference_io.plan import KINDS, Change, ColumnMapping, ImportPlan, plan_import
from shared.reference_io.tables import Table


@dataclass(frozen=True)
class ImportRun:
    plan: ImportPlan
    applied: bool
    file_sha256: str
    # staff imports: username -> the one-time setup code of each person added (shown once, never stored)
    setup_codes: dict[str, str] = field(default_factory=dict)
    setup_codes_expire_at: dt.datetime | None = None


def _all(conn: Connection, kind: str) -> list[Entity]:
    table = ENTITY_TABLES[kind]
    entity_type = ENTITY_BY_KIND[kind]
    return [to_entity(entity_type, row) for row in conn.execute(select(table))]


def _codes(conn: Connection, kind: str) -> dict[str, str]:
    """Live code -> id of ``kind``."""
    table = ENTITY_TABLES[kind]
    live = select(table.c.code, table.c.id).where(table.c.voided.is_(False))
    return {code: entity_id for code, entity_id in conn.execute(live)}


def plan_from_database(
    conn: Connection,
    kind: str,
    table: Table,
    *,
    mapping: ColumnMapping | None,
    retire_missing: bool,
    now: dt.datetime,
    lang: str = "en",
    code_set: str | None = None,
) -> ImportPlan:
    """``code_set`` (diagnoses): the set the rows go into; without it and without a ``code_set`` column
    in the file, the site's chosen set (``SiteSettings``), else the default set."""
    spec = KINDS[kind]
    known = {other: _codes(conn, other) for other in set(spec.references.values())}
    columns = (mapping or ColumnMapping()).resolve(spec, table.headers)
    if kind == "diagnosis" and code_set is None and "code_set" not in columns:
        code_set = chosen_code_set(_site_settings(conn))
    return plan_import(
        spec,
        table,
        _all(conn, kind),
        mapping=mapping,
        known_codes=known,
        retire_missing=retire_missing,
        now=now,
        source=table.path.name,
        lang=lang,
        code_set=code_set,
    )


def _site_settings(conn: Connection) -> SiteSettings | None:
    table = ENTITY_TABLES[SiteSettings.KIND]
    row = conn.execute(select(table).where(table.c.id == SITE_SETTINGS_ID)).first()
    return to_entity(SiteSettings, row) if row is not None else None


def import_file(
    db: Database,
    kind: str,
    path: Path,
    *,
    mapping: ColumnMapping | None = None,
    retire_missing: bool = False,
    dry_run: bool = False,
    username: str | None = None,
    sheet: str | None = None,
    staff_id: str | None = None,
    device_id: str | None = None,
    source_name: str | None = None,
    lang: str = "en",
    code_set: str | None = None,
    setup_code_ttl: dt.timedelta | None = None,
) -> ImportRun:
    """Plan the import of ``path`` against the database and, unless ``dry_run``, apply it atomically.
    ``username`` (``staff_id``, ``device_id``) is who runs it, recorded in the audit entry with the
    file's SHA-256; ``source_name`` is the file's name as its owner knows it (default: ``path``'s);
    refusal reasons are in ``lang``. ``staff`` is planned by its own rule and issues setup codes
    (``services.staff_import``), valid for ``setup_code_ttl``."""
    if kind == "staff":
        from server_stub.services import staff_import

        plan, applied, digest, codes, expires = staff_import.import_staff(
            db,
            path,
            mapping=mapping,
            retire_missing=retire_missing,
            dry_run=dry_run,
            username=username,
            staff_id=staff_id,
            device_id=device_id,
            sheet=sheet,
            source_name=source_name,
            lang=lang,
            code_ttl=staff_import.DEFAULT_CODE_TTL if setup_code_ttl is None else setup_code_ttl,
        )
        return ImportRun(plan, applied, digest, codes, expires)
    if kind not in KINDS:
        raise KeyError(kind)
    file = ImportFile.read(path, source_name, sheet)
    table, now = file.table, file.now

    def planned(conn: Connection) -> ImportPlan:
        return plan_from_database(
            conn,
            kind,
            table,
            mapping=mapping,
            retire_missing=retire_missing,
            now=now,
            lang=lang,
            code_set=code_set,
        )

    if dry_run:
        with db.read() as conn:
            plan = planned(conn)
        return ImportRun(plan, False, file.digest)
    with db.write() as conn:
        plan = planned(conn)
        writes = plan.writes
        if writes:
            write_entities(conn, writes)
            detail = {**({"code_set": code_set} if code_set else {}), **plan.summary()}
            file.audit_applied(conn, kind, detail, username=username, staff_id=staff_id, device_id=device_id)
    return ImportRun(plan, bool(writes), file.digest)


def _label(entity: object) -> str:
    if isinstance(entity, Staff):
        return entity.name
    for name in ("generic_name", "name_zh", "code"):
        value = getattr(entity, name, "")
        if value:
            return str(value)
    return ""


def _what_changed(change: Change, name: str) -> str:
    if name == "price_changes" and isinstance(change.after, Drug) and change.after.price_changes:
        dated = change.after.price_changes[-1]
        was = price_at(cast(Drug, change.before), dated.effective_from)
        return f"price: {was} -> {dated.price} (from {dated.effective_from.isoformat(timespec='seconds')})"
    return f"{name}: {getattr(change.before, name)!s} -> {getattr(change.after, name)!s}"


def _code(entity: object) -> str:
    """A row's key as the plan shows it: a code (a diagnosis' with its set), a person's username."""
    code = str(getattr(entity, "code", "") or getattr(entity, "username", ""))
    return f"{code} [{entity.code_set}]" if isinstance(entity, Diagnosis) else code


def plan_lines(plan: ImportPlan) -> dict[str, list[tuple[str, ...]]]:
    """Section -> rows of (row, code, what): how a plan is shown, by ``clinic import``, its report and
    the import endpoint alike (a diagnosis' code with its set)."""
    return {
        "added": [("", _code(e), _label(e)) for e in plan.added],
        "changed": [
            ("", _code(c.after), "; ".join(_what_changed(c, f) for f in c.fields)) for c in plan.changed
        ],
        "retired": [("", _code(e), _label(e)) for e in plan.retired],
        "refused": [(str(r.row), r.code, r.reason) for r in plan.refused],
    }


def export_file(db: Database, kind: str, path: Path, *, code_set: str | None = None) -> int:
    """Write ``kind``'s live rows to ``path`` (CSV or xlsx) as ``import_file`` reads them (diagnoses: of
    ``code_set`` only when given); returns the number of rows."""
    if kind == "staff":
        from server_stub.services.staff_import import export_staff

        return export_staff(db, path)
    spec = KINDS[kind]
    with db.read() as conn:
        entities = _all(conn, kind)
        if code_set is not None:
            entities = [e for e in entities if getattr(e, "code_set", None) == code_set]
        codes_by_id = {
            other: {entity_id: code for code, entity_id in _codes(conn, other).items()}
            for other in set(spec.references.values())
        }
    body = export.rows(spec, entities, codes_by_id)
    export.write(path, export.columns(spec), body)
    return len(body)
