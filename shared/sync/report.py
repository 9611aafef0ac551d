"""``clinic sync-report``: export this PC's sync state (outbox, cursor, clock, integrity) for support."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared import __version__
from shared.store import crypto
from shared.store.paths import default_db_path
from shared.store.store import LocalStore, OutboxEntry

log = logging.getLogger(__name__)

APPS = ("workstation", "pharmacy_desk", "triage_desk")


def _entry(entry: OutboxEntry, *, include_args: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "mutation_id": entry.mutation_id,
        "client_seq": entry.client_seq,
        "name": entry.name,
        "status": entry.status,
        "occurred_at": entry.occurred_at.isoformat(),
        "staff_id": entry.staff_id,
        "attempts": entry.attempts,
        "last_error": entry.last_error,
        "code": entry.code,
        "message": entry.message,
        "seq": entry.seq,
        "dismissed": entry.dismissed,
    }
    if include_args:
        row["args"] = entry.args
        row["detail"] = entry.detail
    return row


def build_report(store: LocalStore, *, include_args: bool = False, recent: int = 50) -> dict[str, Any]:
    """Everything support needs to understand a PC's sync: no tokens, no patient data unless asked."""
    session = store.session()
    bootstrap = store.bootstrap_state()
    unresolved = store.outbox("pending", "sent")
    resolved = [e for e in store.outbox("applied", "rejected")][-recent:]
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "app_version": __version__,
        "app": store.app,
        "database": str(store.path),
        "integrity_check": store.integrity_check(),
        "identity": {
            "device_id": store.device_id,
            "client_id": store.client_id,
            "seq_offset": store.seq_offset(),
        },
        "session": None
        if session is None
        else {
            "staff_id": session.staff.id,
            "username": session.staff.username,
            "campus_id": session.campus_id,
        },
        "sync": {
            "cursor": store.cursor(),
            "last_sync": store.state("last_sync"),
            "last_pull": store.state("last_pull"),
            "clock_offset_seconds": store.state("clock_offset"),
            "reset_needed": store.state("reset_needed"),
            "bootstrap_in_progress": None if bootstrap is None else bootstrap.__dict__,
        },
        "counts": store.counts(),
        "unresolved": [_entry(e, include_args=include_args) for e in unresolved],
        "needs_attention": [_entry(e, include_args=include_args) for e in store.needs_attention()],
        "recently_resolved": [_entry(e, include_args=include_args) for e in resolved],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app", choices=APPS, default="workstation", help="which app's local database")
    parser.add_argument(
        "--db", help="path of the local database (default: the app's file in the data folder)"
    )
    parser.add_argument("--out", help="write the report to this file instead of standard output")
    parser.add_argument(
        "--include-args", action="store_true", help="include mutation arguments (may contain patient data)"
    )


def run(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else default_db_path(args.app)
    if not path.exists():
        log.error("no local database at %s", path)
        return 2
    # the app's key if it has one (an encrypted store); never makes one for a plain store
    with LocalStore.open(path, app=args.app, key=crypto.os_key(args.app, path, create=False)) as store:
        report = build_report(store, include_args=args.include_args)
    text = json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        log.info("sync report written to %s", args.out)
    else:
        sys.stdout.write(text)
    return 0 if report["integrity_check"] == ["ok"] else 1


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "sync-report": (add_arguments, run),
}
