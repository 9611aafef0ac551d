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

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

# auditor: reads the audit log, changes no data (三员分立: apart from the system administrator, admin)
Role = Literal["doctor", "pharmacist", "nurse", "admin", "kiosk", "security_admin", "auditor"]
ROLES: tuple[Role, ...] = ("doctor", "pharmacist", "nurse", "admin", "kiosk", "security_admin", "auditor")
Sex = Literal["M", "F", "U"]
# Whether anyone asked the patient about allergies: "none" is "no known allergy", "listed" names them.
AllergyStatus = Literal["not_asked", "none", "listed"]
IdType = Literal[
    "resident_id", "passport", "hk_macao_permit", "taiwan_permit", "military_id", "birth_cert", "none"
]
ControlledClass = Literal["none", "narcotic", "psychotropic1", "psychotropic2", "toxic", "precursor"]
PrescribingRight = Literal[
    "ordinary", "antibiotic_restricted", "narcotic", "psychotropic1", "psychotropic2", "toxic"
]
Session = Literal["am", "pm", "night"]
# Instants inside JSON columns are kept as ISO text, so a python-mode dump is JSON-ready everywhere.
JsonInstant = Annotated[dt.datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str)]


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
    # the pickup code is issued once the prescription is paid (``rx.pay``), not at approval (``rx.review``)
    payment_required: bool = False
    # whether the patient must show a pickup code to collect (off: a pharmacy that hands out without one)
    pickup_code_required: bool = True


class Staff(Entity):
    KIND: ClassVar[str] = "staff"
    SCOPE: ClassVar = "reference"
    INDEXES: ClassVar = ("department_id",)
    UNIQUE: ClassVar = ("username",)

    username: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=64)
    roles: list[Role] = Field(min_length=1)
    title: str = Field(default="", max_length=64)
    campus_id: str | None = None  # the home campus (always one the staff member works at)
    campus_ids: list[str] = Field(default_factory=list, max_length=50)  # the other campuses assigned
    department_id: str | None = None
    prescribing_rights: list[PrescribingRight] = Field(default_factory=list)
    active: bool = True
    signing_public_key: str | None = Field(default=None, max_length=200)


def works_at(staff: Staff, campus_id: str) -> bool:
    """Whether ``staff`` is assigned to ``campus_id`` (their home campus or one of ``campus_ids``)."""
    return campus_id == staff.campus_id or campus_id in staff.campus_ids


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
    # None on patients registered before it existed: read as shared.domain.allergies.allergy_status says
    allergy_status: AllergyStatus | None = None


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
    # ``visit.withdraw`` (a consult withdrawn with a reason; its open orders and prescriptions are cancelled)
    withdrawn_at: dt.datetime | None = None
    withdrawn_by: str | None = None
    withdraw_reason: str = Field(default="", max_length=500)


class PriceChange(BaseModel):
    """One dated price of a drug: ``price`` per pack from ``effective_from`` on (until the next change)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price: Annotated[Decimal, PlainSerializer(lambda v: str(v), return_type=str)] = Field(ge=0)
    effective_from: JsonInstant
    set_by: str = Field(default="", max_length=64)
    set_at: JsonInstant | None = None


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
    price: Decimal = Field(ge=0)  # in effect when the row was written; rules use ``prices.price_at``
    controlled_class: ControlledClass = "none"
    internet_rx_restricted: bool = False
    dose_min: Decimal | None = None
    dose_max: Decimal | None = None
    skin_test: bool = False
    min_stock: int = 0
    # the active ingredients (阿莫西林克拉维酸钾片: 阿莫西林, 克拉维酸钾); empty: derived from the generic name
    active_ingredients: list[str] = Field(default_factory=list, max_length=10)
    # Dated prices, oldest first (``shared.domain.prices.price_at``): each from its moment on.
    price_changes: list[PriceChange] = Field(default_factory=list, max_length=200)


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


# The code set the demo diagnoses (and every diagnosis from before code sets) belong to.
DEFAULT_CODE_SET = "ICD-10"


class Diagnosis(Entity):
    """An ICD-10 diagnosis of one code set (version): several sets live side by side (国家临床版2.0,
    医保版2.0 …), a code is unique within its set, and the site's chosen set (``SiteSettings``) is the one
    doctors search (``shared.domain.code_sets``)."""

    KIND: ClassVar[str] = "diagnosis"
    SCOPE: ClassVar = "reference"
    INDEXES: ClassVar = ("pinyin", "code", "code_set")

    code: str = Field(max_length=16)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=300)
    pinyin: str = Field(default="", max_length=100)
    code_set: str = Field(default=DEFAULT_CODE_SET, min_length=1, max_length=32)


class SiteSettings(Entity):
    """The hospital's settings that every PC follows, one row (``SITE_SETTINGS_ID``), changed by an
    administrator's mutation (``reference.choose_code_set``) and synced like reference data."""

    KIND: ClassVar[str] = "site_settings"
    SCOPE: ClassVar = "reference"

    diagnosis_code_set: str = Field(default=DEFAULT_CODE_SET, min_length=1, max_length=32)
    changed_by: str | None = None


class RxRuleSet(Entity):
    """One dated version of the prescription rule table (``rx_rules.RuleTable`` as JSON in ``rules``): in
    effect from ``effective_from`` until a later version's moment. Versions are added by an administrator
    (``reference.set_rx_rules``, ``clinic import rx_rules``), never edited, and synced like reference data;
    ``rx_rule_sets.rules_at`` picks the one in effect at a prescription's written time."""

    KIND: ClassVar[str] = "rx_rule_set"
    SCOPE: ClassVar = "reference"

    effective_from: dt.datetime
    rules: dict[str, Any]
    set_by: str | None = None
    set_at: dt.datetime | None = None
    note: str = Field(default="", max_length=500)


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


class RoomDuty(BaseModel):
    """A doctor at work in a room: who, since when (server time once synced), and who said so
    (``login``: the doctor chose the room at a workstation; ``nurse``: the room is open by the
    schedule and a nurse opened it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    doctor_id: str = Field(max_length=64)
    since: JsonInstant
    by: str = Field(max_length=64)
    source: Literal["login", "nurse"] = "login"


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
    # room id -> the doctor at work there now (``queue.room_open`` / ``queue.room_close``): only these
    # rooms take patients from the queue (``shared.domain.queue_rules.working_rooms``)
    staffed_rooms: dict[str, RoomDuty] = Field(default_factory=dict)


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
    # when it happened on the PC (its clock corrected by the measured offset, bounded by the server);
    # ``at`` is when the server recorded it. Statistics and screens use ``occurred_at``; order never.
    occurred_at: JsonInstant | None = None

    @property
    def when(self) -> dt.datetime:
        """When it happened: ``occurred_at`` when known, else ``at``."""
        return self.occurred_at or self.at


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
    """A public key one staff member registered for one PC (``device_id``; "" for keys registered before
    keys were per PC). Only public parts are kept and synced: the private key stays sealed in that PC's
    OS key store (``shared.security.device_keys``). ``algorithm`` names the signature provider
    (``shared.security.providers``). Revoked keys stay listed so old signatures still verify."""

    KIND: ClassVar[str] = "signing_key"
    SCOPE: ClassVar = "global"
    INDEXES: ClassVar = ("staff_id", "fingerprint")

    staff_id: str
    algorithm: str = Field(default="ed25519", min_length=1, max_length=15)
    public_key: str = Field(min_length=40, max_length=64)
    fingerprint: str = Field(max_length=64)
    registered_at: dt.datetime
    revoked_at: dt.datetime | None = None
    revoked_reason: str = Field(default="", max_length=200)
    device_id: str = Field(default="", max_length=128)

    @model_validator(mode="before")
    @classmethod
    def _drop_sealed_key(cls, data: Any) -> Any:
        # rows cached before keys were per PC carried the PIN-sealed private key: never read it again
        if isinstance(data, dict) and "sealed_key" in data:
            data = {k: v for k, v in data.items() if k != "sealed_key"}
        return data


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
    # what the doctor saw when writing: ``prescribing.PatientFacts`` and ``PrescriberFacts`` JSON dumps
    # (the signature covers them; ``shared.domain.clinical.draft_of`` rebuilds the signed draft from a row)
    patient_facts: dict[str, Any] = Field(default_factory=dict)
    prescriber: dict[str, Any] = Field(default_factory=dict)
    status: RxStatus = "draft"
    # the doctor's signature over ``shared.security.signing.canonical_bytes`` of the signed content
    signature: str = Field(default="", max_length=200)
    signing_key_id: str | None = None
    signed_at: dt.datetime | None = None
    signature_algorithm: str = Field(default="", max_length=15)  # the key's provider, as signed
    sign_count: int = Field(default=0, ge=0)
    # the pharmacist's review
    reviewed_by: str | None = None
    reviewed_at: dt.datetime | None = None
    review_reason: str = Field(default="", max_length=500)
    review_reason_code: str = Field(default="", max_length=64)
    review_signature: str = Field(default="", max_length=200)
    review_key_id: str | None = None
    review_signature_algorithm: str = Field(default="", max_length=15)
    pickup_code_hash: str = Field(default="", max_length=128)
    cancel_reason: str = Field(default="", max_length=500)
    # the payment (``rx.pay``), confirmed by the payment adapter; ``amount_paid`` is a Decimal as text
    paid_at: dt.datetime | None = None
    paid_by: str | None = None
    payment_ref: str = Field(default="", max_length=64)
    payment_method: str = Field(default="", max_length=16)
    amount_paid: str = Field(default="", max_length=24)


# --- pharmacy: stock ledger, dispensing, pickup codes, refunds, delivery ----------------------------------
# Quantities are signed whole numbers in the drug's minimum unit (片, 粒, 支; see ``shared.domain.stock``);
# money is Decimal (amounts to the cent, unit costs to 1/10000). Nested rows are JSON-ready python dumps.
JsonDate = Annotated[dt.date, PlainSerializer(lambda v: v.isoformat(), return_type=str)]
JsonDecimal = Annotated[Decimal, PlainSerializer(lambda v: str(v), return_type=str)]
StockMovementKind = Literal[
    "receipt", "dispense", "return", "transfer_out", "transfer_in", "scrap", "count_adjustment"
]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StockMovement(Entity):
    """One line of a pharmacy's append-only stock ledger (``shared.domain.stock.Movement`` as a row).

    Never updated: a correction is another movement. ``drug_key`` is ``pharmacy_id|drug_id`` and
    ``batch_key`` ``pharmacy_id|drug_id|batch_no`` (one equality finds a drug's or a batch's rows).
    ``source_id`` is the record that wrote it (receipt, dispense, refund, stocktake or move id); ``day``
    is the local date of ``occurred_at`` (when it happened on the shelf, the recording PC's clock).
    ``flagged`` marks a movement that drove its batch below zero or took from an expired batch."""

    KIND: ClassVar[str] = "stock_movement"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("pharmacy_id", "drug_key", "batch_key", "rx_id", "day", "source_id")

    campus_id: str
    pharmacy_id: str
    drug_id: str
    batch_no: str = Field(min_length=1, max_length=64)
    expiry: dt.date
    kind: StockMovementKind
    quantity: int
    unit_cost: Decimal = Field(default=Decimal("0"), ge=0)
    occurred_at: dt.datetime
    day: dt.date
    recorded_by: str | None = None
    drug_key: str = Field(max_length=140)
    batch_key: str = Field(max_length=210)
    source_id: str | None = None
    rx_id: str | None = None
    rx_line_id: str | None = Field(default=None, max_length=80)
    stocktake_id: str | None = None
    transfer_id: str | None = None
    reverses: str | None = None
    supplier: str = Field(default="", max_length=100)
    reason: str = Field(default="", max_length=200)
    flagged: bool = False


class StockBatch(Entity):
    """What one batch of one drug holds in one pharmacy: the ledger's fold kept with every movement.

    Derived, never edited by hand: each mutation that appends movements rewrites the batch rows they
    touch in the same transaction (``quantity`` = sum of the batch's movements, may be negative). The id
    is ``shared.domain.stock.deterministic_id("stock_batch", pharmacy_id, drug_id, batch_no)``."""

    KIND: ClassVar[str] = "stock_batch"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "pharmacy_id", "drug_key", "drug_id")

    campus_id: str
    pharmacy_id: str
    drug_id: str
    batch_no: str = Field(min_length=1, max_length=64)
    expiry: dt.date
    quantity: int = 0
    unit_cost: Decimal = Field(default=Decimal("0"), ge=0)
    supplier: str = Field(default="", max_length=100)
    drug_key: str = Field(max_length=140)
    movement_count: int = Field(default=0, ge=0)
    last_movement_at: dt.datetime | None = None
    last_counted_at: dt.datetime | None = None


class StockMinimum(Entity):
    """A pharmacy's own minimum for a drug, in packs (overrides ``Drug.min_stock`` for low-stock alerts).
    The id is ``deterministic_id("stock_minimum", pharmacy_id, drug_id)``."""

    KIND: ClassVar[str] = "stock_minimum"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "pharmacy_id")

    campus_id: str
    pharmacy_id: str
    drug_id: str
    min_packs: int = Field(ge=0)
    set_by: str | None = None


class StocktakeLine(_Row):
    drug_id: str = Field(max_length=64)
    batch_no: str = Field(max_length=64)
    expiry: JsonDate | None = None
    counted: int = Field(ge=0)
    book: int = 0  # the ledger's quantity as of the count
    adjustment: int = 0  # counted - book, written as a count_adjustment movement when not zero


class Stocktake(Entity):
    """A stocktake (盘点): counted quantities and the adjustments the server computed as of ``counted_at``."""

    KIND: ClassVar[str] = "stocktake"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "pharmacy_id", "day")

    campus_id: str
    pharmacy_id: str
    counted_at: dt.datetime
    day: dt.date
    counted_by: str | None = None
    complete_drugs: bool = False
    note: str = Field(default="", max_length=500)
    lines: list[StocktakeLine] = Field(default_factory=list, max_length=20000)


class DispenseAllocation(_Row):
    batch_no: str = Field(max_length=64)
    expiry: JsonDate
    quantity: int = Field(ge=1)
    unit_cost: JsonDecimal = Decimal("0")
    override_reason: str = Field(default="", max_length=200)


class DispenseLine(_Row):
    """One prescription line in a dispense: what was handed out now and what is still owed."""

    line_no: int = Field(ge=0)  # index in ``Prescription.lines``
    rx_line_id: str = Field(max_length=80)
    drug_id: str = Field(max_length=64)
    drug_name: str = Field(default="", max_length=100)
    prescribed: int = Field(ge=0)  # minimum units
    dispensed: int = Field(ge=0)  # minimum units, this dispense
    remaining: int = Field(ge=0)  # still owed after this dispense
    allocations: list[DispenseAllocation] = Field(default_factory=list, max_length=500)
    amount: JsonDecimal = Decimal("0")


class DispenseConflict(_Row):
    """Something a recorded dispense ran into (``shared.domain.stock.ReviewKind`` plus
    ``before_stocktake``); the dispense stands and a pharmacist reviews it."""

    kind: str = Field(max_length=32)
    drug_id: str = Field(default="", max_length=64)
    batch_no: str = Field(default="", max_length=64)
    detail: str = Field(default="", max_length=200)


class Dispense(Entity):
    """A dispense of a prescription (发药): lines with their batch allocations, the amount, and any
    conflicts found when it reached the server (``conflict_status`` "open" puts it on the review list)."""

    KIND: ClassVar[str] = "dispense"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "pharmacy_id", "rx_id", "day", "conflict_status", "patient_id")

    campus_id: str
    pharmacy_id: str
    rx_id: str
    rx_number: str = Field(default="", max_length=32)
    patient_id: str
    day: dt.date
    dispensed_at: dt.datetime
    dispensed_by: str | None = None
    device_id: str = Field(default="", max_length=64)
    handover: Literal["counter", "delivery"] = "counter"
    pickup_verified: bool = False
    lines: list[DispenseLine] = Field(default_factory=list, max_length=60)
    amount: Decimal = Decimal("0")
    cost: Decimal = Decimal("0")
    complete: bool = True
    conflicts: list[DispenseConflict] = Field(default_factory=list, max_length=2000)
    conflict_status: Literal["none", "open", "resolved"] = "none"
    resolved_by: str | None = None
    resolved_at: dt.datetime | None = None
    resolution_note: str = Field(default="", max_length=500)


PickupEventKind = Literal["issue", "reissue", "verified", "wrong", "refused", "reopened", "dispensed"]


class PickupEvent(_Row):
    no: int = Field(ge=1)
    kind: PickupEventKind
    at: JsonInstant
    by: str = Field(max_length=64)
    device: str = Field(default="", max_length=64)
    reason: str = Field(default="", max_length=32)  # verification outcome (wrong, locked, expired, …)
    note: str = Field(default="", max_length=200)


class PickupCodeState(Entity):
    """A prescription's pickup code (取药码) state: digest only (``shared.domain.pickup``), tries, lock,
    use, and every issue and check as an event (a wrong code is refused and recorded here).
    The id is ``deterministic_id("pickup_code", rx_id)``."""

    KIND: ClassVar[str] = "pickup_code"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "rx_id", "pharmacy_id")

    campus_id: str
    rx_id: str
    pharmacy_id: str | None = None
    digest: str = Field(max_length=128)
    issued_at: dt.datetime
    expires_at: dt.datetime
    attempts: int = Field(default=0, ge=0)
    locked: bool = False
    used_at: dt.datetime | None = None
    generation: int = Field(default=1, ge=1)
    events: list[PickupEvent] = Field(default_factory=list, max_length=200)


class RefundLine(_Row):
    line_no: int = Field(ge=0)
    rx_line_id: str = Field(max_length=80)
    drug_id: str = Field(max_length=64)
    quantity: int = Field(ge=1)  # minimum units
    restock: bool = True  # back on the shelf (its batch) or destroyed
    amount: JsonDecimal = Decimal("0")


class Refund(Entity):
    """A refund/return request (退药退费) and its review; approval puts restocked units back in their batch."""

    KIND: ClassVar[str] = "refund"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "pharmacy_id", "rx_id", "status", "day")

    campus_id: str
    pharmacy_id: str
    rx_id: str
    patient_id: str
    day: dt.date
    requested_at: dt.datetime
    requested_by: str | None = None
    reason_code: str = Field(max_length=64)
    reason: str = Field(default="", max_length=500)
    lines: list[RefundLine] = Field(min_length=1, max_length=60)
    amount: Decimal = Decimal("0")
    status: Literal["requested", "approved", "rejected"] = "requested"
    reviewed_by: str | None = None
    reviewed_at: dt.datetime | None = None
    review_note: str = Field(default="", max_length=500)


class DeliveryAddress(_Row):
    name: str = Field(max_length=32)
    mobile: str = Field(default="", max_length=20)
    province: str = Field(default="", max_length=20)
    city: str = Field(default="", max_length=30)
    district: str = Field(default="", max_length=30)
    detail: str = Field(default="", max_length=200)


class DeliveryItemRow(_Row):
    drug_name: str = Field(max_length=100)
    spec: str = Field(default="", max_length=100)
    quantity: int = Field(ge=1)
    unit: str = Field(default="", max_length=16)


class DeliveryEvent(_Row):
    status: str = Field(max_length=16)
    at: JsonInstant
    by: str = Field(max_length=64)
    note: str = Field(default="", max_length=200)


class Delivery(Entity):
    """A home-delivery order (``shared.domain.delivery.DeliveryOrder`` as a row): receiver, courier,
    waybill number and status (draft → confirmed → placed → shipped → delivered, or cancelled)."""

    KIND: ClassVar[str] = "delivery"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "pharmacy_id", "rx_id", "status", "waybill_no")

    campus_id: str
    pharmacy_id: str
    rx_id: str
    patient_id: str
    dispense_id: str | None = None
    # ``DeliveryAddress`` dumps (name, mobile, province, city, district, detail)
    sender: dict[str, str] = Field(default_factory=dict)
    receiver: dict[str, str] = Field(default_factory=dict)
    items: list[DeliveryItemRow] = Field(min_length=1, max_length=60)
    status: Literal["draft", "confirmed", "placed", "shipped", "delivered", "cancelled"] = "confirmed"
    courier: str = Field(default="", max_length=32)
    waybill_no: str = Field(default="", max_length=40)
    sort_code: str = Field(default="", max_length=32)
    cold_chain: bool = False
    note: str = Field(default="", max_length=200)
    created_at: dt.datetime
    created_by: str | None = None
    history: list[DeliveryEvent] = Field(default_factory=list, max_length=100)


# --- clinical: visit notes, lab/imaging orders, note templates, order sets (treatment plans) -------------
NoteStatus = Literal["draft", "signed", "superseded"]
TemplateScope = Literal["personal", "department"]


class NoteDiagnosis(BaseModel):
    """One diagnosis on a visit note: ICD-10 code, name and code set from the dictionary as written
    (``code`` "" for a free-text diagnosis; kept when the site switches sets or retires the code), the
    primary flag (exactly one per note once there is any) and a supplement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(default="", max_length=16)
    name: str = Field(min_length=1, max_length=200)
    primary: bool = False
    supplement: str = Field(default="", max_length=200)  # 左侧, 急性发作, 待查 …
    # the code set (version) the code is from, as chosen when written ("" before code sets existed)
    code_set: str = Field(default="", max_length=32)


class EmrNote(Entity):
    """A visit note (门诊病历). Drafts are saved as often as the doctor types (``emr.save``); a signed note
    is never edited: a correction is a new note with ``amends_id`` that, once signed, supersedes it.
    ``signature`` is Ed25519 over ``signing.canonical_bytes(clinical.note_signed_content(note, signed_at))``."""

    KIND: ClassVar[str] = "emr_note"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "visit_id", "patient_id", "doctor_id", "status")

    campus_id: str
    visit_id: str
    patient_id: str
    doctor_id: str
    department_id: str | None = None
    chief_complaint: str = Field(default="", max_length=500)
    present_illness: str = Field(default="", max_length=4000)
    past_history: str = Field(default="", max_length=4000)
    allergy_history: str = Field(default="", max_length=1000)
    examination: str = Field(default="", max_length=4000)
    advice: str = Field(default="", max_length=2000)
    diagnoses: list[NoteDiagnosis] = Field(default_factory=list, max_length=20)
    status: NoteStatus = "draft"
    amends_id: str | None = None
    superseded_by: str | None = None
    created_at: dt.datetime
    saved_at: dt.datetime
    signature: str = Field(default="", max_length=200)
    signing_key_id: str | None = None
    signed_at: dt.datetime | None = None
    signature_algorithm: str = Field(default="", max_length=15)


class ClinicalOrder(Entity):
    """A lab or imaging request (检验/检查申请) for one catalogue item (``ExamItem``), snapshotted as ordered."""

    KIND: ClassVar[str] = "clinical_order"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "visit_id", "patient_id", "doctor_id", "status")

    campus_id: str
    visit_id: str
    patient_id: str
    doctor_id: str
    department_id: str | None = None
    exam_item_id: str
    item_code: str = Field(max_length=32)
    item_name: str = Field(max_length=100)
    kind: Literal["lab", "imaging"]
    specimen_or_site: str = Field(default="", max_length=100)
    exec_department: str = Field(default="", max_length=64)
    price: Decimal = Field(default=Decimal("0"), ge=0)
    urgent: bool = False
    note: str = Field(default="", max_length=500)  # clinical indication / question for the lab
    status: Literal["ordered", "cancelled", "resulted"] = "ordered"
    ordered_at: dt.datetime
    cancelled_at: dt.datetime | None = None
    cancel_reason: str = Field(default="", max_length=500)
    resulted_at: dt.datetime | None = None
    result_text: str = Field(default="", max_length=4000)
    result_flag: Literal["", "normal", "abnormal", "critical"] = ""


class NoteTemplate(Entity):
    """A reusable visit-note template: personal (``owner_id``) or for a department (``department_id``)."""

    KIND: ClassVar[str] = "note_template"
    SCOPE: ClassVar = "global"
    INDEXES: ClassVar = ("owner_id", "department_id")

    name: str = Field(min_length=1, max_length=64)
    scope: TemplateScope = "personal"
    owner_id: str | None = None
    department_id: str | None = None
    chief_complaint: str = Field(default="", max_length=500)
    present_illness: str = Field(default="", max_length=4000)
    past_history: str = Field(default="", max_length=4000)
    allergy_history: str = Field(default="", max_length=1000)
    examination: str = Field(default="", max_length=4000)
    advice: str = Field(default="", max_length=2000)
    diagnoses: list[NoteDiagnosis] = Field(default_factory=list, max_length=20)
    created_by: str | None = None


class OrderSetLine(BaseModel):
    """A line template of an order set: a drug and its usage; empty usage fields take the drug's defaults
    and ``quantity`` ``None`` is computed when the line is inserted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drug_id: str = Field(min_length=1, max_length=64)
    drug_code: str = Field(default="", max_length=32)
    drug_name: str = Field(default="", max_length=100)
    dose: Annotated[Decimal, PlainSerializer(lambda v: str(v), return_type=str)] | None = None
    dose_unit: str = Field(default="", max_length=16)
    route: str = Field(default="", max_length=16)
    frequency: str = Field(default="", max_length=16)
    days: int = Field(default=3, ge=1, le=366)
    quantity: int | None = Field(default=None, ge=1)
    note: str = Field(default="", max_length=200)


class OrderSet(Entity):
    """A named treatment plan (协定处方/组套): drug lines and lab/imaging items inserted together."""

    KIND: ClassVar[str] = "order_set"
    SCOPE: ClassVar = "global"
    INDEXES: ClassVar = ("owner_id", "department_id")

    name: str = Field(min_length=1, max_length=64)
    scope: TemplateScope = "personal"
    owner_id: str | None = None
    department_id: str | None = None
    rx_type: str = Field(default="ordinary", max_length=32)
    lines: list[OrderSetLine] = Field(default_factory=list, max_length=30)
    exam_item_ids: list[str] = Field(default_factory=list, max_length=30)
    created_by: str | None = None


PrintDocument = Literal[
    "prescription",
    "visit_note",
    "label",
    "receipt",
    "waybill",
    "pick_list",
    "ticket",
    "stock_report",
    "sales_report",
]


class PrintRecord(Entity):
    """One printed document (打印记录): what, of which row, by whom, on which PC and printer, and whether it
    was a reprint. Written by ``print.record``; never edited."""

    KIND: ClassVar[str] = "print_record"
    SCOPE: ClassVar = "campus"
    INDEXES: ClassVar = ("campus_id", "ref_id")

    campus_id: str
    document: PrintDocument
    ref_id: str = Field(min_length=1, max_length=64)
    reprint: bool = False
    copies: int = Field(default=1, ge=1, le=99)
    printer: str = Field(default="", max_length=200)
    printed_by: str
    device_id: str = Field(default="", max_length=64)
    printed_at: dt.datetime


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
    SiteSettings,
    RxRuleSet,
    ExamItem,
    Schedule,
    Appointment,
    Queue,
    QueueTicket,
    QueueNotice,
    SigningKey,
    Prescription,
    StockMovement,
    StockBatch,
    StockMinimum,
    Stocktake,
    Dispense,
    PickupCodeState,
    Refund,
    Delivery,
    EmrNote,
    ClinicalOrder,
    NoteTemplate,
    OrderSet,
    PrintRecord,
)


ENTITY_BY_KIND: dict[str, type[Entity]] = {t.KIND: t for t in ENTITY_TYPES}
REFERENCE_KINDS = frozenset(t.KIND for t in ENTITY_TYPES if t.SCOPE == "reference")
