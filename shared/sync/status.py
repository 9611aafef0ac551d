"""The sync engine's observable state: what the status bar shows and what callbacks receive."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class SyncState(StrEnum):
    ONLINE = "online"  # reachable, nothing in flight
    SYNCING = "syncing"  # pushing, pulling or bootstrapping right now
    OFFLINE = "offline"  # server unreachable; work continues locally, retries with backoff
    AUTH_EXPIRED = "auth_expired"  # token expired or revoked; work continues, push waits for a new login
    NOT_LOGGED_IN = "not_logged_in"


CLOCK_WARNING_SECONDS = 300.0


@dataclass(frozen=True)
class SyncStatus:
    """A snapshot; the engine hands a new one to its ``on_status`` callback whenever anything changes."""

    state: SyncState
    pending: int = 0  # mutations in the outbox not yet confirmed by the server
    needs_attention: int = 0  # rejected mutations the user has not dismissed yet
    last_sync: dt.datetime | None = None  # last successful exchange with the server (UTC)
    clock_offset_seconds: float | None = None  # server time minus this PC's time
    bootstrap_progress: float | None = None  # 0..1 while a bootstrap runs, else None
    message: str = ""  # last error or notice, in the user's language
    held_for_other_login: int = 0  # pending mutations another user recorded here; pushed at their next login
    # Of ``pending``: shared on the clinic's LAN by a hub, waiting for the central API's outcome.
    shared: int = 0
    # Which server this PC talks to: "hub" (a clinic hub), "central", or "" (one server configured:
    # nothing to say); ``hub_upstream`` False while the hub cannot reach the central API.
    server_role: str = ""
    hub_upstream: bool | None = None

    @property
    def clock_warning(self) -> bool:
        return (
            self.clock_offset_seconds is not None and abs(self.clock_offset_seconds) > CLOCK_WARNING_SECONDS
        )
