"""Pydantic wire models for login, push, pull, bootstrap and errors (API version 1)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.entities import Staff

API_PREFIX = "/api/v1"
MAX_PUSH_BATCH = 500
MAX_PULL_LIMIT = 5000
MAX_WAIT_SECONDS = 30.0
# Feed sequences and checkpoints fit a signed 64-bit column with room to spare.
MAX_CURSOR = 2**62

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


class UnlockRequest(WireModel):
    """A security administrator clears an account's login locks and/or a source address's block."""

    username: str | None = Field(default=None, min_length=1, max_length=64)
    source: str | None = Field(default=None, min_length=1, max_length=64)


class UnlockResponse(WireModel):
    cleared: int


class LoginResponse(WireModel):
    token: str
    expires_at: dt.datetime
    server_time: dt.datetime
    staff: Staff
    campus_id: str | None


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


class Change(WireModel):
    seq: int
    kind: str
    id: str
    version: int
    data: dict[str, Any]


class PullResponse(WireModel):
    changes: list[Change]
    next_cursor: int
    has_more: bool
    server_time: dt.datetime


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
    status: Literal["ok"]
    version: str
    database: str
    head: int
    server_time: dt.datetime
