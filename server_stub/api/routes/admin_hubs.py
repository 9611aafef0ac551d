"""``/api/v1/admin/hubs``: enrol a clinic hub (security administrator: the credential is shown once),
list the hubs and revoke one (system or security administrator). Every change is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from server_stub.api.deps import DbDep, HubAdminDep, HubEnrolDep
from server_stub.services import hubs
from server_stub.services.clock import utcnow
from shared.protocol.models import ErrorBody

router = APIRouter(
    prefix="/admin/hubs",
    tags=["admin"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


@router.get("")
def list_hubs(_principal: HubAdminDep, db: DbDep) -> list[dict[str, Any]]:
    """Every hub: name, campus, enrolled, last seen, last relay, revoked (never a secret)."""
    with db.read() as conn:
        return [_json(row) for row in hubs.listing(conn)]


@router.post("", status_code=201)
def enrol_hub(
    principal: HubEnrolDep,
    db: DbDep,
    name: Annotated[str, Body(min_length=1, max_length=100)],
    campus: Annotated[str, Body(min_length=1, max_length=64, description="the campus's code or id")],
) -> dict[str, Any]:
    """Enrol a hub for a campus. The answer's ``credential`` (``hub_<id>.<secret>``) is shown this once:
    only a hash of its secret is kept. Put it in the hub's configuration."""
    with db.write() as conn:
        enrolled = hubs.enrol(
            conn,
            name=name,
            campus=campus,
            by=principal.staff.id,
            now=utcnow(),
            username=principal.staff.username,
        )
    return {
        "id": enrolled.hub_id,
        "name": enrolled.name,
        "campus_id": enrolled.campus_id,
        "credential": enrolled.credential,
    }


@router.post("/{hub_id}/revoke")
def revoke_hub(principal: HubAdminDep, db: DbDep, hub_id: str) -> dict[str, Any]:
    """Revoke a hub's credential: its next request is refused (401 ``hub_revoked``)."""
    with db.write() as conn:
        revoked = hubs.revoke(
            conn, hub_id=hub_id[:64], by=principal.staff.id, now=utcnow(), username=principal.staff.username
        )
    return {"id": hub_id, "revoked": True, "already": not revoked}
