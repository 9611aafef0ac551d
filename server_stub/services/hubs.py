"""Clinic hubs as principals of the central API: enrolled by IT for one campus, authenticated by their
own credential, revocable at once.

A hub's credential is ``hub_<id>.<secret>``, the secret 256 random bits (``secrets.token_urlsafe(32)``),
shown once at enrolment. The server keeps only the SHA-256 of the secret: a slow, salted hash
(Argon2, as for passwords) protects secrets people choose and can be guessed; a 256-bit random secret
cannot be guessed whatever the hash's speed, and a fast hash keeps every hub request (long-polls, relays)
to one primary-key read and one compare. Staff tokens (``secrets.token_urlsafe``) never contain a dot,
so a hub credential is told apart by its shape before any lookup (``is_hub_token``).

What a hub may do is decided at the edge (``api.deps``): read its campus's feed (pull, bootstrap) with
every field, relay its PCs' mutations (``/hub/relay``, each re-checked as if the staff member pushed it
from that PC), ask who it is (``/hub/whoami``) and fetch its campus's login verifiers
(``/hub/verifiers``, ``services.hub_verifiers``). Everything else answers 403.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from server_stub.db.tables import ENTITY_TABLES, hub
from server_stub.services import audit
from server_stub.services.entities import to_entity
from shared.domain.entities import Campus
from shared.errors import AuthFailed, NotFound, ValidationFailed
from shared.i18n import register, tr
from shared.ids import new_id
from shared.protocol.models import HUB_HEADER

PREFIX = "hub_"
# How often a hub's ``last_seen_at`` is written at most (it is read on every hub request anyway).
SEEN_EVERY = dt.timedelta(seconds=60)

register(
    "hub.revoked",
    {
        "zh_CN": "该集线器的凭据已被信息科吊销；请重新登记集线器",
        "en": "This hub's credential was revoked by IT; enrol the hub again",
        "zh_TW": "該集線器的憑據已被資訊科吊銷；請重新登記集線器",
    },
)
register(
    "hub.unknown",
    {
        "zh_CN": "集线器凭据无效：请检查集线器配置中的凭据，或重新登记集线器",
        "en": "The hub's credential is not valid: check it in the hub's configuration, or enrol the hub again",
        "zh_TW": "集線器憑據無效：請檢查集線器配置中的憑據，或重新登記集線器",
    },
)
register(
    "hub.forbidden",
    {
        "zh_CN": "集线器凭据不能执行此操作：{action}",
        "en": "A hub's credential may not do this: {action}",
        "zh_TW": "集線器憑據不能執行此操作：{action}",
    },
)
register(
    "hub.only",
    {
        "zh_CN": "仅集线器可执行此操作：{action}",
        "en": "Only a clinic hub may do this: {action}",
        "zh_TW": "僅集線器可執行此操作：{action}",
    },
)
register(
    "hub.scope",
    {
        "zh_CN": "该操作经本院区集线器转发，但操作人员未被分配到本院区或已停用，或来自其他院区；已拒绝",
        "en": "Relayed by this campus's hub, but the staff member is not assigned to this campus, is "
        "inactive, or the work comes from another campus: refused",
        "zh_TW": "該操作經本院區集線器轉發，但操作人員未被分配到本院區或已停用，或來自其他院區；已拒絕",
    },
)


@dataclass(frozen=True)
class HubPrincipal:
    """A hub calling with its credential: which hub, for which campus."""

    hub_id: str
    name: str
    campus_id: str
    token_hash: str  # per hub (the long-poll pacer keys on it)
    seen_due: bool = False  # ``last_seen_at`` is older than ``SEEN_EVERY``: ``note_seen`` it


@dataclass(frozen=True)
class Enrolled:
    hub_id: str
    name: str
    campus_id: str
    credential: str  # shown once; only the secret's hash is stored


def forwarded_source(conn: Connection, headers: Mapping[str, str], peer: str, *, now: dt.datetime) -> str:
    """The address a login comes from for the throttle: the peer's, or - when the peer is an enrolled,
    unrevoked hub naming itself with ``HUB_HEADER`` - the PC behind it (``hub:<id>/<address>``), so a
    clinic's failed logins never block the hub, and one PC's never block its neighbours."""
    credential = headers.get(HUB_HEADER, "")
    forwarded = headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    if not credential or not forwarded or not is_hub_token(credential):
        return peer
    try:
        principal = authenticate(conn, token=credential, now=now, lang="en")
    except AuthFailed:
        return peer
    return f"hub:{principal.hub_id}/{forwarded}"[:64]


def is_hub_token(token: str) -> bool:
    """A hub's credential by its shape (a staff token never holds a dot)."""
    return token.startswith(PREFIX) and "." in token


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def find_campus(conn: Connection, code_or_id: str) -> Campus:
    """The campus with this id or code (not voided); NotFound otherwise."""
    table = ENTITY_TABLES[Campus.KIND]
    row = conn.execute(
        select(table).where(
            (table.c.id == code_or_id) | (table.c.code == code_or_id), table.c.voided.is_(False)
        )
    ).first()
    if row is None:
        raise NotFound(f"no campus {code_or_id!r}", code="unknown_campus")
    return to_entity(Campus, row)


def enrol(
    conn: Connection, *, name: str, campus: str, by: str | None, now: dt.datetime, username: str | None = None
) -> Enrolled:
    """Enrol a hub for ``campus`` (its id or code); audited. ``by``: the staff id (None: the command)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("a hub needs a name of 1 to 100 characters", code="invalid_input")
    found = find_campus(conn, campus)
    hub_id = new_id()
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(hub).values(
            id=hub_id,
            name=name,
            campus_id=found.id,
            secret_hash=_secret_hash(secret),
            created_at=now,
            created_by=by,
        )
    )
    audit.append(
        conn,
        at=now,
        action="hub.enrol",
        outcome="ok",
        staff_id=by,
        username=username if by else "clinic hub-enrol",
        target=hub_id,
        detail={"hub_id": hub_id, "name": name, "campus_id": found.id},
    )
    return Enrolled(hub_id, name, found.id, f"{PREFIX}{hub_id}.{secret}")


def revoke(
    conn: Connection, *, hub_id: str, by: str | None, now: dt.datetime, username: str | None = None
) -> bool:
    """Revoke a hub's credential at once (its next request is refused, 401 ``hub_revoked``); audited.
    False when it was revoked already; NotFound for an unknown hub."""
    row = conn.execute(select(hub).where(hub.c.id == hub_id)).first()
    if row is None:
        raise NotFound(f"no hub {hub_id!r}", code="unknown_hub")
    if row.revoked_at is not None:
        return False
    conn.execute(update(hub).where(hub.c.id == hub_id).values(revoked_at=now, revoked_by=by))
    audit.append(
        conn,
        at=now,
        action="hub.revoke",
        outcome="ok",
        staff_id=by,
        username=username if by else "clinic hub-revoke",
        target=hub_id,
        detail={"hub_id": hub_id, "name": row.name, "campus_id": row.campus_id},
    )
    return True


def listing(conn: Connection) -> list[dict[str, Any]]:
    """Every hub, oldest first, with its campus's code (never its secret's hash)."""
    campuses = ENTITY_TABLES[Campus.KIND]
    rows = conn.execute(
        select(hub, campuses.c.code.label("campus_code"))
        .select_from(hub.outerjoin(campuses, campuses.c.id == hub.c.campus_id))
        .order_by(hub.c.created_at)
    ).all()
    return [
        {
            "id": row.id,
            "name": row.name,
            "campus_id": row.campus_id,
            "campus_code": row.campus_code,
            "created_at": row.created_at,
            "created_by": row.created_by,
            "revoked_at": row.revoked_at,
            "revoked_by": row.revoked_by,
            "last_seen_at": row.last_seen_at,
            "last_relay_at": row.last_relay_at,
        }
        for row in rows
    ]


def authenticate(conn: Connection, *, token: str, now: dt.datetime, lang: str) -> HubPrincipal:
    """The hub behind a credential, or AuthFailed: ``hub_revoked`` for a revoked hub, ``token_invalid``
    for anything else (unknown hub, wrong secret, malformed). Reads only."""
    hub_id, _, secret = token[len(PREFIX) :].partition(".")
    row = conn.execute(select(hub).where(hub.c.id == hub_id[:64])).first() if hub_id and secret else None
    if row is None or not hmac.compare_digest(row.secret_hash, _secret_hash(secret)):
        raise AuthFailed(tr("hub.unknown", lang), code="token_invalid")
    if row.revoked_at is not None:
        raise AuthFailed(tr("hub.revoked", lang), code="hub_revoked")
    return HubPrincipal(
        hub_id=row.id,
        name=row.name,
        campus_id=row.campus_id,
        token_hash=f"hub:{row.id}",
        seen_due=row.last_seen_at is None or now - row.last_seen_at >= SEEN_EVERY,
    )


def note_seen(conn: Connection, *, hub_id: str, now: dt.datetime) -> None:
    conn.execute(update(hub).where(hub.c.id == hub_id).values(last_seen_at=now))


def note_relay(conn: Connection, *, hub_id: str, now: dt.datetime) -> None:
    conn.execute(update(hub).where(hub.c.id == hub_id).values(last_relay_at=now, last_seen_at=now))
