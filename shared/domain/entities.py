"""Entities of the clinic: pydantic models shared by the server tables, the wire and the local store.

Every entity has a client-generated UUID ``id``, a ``version`` that grows by one with each change, and
``voided``/``void_reason`` instead of deletion. ``KIND`` names it on the wire and in the change feed;
``SCOPE`` says who receives it: ``reference`` (everyone, versioned apart), ``global`` (everyone) or
``campus`` (PCs of the entity's ``campus_id``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

Role = Literal["doctor", "pharmacist", "nurse", "admin", "kiosk"]
ROLES: tuple[Role, ...] = ("doctor", "pharmacist", "nurse", "admin", "kiosk")
Sex = Literal["M", "F", "U"]
IdType = Literal[
    "resident_id", "passport", "hk_macao_permit", "taiwan_permit", "military_id", "birth_cert", "none"
]
ControlledClass = Literal["none", "narcotic", "psychotropic1", "psychotropic2", "toxic", "precursor"]
PrescribingRight = Literal[
    "ordinary", "antibiotic_restricted", "narcotic", "psychotropic1", "psychotropic2", "toxic"
]
Session = Literal["am", "pm", "night"]


class Entity(BaseModel):
    """Base of every synced entity."""

    model_config = ConfigDict(extra="forbid", from_attributes=True, validate_assignment=False)

    KIND: ClassVar[str]
    SCOPE: ClassVar[Literal["reference", "global", "campus"]]
    # Columns the server indexes and the local store can query by equality.
    INDEXES: ClassVar[tuple[str, ...]] = ()
    UNIQUE: ClassVar[tuple[str, ...]] = ()

    id: str = Field(min_length=1, max_length=64)
    version: int = Field(default=1, ge=1)
    voided: bool = False
    void_reason: str | None = Field(default=None, max_length=500)
    updated_at: dt.datetime | None = None

    def scope_key(self) -> str:
        """The scope this row is published to: '' for everyone, else a campus id."""
        if self.SCOPE == "campus":
            return str(getattr(self, "campus_id", "") or "")
        return ""


class Campus(Entity):
    KIND: ClassVar[str] = "campus"
    SCOPE: ClassVar = "reference"
    UNIQUE: ClassVar = ("code",)

    code: str = Field(max_length=32)
    name: str = Field(max_length=100)
    hospital_name: str = Field(max_length=100)
    address: str = Field(default="", max_length=200)


class Department(Entity):
    KIND: ClassVar[str] = "department"
    SCOPE: ClassVar = "reference"
    INDEXES: ClassVar = ("campus_id",)
    UNIQUE: ClassVar = ("code",)

    campus_id: str
    code: str = Field(max_length=32)
    name: str = Field(max_length=100)
    name_en: str = Field(default="", max_length=100)
    kind: Literal["clinical", "pharmacy", "lab", "imaging", "triage", "admin"] = "clinical"
    queue_prefix: str = Field(default="A", max_length=4)


class Room(Entity):
    KIND: ClassVar[str] = "room"
    SCOPE: ClassVar = "reference"
    INDEXES: ClassVar = ("campus_id", "department_id")
    UNIQUE: ClassVar = ("code",)

    campus_id: str
    department_id: str
    code: str = Field(max_length=32)
    name: str = Field(max_length=100)
    name_en: str = Field(default="", max_length=100)
    floor: str = Field(default="", max_length=32)


class Pharmacy(Entity):
    KIND: ClassVar[str] = "pharmacy"
    SCOPE: ClassVar = "reference"
    INDEXES: ClassVar = ("campus_id",)
    UNIQUE: ClassVar = ("code",)

    campus_id: str
    code: str = Field(max_length=32)
    name: str = Field(max_length=100)
    kind: Literal["outpatient", "emergency", "tcm", "central"] = "outpatient"


class Staff(Entity):
    KIND: ClassVar[str] = "staff"
    SCOPE: ClassVar = "reference"
    INDEXES: ClassVar = ("department_id",)
    UNIQUE: ClassVar = ("username",)

    username: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=64)
    roles: list[Role] = Field(min_length=1)
    title: str = Field(default="", max_length=64)
    campus_id: str | None = None
    department_id: str | None = None
    prescribing_rights: list[PrescribingRight] = Field(default_factory=list)
    active: bool = True
    signing_public_key: str | None = Field(default=None, max_length=200)


class Patient(Entity):
    KIND: ClassVar[str] = "patient"
    SCOPE: ClassVar = "global"
    INDEXES: ClassVar = ("name", "name_pinyin", "id_number_tail", "phone")
    UNIQUE: ClassVar = ("mrn",)

    mrn: str | None = Field(default=None, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    name_pinyin: str = Field(default="", max_length=64)
    sex: Sex
    birth_date: dt.date
    id_type: IdType = "resident_id"
    id_number: str | None = Field(default=None, max_length=32)
    id_number_tail: str = Field(default="", max_length=8)
    phone: str | None = Field(default=None, max_length=20)
    allergies: list[str] = Field(default_factory=list, max_length=50)
    registered_by: str | None = None


class Visit(Entity):
    KIND: ClassVar[str] = "visit"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("patient_id", "doctor_id", "visit_date", "campus_id")

    patient_id: str
    campus_id: str
    department_id: str
    doctor_id: str | None = None
    room_id: str | None = None
    appointment_id: str | None = None
    source: Literal["walk_in", "appointment", "referral", "emergency", "online"] = "walk_in"
    status: Literal["open", "closed", "withdrawn"] = "open"
    visit_date: dt.date
    opened_at: dt.datetime
    opened_by: str | None = None


class Drug(Entity):
    KIND: ClassVar[str] = "drug"
    SCOPE: ClassVar = "reference"
    INDEXES: ClassVar = ("pinyin",)
    UNIQUE: ClassVar = ("code",)

    code: str = Field(max_length=32)
    generic_name: str = Field(max_length=100)
    trade_name: str = Field(default="", max_length=100)
    english_name: str = Field(default="", max_length=200)
    pinyin: str = Field(default="", max_length=100)
    spec: str = Field(max_length=100)
    form: str = Field(max_length=32)
    pack_unit: str = Field(max_length=16)
    pack_qty: int = Field(ge=1)
    min_unit: str = Field(max_length=16)
    dose_per_min_unit: Decimal = Field(gt=0)
    dose_unit: str = Field(max_length=16)
    default_dose: Decimal = Field(gt=0)
    default_route: str = Field(max_length=16)
    default_frequency: str = Field(max_length=16)
    price: Decimal = Field(ge=0)
    controlled_class: ControlledClass = "none"
    internet_rx_restricted: bool = False
    dose_min: Decimal | None = None
    dose_max: Decimal | None = None
    skin_test: bool = False
    min_stock: int = 0


class Frequency(Entity):
    KIND: ClassVar[str] = "frequency"
    SCOPE: ClassVar = "reference"
    UNIQUE: ClassVar = ("code",)

    code: str = Field(max_length=16)
    name_zh: str = Field(max_length=32)
    name_en: str = Field(default="", max_length=64)
    times_per_day: Decimal = Field(ge=0)
    interval_days: int = 1
    plain_zh: str = Field(default="", max_length=32)


class Route(Entity):
    KIND: ClassVar[str] = "route"
    SCOPE: ClassVar = "reference"
    UNIQUE: ClassVar = ("code",)

    code: str = Field(max_length=16)
    name_zh: str = Field(max_length=32)
    name_en: str = Field(default="", max_length=64)
    plain_zh: str = Field(default="", max_length=32)
    is_injection: bool = False


class Diagnosis(Entity):
    """An ICD-10 diagnosis in the dictionary."""

    KIND: ClassVar[str] = "diagnosis"
    SCOPE: ClassVar = "reference"
    INDEXES: ClassVar = ("pinyin",)
    UNIQUE: ClassVar = ("code",)

    code: str = Field(max_length=16)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=300)
    pinyin: str = Field(default="", max_length=100)


class ExamItem(Entity):
    """A lab or imaging item that a doctor can order."""

    KIND: ClassVar[str] = "exam_item"
    SCOPE: ClassVar = "reference"
    UNIQUE: ClassVar = ("code",)

    code: str = Field(max_length=32)
    kind: Literal["lab", "imaging"]
    name_zh: str = Field(max_length=100)
    name_en: str = Field(default="", max_length=200)
    pinyin: str = Field(default="", max_length=100)
    specimen_or_site: str = Field(default="", max_length=100)
    department: str = Field(default="", max_length=64)
    price: Decimal = Field(ge=0)


class Schedule(Entity):
    """A doctor's clinic session: date, half-day, room, slot length and capacity."""

    KIND: ClassVar[str] = "schedule"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "doctor_id", "date")

    campus_id: str
    department_id: str
    doctor_id: str
    room_id: str
    date: dt.date
    session: Session
    start_time: dt.time
    end_time: dt.time
    slot_minutes: int = Field(default=10, ge=1, le=240)
    capacity: int = Field(default=30, ge=0)
    registration_level: Literal["ordinary", "expert", "specialist"] = "ordinary"
    fee: Decimal = Field(default=Decimal("0"), ge=0)


class Appointment(Entity):
    KIND: ClassVar[str] = "appointment"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "patient_id", "schedule_id", "number")
    UNIQUE: ClassVar = ("number",)

    campus_id: str
    schedule_id: str
    patient_id: str
    doctor_id: str
    room_id: str
    number: str = Field(max_length=32)
    slot_time: dt.datetime
    status: Literal["booked", "checked_in", "cancelled", "no_show"] = "booked"
    channel: Literal["desk", "phone", "app", "kiosk", "web"] = "app"
    pre_consult_text: str = Field(default="", max_length=2000)


QueueKind = Literal["department", "doctor", "room", "lab", "imaging"]
QueuePolicy = Literal["strict_priority", "interleave", "weighted_wait"]
PriorityClass = Literal["normal", "emergency", "elderly", "military", "disabled", "returning"]
TicketStatus = Literal["waiting", "called", "in_consultation", "done", "skipped", "transferred", "cancelled"]
TicketSource = Literal["walk_in", "appointment", "transfer"]
TicketEventKind = Literal[
    "check_in",
    "transfer_in",
    "call",
    "recall",
    "skip",
    "return",
    "start",
    "finish",
    "transfer",
    "cancel",
    "set_priority",
    "reorder",
    "undo",
]
# Instants inside JSON columns are kept as ISO text, so a python-mode dump is JSON-ready everywhere.
JsonInstant = Annotated[dt.datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str)]


class Queue(Entity):
    """A standing queue (department, doctor, room, lab or imaging) with its numbering and rule set.

    Tickets belong to a queue per day and session. ``rules`` holds the rule-set parameters as plain
    JSON (see ``shared.domain.queue_rules.RuleSet``); ``paused_rooms`` are rooms not taking patients now.
    """

    KIND: ClassVar[str] = "queue"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "department_id", "doctor_id")
    UNIQUE: ClassVar = ("code",)

    campus_id: str
    code: str = Field(max_length=32)
    name: str = Field(max_length=100)
    name_en: str = Field(default="", max_length=100)
    kind: QueueKind = "department"
    department_id: str | None = None
    doctor_id: str | None = None
    room_ids: list[str] = Field(default_factory=list, max_length=50)
    prefix: str = Field(default="A", min_length=1, max_length=4)
    policy: QueuePolicy = "strict_priority"
    rules: dict[str, Any] = Field(default_factory=dict)
    number_block: int = Field(default=100, ge=1, le=10000)
    number_slots: int = Field(default=4, ge=1, le=100)
    paused_rooms: list[str] = Field(default_factory=list, max_length=50)
    active: bool = True


class TicketEvent(BaseModel):
    """One step in a ticket's life: what happened, when (server time once synced), who, where, why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    no: int = Field(ge=1)
    kind: TicketEventKind
    at: JsonInstant
    by: str = Field(max_length=64)
    device: str = Field(default="", max_length=64)
    room_id: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=500)
    # reorder / return: the ticket waits just ``position`` these tickets (return: the N before it)
    anchors: list[str] = Field(default_factory=list, max_length=50)
    position: Literal["before", "after"] | None = None
    undoes: int | None = Field(default=None, ge=1)
    priority: PriorityClass | None = None
    # transfer: the new ticket's id; transfer_in: the ticket it came from
    other: str | None = Field(default=None, max_length=64)


class QueueTicket(Entity):
    """A patient's place in a queue on one day: its number (A023), facts for ordering, and its events.

    ``status`` is always the fold of ``events`` (``shared.domain.queue_states``); ``number_key`` keeps
    numbers unique per queue per day. ``checked_in_at`` is the time the issuing desk recorded.
    """

    KIND: ClassVar[str] = "queue_ticket"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "queue_id", "day", "patient_id", "appointment_id", "status")
    UNIQUE: ClassVar = ("number_key",)

    campus_id: str
    queue_id: str
    day: dt.date
    session: Session = "am"
    number: int = Field(ge=1)
    label: str = Field(max_length=16)
    number_key: str = Field(max_length=120)
    patient_id: str
    visit_id: str | None = None
    appointment_id: str | None = None
    slot_time: dt.datetime | None = None
    source: TicketSource = "walk_in"
    birth_date: dt.date | None = None
    priority: PriorityClass = "normal"
    priority_reason: str = Field(default="", max_length=200)
    status: TicketStatus = "waiting"
    room_id: str | None = None
    called_room_id: str | None = None
    checked_in_at: dt.datetime
    issued_device: str = Field(default="", max_length=64)
    events: list[TicketEvent] = Field(default_factory=list)


class QueueNotice(Entity):
    """A short notice for waiting-room screens of a campus, one queue or one room."""

    KIND: ClassVar[str] = "queue_notice"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "queue_id")

    campus_id: str
    queue_id: str | None = None
    room_id: str | None = None
    text: str = Field(min_length=1, max_length=500)
    level: Literal["info", "urgent"] = "info"
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    created_by: str | None = None


RxStatus = Literal[
    "draft", "signed", "approved", "rejected", "cancelled", "partly_dispensed", "dispensed", "refunded"
]


class SigningKey(Entity):
    """A staff member's registered Ed25519 public key (base64 raw 32 bytes); revoked keys stay listed so
    old signatures still verify against the key that made them."""

    KIND: ClassVar[str] = "signing_key"
    SCOPE: ClassVar = "global"
    INDEXES: ClassVar = ("staff_id", "fingerprint")

    staff_id: str
    algorithm: Literal["ed25519"] = "ed25519"
    public_key: str = Field(min_length=40, max_length=64)
    fingerprint: str = Field(max_length=64)
    registered_at: dt.datetime
    revoked_at: dt.datetime | None = None
    revoked_reason: str = Field(default="", max_length=200)


class Prescription(Entity):
    """A prescription: a snapshot of what the doctor wrote (``lines`` are ``prescribing.RxLine`` dumps in
    JSON mode, ``diagnoses`` ``DiagnosisFacts`` dumps), its signature and the pharmacist's review.

    ``status`` moves draft → signed → approved/rejected → partly_dispensed/dispensed (→ refunded), or to
    cancelled. A rejected prescription can be amended (back to draft) and signed again; ``sign_count``
    counts signatures. Dispensing records are their own entities (pharmacy)."""

    KIND: ClassVar[str] = "rx"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "visit_id", "patient_id", "doctor_id", "pharmacy_id", "status", "day")
    UNIQUE: ClassVar = ("number",)

    campus_id: str
    number: str = Field(max_length=32)
    visit_id: str | None = None
    patient_id: str
    doctor_id: str
    department_id: str | None = None
    pharmacy_id: str | None = None
    rx_type: str = Field(default="ordinary", max_length=32)
    day: dt.date
    written_at: dt.datetime
    diagnoses: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    lines: list[dict[str, Any]] = Field(default_factory=list, max_length=60)
    total_amount: str = Field(default="0", max_length=24)  # Decimal as text
    acknowledgements: list[dict[str, Any]] = Field(default_factory=list, max_length=60)
    renewed_from_id: str | None = None
    status: RxStatus = "draft"
    # the doctor's signature over ``shared.security.signing.canonical_bytes`` of the signed content
    signature: str = Field(default="", max_length=200)
    signing_key_id: str | None = None
    signed_at: dt.datetime | None = None
    sign_count: int = Field(default=0, ge=0)
    # the pharmacist's review
    reviewed_by: str | None = None
    reviewed_at: dt.datetime | None = None
    review_reason: str = Field(default="", max_length=500)
    review_reason_code: str = Field(default="", max_length=64)
    review_signature: str = Field(default="", max_length=200)
    review_key_id: str | None = None
    pickup_code_hash: str = Field(default="", max_length=128)
    cancel_reason: str = Field(default="", max_length=500)


ENTITY_TYPES: tuple[type[Entity], ...] = (
    Campus,
    Department,
    Room,
    Pharmacy,
    Staff,
    Patient,
    Visit,
    Drug,
    Frequency,
    Route,
    Diagnosis,
    ExamItem,
    Schedule,
    Appointment,
    Queue,
    QueueTicket,
    QueueNotice,
    SigningKey,
    Prescription,
)


ENTITY_BY_KIND: dict[str, type[Entity]] = {t.KIND: t for t in ENTITY_TYPES}
REFERENCE_KINDS = frozenset(t.KIND for t in ENTITY_TYPES if t.SCOPE == "reference")
