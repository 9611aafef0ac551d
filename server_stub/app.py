"""The FastAPI application: routes, one error format for every failure, the feed tail with its long-poll
notifier, and the group committer that applies pushes.

At the edge, before any route: a request body is limited by what is read, not what is declared
(``BodySizeLimit``); an unexpected error is answered 500 without closing the connection
(``UnhandledErrors``: the next request on a kept-alive connection works); a stop signal ends open
long-polls at once with 503 ``server_stopping`` (``_end_long_polls_on_stop``)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server_stub.api.deps import TokenRechecks
from server_stub.api.routes import (
    admin,
    admin_hubs,
    admin_imports,
    audit_log,
    auth,
    devices,
    health,
    hub,
    patients,
    queue,
    reference,
    staff_admin,
    sync,
)
from server_stub.config import ServerSettings, get_settings
from server_stub.db.engine import Database, DatabaseBusy
from server_stub.services import audit_key, push
from server_stub.services.auth import PrincipalCache, SourceBlocked
from server_stub.services.contacts import ContactLog
from server_stub.services.device_wipe import WipeRegistry
from server_stub.services.feed import CursorAhead, CursorExpired
from server_stub.services.feed_tail import FeedTail, fetch_after_commit
from server_stub.services.group_commit import GroupCommitter
from server_stub.services.longpoll import URGENT_KINDS, LongPollPacer
from server_stub.services.notifier import FeedNotifier
from server_stub.services.patient_reads import PatientReadLog
from server_stub.services.push import ClientMismatch, SequenceError
from server_stub.services.reference_cache import ReferenceCache
from server_stub.services.shared_reads import SharedReads
from shared import __version__
from shared.domain.search_keys import pinyin_initials
from shared.errors import (
    AccountLocked,
    AuthFailed,
    BusinessRuleViolation,
    Conflict,
    NotFound,
    PermissionDenied,
    SuiteError,
    ValidationFailed,
)
from shared.gc_tuning import settle_after_start
from shared.i18n import normalize_language, tr
from shared.protocol.models import API_PREFIX, ErrorBody

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[SuiteError], int]] = [
    (SourceBlocked, 429),
    (AccountLocked, 423),
    (AuthFailed, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (SequenceError, 409),
    (ClientMismatch, 409),
    (Conflict, 409),
    (ValidationFailed, 422),
    (BusinessRuleViolation, 422),
]


def _error(
    status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(code=code, message=message, detail=detail).model_dump(mode="json")
    return JSONResponse(status_code=status, content=body, headers=headers)


def _lang(request: Request) -> str:
    return normalize_language(request.headers.get("accept-language"))


def _describe_validation(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    items = []
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = ".".join(p for p in loc if p not in ("body",)) or "body"
        if err.get("type") == "json_invalid":
            parts.append(f"body is not valid JSON ({err.get('msg')})")
        else:
            parts.append(f"{where}: {err.get('msg')}")
        items.append({"loc": loc, "msg": err.get("msg"), "type": err.get("type")})
    return "; ".join(parts[:10]), items


class BodySizeLimit:
    """Refuse request bodies over the limit with 413, by what is read, not what is declared.

    A declared ``Content-Length`` over the limit is refused before reading; under it, the server reads
    no more than declared. A body without a declared length (chunked) is read here up to the limit,
    counting the bytes received, and refused at the first byte over it; the answer closes the
    connection, so nothing more is read. A body within the limit is handed on unchanged."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _error(
            413,
            "body_too_large",
            f"request body over {self.max_bytes} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        received = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                log.warning("refused a request body over %d bytes (%s)", self.max_bytes, scope.get("path"))
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)


class UnhandledErrors:
    """Answer an unexpected error with a JSON 500 carrying a reference that is in the log, and end the
    request normally. Starlette's own last-resort handler re-raises after answering, and uvicorn then
    closes the connection: the client's next request on that kept-alive connection was reset."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("unhandled error %s on %s %s", ref, scope.get("method"), scope.get("path"))
            if started:  # half an answer is out: only closing the connection can tell the client
                raise
            request = Request(scope)
            response = _error(500, "server_error", tr("server.error", _lang(request), ref=ref))
            await response(scope, receive, send)


def _end_long_polls_on_stop(notifier: FeedNotifier) -> None:
    """On SIGINT / SIGTERM, answer open long-polls at once (``FeedNotifier.stop_waiters``), then let the
    server's own handler stop it. The server only tells the application it stops after it has waited
    for open requests, which a long-poll holds for up to ``MAX_WAIT_SECONDS``; cut off, they ended in
    500s with tracebacks. Main thread only (where the server installed its handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(number)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(notifier.stop_waiters)
            previous(signum, frame)

        signal.signal(number, handler)


def _ensure_audit_key(db: Database) -> None:
    with db.read() as conn:
        audit_key.ensure(conn)


def create_app(settings: ServerSettings | None = None, *, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    # The writer thread gives up the GIL at every database call; with Python's default 5 ms switch
    # interval it then waits up to 5 ms behind the busy event loop to get it back, per statement.
    sys.setswitchinterval(settings.gil_switch_interval_ms / 1000)
    db = database or Database.open(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        busy_ms=settings.sqlite_busy_ms,
    )

    tail = FeedTail(capacity=settings.feed_tail_entries)
    tail.urgent_kinds = URGENT_KINDS
    notifier = FeedNotifier(db, tail, settings.longpoll_poll_seconds)
    committer = GroupCommitter(
        db,
        begin=push.prepare_group,
        after_commit=lambda states: fetch_after_commit(db, tail.head, states),
        on_committed=notifier.absorb,
        max_group=settings.group_commit_max,
    )

    contacts = ContactLog()
    patient_reads = PatientReadLog(db, flush_seconds=settings.patient_audit_flush_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The pinyin dictionary loads on first use (~1 s of CPU): now, in the background, rather than
        # in the first patient registration of a busy hour.
        asyncio.get_running_loop().run_in_executor(None, pinyin_initials, "预热")
        # The audit chain's key, outside the database: made (anchored at the chain's head) at first start.
        await asyncio.get_running_loop().run_in_executor(None, _ensure_audit_key, db)
        await notifier.start()
        await committer.start()
        _end_long_polls_on_stop(notifier)
        contacts.start(db)
        await patient_reads.start()
        # Garbage collection pauses were the slowest 1% of requests (p99 at 800 users halved without
        # them): see shared.gc_tuning.
        settle_after_start(settings.gc_young_threshold)
        try:
            yield
        finally:
            notifier.stop_waiters()
            await patient_reads.stop()
            await committer.stop()
            await contacts.stop(db)
            await notifier.stop()
            db.dispose()

    app = FastAPI(
        title="Clinic Suite central API",
        version=__version__,
        summary="Auth, reference data and the offline-first sync protocol (push / pull / bootstrap).",
        lifespan=lifespan,
        # No OpenTelemetry here: without it FastAPI still looked for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.db = db
    app.state.notifier = notifier
    app.state.feed_tail = tail
    app.state.committer = committer
    app.state.reference_cache = ReferenceCache(db, tail)
    app.state.principals = PrincipalCache(ttl=settings.token_cache_seconds)
    app.state.token_rechecks = TokenRechecks(app.state.principals, db)
    app.state.shared_reads = SharedReads()
    app.state.longpoll_pacer = LongPollPacer(settings.longpoll_min_interval_seconds)
    app.state.contacts = contacts
    app.state.patient_reads = patient_reads
    app.state.wipes = WipeRegistry(db)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(UnhandledErrors)  # added last: the outermost of ours, around everything else

    app.include_router(health.router)
    # sync first: routes are matched in order, and pulls and pushes are most of the traffic
    for router in (
        sync.router,
        reference.router,
        auth.router,
        queue.router,
        admin.router,
        patients.router,
        devices.router,
        admin_imports.router,
        audit_log.router,
        hub.router,
        admin_hubs.router,
        staff_admin.setup_router,
        staff_admin.router,
    ):
        app.include_router(router, prefix=API_PREFIX)

    @app.exception_handler(SuiteError)
    async def suite_error(request: Request, exc: SuiteError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status == 429 and isinstance(exc.detail, dict) and "retry_after" in exc.detail:
            headers = {"Retry-After": str(exc.detail["retry_after"])}
        return _error(status, exc.code, exc.message, exc.detail, headers)

    @app.exception_handler(CursorExpired)
    async def cursor_expired(request: Request, exc: CursorExpired) -> JSONResponse:
        message = tr("sync.cursor_expired", _lang(request), cursor=exc.cursor, min_cursor=exc.min_cursor)
        return _error(410, "cursor_expired", message, {"cursor": exc.cursor, "min_cursor": exc.min_cursor})

    @app.exception_handler(CursorAhead)
    async def cursor_ahead(request: Request, exc: CursorAhead) -> JSONResponse:
        message = tr("sync.cursor_ahead", _lang(request), cursor=exc.cursor, head=exc.head)
        return _error(410, "cursor_ahead", message, {"cursor": exc.cursor, "head": exc.head})

    @app.exception_handler(OperationalError)
    @app.exception_handler(SQLAlchemyTimeoutError)
    @app.exception_handler(DatabaseBusy)
    async def database_busy(request: Request, exc: Exception) -> JSONResponse:
        # A write lock or a pool slot not granted in time, or the database unreachable: transient, so
        # clients back off and retry; nothing was applied (the transaction rolled back).
        log.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
        return _error(503, "database_busy", tr("server.busy", _lang(request)), headers={"Retry-After": "2"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        summary, items = _describe_validation(exc)
        return _error(422, "invalid_input", tr("request.invalid", _lang(request), detail=summary), items)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "http_error"
        )
        return _error(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    return app
