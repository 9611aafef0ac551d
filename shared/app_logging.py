"""Every app logs to ``<data folder>/logs/<app>.log`` (rotated: 5 files of 5 MB), however it was started.

``log_to_file`` is called by each app's command (``clinic workstation`` …) and by the frozen launcher;
a second call for the same file adds nothing, so the two never write each line twice.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_BYTES = 5 * 1024 * 1024
LOG_FILES = 5
LOG_FORMAT = "%(asctime)s %(levelname)s %(process)d %(threadName)s %(name)s: %(message)s"

log = logging.getLogger(__name__)


def log_path(app: str, data_folder: Path) -> Path:
    return data_folder / "logs" / f"{app}.log"


def log_to_file(app: str, data_folder: Path, *, level: int = logging.INFO) -> Path | None:
    """Add a rotating file handler for ``app`` to the root logger (once per file); the path, or None when
    the folder cannot be written (the app still starts; stderr keeps the log)."""
    path = log_path(app, data_folder)
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, RotatingFileHandler) and Path(handler.baseFilename) == path.absolute():
            return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_FILES, encoding="utf-8")
    except OSError as exc:
        log.warning("cannot write the log file %s: %s", path, exc)
        return None
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(level)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return path
