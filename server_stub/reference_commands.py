"""``clinic import KIND FILE``: bring a hospital's own reference data (drugs, frequencies, routes, ICD-10
codes, lab and imaging items) in from its HIS exports, with a preview of every change before anything is
applied. ``rx_rules`` is the prescription rule table, one JSON file, applied as a dated version."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from server_stub.commands import _add_db, _db_url
from server_stub.services.reference_import import plan_lines
from shared.errors import SuiteError
from shared.reference_io.plan import KINDS, ColumnMapping, ImportPlan

RX_RULES = "rx_rules"

# ``staff`` is planned by its own rule (``shared.reference_io.staff``) and never carries a password;
# ``rx_rules`` is one JSON rule table (``services.rx_rules_import``)
IMPORTABLE = sorted([*KINDS, "staff", RX_RULES])


def _import_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=IMPORTABLE, help="what the file holds")
    parser.add_argument(
        "file",
        type=Path,
        help="a .csv (UTF-8 or GB18030) or .xlsx file with a header row (rx_rules: a .json rule table)",
    )
    parser.add_argument(
        "--mapping", type=Path, help="a TOML file: [columns] field = 'column', [defaults], [values.field]"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the changes, apply nothing")
    parser.add_argument(
        "--retire-missing",
        action="store_true",
        help="retire (never delete) codes the server has and the file lacks",
    )
    parser.add_argument("--sheet", help="the xlsx sheet to read (default: the first)")
    parser.add_argument(
        "--code-set",
        help="diagnosis: the ICD-10 code set (version) the rows go into, e.g. 医保版2.0; the other sets "
        "are left as they are (default: the file's code_set column, else the site's chosen set)",
    )
    parser.add_argument(
        "--effective-from",
        type=_moment,
        help="rx_rules: the time the rules apply from, e.g. 2026-12-08T00:00 (local time; default: now)",
    )
    parser.add_argument("--by", default=None, help="who runs the import, for the audit log")
    parser.add_argument("--show", type=int, default=20, help="rows shown per section (0: all)")
    parser.add_argument(
        "--report",
        type=Path,
        help="also write every planned change to this CSV file (staff: with the new people's setup codes)",
    )
    _add_db(parser)


def _moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a date and time: {text}") from error
    return moment if moment.tzinfo is not None else moment.astimezone()


def _import_rx_rules(args: argparse.Namespace) -> int:
    """The rule table of a JSON file as a new dated version, after printing what it changes."""
    from server_stub.db.engine import Database
    from server_stub.db.migrate import upgrade
    from server_stub.services.rx_rules_import import import_rules

    url = _db_url(args.db)
    try:
        if not args.file.is_file():
            raise SuiteError(f"{args.file}: no such file", code="not_found")
        upgrade(url)
        db = Database.open(url, pool_size=1)
        try:
            run = import_rules(
                db, args.file, effective_from=args.effective_from, dry_run=args.dry_run, username=args.by
            )
        finally:
            db.dispose()
    except SuiteError as error:
        sys.stderr.write(f"clinic import: {error.message}\n")
        return 2
    when = run.effective_from.astimezone().strftime("%Y-%m-%d %H:%M")
    out = sys.stdout
    out.write(f"rx_rules: {len(run.changes)} changed from {when}\n")
    for line in run.changes:
        out.write(f"  ~ {line}\n")
    if args.dry_run:
        out.write("dry run: nothing applied\n")
    elif run.applied:
        out.write(f"applied as a new version from {when} (file sha256 {run.file_sha256[:16]}…)\n")
    else:
        out.write("nothing to apply: these rules are already in effect\n")
    return 0


def _import(args: argparse.Namespace) -> int:
    if args.kind == RX_RULES:
        return _import_rx_rules(args)

    from server_stub.config import ServerSettings
    from server_stub.db.engine import Database
    from server_stub.db.migrate import upgrade
    from server_stub.services.reference_import import import_file

    url = _db_url(args.db)
    try:
        mapping = ColumnMapping.load(args.mapping) if args.mapping else None
        if not args.file.is_file():
            raise SuiteError(f"{args.file}: no such file", code="not_found")
        upgrade(url)
        db = Database.open(url, pool_size=1)
        try:
            run = import_file(
                db,
                args.kind,
                args.file,
                mapping=mapping,
                retire_missing=args.retire_missing,
                dry_run=args.dry_run,
                username=args.by,
                sheet=args.sheet,
                code_set=args.code_set,
                setup_code_ttl=dt.timedelta(hours=ServerSettings().setup_code_hours),
            )
        finally:
            db.dispose()
    except SuiteError as error:
        sys.stderr.write(f"clinic import: {error.message}\n")
        return 2
    print_plan(run.plan, sys.stdout, show=args.show)
    if args.report:
        write_report(run.plan, args.report, run.setup_codes)
    if run.setup_codes:
        print_setup_codes(run.setup_codes, run.setup_codes_expire_at, sys.stdout)
    counts = run.plan.summary()
    if args.dry_run:
        sys.stdout.write("dry run: nothing applied\n")
    elif run.applied:
        sys.stdout.write(
            f"applied in one batch: {counts['added']} added, {counts['changed']} changed, "
            f"{counts['retired']} retired (file sha256 {run.file_sha256[:16]}…)\n"
        )
    else:
        sys.stdout.write("nothing to apply: the server already holds this file's data\n")
    return 1 if run.plan.refused else 0


def print_plan(plan: ImportPlan, out: TextIO, *, show: int) -> None:
    counts = plan.summary()
    out.write(
        f"{plan.kind}: {counts['added']} added, {counts['changed']} changed, {counts['retired']} retired, "
        f"{counts['unchanged']} unchanged, {counts['refused']} refused\n"
    )
    marks = {"added": "+", "changed": "~", "retired": "-", "refused": "!"}
    for section, lines in plan_lines(plan).items():
        if not lines:
            continue
        out.write(f"{section}:\n")
        for row, code, what in lines[: show or None]:
            where = f"row {row} " if row else ""
            out.write(f"  {marks[section]} {where}{code or '(no code)'}  {what}\n")
        if show and len(lines) > show:
            out.write(f"  … and {len(lines) - show} more (--show 0 or --report FILE for all)\n")


def write_report(plan: ImportPlan, path: Path, setup_codes: dict[str, str] | None = None) -> None:
    """Every planned change; for a staff import also one ``setup_code`` row per new person (the only
    place besides the command's output the codes ever appear: hand the file over and delete it)."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["section", "row", "code", "detail"])
        for section, lines in plan_lines(plan).items():
            for row, code, what in lines:
                writer.writerow([section, row, code, what])
        for username, code in sorted((setup_codes or {}).items()):
            writer.writerow(["setup_code", "", username, code])


def print_setup_codes(codes: dict[str, str], expires_at: object, out: TextIO) -> None:
    """The new people's one-time setup codes, shown once: the server keeps only their hashes."""
    until = expires_at.astimezone().strftime("%Y-%m-%d %H:%M") if hasattr(expires_at, "astimezone") else ""
    out.write(f"setup codes (shown once; each works once, until {until}; give each person theirs):\n")
    for username, code in sorted(codes.items()):
        out.write(f"  {username}  {code}\n")


def _export_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=IMPORTABLE, help="what to export")
    parser.add_argument(
        "file", type=Path, help="a .csv (UTF-8 with BOM) or .xlsx file to write (rx_rules: a .json file)"
    )
    parser.add_argument("--code-set", help="diagnosis: only this ICD-10 code set (default: every set)")
    _add_db(parser)


def _export(args: argparse.Namespace) -> int:
    from server_stub.db.engine import Database
    from server_stub.services.reference_import import export_file
    from server_stub.services.rx_rules_import import export_rules

    db = Database.open(_db_url(args.db), pool_size=1)
    try:
        if args.kind == RX_RULES:
            export_rules(db, args.file)
            sys.stdout.write(f"rx_rules: the rules in effect now written to {args.file}\n")
            return 0
        count = export_file(db, args.kind, args.file, code_set=args.code_set)
    finally:
        db.dispose()
    sys.stdout.write(f"{args.kind}: {count} rows written to {args.file}\n")
    return 0


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "import": (_import_args, _import),
    "export": (_export_args, _export),
}
