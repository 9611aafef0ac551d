"""Demo queues (one per clinical department, lab and imaging per campus) and the kiosk accounts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from shared.domain.entities import Department, Entity, Queue, QueuePolicy, Room, Staff
from shared.ids import reference_id

# Department codes (without the campus) whose queue uses another policy than interleave 2:1.
_POLICY_BY_DEPARTMENT: dict[str, QueuePolicy] = {"EK": "strict_priority", "QK": "weighted_wait"}


def demo_queues(departments: Sequence[Department], rooms: Sequence[Room]) -> Iterator[Queue]:
    """A queue per clinical department with all its rooms, and lab and imaging queues per campus."""
    rooms_by_department: dict[str, list[str]] = {}
    for room in rooms:
        rooms_by_department.setdefault(room.department_id, []).append(room.id)
    campuses: dict[str, str] = {}
    for department in departments:
        campus_code = department.code.split("-", 1)[0]
        campuses.setdefault(campus_code, department.campus_id)
        if department.kind != "clinical":
            continue
        code = f"{department.code}-Q"
        policy = _POLICY_BY_DEPARTMENT.get(department.code.split("-", 1)[1], "interleave")
        yield Queue(
            id=reference_id("queue", code),
            campus_id=department.campus_id,
            code=code,
            name=f"{department.name}候诊",
            name_en=f"{department.name_en} waiting",
            kind="department",
            department_id=department.id,
            room_ids=rooms_by_department.get(department.id, []),
            prefix=department.queue_prefix,
            policy=policy,
            rules={"interleave": [2, 1], "second_queue_cap": 2} if policy == "interleave" else {},
        )
    for campus_code, campus_id in campuses.items():
        for suffix, name, name_en, kind, prefix, policy in (
            ("LAB", "检验采血", "Laboratory sampling", "lab", "L", "weighted_wait"),
            ("IMG", "影像检查", "Imaging", "imaging", "X", "strict_priority"),
        ):
            code = f"{campus_code}-{suffix}"
            yield Queue(
                id=reference_id("queue", code),
                campus_id=campus_id,
                code=code,
                name=name,
                name_en=name_en,
                kind=kind,  # type: ignore[arg-type]
                prefix=prefix,
                policy=policy,  # type: ignore[arg-type]
                rules={"second_queue_cap": 0},
            )


def kiosk_accounts(departments: Sequence[Department]) -> Iterator[Staff]:
    """``kiosk1``, ``kiosk2`` …: one self-service check-in account per campus (role ``kiosk``)."""
    triage = [d for d in departments if d.kind == "triage"]
    for n, department in enumerate(triage, start=1):
        yield Staff(
            id=reference_id("staff", f"kiosk{n}"),
            username=f"kiosk{n}",
            name=f"自助签到机{n}",
            roles=["kiosk"],
            title="自助机",
            campus_id=department.campus_id,
            department_id=department.id,
        )


def demo_entities(departments: Sequence[Department], rooms: Sequence[Room]) -> Iterator[Entity]:
    """Everything this module adds to the demo data set."""
    yield from demo_queues(departments, rooms)
    yield from kiosk_accounts(departments)
