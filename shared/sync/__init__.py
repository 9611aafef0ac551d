"""Sync client (Qt-free): push the outbox, pull the feed with long-poll, bootstrap, online state."""

from __future__ import annotations

from shared.sync.engine import BootstrapProgress, SyncEngine
from shared.sync.status import SyncState, SyncStatus
from shared.sync.tokens import KeyringUnavailable, TokenStore
from shared.sync.transport import ApiTransport, CursorReset, PayloadTooLarge, ProtocolError, SequenceMismatch

__all__ = [
    "ApiTransport",
    "BootstrapProgress",
    "CursorReset",
    "KeyringUnavailable",
    "PayloadTooLarge",
    "ProtocolError",
    "SequenceMismatch",
    "SyncEngine",
    "SyncState",
    "SyncStatus",
    "TokenStore",
]
