"""``/api/v1/admin``: audit-chain verification (auditor or admin) and the list of syncing clients (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from server_stub.api.deps import AdminDep, AuditReaderDep, DbDep
from server_stub.db.tables import sync_client
from server_stub.services import audit
from shared.protocol.models import ErrorBody

router = APIRouter(
    prefix="/admin", tags=["admin"], responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}}
)


@router.get("/audit/verify")
def verify_audit(_principal: AuditReaderDep, db: DbDep) -> dict[str, Any]:
    with db.read() as conn:
        report = audit.verify(conn)
    return {"ok": report.ok, "checked": report.checked, "problems": report.problems}


@router.get("/clients")
def list_clients(_principal: AdminDep, db: DbDep) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(sync_client).order_by(sync_client.c.created_at)).mappings().all()
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in rows]
