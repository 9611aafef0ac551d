"""Where each app keeps its local SQLite file: an explicit setting, ``$CLINIC_DATA_DIR``, or the user data folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "CLINIC_DATA_DIR"
APP_DIR_NAME = "ClinicSuite"
_APP_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def data_dir(setting: str | os.PathLike[str] | None = None) -> Path:
    """The folder for local databases: ``setting`` if given, else ``$CLINIC_DATA_DIR``, else the
    platform's per-user data folder (``%LOCALAPPDATA%\\ClinicSuite``, ``~/.local/share/ClinicSuite`` …)."""
    if setting:
        return Path(setting).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False))


def default_db_path(app: str, *, setting: str | os.PathLike[str] | None = None) -> Path:
    """One SQLite file per app per PC, e.g. ``…/ClinicSuite/workstation.db``."""
    if not _APP_NAME.match(app):
        raise ValueError(f"app name must be a short lower-case identifier, got {app!r}")
    return data_dir(setting) / f"{app}.db"
