"""A queue as ``GET /api/v1/queue`` lists it, for the central API and the clinic hub alike (no database)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from server_stub.services.clock import utcnow
from shared.domain.entities import Queue, QueueKind, QueuePolicy
from shared.domain.queue_rules import working_rooms

# Who may list the queues (the central route's ``QueueUserDep``; the hub checks the same roles).
QUEUE_ROLES = frozenset({"nurse", "doctor", "admin", "kiosk"})


class QueueSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    code: str
    name: str
    name_en: str
    kind: QueueKind
    department_id: str | None
    doctor_id: str | None
    prefix: str
    policy: QueuePolicy
    room_ids: list[str]
    paused_rooms: list[str]
    working_rooms: list[str] = Field(
        default_factory=list, description="Rooms taking patients now: a doctor at work there, not paused"
    )


def queue_summary(queue: Queue) -> QueueSummary:
    fields = set(QueueSummary.model_fields) - {"working_rooms"}
    return QueueSummary.model_validate(
        {**queue.model_dump(include=fields), "working_rooms": list(working_rooms(queue, utcnow()))}
    )


def listed_queues(queues: list[Queue], campus_id: str | None) -> list[QueueSummary]:
    """The active, non-voided ``queues`` of ``campus_id`` (every campus's for None), by code."""
    kept = [
        q for q in queues if q.active and not q.voided and (campus_id is None or q.campus_id == campus_id)
    ]
    return [queue_summary(q) for q in sorted(kept, key=lambda q: q.code)]
