"""``/api/v1/reference``: read reference data (drugs, ICD-10, departments …) with a simple search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from server_stub.api.deps import AnyStaffDep
from server_stub.services.notifier import FeedNotifier
from server_stub.services.reference_cache import ReferenceCache
from server_stub.services.reference_search import ReferenceKind
from shared.protocol.models import ErrorBody

router = APIRouter(prefix="/reference", tags=["reference"])


@router.get(
    "/{kind}",
    response_model=list[dict[str, Any]],
    responses={401: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def list_reference(
    kind: ReferenceKind,
    _principal: AnyStaffDep,
    request: Request,
    q: Annotated[str, Query(max_length=64)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Non-voided rows of ``kind`` ordered by code: all of them, or those whose code or pinyin initials
    start with ``q`` or whose names contain it (case-insensitive), at most ``limit``. Answered from the
    process's in-memory copy, which follows the change feed; like a pull, it first catches up with
    writes this process announced (other server processes' writes arrive within the poll interval)."""
    state = request.app.state
    notifier: FeedNotifier = state.notifier
    if notifier.behind:
        await notifier.refresh()
    cache: ReferenceCache = state.reference_cache
    return Response(content=await cache.search(kind, q, limit), media_type="application/json")
