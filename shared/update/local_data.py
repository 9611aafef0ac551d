"""``clinic local-data backup|restore|status``: a PC's local databases for IT (moving a PC, repairs).

Backups use SQLite's online backup API, so they are consistent while an app is running; each backup
folder has a ``manifest.json`` listing each database with its unsynced work (outbox entries not yet
confirmed by the server). Restore checks the backup's integrity, keeps a safety copy of the database it
replaces, and writes the backup over it with the same API. Restoring an older backup loses only what
was entered after it and not yet synced; what the backup holds that the server already has is pushed
again and recognised (every mutation has its own id), so nothing is applied twice.
"""

from __future__ import annotations

import argparse
import json
import socket
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from shared.store import crypto
from shared.update.running import bundle_of, running_instances


def _connect(path: Path, live: Path | None = None) -> sqlite3.Connection:
    """``path`` (a store or a backup of the store ``live``), encrypted or not (``shared.store.crypto``)."""
    conn: sqlite3.Connection = crypto.connect_file(path, live=live or path)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def unsynced(path: Path, live: Path | None = None) -> dict[str, int]:
    """Outbox entries by status (``pending``/``sent`` are not yet confirmed by the server)."""
    conn = _connect(path, live)
    try:
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone()
        if not has:
            return {}
        columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(outbox)")}
        if "status" not in columns:  # an outbox this version does not know: count its rows
            return {"entries": int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])}
        return {
            str(s): int(n) for s, n in conn.execute("SELECT status, count(*) FROM outbox GROUP BY status")
        }
    finally:
        conn.close()


def backup(data_folder: Path, target_root: Path) -> Path:
    """Back up every ``*.db`` of ``data_folder`` into a new ``<target_root>/<host>-<time>/`` folder."""
    databases = sorted(data_folder.glob("*.db"))
    if not databases:
        raise FileNotFoundError(f"no local databases (*.db) in {data_folder}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = target_root / f"{socket.gethostname()}-{stamp}"
    folder.mkdir(parents=True, exist_ok=False)
    manifest: dict[str, object] = {
        "host": socket.gethostname(),
        "made_at": stamp,
        "source": str(data_folder),
        "databases": {},
    }
    for live in databases:
        copy = folder / live.name
        crypto.copy_database(live, copy, live=live)  # an encrypted store's backup stays encrypted
        manifest["databases"][live.name] = {"bytes": copy.stat().st_size, "unsynced": unsynced(copy, live)}  # type: ignore[index]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return folder


def database_name(backup_file: Path) -> str:
    """The live database a backup file stands for: ``triage.db`` from a ``local-data backup`` folder, and
    ``triage.db`` from an updater backup such as ``backups/triage-1.0.0-to-1.1.0-20261205T013700Z.db``."""
    return backup_file.stem.split("-", 1)[0] + ".db"


class InUse(RuntimeError):
    """The app that owns the database is running on this PC."""


_RESTORE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    InUse,
    crypto.MissingKey,
    *crypto.DRIVER_ERRORS,
)


def restore(backup_file: Path, data_folder: Path) -> tuple[Path, Path | None]:
    """Write ``backup_file`` over ``data_folder/<its database>``; returns (restored, safety copy of the
    old). Refused while the app that opens that database is running (``InUse``)."""
    live = data_folder / database_name(backup_file)
    app = bundle_of(live.stem)
    pids = running_instances(data_folder, app)
    if pids:
        raise InUse(f"{app} is running (process {', '.join(map(str, pids))}): close it, then restore {live}")
    conn = _connect(backup_file, live)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    if check != "ok":
        raise ValueError(f"{backup_file} is damaged ({check}); nothing was restored")
    data_folder.mkdir(parents=True, exist_ok=True)
    safety: Path | None = None
    if live.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        safety = data_folder / "backups" / f"{live.stem}-before-restore-{stamp}.db"
        safety.parent.mkdir(parents=True, exist_ok=True)
        crypto.copy_database(live, safety, live=live)
    crypto.copy_database(backup_file, live, live=live)
    return live, safety


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("backup", "restore", "status"))
    parser.add_argument("--data-folder", type=Path, help="default: the site configuration's, else the user's")
    parser.add_argument("--to", type=Path, help="backup: the folder to create the backup in")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="restore: a .db file of a backup folder, or an updater backup (<data>/backups/<db>-<from>-to-<to>-<time>.db)",
    )


def _run(args: argparse.Namespace) -> int:
    from shared.site import load_site_config
    from shared.store.paths import data_dir

    folder = args.data_folder or data_dir(load_site_config().data_folder or None)
    if args.action == "status":
        for db in sorted(folder.glob("*.db")):
            sys.stdout.write(f"{db}: {db.stat().st_size} bytes, outbox {unsynced(db)}\n")
        return 0
    if args.action == "backup":
        if not args.to:
            sys.stderr.write("give --to FOLDER\n")
            return 2
        made = backup(folder, args.to)
        sys.stdout.write(f"backed up to {made}\n{(made / 'manifest.json').read_text(encoding='utf-8')}\n")
        return 0
    if not args.source:
        sys.stderr.write("give --from BACKUP.db (close the app first)\n")
        return 2
    try:
        live, safety = restore(args.source, folder)
    except _RESTORE_ERRORS as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    sys.stdout.write(
        f"restored {live}" + (f" (the replaced database is kept as {safety})" if safety else "") + "\n"
    )
    return 0


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "local-data": (_args, _run),
}
