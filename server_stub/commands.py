"""Server-side ``clinic`` commands: server, migrate, seed-demo, seed-scale, audit-verify, sync-compact,
unlock-login, device-wipe, desk-slots, hub-enrol, hub-revoke, hubs."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from server_stub.config import DEFAULT_DB_PATH, ServerSettings, sqlite_url

log = logging.getLogger(__name__)


def _db_url(value: str | None) -> str:
    """A database URL from --db: a full SQLAlchemy URL, or a path to an SQLite file."""
    if not value:
        return os.environ.get("CLINIC_DATABASE_URL") or sqlite_url(DEFAULT_DB_PATH)
    if "://" in value:
        return value
    return sqlite_url(Path(value))


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        help="database URL (sqlite:///path or postgresql+psycopg://…) or an SQLite file path; "
        f"default $CLINIC_DATABASE_URL or {DEFAULT_DB_PATH}",
    )


def _server_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8750)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes: one per core for many users (SQLite or PostgreSQL); 1 for a small clinic",
    )
    parser.add_argument("--no-migrate", action="store_true", help="do not migrate the database at start")
    parser.add_argument(
        "--tls-cert", help="serve HTTPS with this PEM certificate (chain); PCs pin the CA in site.toml"
    )
    parser.add_argument("--tls-key", help="the certificate's PEM private key (with --tls-cert)")


def _server(args: argparse.Namespace) -> int:
    import uvicorn

    from server_stub.db.migrate import upgrade

    cert, key = tls_files(args.tls_cert, args.tls_key)
    url = _db_url(args.db)
    if not args.no_migrate:
        upgrade(url)
    os.environ["CLINIC_DATABASE_URL"] = url
    scheme = "https" if cert else "http"
    log.info("central API on %s://%s:%s (OpenAPI at /docs)", scheme, args.host, args.port)
    uvicorn.run(
        "server_stub.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        backlog=2048,
        ssl_certfile=cert,
        ssl_keyfile=key,
    )
    return 0


def tls_files(cert: str | None, key: str | None) -> tuple[str | None, str | None]:
    """``--tls-cert`` and ``--tls-key``: both or neither, and both readable files."""
    if not cert and not key:
        return None, None
    if not (cert and key):
        raise SystemExit("--tls-cert and --tls-key go together")
    for name, value in (("--tls-cert", cert), ("--tls-key", key)):
        if not Path(value).is_file():
            raise SystemExit(f"{name}: no such file: {value}")
    return cert, key


def _migrate_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)


def _migrate(args: argparse.Namespace) -> int:
    from server_stub.db.migrate import upgrade

    upgrade(_db_url(args.db))
    return 0


def _seed_demo_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)
    parser.add_argument("--patients", type=int, default=1000)


def _seed_demo(args: argparse.Namespace) -> int:
    from server_stub.seed.demo import seed_demo

    summary = seed_demo(_db_url(args.db), timezone=ServerSettings().timezone, patients=args.patients)
    if summary.created:
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(summary.counts.items()))
        sys.stdout.write(f"demo data created: {counts}\n")
    elif summary.counts:
        sys.stdout.write(
            f"demo data already present; added {sum(summary.counts.values())} schedules and appointments for today\n"
        )
    else:
        sys.stdout.write("demo data already present; nothing changed\n")
    return 0


def _seed_scale_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)
    parser.add_argument("--drugs", type=int, default=20000)
    parser.add_argument("--patients", type=int, default=50000)


def _seed_scale(args: argparse.Namespace) -> int:
    from server_stub.seed.scale import seed_scale

    added = seed_scale(_db_url(args.db), drugs=args.drugs, patients=args.patients)
    sys.stdout.write(f"scale data added: {added}\n")
    return 0


def _audit_verify_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)
    parser.add_argument(
        "--key-file",
        help="the audit key file (default: $CLINIC_AUDIT_KEY_FILE, beside an SQLite database, or var/)",
    )


def _audit_verify(args: argparse.Namespace) -> int:
    from server_stub.db.engine import Database
    from server_stub.services import audit, audit_key

    db = Database.open(_db_url(args.db), pool_size=1)
    try:
        with db.read() as conn:
            key = audit_key.load(Path(args.key_file)) if args.key_file else audit_key.for_connection(conn)
            if args.key_file and key is None:
                sys.stdout.write(f"no audit key at {args.key_file}\n")
                return 2
            report = audit.verify(conn, key=key)
    finally:
        db.dispose()
    if report.key_id is None:
        sys.stdout.write(
            "WARNING: no audit key found: entries are only hash-chained, and a database writer could "
            "rewrite them and recompute the hashes\n"
        )
    if report.ok:
        sealed = report.checked - report.legacy
        sys.stdout.write(
            f"audit chain intact: {report.checked} entries verified "
            f"({sealed} sealed with key {report.key_id or '-'}, {report.legacy} legacy unkeyed)\n"
        )
        return 0
    sys.stdout.write(f"AUDIT CHAIN BROKEN: {len(report.problems)} problem(s) in {report.checked} entries\n")
    for problem in report.problems:
        sys.stdout.write(f"  - {problem}\n")
    return 1


def _device_wipe_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)
    parser.add_argument("device_id", help="the PC's device id (see GET /api/v1/admin/clients)")
    parser.add_argument("--reason", default="", help="why (kept in the audit log)")
    parser.add_argument("--cancel", action="store_true", help="withdraw a mark not yet delivered")


def _device_wipe(args: argparse.Namespace) -> int:
    from server_stub.db.engine import Database
    from server_stub.services import device_wipe
    from server_stub.services.clock import utcnow

    db = Database.open(_db_url(args.db), pool_size=1)
    try:
        with db.write() as conn:
            if args.cancel:
                done = device_wipe.cancel(conn, device_id=args.device_id, by=None, now=utcnow())
                sys.stdout.write(f"wipe of {args.device_id} {'cancelled' if done else 'was not marked'}\n")
                return 0
            device_wipe.mark(conn, device_id=args.device_id, by=None, reason=args.reason, now=utcnow())
    finally:
        db.dispose()
    sys.stdout.write(f"{args.device_id} will be told to wipe its local data at its next contact\n")
    return 0


def _sync_compact_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)
    parser.add_argument("--days", type=int, default=90, help="purge rows voided more than this many days ago")


def _sync_compact(args: argparse.Namespace) -> int:
    from server_stub.config import ServerSettings
    from server_stub.services.retention import compact

    # Long enough for running servers' feed tails to learn the new minimum (they poll the database).
    settle = max(1.0, 4 * ServerSettings().longpoll_poll_seconds)
    purged, min_cursor = compact(_db_url(args.db), days=args.days, settle_seconds=settle)
    sys.stdout.write(
        f"purged {purged} voided rows; clients with a cursor before {min_cursor} will re-bootstrap\n"
    )
    return 0


def _unlock_login_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)
    parser.add_argument("--username", help="clear this account's login locks (on every PC)")
    parser.add_argument("--source", help="clear this source address's block")


def _unlock_login(args: argparse.Namespace) -> int:
    """For the security administrator on the server itself (e.g. when their own account is locked)."""
    from server_stub.db.engine import Database
    from server_stub.services import auth
    from server_stub.services.clock import utcnow
    from shared.errors import NotFound

    if not args.username and not args.source:
        log.error("give --username, --source or both")
        return 2
    db = Database.open(_db_url(args.db), pool_size=1)
    try:
        with db.write() as conn:
            cleared = auth.unlock(
                conn, principal=None, username=args.username, source=args.source, now=utcnow()
            )
    except NotFound as error:
        log.error("%s", error.message)
        return 1
    finally:
        db.dispose()
    sys.stdout.write(f"unlocked: {cleared} lock(s) or failure count(s) cleared\n")
    return 0


def _desk_slots_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)
    parser.add_argument(
        "--release",
        metavar="DEVICE_ID",
        help="free this device's ticket-number slot (a triage PC retired or replaced); it gets one again "
        "at its next online login",
    )
    parser.add_argument("--campus", help="only this campus")


def _desk_slots(args: argparse.Namespace) -> int:
    """List the ticket-number slots the server gave to triage desks and kiosks, or free one."""
    from server_stub.db.engine import Database
    from server_stub.services import desk_slots

    db = Database.open(_db_url(args.db), pool_size=1)
    try:
        if args.release:
            with db.write() as conn:
                freed = desk_slots.release(conn, device_id=args.release, campus_id=args.campus)
            sys.stdout.write(f"released: {freed} slot(s) of device {args.release}\n")
            return 0 if freed else 1
        with db.read() as conn:
            for row in desk_slots.listing(conn, campus_id=args.campus):
                sys.stdout.write(
                    f"{row.campus_id}\t{row.slot}\t{row.device_id}\t{row.assigned_at:%Y-%m-%d %H:%M}\n"
                )
    finally:
        db.dispose()
    return 0


def _hub_enrol_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)
    parser.add_argument("--name", required=True, help="what IT calls the hub, e.g. 'EAST clinic hub'")
    parser.add_argument("--campus", required=True, help="the campus it serves: its code (EAST) or id")


def _hub_enrol(args: argparse.Namespace) -> int:
    """Enrol a clinic hub and print its credential, this once (only a hash of its secret is kept)."""
    from server_stub.db.engine import Database
    from server_stub.services import hubs
    from server_stub.services.clock import utcnow
    from shared.errors import NotFound, ValidationFailed

    db = Database.open(_db_url(args.db), pool_size=1)
    try:
        with db.write() as conn:
            enrolled = hubs.enrol(conn, name=args.name, campus=args.campus, by=None, now=utcnow())
    except (NotFound, ValidationFailed) as error:
        log.error("%s", error.message)
        return 1
    finally:
        db.dispose()
    sys.stdout.write(
        f"hub {enrolled.hub_id} ({enrolled.name}) enrolled for campus {enrolled.campus_id}\n"
        "its credential (shown only now; put it in the hub's configuration):\n"
        f"{enrolled.credential}\n"
    )
    return 0


def _hub_revoke_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)
    parser.add_argument("hub_id", help="the hub's id (see clinic hubs)")


def _hub_revoke(args: argparse.Namespace) -> int:
    from server_stub.db.engine import Database
    from server_stub.services import hubs
    from server_stub.services.clock import utcnow
    from shared.errors import NotFound

    db = Database.open(_db_url(args.db), pool_size=1)
    try:
        with db.write() as conn:
            revoked = hubs.revoke(conn, hub_id=args.hub_id, by=None, now=utcnow())
    except NotFound as error:
        log.error("%s", error.message)
        return 1
    finally:
        db.dispose()
    sys.stdout.write(f"hub {args.hub_id} {'revoked' if revoked else 'was revoked already'}\n")
    return 0


def _hubs_args(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)


def _hubs(args: argparse.Namespace) -> int:
    """One line per hub: id, name, campus, last seen, last relay, revoked (tab-separated)."""
    from server_stub.db.engine import Database
    from server_stub.services import hubs

    def when(value: object) -> str:
        return value.astimezone().strftime("%Y-%m-%d %H:%M") if hasattr(value, "astimezone") else "-"

    db = Database.open(_db_url(args.db), pool_size=1)
    try:
        with db.read() as conn:
            rows = hubs.listing(conn)
    finally:
        db.dispose()
    sys.stdout.write("id\tname\tcampus\tlast seen\tlast relay\trevoked\n")
    for row in rows:
        fields = (
            row["id"],
            row["name"],
            row["campus_code"] or row["campus_id"],
            when(row["last_seen_at"]),
            when(row["last_relay_at"]),
            when(row["revoked_at"]) if row["revoked_at"] else "no",
        )
        sys.stdout.write("\t".join(fields) + "\n")
    return 0


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "server": (_server_args, _server),
    "migrate": (_migrate_args, _migrate),
    "seed-demo": (_seed_demo_args, _seed_demo),
    "seed-scale": (_seed_scale_args, _seed_scale),
    "audit-verify": (_audit_verify_args, _audit_verify),
    "sync-compact": (_sync_compact_args, _sync_compact),
    "unlock-login": (_unlock_login_args, _unlock_login),
    "device-wipe": (_device_wipe_args, _device_wipe),
    "desk-slots": (_desk_slots_args, _desk_slots),
    "hub-enrol": (_hub_enrol_args, _hub_enrol),
    "hub-revoke": (_hub_revoke_args, _hub_revoke),
    "hubs": (_hubs_args, _hubs),
}
