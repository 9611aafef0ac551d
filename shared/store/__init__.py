"""The local SQLite cache of an app: server-confirmed rows, the outbox, the pending overlay, sync state."""

from __future__ import annotations

from shared.store.paths import data_dir, default_db_path
from shared.store.store import BootstrapState, LocalStore, OutboxEntry, Session
from shared.store.view import LocalView

__all__ = [
    "BootstrapState",
    "LocalStore",
    "LocalView",
    "OutboxEntry",
    "Session",
    "data_dir",
    "default_db_path",
]
