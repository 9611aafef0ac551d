"""``/api/v1/admin/audit``: browse and search the audit log (who, what, target, when, which PC; paged,
newest first) and export it as CSV. For the auditor and the system administrator (三员分立). Only GET:
no endpoint changes or deletes an entry; an export is itself recorded in the log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from server_stub.api.deps import AuditReaderDep, DbDep
from server_stub.services import audit
from server_stub.services.audit_query import AuditFilter, csv_chunks, page
from server_stub.services.clock import utcnow
from shared.protocol.models import ErrorBody

router = APIRouter(
    prefix="/admin/audit",
    tags=["audit"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)

Text = Annotated[str | None, Query(max_length=128)]
When = Annotated[dt.datetime | None, Query(description="ISO 8601 time; without a zone: UTC")]


def _criteria(
    username: str | None,
    action: str | None,
    target: str | None,
    device_id: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    hub_id: str | None = None,
) -> AuditFilter:
    def utc(value: dt.datetime | None) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value

    return AuditFilter(username, action, target, device_id, utc(since), utc(until), hub_id)


@router.get("/entries")
def list_entries(
    _principal: AuditReaderDep,
    db: DbDep,
    username: Text = None,
    action: Text = None,
    target: Text = None,
    device_id: Text = None,
    since: When = None,
    until: When = None,
    hub_id: Text = None,
    before: Annotated[int | None, Query(ge=1, description="entries older than this id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """A page of matching entries, newest first; ``next_before`` asks for the next (older) page."""
    criteria = _criteria(username, action, target, device_id, since, until, hub_id)
    with db.read() as conn:
        entries, following = page(conn, criteria=criteria, before=before, limit=limit)
    return {"entries": entries, "next_before": following}


@router.get("/export.csv", response_class=StreamingResponse)
def export_entries(
    principal: AuditReaderDep,
    db: DbDep,
    username: Text = None,
    action: Text = None,
    target: Text = None,
    device_id: Text = None,
    since: When = None,
    until: When = None,
    hub_id: Text = None,
) -> StreamingResponse:
    """Every matching entry as a CSV file (UTF-8 with a BOM). Who exported what is logged first."""
    criteria = _criteria(username, action, target, device_id, since, until, hub_id)
    with db.write() as conn:
        audit.defer(
            conn,
            at=utcnow(),
            action="audit.export",
            outcome="applied",
            staff_id=principal.staff.id,
            username=principal.staff.username,
            device_id=principal.device_id,
            detail={k: str(v) for k, v in vars(criteria).items() if v is not None},
        )

    def chunks() -> Iterator[bytes]:
        with db.read() as conn:
            for text in csv_chunks(conn, criteria=criteria):
                yield text.encode("utf-8")

    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )
