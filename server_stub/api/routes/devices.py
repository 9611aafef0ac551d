"""``/api/v1/admin/devices``: mark a retired or lost PC for a remote wipe (admin role only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from server_stub.api.deps import AdminDep, DbDep
from server_stub.services import device_wipe
from server_stub.services.clock import utcnow
from shared.protocol.models import ErrorBody

router = APIRouter(
    prefix="/admin/devices", tags=["admin"], responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}}
)


@router.post("/{device_id}/wipe")
def mark_for_wipe(
    principal: AdminDep,
    db: DbDep,
    device_id: str,
    reason: Annotated[str, Body(embed=True, max_length=500)] = "",
) -> dict[str, Any]:
    """The device's next request is answered with a wipe instruction (its data, key and login deleted)."""
    with db.write() as conn:
        device_wipe.mark(conn, device_id=device_id[:128], by=principal.staff.id, reason=reason, now=utcnow())
    return {"device_id": device_id, "marked": True}


@router.delete("/{device_id}/wipe")
def cancel_wipe(principal: AdminDep, db: DbDep, device_id: str) -> dict[str, Any]:
    with db.write() as conn:
        cancelled = device_wipe.cancel(conn, device_id=device_id[:128], by=principal.staff.id, now=utcnow())
    return {"device_id": device_id, "cancelled": cancelled}
