"""``clinic hub``: run a clinic hub (``clinic hub --upstream URL …``) or show one's state
(``clinic hub status --db PATH | --url URL``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

CREDENTIAL_ENV = "CLINIC_HUB_CREDENTIAL"
DEFAULT_DB = Path("var/hub.db")


def _hub_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=["run", "status"],
        default="run",
        help="run the hub (default) or show its status",
    )
    parser.add_argument("--upstream", help="the central API's URL, e.g. https://clinic.example.org")
    parser.add_argument(
        "--credential-file",
        help=f"file holding this hub's credential hub_<id>.<secret> from `clinic hub-enrol` (or ${CREDENTIAL_ENV})",
    )
    parser.add_argument("--db", help=f"the hub's SQLite file (default {DEFAULT_DB})")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: every interface)")  # noqa: S104
    parser.add_argument("--port", type=int, default=8760)
    parser.add_argument(
        "--verifier-days",
        type=float,
        default=14.0,
        help="offline logins at the hub for staff who logged in online (anywhere) within this many days"
        " (the central API ships at most 30 days)",
    )
    parser.add_argument(
        "--verifier-refresh-seconds",
        type=float,
        default=300.0,
        help="how often the hub fetches its campus's login verifiers from the central API while the link is up",
    )
    parser.add_argument(
        "--idle-minutes", type=float, default=30.0, help="a hub-issued login ends after this idle time"
    )
    parser.add_argument(
        "--lan-keep-minutes",
        type=float,
        default=60.0,
        help="settled LAN entries are served this long after the central API's outcome, then pruned",
    )
    parser.add_argument(
        "--campus", help="this clinic's campus id (offline logins only for staff assigned to it)"
    )
    parser.add_argument("--ca-file", help="trust this CA certificate (PEM) for the central API's HTTPS")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain)")
    parser.add_argument("--tls-key", help="the certificate's PEM private key (with --tls-cert)")
    parser.add_argument("--url", help="status: ask the hub running at this URL (on its own machine)")
    parser.add_argument("--json", action="store_true", help="status: print JSON")


def _credential(args: argparse.Namespace) -> str:
    if args.credential_file:
        path = Path(args.credential_file)
        if not path.is_file():
            raise SystemExit(f"--credential-file: no such file: {path}")
        value = path.read_text(encoding="utf-8").strip()
    else:
        value = os.environ.get(CREDENTIAL_ENV, "").strip()
    if not value.startswith("hub_") or "." not in value:
        raise SystemExit(
            f"give the hub's credential (hub_<id>.<secret>, printed by `clinic hub-enrol` on the central server) "
            f"with --credential-file or ${CREDENTIAL_ENV}"
        )
    return value


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


def _status(args: argparse.Namespace) -> int:
    from server_stub.hub import status

    logging.getLogger("httpx").setLevel(logging.WARNING)

    facts = status.from_url(args.url) if args.url else status.from_db(Path(args.db or DEFAULT_DB))
    sys.stdout.write(status.as_json(facts) + "\n" if args.json else status.render(facts))
    return 0


def _hub(args: argparse.Namespace) -> int:
    if args.action == "status":
        return _status(args)
    import uvicorn

    from server_stub.hub.app import HubConfig, create_app

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per upstream request
    if not args.upstream:
        raise SystemExit("--upstream URL of the central API is required")
    cert, key = tls_files(args.tls_cert, args.tls_key)
    config = HubConfig(
        upstream=args.upstream,
        credential=_credential(args),
        db_path=Path(args.db or DEFAULT_DB),
        verifier_days=args.verifier_days,
        campus_id=args.campus,
        idle_minutes=args.idle_minutes,
        verify=args.ca_file or True,
        lan_keep_minutes=args.lan_keep_minutes,
        verifier_refresh_seconds=args.verifier_refresh_seconds,
    )
    scheme = "https" if cert else "http"
    log.info(
        "clinic hub on %s://%s:%s, upstream %s, database %s",
        scheme,
        args.host,
        args.port,
        args.upstream,
        config.db_path,
    )
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        backlog=2048,
        ssl_certfile=cert,
        ssl_keyfile=key,
    )
    return 0


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "hub": (_hub_args, _hub),
}
