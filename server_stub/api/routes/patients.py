"""``/api/v1/patients``: look up patients this PC does not hold (search, open a record), audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from server_stub.api.deps import AnyStaffDep, DbDep
from server_stub.config import ServerSettings
from server_stub.services import feed, patient_access
from server_stub.services.clock import local_today, utcnow
from server_stub.services.notifier import FeedNotifier
from shared.errors import NotFound
from shared.i18n import normalize_language, tr
from shared.protocol.models import ErrorBody

router = APIRouter(
    prefix="/patients",
    tags=["patients"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)


@router.get("/search")
def search_patients(
    principal: AnyStaffDep,
    db: DbDep,
    q: Annotated[str, Query(min_length=2, max_length=64, description="ID number, phone, MRN, last 4, name")],
    limit: Annotated[int, Query(ge=1, le=patient_access.SEARCH_LIMIT)] = patient_access.SEARCH_LIMIT,
) -> list[dict[str, Any]]:
    """Patients matching ``q`` anywhere (not only those this campus needs), as the caller's roles may
    see them. Audited: who searched, the kind of query, and which patients were shown."""
    now = utcnow()
    with db.write() as conn:
        found = patient_access.search(conn, q, limit=limit)
        patient_access.audit_search(conn, principal, q, found, now)
    return [patient_access.as_seen_by(principal, p) for p in found]


@router.get("/{patient_id}")
def open_patient(principal: AnyStaffDep, db: DbDep, request: Request, patient_id: str) -> dict[str, Any]:
    """One patient's record, audited; the patient is then sent to the PCs of the caller's campus by the
    change feed (it is needed there now)."""
    settings: ServerSettings = request.app.state.settings
    notifier: FeedNotifier = request.app.state.notifier
    now = utcnow()
    with db.write() as conn:
        patient = patient_access.open_record(
            conn, principal, patient_id[:64], now=now, today=local_today(settings.timezone, now)
        )
    if patient is None:
        lang = normalize_language(request.headers.get("accept-language"))
        raise NotFound(tr("patient.not_found", lang, id=patient_id[:64]), code="patient_not_found")
    with db.read() as conn:
        notifier.publish(feed.head(conn))
    return patient_access.as_seen_by(principal, patient)
