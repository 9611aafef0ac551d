"""Which copies of an app are using a data folder right now, so an update never migrates a database
under a running app.

A running app (started through the frozen launcher) holds an exclusive OS lock on
``<data folder>/running/<app>-<pid>.lock`` for its whole life. The lock goes away with the process,
even when it crashes, so a lock file nobody holds is stale and is removed by ``running_instances``.
Stdlib only: the launcher imports this before anything heavy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

RUNNING_DIR = "running"
# The local databases (``<data folder>/<name>.db``) each installed bundle opens, first the one its plain
# ``--self-test`` opens. The triage bundle also runs the kiosk and the waiting-room display, each with its
# own database. Other apps' databases in a shared data folder are never touched by this app's update.
BUNDLE_DATABASES: dict[str, tuple[str, ...]] = {
    "triage": ("triage", "kiosk", "display"),
    "workstation": ("workstation",),
    "pharmacy": ("pharmacy",),
}
_held: list[BinaryIO] = []  # kept open (and locked) until the process ends


def databases_of(app: str) -> tuple[str, ...]:
    return BUNDLE_DATABASES.get(app, (app,))


def bundle_of(database: str) -> str:
    """The app (bundle) that opens ``<database>.db``: ``kiosk`` -> ``triage``."""
    return next((app for app, names in BUNDLE_DATABASES.items() if database in names), database)


def _try_lock(handle: BinaryIO) -> bool:
    """Take an exclusive, non-blocking lock on the file's first byte; False when someone holds it."""
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def hold_running_marker(data_folder: Path, app: str) -> Path | None:
    """Mark this process as using ``data_folder`` as ``app`` until it exits. None when the folder cannot
    be written (logged): an app is never stopped from starting by its marker."""
    path = data_folder / RUNNING_DIR / f"{app}-{os.getpid()}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+b")
    except OSError as exc:
        log.warning("cannot mark %s as running in %s: %s", app, data_folder, exc)
        return None
    if not _try_lock(handle):
        handle.close()
        return None
    _held.append(handle)
    return path


def running_instances(data_folder: Path, app: str) -> list[int]:
    """Process ids of the copies of ``app`` that hold a marker in ``data_folder``; stale markers (their
    process is gone) are deleted on the way."""
    folder = data_folder / RUNNING_DIR
    live: list[int] = []
    for path in sorted(folder.glob(f"{app}-*.lock")) if folder.is_dir() else []:
        try:
            pid = int(path.stem.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        try:
            handle = path.open("a+b")
        except OSError:
            live.append(pid)  # Windows: a file another process has open may refuse a second open
            continue
        try:
            free = _try_lock(handle)
        finally:
            handle.close()
        if free:
            with contextlib.suppress(OSError):  # removed next time; a stale marker never counts
                path.unlink(missing_ok=True)
        else:
            live.append(pid)
    return live
