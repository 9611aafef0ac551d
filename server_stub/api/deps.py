"""Dependencies declared once: the database, the caller's language, the authenticated principal, roles."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from server_stub.config import ServerSettings
from server_stub.db.engine import Database
from server_stub.services import auth, hubs
from server_stub.services.auth import Principal
from server_stub.services.clock import utcnow
from server_stub.services.group_commit import GroupCommitter
from server_stub.services.hubs import HubPrincipal
from server_stub.services.notifier import FeedNotifier
from server_stub.services.shared_reads import SharedReads
from shared.errors import AuthFailed, PermissionDenied
from shared.i18n import normalize_language, tr

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False)


async def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


async def get_settings(request: Request) -> ServerSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_notifier(request: Request) -> FeedNotifier:
    return request.app.state.notifier  # type: ignore[no-any-return]


async def get_language(accept_language: Annotated[str | None, Header()] = None) -> str:
    return normalize_language(accept_language)


async def get_shared_reads(request: Request) -> SharedReads:
    return request.app.state.shared_reads  # type: ignore[no-any-return]


DbDep = Annotated[Database, Depends(get_db)]
SharedReadsDep = Annotated[SharedReads, Depends(get_shared_reads)]
SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
NotifierDep = Annotated[FeedNotifier, Depends(get_notifier)]
LangDep = Annotated[str, Depends(get_language)]


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate the bearer token: from the process's short-lived cache, else in a short read
    transaction in a worker thread (released before any long-poll wait). It reads the database and the
    language from the request itself rather than through further dependencies, because every request
    passes here and each dependency costs the event loop time."""
    lang = normalize_language(request.headers.get("accept-language"))
    if credentials is None or not credentials.credentials:
        raise AuthFailed(tr("auth.missing_token", lang), code="token_missing")
    if hubs.is_hub_token(credentials.credentials):
        # a hub's credential: refused here, on every endpoint for staff (401 first when it is not valid)
        await get_hub(request, credentials)
        action = f"{request.method} {request.url.path}"
        raise PermissionDenied(tr("hub.forbidden", lang, action=action), code="hub_forbidden")

    # a PC that IT marked for a remote wipe gets the wipe instruction, whatever its token's state
    await request.app.state.wipes.check_token(credentials.credentials, lang)
    cache: auth.PrincipalCache = request.app.state.principals
    db: Database = request.app.state.db

    def check() -> Principal:
        with db.read() as conn:
            return auth.authenticate(conn, token=credentials.credentials, now=utcnow(), lang=lang)

    cached = cache.get(credentials.credentials, utcnow())
    if cached is None:
        principal = await run_in_threadpool(check)
        cache.put(principal, utcnow())
        return principal
    if cache.claim_refresh(cached.token_hash, utcnow()):
        request.app.state.token_rechecks.want(cached.token_hash)
    return cached


class TokenRechecks:
    """Cached tokens past half their ttl (``PrincipalCache.claim_refresh``) are re-checked off the
    requests' path, together: every token that came due within ``gather_seconds`` in one read of two
    statements, not one read per token (800 PCs made that a hundred reads a second). Renewed, or
    forgotten when no longer valid; a failed read leaves them to be claimed again. Event loop only."""

    def __init__(self, cache: auth.PrincipalCache, db: Database, *, gather_seconds: float = 0.5) -> None:
        self.cache = cache
        self.db = db
        self.gather_seconds = gather_seconds
        self._due: set[str] = set()
        self._batch: asyncio.Task[None] | None = None  # gathering
        self._running: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    def want(self, token_hash: str) -> None:
        self._due.add(token_hash)
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_task(self._recheck())
            self._running.add(self._batch)
            self._batch.add_done_callback(self._running.discard)

    async def _recheck(self) -> None:
        await asyncio.sleep(self.gather_seconds)
        due, self._due, self._batch = self._due, set(), None

        def read() -> tuple[list[Principal], set[str]]:
            with self.db.read() as conn:
                return auth.recheck(conn, due, utcnow())

        try:
            valid, refused = await run_in_threadpool(read)
        except Exception:  # noqa: BLE001 - a busy database: served from the cache until their ttl ends
            log.warning("re-checking %d cached tokens failed", len(due), exc_info=True)
            for token_hash in due:
                self.cache.release(token_hash)
            return
        now = utcnow()
        for principal in valid:
            self.cache.put(principal, now)
        for token_hash in refused:
            self.cache.forget(token_hash)  # revoked, expired or deactivated: the next request is refused


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_hub(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> HubPrincipal:
    """Authenticate a clinic hub's credential (``services.hubs``): 401 ``hub_revoked`` or
    ``token_invalid``; a staff token (valid) gets 403 ``hub_only``. Not cached: a revocation holds from
    the hub's next request, and a hub makes few requests (one long-poll at a time, relays)."""
    lang = normalize_language(request.headers.get("accept-language"))
    if credentials is None or not credentials.credentials:
        raise AuthFailed(tr("auth.missing_token", lang), code="token_missing")
    token = credentials.credentials
    if not hubs.is_hub_token(token):
        await get_principal(request, credentials)  # 401 for a token that is no good at all
        action = f"{request.method} {request.url.path}"
        raise PermissionDenied(tr("hub.only", lang, action=action), code="hub_only")
    db: Database = request.app.state.db
    now = utcnow()

    def check() -> HubPrincipal:
        with db.read() as conn:
            return hubs.authenticate(conn, token=token, now=now, lang=lang)

    found = await run_in_threadpool(check)
    if found.seen_due:
        _note_seen_later(request.app.state.committer, found.hub_id, now)
    return found


_noting: set[asyncio.Task[None]] = set()


def _note_seen_later(committer: GroupCommitter, hub_id: str, now: dt.datetime) -> None:
    """Write the hub's ``last_seen_at`` in the group committer's next transaction without holding up
    the request: it waited here for the write lock, and a hub's pull behind a large relay group failed
    with ``database busy``. The time is only shown to IT (the next due request notes it again if this
    write fails); the hub's credential was checked above, before anything."""

    async def note() -> None:
        try:
            await committer.run(functools.partial(hubs.note_seen, hub_id=hub_id, now=now))
        except Exception:  # noqa: BLE001 - noted again on the hub's next request
            log.warning("noting hub %s as seen failed", hub_id, exc_info=True)

    task = asyncio.get_running_loop().create_task(note())
    _noting.add(task)
    task.add_done_callback(_noting.discard)


HubDep = Annotated[HubPrincipal, Depends(get_hub)]


def staff_or_hub(*roles: str) -> Callable[..., Awaitable[Principal | HubPrincipal]]:
    """A dependency for the feed's reads: a staff member with one of ``roles``, or a clinic hub."""
    staff = require_roles(*roles)

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal | HubPrincipal:
        if credentials is not None and hubs.is_hub_token(credentials.credentials):
            return await get_hub(request, credentials)
        return await staff(request, credentials)

    return check


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and lets only the given roles through (403 with a
    clear message otherwise). One dependency, not a chain, for the same reason as ``get_principal``."""
    allowed = frozenset(roles)

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = await get_principal(request, credentials)
        if not principal.roles & allowed:
            lang = normalize_language(request.headers.get("accept-language"))
            action = f"{request.method} {request.url.path}"
            raise PermissionDenied(
                tr("auth.forbidden", lang, roles=",".join(sorted(principal.roles)), action=action)
            )
        return principal

    return check


AdminDep = Annotated[Principal, Depends(require_roles("admin"))]
SecurityAdminDep = Annotated[Principal, Depends(require_roles("security_admin"))]
AnyStaffDep = Annotated[Principal, Depends(require_roles("doctor", "pharmacist", "nurse", "admin"))]
# 三员分立: the auditor reads the audit log (with the system administrator) and changes nothing.
AuditReaderDep = Annotated[Principal, Depends(require_roles("admin", "auditor"))]
# The feed's reads (pull, bootstrap): the staff of AnyStaffDep, or a clinic hub for its campus.
FeedReaderDep = Annotated[
    Principal | HubPrincipal, Depends(staff_or_hub("doctor", "pharmacist", "nurse", "admin"))
]
# Clinic hubs: the security administrator enrols them (a hub reads its campus's patients unmasked, more
# than the system administrator sees); either may list them and revoke one at once.
HubEnrolDep = Annotated[Principal, Depends(require_roles("security_admin"))]
HubAdminDep = Annotated[Principal, Depends(require_roles("admin", "security_admin"))]
# Anyone signed in, the auditor too: who they are, signing out.
SignedInDep = Annotated[
    Principal, Depends(require_roles("doctor", "pharmacist", "nurse", "admin", "security_admin", "auditor"))
]
