"""The audit of bulk reads of patients: which patients each staff member's device received through
pulls and bootstraps, in aggregate (one audit entry per device and flush, not one per page).

Pulls are the hot path: a pull only notes the patient ids of the page it answered (kept with the
cached page, so this costs a dictionary update); one background task per process writes what was
noted every ``flush_seconds`` as ``patient.bulk_read`` entries, and at shutdown. A bootstrap writes its
entry when its stream ends (or stops half-way). Reads of a patient's record through the API are audited
on their own (``patient.search``, ``patient.read``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from server_stub.db.engine import Database
from server_stub.services import audit
from server_stub.services.auth import Principal
from server_stub.services.clock import utcnow
from server_stub.services.hubs import HubPrincipal

log = logging.getLogger(__name__)

ACTION = "patient.bulk_read"


@dataclass
class _Reader:
    staff_id: str | None
    username: str
    device_id: str | None
    campus_id: str | None
    hub_id: str | None = None
    patients: set[str] = field(default_factory=set)
    pages: int = 0

    @classmethod
    def of(cls, principal: Principal | HubPrincipal) -> _Reader:
        """A staff member's device, or a clinic hub (its entries name it: ``hub_id`` in the detail)."""
        if isinstance(principal, HubPrincipal):
            return cls(None, f"hub:{principal.name}"[:64], None, principal.campus_id, principal.hub_id)
        return cls(principal.staff.id, principal.staff.username, principal.device_id, principal.campus_id)

    @property
    def key(self) -> tuple[str | None, str | None, str | None, str | None]:
        return (self.staff_id, self.device_id, self.campus_id, self.hub_id)

    def who(self) -> dict[str, Any]:
        return {"hub_id": self.hub_id} if self.hub_id else {}


def write_bulk_read(
    db: Database,
    principal: Principal | HubPrincipal,
    patient_ids: list[str],
    *,
    via: str,
    complete: bool = True,
) -> None:
    """One audit entry: ``principal``'s device (or hub) received ``patient_ids`` (worker thread)."""
    if not patient_ids:
        return
    reader = _Reader.of(principal)
    with db.write() as conn:
        audit.append(
            conn,
            at=utcnow(),
            action=ACTION,
            outcome="sent" if complete else "sent_partly",
            staff_id=reader.staff_id,
            username=reader.username,
            device_id=reader.device_id,
            target=reader.campus_id,
            detail={
                **reader.who(),
                "via": via,
                "count": len(set(patient_ids)),
                "patients": sorted(set(patient_ids)),
            },
        )


class PatientReadLog:
    """Per process; ``record`` from the event loop only."""

    def __init__(self, db: Database, *, flush_seconds: float = 30.0) -> None:
        self.db = db
        self.flush_seconds = flush_seconds
        self._readers: dict[tuple[str | None, str | None, str | None, str | None], _Reader] = {}
        self._task: asyncio.Task[None] | None = None

    def record(self, principal: Principal | HubPrincipal, patient_ids: tuple[str, ...]) -> None:
        if not patient_ids:
            return
        found = _Reader.of(principal)
        reader = self._readers.setdefault(found.key, found)
        reader.patients.update(patient_ids)
        reader.pages += 1

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - a busy database: kept and written at the next flush
                log.warning("writing the audit of patients sent by pulls failed", exc_info=True)

    async def flush(self) -> None:
        readers, self._readers = self._readers, {}
        if not readers:
            return
        try:
            await run_in_threadpool(self._write, list(readers.values()))
        except BaseException:
            for key, reader in readers.items():  # keep them for the next flush
                kept = self._readers.setdefault(key, reader)
                if kept is not reader:
                    kept.patients |= reader.patients
                    kept.pages += reader.pages
            raise

    def _write(self, readers: list[_Reader]) -> None:
        now = utcnow()
        with self.db.write() as conn:
            for reader in readers:
                audit.append(
                    conn,
                    at=now,
                    action=ACTION,
                    outcome="sent",
                    staff_id=reader.staff_id,
                    username=reader.username,
                    device_id=reader.device_id,
                    target=reader.campus_id,
                    detail={
                        **reader.who(),
                        "via": "pull",
                        "pages": reader.pages,
                        "count": len(reader.patients),
                        "patients": sorted(reader.patients),
                    },
                )
