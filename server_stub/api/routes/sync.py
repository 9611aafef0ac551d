"""``/api/v1/sync``: push mutations, pull the change feed (with long-poll), stream a bootstrap snapshot."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from server_stub.api.deps import AnyStaffDep, DbDep, LangDep, NotifierDep, SettingsDep, SharedReadsDep
from server_stub.services import feed, push
from server_stub.services.clock import utcnow
from shared.protocol.models import (
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
async def push_mutations(
    body: PushRequest,
    principal: AnyStaffDep,
    db: DbDep,
    settings: SettingsDep,
    notifier: NotifierDep,
    lang: LangDep,
    request: Request,
) -> PushResponse | JSONResponse:
    """Apply a batch in client order. Replays return stored outcomes. Mutations with an unknown name,
    invalid args or a role that may not run them are stored as rejected (so they never block the
    client's queue) and make the answer 422 / 403, whose ``detail`` is the full push response.

    Pushes wait for the write gate on the event loop, so a queue of writers holds no worker thread and
    reads keep flowing while the database takes one writer at a time."""
    async with request.app.state.write_gate:
        result = await run_in_threadpool(
            push.apply_batch,
            db,
            client_id=body.client_id,
            mutations=body.mutations,
            principal=principal,
            timezone=settings.timezone,
            lang=lang,
        )
    if result.head_seq:
        notifier.publish(result.head_seq)
    response = PushResponse(
        outcomes=result.outcomes, last_client_seq=result.last_client_seq, server_time=utcnow()
    )
    if not result.invalid:
        return response
    status = 403 if result.forbidden else 422
    first = result.invalid[0]
    message = f"{len(result.invalid)} mutation(s) refused; first: #{first.client_seq} {first.message}"
    error = ErrorBody(code="mutations_refused", message=message, detail=response.model_dump(mode="json"))
    return JSONResponse(status_code=status, content=error.model_dump(mode="json"))


@router.get("/pull", response_model=PullResponse, responses=_errors)
async def pull(
    principal: AnyStaffDep,
    db: DbDep,
    notifier: NotifierDep,
    settings: SettingsDep,
    shared: SharedReadsDep,
    cursor: Annotated[int, Query(ge=0, description="Last sequence the client has applied")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PULL_LIMIT)] = 500,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="Long-poll seconds if nothing is new")
    ] = 0,
) -> Response:
    """Changes after ``cursor`` in commit order, each entity once at its latest version. With ``wait``,
    an empty answer is held until something changes; the wait holds no database connection or thread.
    Concurrent requests for the same page share one read (``SharedReads``)."""

    def read() -> feed.Page:
        with db.read() as conn:
            feed.check_cursor(conn, cursor)
            return feed.read_page(conn, cursor=cursor, limit=limit, campus_id=principal.campus_id)

    key = (cursor, limit, principal.campus_id)
    page = await shared.page(key, read)
    remaining = wait
    while not page.count and not page.has_more and remaining > 0:
        started = utcnow()
        if not await notifier.wait_beyond(page.next_cursor, remaining):
            break
        await asyncio.sleep(min(settings.longpoll_batch_seconds, max(remaining, 0)))
        remaining -= (utcnow() - started).total_seconds()
        page = await shared.page(key, read)
    server_time = utcnow().isoformat().replace("+00:00", "Z")
    return Response(content=page.response_body(server_time), media_type="application/json")


@router.get(
    "/bootstrap",
    responses={
        **_errors,
        200: {"content": {"application/x-ndjson": {}}, "description": "NDJSON snapshot stream"},
    },
)
def bootstrap(
    principal: AnyStaffDep,
    db: DbDep,
    after: Annotated[int, Query(ge=0, description="Resume after this checkpoint sequence (0 to start)")] = 0,
) -> StreamingResponse:
    """Snapshot of reference data and the caller's scope as NDJSON: header, item chunks each closed by
    a checkpoint with the chunk's SHA-256, then an end line with the cursor to pull from."""
    with db.read() as conn:
        feed.check_cursor(conn, after)
    return StreamingResponse(
        feed.stream_bootstrap(db, after=after, campus_id=principal.campus_id),
        media_type="application/x-ndjson",
    )
