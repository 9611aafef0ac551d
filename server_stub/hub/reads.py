"""Reads the hub answers from its replica while the central API is unreachable: reference searches
(``GET /api/v1/reference/{kind}``) and the campus's queues (``GET /api/v1/queue``), with the central
API's rules (``reference_search``, ``queue_views``), statuses and the caller's field view (a hub never
widens: ``feed_views.restrict`` for the kinds the caller's roles see restricted)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from server_stub.hub.store import HubDb, HubStore, Session
from server_stub.services.feed_views import restrict, restricted_kinds
from server_stub.services.queue_views import QUEUE_ROLES, QueueSummary, listed_queues
from server_stub.services.reference_search import ReferenceKind, search_rows
from shared.domain.entities import Queue
from shared.domain.search_keys import normalize_query
from shared.errors import PermissionDenied, ValidationFailed
from shared.i18n import tr

REFERENCE_KINDS: tuple[str, ...] = get_args(ReferenceKind)
REFERENCE_ROLES = frozenset({"doctor", "pharmacist", "nurse", "admin"})  # the route's AnyStaffDep
MAX_Q = 64  # the route's Query(max_length=64)
MAX_LIMIT = 500  # the route's Query(ge=1, le=500)
DEFAULT_LIMIT = 50


def _invalid(lang: str, detail: str) -> ValidationFailed:
    return ValidationFailed(tr("request.invalid", lang, detail=detail), code="invalid_input")


def _forbidden(session: Session, lang: str, action: str) -> PermissionDenied:
    return PermissionDenied(tr("auth.forbidden", lang, roles=",".join(sorted(session.roles)), action=action))


def reference_query(kind: str, params: Mapping[str, str], lang: str) -> tuple[str, int]:
    """``q`` and ``limit`` of a reference search, checked as the central route checks them (422)."""
    if kind not in REFERENCE_KINDS:
        raise _invalid(lang, f"path.kind: Input should be {', '.join(repr(k) for k in REFERENCE_KINDS)}")
    q = params.get("q", "")
    if len(q) > MAX_Q:
        raise _invalid(lang, f"query.q: String should have at most {MAX_Q} characters")
    raw = params.get("limit")
    try:
        limit = DEFAULT_LIMIT if raw is None else int(raw)
    except ValueError:
        raise _invalid(lang, "query.limit: Input should be a valid integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _invalid(lang, f"query.limit: Input should be between 1 and {MAX_LIMIT}")
    return q, limit


async def reference(
    db: HubDb, session: Session, kind: str, q: str, limit: int, lang: str
) -> list[dict[str, Any]]:
    """What the central API answers for this search, from the replica, in the caller's field view."""
    if not session.roles & REFERENCE_ROLES:
        raise _forbidden(session, lang, f"GET /api/v1/reference/{kind}")
    rows = await db.run(HubStore.replica_kind, kind)
    found = search_rows(kind, rows, normalize_query(q), limit)
    hidden = kind in restricted_kinds(session.roles)
    return [restrict(kind, dict(row)) if hidden else dict(row) for row in found]


async def queues(db: HubDb, session: Session, lang: str) -> list[QueueSummary]:
    """The active queues of the caller's campus (every campus the replica holds for an account without
    one: the hub holds only its own), as the central API lists them."""
    if not session.roles & QUEUE_ROLES:
        raise _forbidden(session, lang, "GET /api/v1/queue")
    rows = await db.run(HubStore.replica_kind, "queue")
    return listed_queues([Queue.model_validate(r) for r in rows], session.campus_id or None)
