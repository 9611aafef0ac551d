"""``/api/v1/sync``: push mutations, pull the change feed (with long-poll), stream a bootstrap snapshot."""

from __future__ import annotations

import asyncio
import functools
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from server_stub.api.deps import AnyStaffDep, DbDep, FeedReaderDep
from server_stub.config import ServerSettings
from server_stub.db.engine import Database
from server_stub.services import feed, push
from server_stub.services.auth import Principal
from server_stub.services.clock import utcnow
from server_stub.services.contacts import ContactLog
from server_stub.services.feed_tail import FeedTail
from server_stub.services.feed_views import restricted_kinds
from server_stub.services.group_commit import GroupCommitter
from server_stub.services.hubs import HubPrincipal
from server_stub.services.longpoll import LongPollPacer
from server_stub.services.notifier import FeedNotifier
from server_stub.services.patient_reads import PatientReadLog, write_bulk_read
from server_stub.services.shared_reads import EncodedPage, SharedReads
from shared.i18n import normalize_language, tr
from shared.protocol.models import (
    MAX_CURSOR,
    MAX_PULL_LIMIT,
    MAX_WAIT_SECONDS,
    ErrorBody,
    PullResponse,
    PushRequest,
    PushResponse,
)

router = APIRouter(prefix="/sync", tags=["sync"])

_errors: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    409: {"model": ErrorBody},
    410: {"model": ErrorBody},
    422: {"model": ErrorBody},
}


@router.post("/push", response_model=PushResponse, responses=_errors)
async def push_mutations(body: PushRequest, principal: AnyStaffDep, request: Request) -> Response:
    """Apply a batch in client order. Replays return stored outcomes. Mutations with an unknown name,
    invalid args or a role that may not run them are stored as rejected (so they never block the
    client's queue) and make the answer 422 / 403, whose ``detail`` is the full push response.

    Pushes queue on the event loop for the process's group committer (no worker thread held while
    waiting); pushes that arrive together share one write transaction and one commit, and each is
    answered only once that commit is durable."""
    state = request.app.state
    settings: ServerSettings = state.settings
    notifier: FeedNotifier = state.notifier
    committer: GroupCommitter = state.committer
    lang = normalize_language(request.headers.get("accept-language"))
    work = functools.partial(
        push.apply_batch_in,
        client_id=body.client_id,
        mutations=body.mutations,
        principal=principal,
        timezone=settings.timezone,
        lang=lang,
    )
    keys = push.PushKeys.of(body.client_id, principal, body.mutations)
    await push.hash_codes_ahead(body.mutations)
    try:
        result = await committer.run(work, size=len(body.mutations), keys=keys)
    except Exception as failure:
        if push.is_failure_of_a_mutation(failure):  # not counted yet: the transaction failed as a whole
            await push.isolate_failure(committer, work, body.client_id, body.mutations, principal)
        raise
    if result.head_seq:
        notifier.publish(result.head_seq)
    response = PushResponse(
        outcomes=result.outcomes, last_client_seq=result.last_client_seq, server_time=utcnow()
    )
    if not result.invalid:
        return Response(content=response.model_dump_json(), media_type="application/json")
    status = 403 if result.forbidden else 422
    first = result.invalid[0]
    message = f"{len(result.invalid)} mutation(s) refused; first: #{first.client_seq} {first.message}"
    error = ErrorBody(code="mutations_refused", message=message, detail=response.model_dump(mode="json"))
    return JSONResponse(status_code=status, content=error.model_dump(mode="json"))


@router.get("/pull", response_model=PullResponse, responses=_errors)
async def pull(
    principal: FeedReaderDep,
    request: Request,
    cursor: Annotated[
        int, Query(ge=0, le=MAX_CURSOR, description="Last sequence the client has applied")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PULL_LIMIT)] = 500,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="Long-poll seconds if nothing is new")
    ] = 0,
) -> Response:
    """Changes after ``cursor`` in commit order, each entity once at its latest version. With ``wait``,
    an empty answer is held until something changes; the wait holds no database connection or thread,
    and one token's long-polls are answered at most once per ``longpoll_min_interval_seconds`` unless a
    queue ticket or notice changed meanwhile (calls are never paced).

    Pages near the head come from the process's in-memory feed tail (no database read); older
    cursors read the database, concurrent requests for the same page sharing one read. The tail has
    every write of this process before the write is answered; writes of other server processes behind
    the same database reach it within ``longpoll_poll_seconds`` (a later pull or the long-poll's wake-up
    brings them; the tail is always a gap-free prefix of the feed, so no change is ever skipped)."""
    state = request.app.state
    db: Database = state.db
    settings: ServerSettings = state.settings
    notifier: FeedNotifier = state.notifier
    shared: SharedReads = state.shared_reads
    tail: FeedTail = state.feed_tail
    pacer: LongPollPacer = state.longpoll_pacer
    contacts: ContactLog = state.contacts
    loop = asyncio.get_running_loop()
    # this PC's contact, before anything else: its outbox was pushed before this pull (a hub's pull is
    # no PC's contact: its PCs' mutations may still wait in its relay queue)
    if isinstance(principal, Principal):
        contacts.note(principal.staff.id, principal.device_id, utcnow())
    remaining = wait
    if wait > 0:
        hold = min(pacer.delay(principal.token_hash), wait)
        if hold > 0:
            # Held to pace a busy feed, but a queue call or notice after the cursor ends the hold.
            started = loop.time()
            await notifier.wait_urgent_beyond(cursor, hold)
            remaining -= loop.time() - started

    # need-to-know: the caller's campus picks the patients, its roles the fields (``feed_views``); a hub
    # gets every field of its campus's scope and serves each of its users their role's view itself
    restricted = feed_restrictions(principal)

    def read() -> feed.Page:
        with db.read() as conn:
            feed.check_cursor(conn, cursor)
            return feed.read_page(
                conn, cursor=cursor, limit=limit, campus_id=principal.campus_id, restricted=restricted
            )

    async def one_page() -> tuple[EncodedPage, int]:
        if notifier.behind:
            await notifier.refresh()
        if tail.can_serve(cursor):
            found = tail.page(
                cursor=cursor, limit=limit, campus_id=principal.campus_id, restricted=restricted
            )
            return found.page, found.scanned_to
        page = await shared.page((cursor, limit, principal.campus_id, restricted), read)
        return page, page.next_cursor

    if notifier.stopping and wait > 0:
        return _stopping(normalize_language(request.headers.get("accept-language")))
    page, scanned_to = await one_page()
    while not page.count and not page.has_more and remaining > 0:
        started = loop.time()
        if not await notifier.wait_beyond(scanned_to, remaining):
            if notifier.stopping:
                return _stopping(normalize_language(request.headers.get("accept-language")))
            break
        await asyncio.sleep(min(settings.longpoll_batch_seconds, max(remaining, 0)))
        remaining -= loop.time() - started
        page, scanned_to = await one_page()
    if wait > 0:
        pacer.answered(principal.token_hash)
    if page.patient_ids:
        patient_reads: PatientReadLog = state.patient_reads
        patient_reads.record(principal, page.patient_ids)
    server_time = utcnow().isoformat().replace("+00:00", "Z")
    return Response(content=page.response_body(server_time), media_type="application/json")


def feed_restrictions(principal: Principal | HubPrincipal) -> frozenset[str]:
    """The kinds the caller receives in their restricted form: by its roles for staff, none for a hub."""
    if isinstance(principal, HubPrincipal):
        return frozenset()
    return restricted_kinds(principal.roles)


def _stopping(lang: str) -> Response:
    """A long-poll open while the server stops: a clean 503 the client retries (with ``Connection:
    close``, so the server can stop at once), not a request cut off with a 500 and a traceback."""
    body = ErrorBody(code="server_stopping", message=tr("server.stopping", lang))
    return JSONResponse(
        status_code=503,
        content=body.model_dump(mode="json"),
        headers={"Retry-After": "2", "Connection": "close"},
    )


@router.get(
    "/bootstrap",
    responses={
        **_errors,
        200: {"content": {"application/x-ndjson": {}}, "description": "NDJSON snapshot stream"},
    },
)
def bootstrap(
    principal: FeedReaderDep,
    db: DbDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_CURSOR, description="Resume after this checkpoint sequence (0 to start)")
    ] = 0,
) -> StreamingResponse:
    """Snapshot of reference data and the caller's scope as NDJSON: header, item chunks each closed by
    a checkpoint with the chunk's SHA-256, then an end line with the cursor to pull from. Patients: only
    those the caller's campus needs, with the fields its roles need; the patients sent are audited."""
    with db.read() as conn:
        feed.check_cursor(conn, after)

    def audited(patient_ids: list[str], complete: bool) -> None:
        write_bulk_read(db, principal, patient_ids, via="bootstrap", complete=complete)

    return StreamingResponse(
        feed.stream_bootstrap(
            db,
            after=after,
            campus_id=principal.campus_id,
            restricted=feed_restrictions(principal),
            on_patients=audited,
        ),
        media_type="application/x-ndjson",
    )
