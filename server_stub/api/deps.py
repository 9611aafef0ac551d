"""Dependencies declared once: the database, the caller's language, the authenticated principal, roles."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from server_stub.config import ServerSettings
from server_stub.db.engine import Database
from server_stub.services import auth
from server_stub.services.auth import Principal
from server_stub.services.clock import utcnow
from server_stub.services.notifier import FeedNotifier
from server_stub.services.shared_reads import SharedReads
from shared.errors import AuthFailed, PermissionDenied, SuiteError
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
        _background(_refresh(cache, cached.token_hash, check))
    return cached


_tasks: set[asyncio.Task[None]] = set()


def _background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _tasks.add(task)  # the loop keeps only a weak reference
    task.add_done_callback(_tasks.discard)


async def _refresh(cache: auth.PrincipalCache, token_hash: str, check: Callable[[], Principal]) -> None:
    """Re-check a cached token off the request's path: renewed, or forgotten when no longer valid."""
    try:
        principal = await run_in_threadpool(check)
    except SuiteError:
        cache.forget(token_hash)  # revoked, expired or deactivated: the next request is refused
    except Exception:  # noqa: BLE001 - a busy database: served from the cache until its ttl ends
        log.warning("re-checking a cached token failed", exc_info=True)
        cache.release(token_hash)
    else:
        cache.put(principal, utcnow())


PrincipalDep = Annotated[Principal, Depends(get_principal)]


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
AnyStaffDep = Annotated[Principal, Depends(require_roles("doctor", "pharmacist", "nurse", "admin"))]
