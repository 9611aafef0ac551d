"""``/api/v1/hub``: what a clinic hub does under its own credential besides reading its campus's feed:
relay its PCs' mutations upstream (``services.relay``), ask who it is, and fetch the login verifiers of its
campus's recently active staff (``services.hub_verifiers``). Staff tokens get 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from server_stub.api.deps import DbDep, HubDep
from server_stub.config import ServerSettings
from server_stub.services import hub_verifiers
from server_stub.services import relay as relaying
from server_stub.services.clock import utcnow
from server_stub.services.group_commit import GroupCommitter
from server_stub.services.notifier import FeedNotifier
from shared.i18n import normalize_language
from shared.protocol.models import ErrorBody, HubIdentity, HubVerifiers, RelayRequest, RelayResponse

router = APIRouter(
    prefix="/hub",
    tags=["hub"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)


@router.post("/relay", response_model=RelayResponse)
async def relay(body: RelayRequest, hub: HubDep, request: Request) -> RelayResponse:
    """Apply the hub's batches in order, each as a push by the staff member it names from the PC it
    names (every rule runs again; the staff member's roles and campuses are the database's). One result
    per batch: its outcomes, or an ``error`` (``client_seq_gap`` / ``client_seq_reused`` with
    ``detail.expected``, …) for a batch that could not be applied (the batches after it still are). A
    batch from a staff member who may not work at the hub's campus is rejected whole (``hub_scope``)."""
    state = request.app.state
    settings: ServerSettings = state.settings
    committer: GroupCommitter = state.committer
    notifier: FeedNotifier = state.notifier
    response, head = await relaying.relay(
        db=state.db,
        committer=committer,
        hub=hub,
        request=body,
        timezone=settings.timezone,
        lang=normalize_language(request.headers.get("accept-language")),
    )
    if head:
        notifier.publish(head)
    return response


@router.get("/whoami", response_model=HubIdentity)
async def whoami(hub: HubDep) -> HubIdentity:
    return HubIdentity(hub_id=hub.hub_id, name=hub.name, campus_id=hub.campus_id)


@router.get("/verifiers", response_model=HubVerifiers)
async def verifiers(
    hub: HubDep, db: DbDep, days: Annotated[float, Query(gt=0, le=365)] = 14.0
) -> HubVerifiers:
    """The login verifiers of staff assigned to the hub's campus, active, who logged in online within
    ``days`` (capped at ``hub_verifiers.MAX_DAYS``): the whole list every time, so a staff member not
    in it is one the hub must forget. Audited (``hub.verifiers``)."""

    def work() -> HubVerifiers:
        with db.write() as conn:
            return hub_verifiers.for_hub(conn, hub=hub, days=days, now=utcnow())

    return await run_in_threadpool(work)
