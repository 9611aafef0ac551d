"""Server-side ``clinic`` commands: server, migrate, seed-demo, seed-scale, audit-verify, sync-compact,
unlock-login."""

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


def _audit_verify(args: argparse.Namespace) -> int:
    from server_stub.db.engine import Database
    from server_stub.services import audit

    db = Database.open(_db_url(args.db), pool_size=1)
    try:
        with db.read() as conn:
            report = audit.verify(conn)
    finally:
        db.dispose()
    if report.ok:
        sys.stdout.write(f"audit chain intact: {report.checked} entries verified\n")
        return 0
    sys.stdout.write(f"AUDIT CHAIN BROKEN: {len(report.problems)} problem(s) in {report.checked} entries\n")
    for problem in report.problems:
        sys.stdout.write(f"  - {problem}\n")
    return 1


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


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "server": (_server_args, _server),
    "migrate": (_migrate_args, _migrate),
    "seed-demo": (_seed_demo_args, _seed_demo),
    "seed-scale": (_seed_scale_args, _seed_scale),
    "audit-verify": (_migrate_args, _audit_verify),
    "sync-compact": (_sync_compact_args, _sync_compact),
    "unlock-login": (_unlock_login_args, _unlock_login),
}
