"""Remote wipe on this PC: when the server answers with a wipe instruction (IT retired or lost the PC),
the app deletes its local cache (with its WAL, backups and leftovers), the cache's key in the OS key
store, and its login token. What was not yet synced is lost by design: the PC is no longer trusted."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Protocol

from shared.store import crypto
from shared.store.store import LocalStore

log = logging.getLogger(__name__)

WIPE_CODE = "device_wipe"  # the server's error code of the instruction (server_stub.services.device_wipe)


class _Tokens(Protocol):
    def delete(self, account: str) -> None: ...


# Beside the stores in the data folder: offline-unlock password verifiers (shared.gui.app) and print
# jobs waiting for a printer (pharmacy_desk.print_queue), both personal data.
SHARED_FILES = ("verifiers.json",)
SHARED_FOLDERS = ("print_spool",)


def files_of(path: Path) -> list[Path]:
    """The store file and everything beside it that holds its data."""
    folder, name = path.parent, path.name
    found = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), path.with_name(name + ".encrypting")]
    found += sorted(folder.glob(f"{name}.*.bak"))  # migration backups
    found += sorted((folder / "backups").glob(f"{path.stem}-*.db"))  # updater and restore safety copies
    found += [folder / shared for shared in SHARED_FILES]
    for spool in SHARED_FOLDERS:
        found += sorted(p for p in (folder / spool).rglob("*") if p.is_file())
    return found


def wipe_local_data(
    store: LocalStore, *, tokens: _Tokens | None = None, token_account: str | None = None
) -> list[Path]:
    """Close ``store`` and delete its files, its key and the login; returns the files deleted."""
    path, app = store.path, store.app
    store.close()
    deleted = []
    for file in files_of(path):
        with contextlib.suppress(FileNotFoundError):
            file.unlink()
            deleted.append(file)
    crypto.forget_os_key(app, path)
    if tokens is not None and token_account:
        tokens.delete(token_account)
    log.warning("remote wipe: deleted %s and its key and login", path)
    return deleted
