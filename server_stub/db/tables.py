"""Database schema (SQLAlchemy Core): one table per entity kind, generated from the shared entity models,
plus the server's own tables for auth, the change feed, the mutation log and the audit chain.

Entity tables are derived from ``shared.domain.entities`` so the schema has one home; Alembic migrations
freeze each step of it, and a test checks that the migrated database matches this metadata.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from decimal import Decimal
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
)

from shared.domain.entities import ENTITY_TYPES, Entity

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored as naive UTC and read back as aware UTC, the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def _column_type(annotation: Any, max_length: int | None) -> tuple[Any, bool]:
    """SQL type and nullability for a pydantic field annotation."""
    nullable = False
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(get_args(annotation))
        annotation = members[0]
        origin = get_origin(annotation)
    if origin is Literal:
        return String(max(len(str(v)) for v in get_args(annotation)) + 8), nullable
    if origin in (list, dict) or annotation in (list, dict):
        return JSON(), nullable
    mapping: dict[Any, Any] = {
        bool: Boolean(),
        int: BigInteger(),
        Decimal: Numeric(14, 4),
        dt.date: Date(),
        dt.time: Time(),
        dt.datetime: UTCDateTime(),
    }
    if annotation in mapping:
        return mapping[annotation], nullable
    if annotation is str:
        return (String(max_length) if max_length else Text()), nullable
    raise TypeError(f"no column type for {annotation!r}")


def _entity_table(entity: type[Entity]) -> Table:
    columns: list[Any] = []
    hints = typing.get_type_hints(entity)
    for name, field in entity.model_fields.items():
        max_length = next(
            (m.max_length for m in field.metadata if isinstance(m, annotated_types.MaxLen)), None
        )
        if max_length is None and name.endswith(("_id", "_by")):
            max_length = 64  # references to other entities' ids
        sql_type, nullable = _column_type(hints[name], max_length)
        if name == "id":
            columns.append(Column("id", String(64), primary_key=True))
            continue
        columns.append(
            Column(name, sql_type, nullable=nullable or not field.is_required() and field.default is None)
        )
    for name in entity.UNIQUE:
        columns.append(UniqueConstraint(name))
    for name in entity.INDEXES:
        columns.append(Index(f"ix_{entity.KIND}_{name}", name))
    return Table(entity.KIND, metadata, *columns)


ENTITY_TABLES: dict[str, Table] = {entity.KIND: _entity_table(entity) for entity in ENTITY_TYPES}

staff_credential = Table(
    "staff_credential",
    metadata,
    Column("staff_id", String(64), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("failed_count", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime(), nullable=True),
    Column("changed_at", UTCDateTime(), nullable=False),
    # the last successful online login (``auth.login``): a clinic hub of the staff member's campus
    # holds this hash for offline logins while it is recent (``services.hub_verifiers``)
    Column("last_login_at", UTCDateTime(), nullable=True),
)

# The one-time setup code of an account with no password yet (new, or after a reset): only its slow
# hash is kept; used once, within its time (``services.setup_codes``). A new code replaces the old one.
staff_setup_code = Table(
    "staff_setup_code",
    metadata,
    Column("staff_id", String(64), primary_key=True),
    Column("code_hash", String(200), nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("issued_by", String(64), nullable=True),
    Column("used_at", UTCDateTime(), nullable=True),
)

auth_token = Table(
    "auth_token",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_id", String(64), nullable=False, index=True),
    Column("device_id", String(128), nullable=False),
    Column("campus_id", String(64), nullable=True),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

# Failed logins counted per source address, per account from PCs it never logged in from, and per
# account and known PC (services/login_throttle.py); and the PCs each account has logged in from, by
# the hash of the secret the server gave that PC (a PC's device id alone is not secret).
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("blocked_until", UTCDateTime(), nullable=True),
)

known_device = Table(
    "known_device",
    metadata,
    Column("staff_id", String(64), primary_key=True),
    Column("device_id", String(128), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("first_login_at", UTCDateTime(), nullable=False),
    Column("last_login_at", UTCDateTime(), nullable=False),
)

# Pushed mutations whose handling made the server fail: counted across tries (and restarts), so one
# that keeps failing is stored as rejected ('internal_error') instead of blocking its PC's queue.
mutation_failure = Table(
    "mutation_failure",
    metadata,
    Column("mutation_id", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("last_failed_at", UTCDateTime(), nullable=False),
)

# Named counters: 'change_seq' (the change feed), 'min_cursor' (retention), 'mrn' (record numbers).
# The change_seq row is updated inside each writing transaction, so its row lock orders commits and
# the feed never shows a later sequence before an earlier one has committed (SQLite and PostgreSQL).
sync_counter = Table(
    "sync_counter",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# Where each entity sits in the feed: one row per entity at its latest sequence.
change_index = Table(
    "change_index",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("entity_id", String(64), nullable=False),
    # '' (everyone), a campus id, or for patients '|<campus>|<campus>|' (the campuses that need them).
    Column("scope", String(2000), nullable=False, default=""),
    UniqueConstraint("kind", "entity_id", name="uq_change_index_kind_entity"),
)

# Which campuses need which patients (need-to-know): a visit, appointment, queue ticket, prescription …
# at the campus, or a registration / update there; ``last_day`` is the latest such day
# (``entities.patient_scope``).
campus_patient = Table(
    "campus_patient",
    metadata,
    Column("patient_id", String(64), primary_key=True),
    Column("campus_id", String(64), primary_key=True),
    Column("last_day", Date, nullable=False),
    Index("ix_campus_patient_campus_id_last_day", "campus_id", "last_day"),
)

# PCs that IT marked for a remote wipe: the device's next request is answered with a wipe instruction.
device_wipe = Table(
    "device_wipe",
    metadata,
    Column("device_id", String(128), primary_key=True),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("requested_by", String(64), nullable=True),
    Column("reason", String(500), nullable=False, default=""),
    Column("delivered_at", UTCDateTime(), nullable=True),
)

sync_client = Table(
    "sync_client",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("device_id", String(128), nullable=False),
    Column("staff_id", String(64), nullable=True),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_push_at", UTCDateTime(), nullable=True),
)

# The ticket-number slot the server gave each triage desk / kiosk of a campus (``queue_numbers``):
# one device per slot and one slot per device and campus, kept until an administrator frees it.
desk_slot = Table(
    "desk_slot",
    metadata,
    Column("campus_id", String(64), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("device_id", String(128), nullable=False),
    Column("staff_id", String(64), nullable=True),
    Column("assigned_at", UTCDateTime(), nullable=False),
    UniqueConstraint("campus_id", "device_id", name="uq_desk_slot_campus_device"),
)

# Clinic hubs enrolled by IT (``services.hubs``): revocable principals that relay their campus's PCs'
# mutations and read its feed. Only a SHA-256 of each hub's 256-bit random secret is kept.
hub = Table(
    "hub",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("campus_id", String(64), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(64), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revoked_by", String(64), nullable=True),
    Column("last_seen_at", UTCDateTime(), nullable=True),
    Column("last_relay_at", UTCDateTime(), nullable=True),
)

# When each (staff member, device) last pulled the feed: the earliest a signature it pushes later can
# claim to be made (a PC pushes its outbox before every pull; ``shared.domain.signatures``).
device_contact = Table(
    "device_contact",
    metadata,
    Column("staff_id", String(64), primary_key=True),
    Column("device_id", String(128), primary_key=True),
    Column("last_pull_at", UTCDateTime(), nullable=False),
)

mutation_log = Table(
    "mutation_log",
    metadata,
    Column("mutation_id", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("client_seq", BigInteger, nullable=False),
    Column("name", String(64), nullable=False),
    Column("staff_id", String(64), nullable=False),
    Column("device_id", String(128), nullable=False),
    Column("status", String(32), nullable=False),
    Column("code", String(64), nullable=True),
    Column("message", Text, nullable=True),
    Column("warnings", JSON, nullable=False),
    Column("result", JSON, nullable=False),
    Column("detail", JSON, nullable=True),
    Column("seq", BigInteger, nullable=True),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    UniqueConstraint("client_id", "client_seq", name="uq_mutation_log_client_seq"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("staff_id", String(64), nullable=True),
    Column("username", String(64), nullable=True),
    Column("device_id", String(128), nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# The head of the audit chain (last id and hash), so deleting the newest rows is detected too.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
)
