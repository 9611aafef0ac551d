"""``clinic seed-demo``: one hospital with two campuses, departments, rooms, staff, pharmacies, reference
data, 1,000 patients and today's schedules and appointments. Idempotent: does nothing if data exists."""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from server_stub.db.engine import Database
from server_stub.db.migrate import upgrade
from server_stub.db.tables import ENTITY_TABLES
from server_stub.seed import clinical, queues, reference, stock
from server_stub.seed.people import generate_patients, make_name
from server_stub.services import audit, auth
from server_stub.services.clock import utcnow
from server_stub.services.entities import bulk_insert, set_counter
from shared.domain.entities import Appointment, Campus, Department, Entity, Pharmacy, Room, Schedule, Staff
from shared.ids import reference_id

log = logging.getLogger(__name__)

DEMO_PASSWORD = "Demo-2026"
HOSPITAL = "华安市第一人民医院"

# (code, name, english, queue prefix, rooms) per campus; both campuses share the department list shape.
_DEPARTMENTS = {
    "MAIN": [
        ("NK", "心血管内科", "Cardiology", "A", 3),
        ("HX", "呼吸内科", "Respiratory Medicine", "B", 2),
        ("XH", "消化内科", "Gastroenterology", "C", 2),
        ("NF", "内分泌科", "Endocrinology", "D", 2),
        ("PW", "普通外科", "General Surgery", "E", 2),
        ("EK", "儿科", "Paediatrics", "F", 3),
        ("FK", "妇科", "Gynaecology", "G", 2),
        ("EB", "耳鼻咽喉科", "ENT", "H", 1),
        ("PF", "皮肤科", "Dermatology", "J", 1),
    ],
    "EAST": [
        ("QK", "全科医学科", "General Practice", "A", 3),
        ("EK", "儿科", "Paediatrics", "B", 2),
        ("GK", "骨科", "Orthopaedics", "C", 2),
        ("YK", "眼科", "Ophthalmology", "D", 1),
        ("KQ", "口腔科", "Stomatology", "E", 1),
        ("ZY", "中医科", "Traditional Chinese Medicine", "F", 1),
    ],
}
_TITLES = ("主任医师", "副主任医师", "主治医师", "主治医师", "住院医师")


@dataclass(frozen=True)
class DemoSummary:
    created: bool
    counts: dict[str, int]


def _campuses() -> list[Campus]:
    return [
        Campus(
            id=reference_id("campus", "MAIN"),
            code="MAIN",
            name="本部院区",
            hospital_name=HOSPITAL,
            address="华安市解放路 88 号",
        ),
        Campus(
            id=reference_id("campus", "EAST"),
            code="EAST",
            name="东院区",
            hospital_name=HOSPITAL,
            address="华安市东湖大道 1200 号",
        ),
    ]


def _departments_and_rooms() -> tuple[list[Department], list[Room]]:
    departments: list[Department] = []
    rooms: list[Room] = []
    for campus_code, rows in _DEPARTMENTS.items():
        campus_id = reference_id("campus", campus_code)
        for code, name, english, prefix, room_count in rows:
            dept_code = f"{campus_code}-{code}"
            dept = Department(
                id=reference_id("department", dept_code),
                campus_id=campus_id,
                code=dept_code,
                name=name,
                name_en=english,
                kind="clinical",
                queue_prefix=prefix,
            )
            departments.append(dept)
            for n in range(1, room_count + 1):
                room_code = f"{dept_code}-{n:02d}"
                floor = "2F" if campus_code == "MAIN" else "1F"
                rooms.append(
                    Room(
                        id=reference_id("room", room_code),
                        campus_id=campus_id,
                        department_id=dept.id,
                        code=room_code,
                        name=f"{name}{n}诊室",
                        name_en=f"{english} Room {n}",
                        floor=floor,
                    )
                )
        for code, name, kind in (("YF", "药剂科", "pharmacy"), ("FZ", "门诊分诊台", "triage")):
            dept_code = f"{campus_code}-{code}"
            departments.append(
                Department(
                    id=reference_id("department", dept_code),
                    campus_id=campus_id,
                    code=dept_code,
                    name=name,
                    kind=kind,  # type: ignore[arg-type]
                    queue_prefix="Z",
                )
            )
    return departments, rooms


def _pharmacies() -> list[Pharmacy]:
    return [
        Pharmacy(
            id=reference_id("pharmacy", "MAIN-WY"),
            campus_id=reference_id("campus", "MAIN"),
            code="MAIN-WY",
            name="本部门诊西药房",
        ),
        Pharmacy(
            id=reference_id("pharmacy", "EAST-WY"),
            campus_id=reference_id("campus", "EAST"),
            code="EAST-WY",
            name="东院门诊药房",
            payment_required=True,  # pays at the counter before the pickup code (MAIN-WY: code at approval)
        ),
    ]


def _staff(departments: list[Department], rng: random.Random) -> list[Staff]:
    clinical = [d for d in departments if d.kind == "clinical"]
    # Doctors of a department both campuses have (儿科) work at both: their campus assignments.
    campuses_of: dict[str, set[str]] = {}
    for d in clinical:
        campuses_of.setdefault(d.name, set()).add(d.campus_id)
    staff: list[Staff] = []
    for n in range(1, 25):
        dept = clinical[(n - 1) % len(clinical)]
        title = _TITLES[(n - 1) // len(clinical) % len(_TITLES)] if n > len(clinical) else _TITLES[n % 3]
        rights: list[str] = (
            ["ordinary", "antibiotic_restricted"] if title in ("主任医师", "副主任医师") else ["ordinary"]
        )
        if n in (1, 2, 5):  # a few doctors hold narcotic and psychotropic prescribing rights
            rights += ["narcotic", "psychotropic1", "psychotropic2"]
        elif n % 4 == 0:
            rights.append("psychotropic2")
        staff.append(
            Staff(
                id=reference_id("staff", f"doctor{n}"),
                username=f"doctor{n}",
                name=make_name(rng, rng.choice("MF")),
                roles=["doctor"],
                title=title,
                campus_id=dept.campus_id,
                campus_ids=sorted(campuses_of[dept.name] - {dept.campus_id}),
                department_id=dept.id,
                prescribing_rights=rights,  # type: ignore[arg-type]
            )
        )
    pharmacy_depts = [d for d in departments if d.kind == "pharmacy"]
    triage_depts = [d for d in departments if d.kind == "triage"]
    for n in range(1, 5):
        dept = pharmacy_depts[(n - 1) % 2]
        staff.append(
            Staff(
                id=reference_id("staff", f"pharmacist{n}"),
                username=f"pharmacist{n}",
                name=make_name(rng, rng.choice("MF")),
                roles=["pharmacist"],
                title="主管药师" if n <= 2 else "药师",
                campus_id=dept.campus_id,
                department_id=dept.id,
            )
        )
    for n in range(1, 5):
        dept = triage_depts[(n - 1) % 2]
        staff.append(
            Staff(
                id=reference_id("staff", f"nurse{n}"),
                username=f"nurse{n}",
                name=make_name(rng, "F"),
                roles=["nurse"],
                title="护师",
                campus_id=dept.campus_id,
                department_id=dept.id,
            )
        )
    staff.append(
        Staff(
            id=reference_id("staff", "admin"),
            username="admin",
            name="系统管理员",
            roles=["admin"],
            title="信息科",
            campus_id=reference_id("campus", "MAIN"),
            campus_ids=[reference_id("campus", "EAST")],  # IT serves both campuses
        )
    )
    staff.append(
        Staff(
            id=reference_id("staff", "security"),
            username="security",
            name="安全管理员",
            roles=["security_admin"],
            title="信息科",
            campus_id=reference_id("campus", "MAIN"),
        )
    )
    staff.append(  # reads the audit log, changes nothing (三员分立)
        Staff(
            id=reference_id("staff", "auditor"),
            username="auditor",
            name="安全审计员",
            roles=["auditor"],
            title="审计",
            campus_id=reference_id("campus", "MAIN"),
        )
    )
    return staff


def _schedules_and_appointments(
    staff: list[Staff],
    rooms: list[Room],
    patient_ids: list[str],
    today: dt.date,
    tz: ZoneInfo,
    rng: random.Random,
) -> tuple[list[Schedule], list[Appointment]]:
    schedules: list[Schedule] = []
    appointments: list[Appointment] = []
    rooms_by_dept: dict[str, list[Room]] = {}
    for room in rooms:
        rooms_by_dept.setdefault(room.department_id, []).append(room)
    used: dict[str, int] = {}
    number = 0
    for doctor in (s for s in staff if "doctor" in s.roles):
        assert doctor.department_id and doctor.campus_id
        dept_rooms = rooms_by_dept[doctor.department_id]
        for session, start, end in (
            ("am", dt.time(8, 0), dt.time(12, 0)),
            ("pm", dt.time(13, 30), dt.time(17, 0)),
        ):
            key = f"{doctor.department_id}:{session}"
            room = dept_rooms[used.get(key, 0) % len(dept_rooms)]
            used[key] = used.get(key, 0) + 1
            schedule = Schedule(
                id=reference_id("schedule", f"{doctor.username}:{today}:{session}"),
                campus_id=doctor.campus_id,
                department_id=doctor.department_id,
                doctor_id=doctor.id,
                room_id=room.id,
                date=today,
                session=session,  # type: ignore[arg-type]
                start_time=start,
                end_time=end,
                slot_minutes=10,
                capacity=24,
                registration_level="expert" if doctor.title in ("主任医师", "副主任医师") else "ordinary",
                fee=Decimal("50.00") if doctor.title == "主任医师" else Decimal("20.00"),
            )
            schedules.append(schedule)
            slots = int(
                (dt.datetime.combine(today, end) - dt.datetime.combine(today, start)).total_seconds() // 600
            )
            for slot in sorted(rng.sample(range(slots), k=min(slots, rng.randint(4, 9)))):
                number += 1
                local = dt.datetime.combine(today, start, tzinfo=tz) + dt.timedelta(minutes=10 * slot)
                appointments.append(
                    Appointment(
                        id=reference_id("appointment", f"{today}:{number}"),
                        campus_id=doctor.campus_id,
                        schedule_id=schedule.id,
                        patient_id=rng.choice(patient_ids),
                        doctor_id=doctor.id,
                        room_id=room.id,
                        number=f"YY{today:%Y%m%d}{number:04d}",
                        slot_time=local.astimezone(dt.UTC),
                        channel=rng.choice(("app", "app", "phone", "web", "desk")),
                        pre_consult_text=rng.choice(
                            (
                                "",
                                "",
                                "咳嗽三天，伴低热",
                                "头晕两周，血压偏高",
                                "上腹部隐痛一周",
                                "皮疹瘙痒五天",
                                "复诊取药",
                            )
                        ),
                    )
                )
    return schedules, appointments


def demo_entities(*, today: dt.date, tz: ZoneInfo, patients: int = 1000) -> Iterator[Entity]:
    rng = random.Random(2026)
    campuses = _campuses()
    departments, rooms = _departments_and_rooms()
    staff = _staff(departments, rng)
    yield from campuses
    yield from departments
    yield from rooms
    yield from _pharmacies()
    yield from staff
    yield from queues.demo_entities(departments, rooms)
    yield from reference.frequencies()
    yield from reference.routes()
    yield from reference.drugs()
    yield from reference.diagnoses()
    yield reference.site_settings()
    yield reference.rx_rule_set()
    yield from reference.exam_items()
    people = list(generate_patients(patients, seed=7, today=today, year=today.year))
    yield from people
    schedules, appointments = _schedules_and_appointments(
        staff, rooms, [p.id for p in people], today, tz, rng
    )
    yield from schedules
    yield from appointments
    yield from stock.demo_entities(
        reference.drugs(), today=today, now=dt.datetime.combine(today, dt.time(8), tz)
    )
    yield from clinical.demo_entities(
        staff=staff, departments=departments, patients=people, appointments=appointments, today=today, tz=tz
    )


def _todays_clinics(conn: Connection, *, today: dt.date, tz: ZoneInfo) -> list[Entity]:
    """Schedules and appointments for ``today`` when the demo was seeded on an earlier day."""
    table = ENTITY_TABLES["schedule"]
    if conn.execute(select(func.count()).select_from(table).where(table.c.date == today)).scalar_one():
        return []
    departments, rooms = _departments_and_rooms()
    staff = _staff(departments, random.Random(2026))
    patient = ENTITY_TABLES["patient"]
    patient_ids = list(conn.execute(select(patient.c.id).order_by(patient.c.mrn).limit(1000)).scalars())
    if not patient_ids:
        return []
    schedules, appointments = _schedules_and_appointments(
        staff, rooms, patient_ids, today, tz, random.Random(today.toordinal())
    )
    return [*schedules, *appointments]


def seed_demo(url: str, *, timezone: str = "Asia/Shanghai", patients: int = 1000) -> DemoSummary:
    """Create the demo data set if the database has no campus yet (migrations run first). On a database
    seeded on an earlier day, add today's schedules and appointments so the demo always has a clinic day."""
    upgrade(url)
    db = Database.open(url, pool_size=2)
    tz = ZoneInfo(timezone)
    now = utcnow()
    today = now.astimezone(tz).date()
    try:
        with db.read() as conn:
            existing = conn.execute(select(func.count()).select_from(ENTITY_TABLES["campus"])).scalar_one()
        if existing:
            with db.write() as conn:
                added = _todays_clinics(conn, today=today, tz=tz)
                bulk_insert(conn, added)
            return DemoSummary(
                created=False, counts={"today's schedules and appointments": len(added)} if added else {}
            )
        entities = list(demo_entities(today=today, tz=tz, patients=patients))
        counts: dict[str, int] = {}
        for entity in entities:
            counts[entity.KIND] = counts.get(entity.KIND, 0) + 1
        with db.write() as conn:
            bulk_insert(conn, entities)
            for member in (e for e in entities if isinstance(e, Staff)):
                # one slow hash per account (own salt each); the demo password is the same for all
                auth.set_password(conn, staff_id=member.id, password=DEMO_PASSWORD, now=now)
            set_counter(conn, "mrn", patients)
            audit.append(conn, at=now, action="seed.demo", outcome="ok", detail=counts)
        log.info("demo data created: %s", counts)
        return DemoSummary(created=True, counts=counts)
    finally:
        db.dispose()
