"""A clinic hub's relay (``POST /api/v1/hub/relay``): each batch is applied exactly as a push by the
staff member it names from the PC it names under that PC's client id (``services.push``: the same
contiguous ``client_seq``, replay by mutation id, group commit, failure counting, handlers and rules).

The hub only asserts who made a batch where; the server believes what it can check. The staff member's
roles are read from the database, never taken from the hub. A batch whose staff member is unknown,
inactive or not assigned to the hub's campus, or which says it comes from another campus, is not run:
every new mutation in it is stored as a permanent rejection (``hub_scope``), so no PC's outbox blocks on
it. Relayed mutations are audited with the hub besides the staff member, PC and time
(``push._audit_outcome``). A relay is no contact of the PC: the "not signed before the PC's last
contact" rule keeps using the PC's own pulls at the central API (``services.contacts``), so a signature
made on the LAN during an outage and relayed hours later is judged by when the PC last reached the
central API itself.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.concurrency import run_in_threadpool

from server_stub.db.engine import Database, DatabaseBusy
from server_stub.db.tables import ENTITY_TABLES, device_wipe
from server_stub.services import hubs, push
from server_stub.services.auth import Principal
from server_stub.services.clock import utcnow
from server_stub.services.entities import to_entity
from server_stub.services.group_commit import GroupCommitter
from server_stub.services.hubs import HubPrincipal
from shared.domain.entities import Staff, works_at
from shared.errors import SuiteError
from shared.i18n import tr
from shared.protocol.models import (
    ErrorBody,
    MutationEnvelope,
    MutationOutcome,
    RelayBatch,
    RelayRequest,
    RelayResponse,
    RelayResult,
)

log = logging.getLogger(__name__)

HUB_SCOPE = "hub_scope"
_WHOLE_DATABASE = (DatabaseBusy, OperationalError, SQLAlchemyTimeoutError)


def _read(db: Database, staff_ids: list[str], device_ids: list[str]) -> tuple[dict[str, Staff], set[str]]:
    """The batches' staff members (by id) and which of their PCs IT marked for a remote wipe."""
    table = ENTITY_TABLES["staff"]
    with db.read() as conn:
        staff = {
            row.id: to_entity(Staff, row)
            for row in conn.execute(select(table).where(table.c.id.in_(staff_ids)))
        }
        wiped = set(
            conn.execute(
                select(device_wipe.c.device_id).where(device_wipe.c.device_id.in_(device_ids))
            ).scalars()
        )
    return staff, wiped


def _stand_in(staff_id: str) -> Staff:
    """A staff member the server does not know, only to store the batch's rejections under its id."""
    return Staff.model_construct(id=staff_id, username="", name="", roles=[], active=False, campus_ids=[])


def _refusal(code: str, message: str) -> Callable[[MutationEnvelope], MutationOutcome]:
    def refuse(envelope: MutationEnvelope) -> MutationOutcome:
        return MutationOutcome(
            mutation_id=envelope.mutation_id,
            client_seq=envelope.client_seq,
            status="rejected",
            code=code,
            message=message,
        )

    return refuse


def _in_scope(batch: RelayBatch, staff: Staff | None, hub: HubPrincipal) -> bool:
    return (
        staff is not None
        and staff.active
        and not staff.voided
        and works_at(staff, hub.campus_id)
        and batch.campus_id == hub.campus_id
    )


def _error_result(batch: RelayBatch, error: BaseException, lang: str) -> RelayResult:
    """The batch's answer when applying it stopped at ``error`` (the mutations before it stand)."""
    if isinstance(error, SuiteError):
        detail = error.detail if isinstance(error.detail, dict) else {}
        done = [MutationOutcome.model_validate(o) for o in detail.get("outcomes", [])]
        body = ErrorBody(
            code=error.code,
            message=error.message,
            detail={k: v for k, v in detail.items() if k != "outcomes"} or None,
        )
        return RelayResult(
            client_id=batch.client_id,
            outcomes=done,
            last_client_seq=max((o.client_seq for o in done), default=None),
            error=body,
        )
    if isinstance(error, _WHOLE_DATABASE):
        body = ErrorBody(code="database_busy", message=tr("server.busy", lang))
    else:
        ref = uuid.uuid4().hex[:12]
        log.error("relayed batch of client %s failed (%s): %r", batch.client_id, ref, error)
        body = ErrorBody(code="server_error", message=tr("server.error", lang, ref=ref))
    return RelayResult(client_id=batch.client_id, error=body)


# Mutations per step of a relay request: each step's pickup codes are hashed ahead (``push.hash_codes_
# ahead``: slow, outside the write lock) while the steps before it are applied. The first step is small,
# so the writer starts early.
FIRST_STEP_MUTATIONS = 12
STEP_MUTATIONS = 64

_Job = tuple[RelayBatch, Principal, "functools.partial[push.PushResult]"]


def _steps(jobs: list[_Job]) -> list[list[_Job]]:
    """Consecutive batches in steps of about ``FIRST_STEP_MUTATIONS``, then ``STEP_MUTATIONS``
    mutations (a batch is never split)."""
    steps: list[list[_Job]] = []
    size = bound = 0
    for job in jobs:
        if not steps or size >= bound:
            bound = FIRST_STEP_MUTATIONS if not steps else STEP_MUTATIONS
            steps.append([])
            size = 0
        steps[-1].append(job)
        size += len(job[0].mutations)
    return steps


async def _apply_in_order(
    committer: GroupCommitter, jobs: list[_Job], then: Callable[[Any], None]
) -> list[Any]:
    """Queue every batch for the group committer in the order given and wait for all of them: each
    batch's outcome (``push.PushResult``) or what it raised. ``then`` is queued behind the last batch
    (in its transaction, as a rule); its failure is only logged.

    The pickup codes the batches will need are hashed first, on a few threads, so the slow hash runs
    outside the write lock (``push.hash_codes_ahead``). In steps: all steps' hashes start at once (the
    threads take them in order), and each step is queued as soon as its own codes are ready, so the
    writer applies the first steps while the later ones' codes are being hashed. A step is queued only
    after the one before it, so the committer still applies the batches in the hub's order, in as few
    transactions as the steps allow."""
    steps = _steps(jobs)
    hashing = [
        asyncio.ensure_future(
            push.hash_codes_ahead(
                [
                    envelope
                    for batch, _principal, work in step
                    if work.keywords["refuse"] is None
                    for envelope in batch.mutations
                ]
            )
        )
        for step in steps
    ]
    queued: list[asyncio.Future[push.PushResult]] = []
    try:
        for step, hashed in zip(steps, hashing, strict=True):
            await hashed
            queued.extend(
                committer.submit(
                    work,
                    size=max(1, len(batch.mutations)),
                    keys=push.PushKeys.of(batch.client_id, principal, batch.mutations),
                )
                for batch, principal, work in step
            )
        queued_then = committer.submit(then)
    finally:
        for hashed in hashing:
            hashed.cancel()
    try:
        await asyncio.shield(queued_then)
    except _WHOLE_DATABASE:  # the relay stands; the hub's last relay time is written next time
        log.warning("noting a hub's relay failed", exc_info=True)
    # shielded, as in ``committer.run``: a request that goes away leaves its batches queued
    return list(await asyncio.gather(*(asyncio.shield(f) for f in queued), return_exceptions=True))


async def relay(
    *,
    db: Database,
    committer: GroupCommitter,
    hub: HubPrincipal,
    request: RelayRequest,
    timezone: str,
    lang: str,
) -> tuple[RelayResponse, int]:
    """Apply the batches in the order given (queued together, so they share group commits and keep
    their order) and answer one result per batch; also the feed's new head (0: nothing applied)."""
    staff, wiped = await run_in_threadpool(
        _read,
        db,
        sorted({b.staff_id for b in request.batches}),
        sorted({b.device_id for b in request.batches}),
    )
    now = utcnow()
    jobs: list[tuple[RelayBatch, Principal, functools.partial[push.PushResult]]] = []
    for batch in request.batches:
        member = staff.get(batch.staff_id)
        refuse = None
        if not _in_scope(batch, member, hub):
            refuse = _refusal(HUB_SCOPE, tr("hub.scope", lang))
        elif batch.device_id in wiped:
            refuse = _refusal("device_wipe", tr("device.wipe", lang))
        principal = Principal(
            staff=member or _stand_in(batch.staff_id),
            device_id=batch.device_id,
            campus_id=hub.campus_id,
            token_hash=hub.token_hash,
            expires_at=now,
            hub_id=hub.hub_id,
        )
        work = functools.partial(
            push.apply_batch_in,
            client_id=batch.client_id,
            mutations=batch.mutations,
            principal=principal,
            timezone=timezone,
            lang=lang,
            refuse=refuse,
        )
        jobs.append((batch, principal, work))

    def noted(conn: Any) -> None:
        hubs.note_relay(conn, hub_id=hub.hub_id, now=utcnow())

    runs = await _apply_in_order(committer, jobs, then=noted)
    results: list[RelayResult] = []
    head = 0
    for (batch, principal, work), run in zip(jobs, runs, strict=True):
        if isinstance(run, push.PushResult):
            head = max(head, run.head_seq)
            results.append(
                RelayResult(
                    client_id=batch.client_id, outcomes=run.outcomes, last_client_seq=run.last_client_seq
                )
            )
            continue
        if push.is_failure_of_a_mutation(run):
            await push.isolate_failure(committer, work, batch.client_id, batch.mutations, principal)
        results.append(_error_result(batch, run, lang))
    return RelayResponse(results=results, server_time=utcnow()), head
