"""Pydantic wire models for login, push, pull, bootstrap and errors (API version 1)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.entities import Staff

API_PREFIX = "/api/v1"
MAX_PUSH_BATCH = 500
MAX_PULL_LIMIT = 5000
MAX_WAIT_SECONDS = 30.0
# Feed sequences and checkpoints fit a signed 64-bit column with room to spare.
MAX_CURSOR = 2**62

# The header a clinic hub sends its own credential in on the requests it passes through for its PCs
# (their own tokens are in Authorization): with it the central API believes X-Forwarded-For.
HUB_HEADER = "X-Clinic-Hub"

OutcomeStatus = Literal["applied", "applied_with_warning", "rejected"]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(WireModel):
    """Every 4xx/5xx answer has this body: a stable ``code`` and a message for people."""

    code: str
    message: str
    detail: Any = None


class LoginRequest(WireModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    device_id: str = Field(min_length=1, max_length=128)
    campus_id: str | None = Field(default=None, max_length=64)
    # A random secret this PC keeps and sends at every login: once the account has logged in with it,
    # failed logins elsewhere never lock the account out of this PC.
    device_secret: str | None = Field(default=None, min_length=16, max_length=128)
    # A triage desk or kiosk asks for its ticket-number slot (``queue_numbers``): 0 any free one, N the one
    # it would like (``queue_desk_slot``); left out by PCs that issue no ticket numbers.
    desk_slot: int | None = Field(default=None, ge=0, le=99)


class UnlockRequest(WireModel):
    """A security administrator clears an account's login locks and/or a source address's block."""

    username: str | None = Field(default=None, min_length=1, max_length=64)
    source: str | None = Field(default=None, min_length=1, max_length=64)


class UnlockResponse(WireModel):
    cleared: int


class LoginResponse(WireModel):
    # read by PCs (and hubs) of any version: facts a later server adds are ignored, never refused
    model_config = ConfigDict(extra="ignore")

    token: str
    expires_at: dt.datetime
    server_time: dt.datetime
    staff: Staff
    campus_id: str | None
    # the slot this device numbers tickets from at ``campus_id`` (asked for with ``desk_slot``; None:
    # not asked, or every desk slot of the campus is held by another device)
    desk_slot: int | None = None
    # the hospital's IANA time zone (the central API's ``CLINIC_TIMEZONE``; a hub passes it on): the PC's
    # local dates and times follow it (``shared.clinic_time``); None from servers that do not say
    timezone: str | None = Field(default=None, max_length=64)


class MutationEnvelope(WireModel):
    mutation_id: str = Field(min_length=1, max_length=64)
    client_seq: int = Field(ge=1, le=MAX_CURSOR)
    name: str = Field(min_length=1, max_length=64)
    args: dict[str, Any]
    base_version: int | None = Field(default=None, ge=1, le=MAX_CURSOR)
    occurred_at: dt.datetime


class PushRequest(WireModel):
    client_id: str = Field(min_length=1, max_length=64)
    mutations: list[MutationEnvelope] = Field(max_length=MAX_PUSH_BATCH)


class MutationOutcome(WireModel):
    mutation_id: str
    client_seq: int
    status: OutcomeStatus
    code: str | None = None
    message: str | None = None
    warnings: list[str] = Field(default_factory=list)
    result: dict[str, Any] = Field(default_factory=dict)
    detail: Any = None
    # Highest change-feed sequence this mutation wrote; the client keeps its optimistic view of the
    # mutation until its pull cursor reaches this value (no flicker, no double counting).
    seq: int | None = None
    replayed: bool = False


class PushResponse(WireModel):
    outcomes: list[MutationOutcome]
    last_client_seq: int
    server_time: dt.datetime
    # From a clinic hub only: mutations it holds durably and shares with the clinic's PCs while the
    # central API has not answered for them. The PC keeps them in its outbox and pushes them again; the
    # outcome it stores is always the central API's. Every pushed mutation is in ``outcomes`` or here.
    shared: list[str] = Field(default_factory=list)


class Change(WireModel):
    seq: int
    kind: str
    id: str
    version: int
    data: dict[str, Any]


class LanMutation(WireModel):
    """A mutation a clinic hub holds for its PCs: pushed by one of them, relayed to the central API in
    ``hub_seq`` order. Every PC replays the pending ones (not its own) through the shared handlers on
    top of its confirmed state, so the whole clinic sees the same view while the central API is away."""

    hub_seq: int = Field(ge=1, le=MAX_CURSOR)
    mutation_id: str = Field(min_length=1, max_length=64)
    client_id: str = Field(min_length=1, max_length=64)
    client_seq: int = Field(ge=1, le=MAX_CURSOR)
    device_id: str = Field(min_length=1, max_length=128)
    staff_id: str = Field(min_length=1, max_length=64)
    campus_id: str | None = Field(default=None, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    args: dict[str, Any]
    base_version: int | None = Field(default=None, ge=1, le=MAX_CURSOR)
    occurred_at: dt.datetime
    # The central API's outcome once the hub knows it (the entry comes again with a new ``hub_seq``):
    # "applied" - forget it once the pull cursor reaches ``seq``; "rejected" - forget it at once.
    status: Literal["pending", "applied", "rejected"] = "pending"
    seq: int | None = None


class HubInfo(WireModel):
    """Who answered: a clinic hub, its current epoch (a new epoch - a rebuilt or replaced hub - means
    "forget the LAN list you hold and ask from 0") and whether it reaches the central API now."""

    hub_id: str
    epoch: str
    upstream: bool
    backlog: int = 0
    # settled LAN entries up to this hub_seq were pruned: a PC whose ``lan_after`` is below it (and not
    # 0) missed some and reads the list again from 0, as after a new epoch
    lan_floor: int = 0


class PullResponse(WireModel):
    changes: list[Change]
    next_cursor: int
    has_more: bool
    server_time: dt.datetime
    # From a clinic hub only (the central API leaves them empty): the LAN's mutations after the pull's
    # ``lan_after`` query parameter in hub order, the ``lan_after`` to send next time, and the hub.
    lan: list[LanMutation] = Field(default_factory=list)
    lan_next: int | None = None
    hub: HubInfo | None = None


class RelayBatch(WireModel):
    """One PC's mutations relayed by a hub, in that PC's client order, asserting who made them where."""

    client_id: str = Field(min_length=1, max_length=64)
    device_id: str = Field(min_length=1, max_length=128)
    staff_id: str = Field(min_length=1, max_length=64)
    campus_id: str | None = Field(default=None, max_length=64)
    mutations: list[MutationEnvelope] = Field(max_length=MAX_PUSH_BATCH)


# Batches per relay request: a hub sends at most ``MAX_RELAY_BATCHES`` (central APIs before it took 64).
MAX_RELAY_BATCHES = MAX_PUSH_BATCH
OLD_MAX_RELAY_BATCHES = 64


class RelayRequest(WireModel):
    """``POST /api/v1/hub/relay`` under a hub's credential: batches applied in the order given, at most
    ``MAX_PUSH_BATCH`` mutations in all."""

    batches: list[RelayBatch] = Field(max_length=MAX_RELAY_BATCHES)

    @model_validator(mode="after")
    def _bounded(self) -> RelayRequest:
        if sum(len(batch.mutations) for batch in self.batches) > MAX_PUSH_BATCH:
            raise ValueError(f"at most {MAX_PUSH_BATCH} mutations per relay request")
        return self


class RelayResult(WireModel):
    client_id: str
    outcomes: list[MutationOutcome] = Field(default_factory=list)
    last_client_seq: int | None = None
    # the batch (or its rest) was not applied: e.g. client_seq_gap with ``detail.expected``, or the
    # staff member may no longer act at the hub's campus (then every outcome is a rejection instead)
    error: ErrorBody | None = None


class RelayResponse(WireModel):
    results: list[RelayResult]
    server_time: dt.datetime


class HubIdentity(WireModel):
    """``GET /api/v1/hub/whoami`` under a hub's credential: which hub the central API knows it as."""

    hub_id: str
    name: str
    campus_id: str


class HubVerifier(WireModel):
    """One staff member's login verifier for a clinic hub: the central API's Argon2 hash of the password,
    and when they last logged in online (``GET /api/v1/hub/verifiers``)."""

    staff_id: str
    username: str
    password_hash: str
    last_login_at: dt.datetime


class HubVerifiers(WireModel):
    """Every verifier a hub may hold now: staff assigned to its campus, active, who logged in online
    within ``days`` (the hub's ask, capped by the central API). A staff member not listed is one the hub
    must forget (password changed, account closed, moved, window passed)."""

    campus_id: str
    days: float
    server_time: dt.datetime
    verifiers: list[HubVerifier]


class BootstrapHeader(WireModel):
    type: Literal["header"] = "header"
    after: int
    head: int
    server_time: dt.datetime
    reference_version: int
    estimated_items: int


class BootstrapItem(WireModel):
    type: Literal["item"] = "item"
    change: Change


class BootstrapCheckpoint(WireModel):
    """Sent after every chunk: the chunk's item count and the SHA-256 of its item lines (bytes, joined by \\n)."""

    type: Literal["checkpoint"] = "checkpoint"
    seq: int
    count: int
    sha256: str


class BootstrapEnd(WireModel):
    type: Literal["end"] = "end"
    cursor: int
    total: int


class ServerInfo(WireModel):
    model_config = ConfigDict(extra="ignore")  # as ``LoginResponse``: a later server's facts are ignored

    status: Literal["ok"]
    version: str
    database: str
    head: int
    server_time: dt.datetime
    # "hub" when a clinic hub answers (``hub`` says whether it reaches the central API)
    role: Literal["central", "hub"] = "central"
    hub: HubInfo | None = None
    # the hospital's IANA time zone, as in ``LoginResponse.timezone`` (a hub: the central API's, as stored)
    timezone: str | None = Field(default=None, max_length=64)
