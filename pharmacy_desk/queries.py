"""What the pharmacy screens read, as plain values: run on the database thread, tested without Qt.

Every function takes the ``LocalStore`` (the app's store on its DB worker) and returns dataclasses the
screens display. Nothing here writes; writes are mutations recorded through ``store.record``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from pharmacy_desk.documents import (
    HandedOut,
    SignatureCheck,
    acknowledgements_of,
    check_signature,
    draft_of,
    findings_of,
    rx_lines,
)
from shared import clinic_time
from shared.domain import entities as E
from shared.domain.entities import Patient, Pharmacy, Prescription, Staff
from shared.domain.pharmacy_queries import (
    SalesReport,
    StockOverview,
    effective_minimums,
    sales_report,
    stock_overview,
)
from shared.domain.pickup import parse_pickup_scan
from shared.domain.prescribing import PrescriptionDraft, RxLine, plain_usage_zh
from shared.domain.rx_checks import Finding
from shared.domain.stock import EXPIRY_WARNING_DAYS, BatchOverride, BatchStock, allocate_fefo

REVIEW_STATUSES = ("signed", "approved", "rejected")
PRINTS_STATE = "pharmacy.prints"  # rx id -> times printed on this PC (reprints are marked)
DISPENSABLE = ("approved", "partly_dispensed")


def find_every(store: Any, kind: type[Any], **equals: Any) -> list[Any]:
    """Every row of ``kind`` matching ``equals`` (``store.find`` returns them all; voided rows kept)."""
    return list(store.find(kind, **equals))


# The stock tab lists every batch of a pharmacy (60,000 at the scale set) and the drug of each (20,000):
# it reads them with ``store.rows`` (a projection of a few fields, no pydantic entities) into these.
BATCH_FIELDS = ("pharmacy_id", "drug_id", "batch_no", "expiry", "quantity", "unit_cost", "voided")
DRUG_FIELDS = (
    "code",
    "generic_name",
    "spec",
    "pack_unit",
    "min_unit",
    "pack_qty",
    "min_stock",
    "pinyin",
    "voided",
)


class BatchLine(NamedTuple):
    """A stock batch as the stock tab and exports use it (``StockBatch``'s fields they read)."""

    id: str
    pharmacy_id: str
    drug_id: str
    batch_no: str
    expiry: dt.date
    quantity: int
    cost: str  # unit cost per minimum unit, as stored
    voided: bool = False

    @property
    def unit_cost(self) -> Decimal:
        return Decimal(self.cost or "0")


class DrugLine(NamedTuple):
    """A drug as the stock tab and exports use it (``Drug``'s fields they read)."""

    id: str
    code: str
    generic_name: str
    spec: str
    pack_unit: str
    min_unit: str
    pack_qty: int
    min_stock: int
    pinyin: str = ""
    voided: bool = False


def batch_lines(store: Any, pharmacy_id: str) -> list[BatchLine]:
    """Every live batch of the pharmacy, pending changes included (one projection query, no entities)."""
    date = dt.date.fromisoformat
    return [
        BatchLine(i, p, d, b, date(e), q, c or "0")
        for i, p, d, b, e, q, c, voided in store.values(E.StockBatch, BATCH_FIELDS, pharmacy_id=pharmacy_id)
        if not voided
    ]


def drug_lines(store: Any, drug_ids: set[str] | None = None) -> dict[str, DrugLine]:
    """Drugs by id (all of them when ``drug_ids`` is None), voided ones included."""
    if drug_ids is not None and len(drug_ids) <= 200:
        found = [r for i in drug_ids for r in store.values(E.Drug, DRUG_FIELDS, id=i)]
    else:
        found = store.values(E.Drug, DRUG_FIELDS)
    return {
        r[0]: DrugLine(
            r[0],
            r[1] or "",
            r[2] or "",
            r[3] or "",
            r[4] or "",
            r[5] or "",
            r[6] or 1,
            r[7] or 0,
            r[8] or "",
            bool(r[9]),
        )
        for r in found
        if drug_ids is None or r[0] in drug_ids
    }


def _names(store: Any, kind: type[E.Entity], ids: Iterable[str]) -> dict[str, str]:
    out = {}
    for entity_id in set(ids):
        row = store.get(kind, entity_id)
        out[entity_id] = getattr(row, "name", "") if row is not None else ""
    return out


# --- pharmacies ---------------------------------------------------------------------------------------


def pharmacies(store: Any, campus_id: str | None) -> list[Pharmacy]:
    found = store.all(Pharmacy)
    if campus_id:
        found = [p for p in found if p.campus_id == campus_id] or found
    return sorted(found, key=lambda p: p.code)


# --- review ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RxRow:
    rx: Prescription
    patient_name: str
    doctor_name: str

    @property
    def id(self) -> str:
        return self.rx.id


@dataclass
class ReviewQueue:
    rows: dict[str, list[RxRow]] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return len(self.rows.get(status, []))

    def ids(self, status: str) -> set[str]:
        return {r.id for r in self.rows.get(status, [])}


def _mine(rx: Prescription, pharmacy_id: str | None, campus_id: str | None) -> bool:
    if rx.voided:
        return False
    if pharmacy_id and rx.pharmacy_id and rx.pharmacy_id != pharmacy_id:
        return False
    return not (campus_id and rx.campus_id != campus_id)


def review_queue(
    store: Any, pharmacy_id: str | None, campus_id: str | None, *, day: dt.date | None = None
) -> ReviewQueue:
    """Signed (pending), approved and rejected prescriptions for this pharmacy; pending oldest first."""
    queue = ReviewQueue()
    for status in REVIEW_STATUSES:
        found = [
            rx for rx in find_every(store, Prescription, status=status) if _mine(rx, pharmacy_id, campus_id)
        ]
        if status != "signed" and day is not None:
            found = [
                rx
                for rx in found
                if clinic_time.day_of(rx.reviewed_at or rx.written_at) >= day - dt.timedelta(days=1)
            ]
        patients = _names(store, Patient, (rx.patient_id for rx in found))
        doctors = _names(store, Staff, (rx.doctor_id for rx in found))
        found.sort(key=lambda rx: rx.signed_at or rx.written_at, reverse=status != "signed")
        queue.rows[status] = [RxRow(rx, patients[rx.patient_id], doctors[rx.doctor_id]) for rx in found]
    return queue


@dataclass(frozen=True)
class CheckRow:
    finding: Finding
    acknowledged: str | None  # the doctor's note when acknowledged


@dataclass(frozen=True)
class ReviewDetail:
    rx: Prescription
    draft: PrescriptionDraft
    patient: Patient | None
    signature: SignatureCheck
    checks: list[CheckRow]
    reviewer_name: str = ""
    times_printed: int = 0  # on this PC; the next print is marked as a reprint when > 0
    payment_first: bool = False  # the pharmacy issues the pickup code once the prescription is paid

    @property
    def awaiting_payment(self) -> bool:
        return self.payment_first and self.rx.paid_at is None and self.rx.status in DISPENSABLE

    @property
    def blocks(self) -> int:
        return sum(1 for c in self.checks if c.finding.level == "block")

    @property
    def usages(self) -> list[str]:
        return [plain_usage_zh(line, with_days=True) for line in self.draft.lines]


def review_detail(store: Any, rx_id: str, lang: str) -> ReviewDetail | None:
    rx = store.get(Prescription, rx_id)
    if rx is None:
        return None
    draft = draft_of(store, rx)
    acks = acknowledgements_of(rx)
    checks = []
    for finding in findings_of(store, draft, lang):
        ack = acks.get(finding.key)
        checks.append(CheckRow(finding, (ack.note or "✓") if ack is not None else None))
    checks.sort(key=lambda c: (c.finding.level != "block", c.finding.line_index or -1))
    reviewer = store.get(Staff, rx.reviewed_by) if rx.reviewed_by else None
    pharmacy = store.get(Pharmacy, rx.pharmacy_id) if rx.pharmacy_id else None
    return ReviewDetail(
        rx=rx,
        draft=draft,
        patient=store.get(Patient, rx.patient_id),
        signature=check_signature(store, rx, draft),
        checks=checks,
        reviewer_name=reviewer.name if reviewer else "",
        times_printed=_times_printed(store, rx.id),
        payment_first=pharmacy is not None and pharmacy.payment_required,
    )


def _times_printed(store: Any, rx_id: str) -> int:
    state = getattr(store, "state", None)  # the local store keeps this PC's print log
    if state is None:
        return 0
    return int((state(PRINTS_STATE, {}) or {}).get(rx_id, 0))


# --- dispensing ----------------------------------------------------------------------------------------


def find_for_dispensing(
    store: Any, query: str, pharmacy_id: str | None, campus_id: str | None
) -> tuple[list[RxRow], str]:
    """Prescriptions a query names: number, scanned pickup QR, scanned prescription QR, a 6-digit pickup
    code (the prescriptions with an active code at this pharmacy), or the patient's name / pinyin / MRN.
    Returns the rows and the pickup code the query carried ('' if none)."""
    text = query.strip()
    if not text:
        return [], ""
    found: list[Prescription] = []
    code = ""
    rx_id, scanned_code = parse_pickup_scan(text)
    if rx_id:
        rx = store.get(Prescription, rx_id)
        found = [rx] if rx is not None else []
        code = scanned_code
    else:
        if text.startswith("clinic:rx:"):
            text = text[len("clinic:rx:") :]
        found = store.find(Prescription, number=text) or store.find(Prescription, number=text.upper())
        if not found and scanned_code and len(scanned_code) == 6 and scanned_code == text:
            found = _by_pickup_code(store, scanned_code, pharmacy_id)
            code = scanned_code
        if not found:
            for patient in store.search_patients(text, limit=20):
                found.extend(store.find(Prescription, patient_id=patient.id))
    rows = [
        rx
        for rx in found
        if _mine(rx, pharmacy_id, campus_id) and rx.status in (*DISPENSABLE, "dispensed", "signed")
    ]
    rows.sort(key=lambda rx: rx.written_at, reverse=True)
    patients = _names(store, Patient, (rx.patient_id for rx in rows))
    doctors = _names(store, Staff, (rx.doctor_id for rx in rows))
    return [RxRow(rx, patients[rx.patient_id], doctors[rx.doctor_id]) for rx in rows], code


def to_dispense(store: Any, pharmacy_id: str | None, campus_id: str | None) -> list[RxRow]:
    """待发药: approved (paid where payment comes first, or awaiting it) and partly dispensed prescriptions
    of this pharmacy, the longest waiting first (by approval time)."""
    found = [
        rx
        for status in DISPENSABLE
        for rx in find_every(store, Prescription, status=status)
        if _mine(rx, pharmacy_id, campus_id)
    ]
    found.sort(key=lambda rx: (rx.reviewed_at or rx.signed_at or rx.written_at, rx.number))
    patients = _names(store, Patient, (rx.patient_id for rx in found))
    doctors = _names(store, Staff, (rx.doctor_id for rx in found))
    return [RxRow(rx, patients[rx.patient_id], doctors[rx.doctor_id]) for rx in found]


def refresh_rows(store: Any, ids: list[str]) -> list[RxRow]:
    """The same prescriptions as they are now (a list on screen after a dispense or a sync)."""
    found = [rx for rx in (store.get(Prescription, rx_id) for rx_id in ids) if rx is not None]
    patients = _names(store, Patient, (rx.patient_id for rx in found))
    doctors = _names(store, Staff, (rx.doctor_id for rx in found))
    return [RxRow(rx, patients[rx.patient_id], doctors[rx.doctor_id]) for rx in found]


def _by_pickup_code(store: Any, code: str, pharmacy_id: str | None = None) -> list[Prescription]:
    """Prescriptions whose active code is ``code`` (one slow hash per confirmed active code: this
    pharmacy's only; a fast one per pending code)."""
    from shared.domain.pickup import digest_matches

    out = []
    states = (
        store.find(E.PickupCodeState, pharmacy_id=pharmacy_id)
        if pharmacy_id
        else store.all(E.PickupCodeState)
    )
    with store.pickup_digests():  # pending codes carry this store's local digests
        matched = [
            s.rx_id
            for s in states
            if s.used_at is None and not s.locked and digest_matches(s.rx_id, code, s.digest)
        ]
    for rx_id in matched:
        rx = store.get(Prescription, rx_id)
        if rx is not None:
            out.append(rx)
    return out


@dataclass(frozen=True)
class LinePlan:
    """One prescription line at the counter: owed quantity, stock, and the FEFO allocation proposed."""

    index: int
    line: RxLine
    prescribed: int  # minimum units
    given: int  # minimum units handed out before
    usable: int  # usable stock now
    batches: tuple[BatchStock, ...]
    allocation: tuple[HandedOut, ...]
    shortfall: int
    override_batch: str = ""
    override_reason: str = ""

    @property
    def owed(self) -> int:
        return max(0, self.prescribed - self.given)

    @property
    def now(self) -> int:
        return sum(h.quantity for h in self.allocation)


@dataclass(frozen=True)
class DispensePlan:
    rx: Prescription
    patient_name: str
    lines: tuple[LinePlan, ...]
    dispenses: tuple[Any, ...]
    pickup: Any | None  # PickupCodeState
    delivery: Any | None = None
    payment_first: bool = False  # the pharmacy issues the pickup code once the prescription is paid
    codes_used: bool = True  # the pharmacy uses pickup codes (``Pharmacy.pickup_code_required``)

    @property
    def awaiting_payment(self) -> bool:
        """待缴费: the pharmacy takes payment before the code, and this prescription is not paid yet."""
        return self.payment_first and self.rx.paid_at is None and self.rx.status in DISPENSABLE

    @property
    def complete(self) -> bool:
        return all(line.shortfall == 0 for line in self.lines)


def batches_of(store: Any, pharmacy_id: str, drug_id: str) -> list[BatchStock]:
    rows = store.find(E.StockBatch, drug_key=f"{pharmacy_id}|{drug_id}")
    return sorted(
        (BatchStock(r.pharmacy_id, r.drug_id, r.batch_no, r.expiry, r.quantity) for r in rows),
        key=lambda b: (b.expiry, b.batch_no),
    )


def prescribed_min_units(line: RxLine) -> int:
    return line.quantity * line.drug.pack_qty


def dispense_plan(
    store: Any,
    rx_id: str,
    pharmacy_id: str,
    today: dt.date,
    overrides: dict[int, tuple[str, str]] | None = None,
    limits: dict[int, int] | None = None,
) -> DispensePlan | None:
    """The counter's plan for a prescription: per line what is owed and which batches FEFO takes.

    ``overrides`` maps a line index to (batch_no, reason); ``limits`` caps what is handed out now
    (a partial dispense by choice). Allocation never takes from an expired batch."""
    rx = store.get(Prescription, rx_id)
    if rx is None:
        return None
    overrides = overrides or {}
    limits = limits or {}
    dispenses = tuple(d for d in store.find(E.Dispense, rx_id=rx.id) if not d.voided)
    given: dict[int, int] = defaultdict(int)
    for d in dispenses:
        for dl in d.lines:
            given[dl.line_no] += dl.dispensed
    plans = []
    for index, line in enumerate(rx_lines(rx)):
        prescribed = prescribed_min_units(line)
        batches = batches_of(store, pharmacy_id, line.drug.id)
        usable = sum(b.quantity for b in batches if b.quantity > 0 and not b.expired(today))
        owed = max(0, prescribed - given[index])
        want = min(owed, limits.get(index, owed))
        chosen = overrides.get(index)
        handed: tuple[HandedOut, ...] = ()
        shortfall = 0
        if want > 0:
            override = BatchOverride(chosen[0], chosen[1]) if chosen else None
            allocation = allocate_fefo(batches, want, today, override)
            handed = tuple(HandedOut(index, a.batch_no, a.expiry, a.quantity) for a in allocation.lines)
            shortfall = allocation.shortfall
        plans.append(
            LinePlan(
                index=index,
                line=line,
                prescribed=prescribed,
                given=given[index],
                usable=usable,
                batches=tuple(batches),
                allocation=handed,
                shortfall=shortfall + (owed - want),
                override_batch=chosen[0] if chosen else "",
                override_reason=chosen[1] if chosen else "",
            )
        )
    patient = store.get(Patient, rx.patient_id)
    pickup = store.get(E.PickupCodeState, _pickup_id(rx.id))
    if pickup is None:
        found = store.find(E.PickupCodeState, rx_id=rx.id)
        pickup = found[0] if found else None
    deliveries = store.find(E.Delivery, rx_id=rx.id)
    pharmacy = store.get(Pharmacy, rx.pharmacy_id or pharmacy_id)
    return DispensePlan(
        rx,
        patient.name if patient else "",
        tuple(plans),
        dispenses,
        pickup,
        deliveries[0] if deliveries else None,
        payment_first=pharmacy is not None and pharmacy.payment_required,
        codes_used=pharmacy is None or pharmacy.pickup_code_required,
    )


def _pickup_id(rx_id: str) -> str:
    from shared.domain.stock import deterministic_id

    return deterministic_id("pickup_code", rx_id)


def handed_out(dispense: Any) -> list[HandedOut]:
    """A recorded dispense as what each line got from each batch (for labels, receipts, pick lists)."""
    out = []
    for dl in dispense.lines:
        for a in dl.allocations:
            out.append(HandedOut(dl.line_no, a.batch_no, a.expiry, a.quantity))
    return out


def open_conflicts(store: Any, pharmacy_id: str | None) -> list[Any]:
    rows = find_every(store, E.Dispense, conflict_status="open")
    return sorted(
        (d for d in rows if not pharmacy_id or d.pharmacy_id == pharmacy_id),
        key=lambda d: d.dispensed_at,
        reverse=True,
    )


# --- stock -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchRow:
    drug: DrugLine | None
    batch: BatchLine
    alert: str  # "", "expired", "expiring", "negative"
    days_left: int

    @property
    def drug_name(self) -> str:
        return self.drug.generic_name if self.drug else self.batch.drug_id


@dataclass(frozen=True)
class LowRow:
    drug: DrugLine
    usable: int
    minimum: int


@dataclass
class StockScreen:
    batches: list[BatchRow]
    low: list[LowRow]
    drugs: dict[str, DrugLine] = field(default_factory=dict)  # every drug read; pass back in to skip a reread

    def alerts(self, kind: str) -> list[BatchRow]:
        return [b for b in self.batches if b.alert == kind]


def stock_screen(
    store: Any,
    pharmacy_id: str,
    today: dt.date,
    days: int = EXPIRY_WARNING_DAYS,
    *,
    drugs: dict[str, DrugLine] | None = None,
) -> StockScreen:
    """Every batch of the pharmacy with its alert, and drugs below their minimum (usable stock only).

    Reads plain projections (``batch_lines``, ``drug_lines``), not entities: 60,000 batches and 20,000
    drugs in well under a second. ``drugs``: the drug table as an earlier call returned it
    (``StockScreen.drugs``), when no drug has changed since; drugs missing from it are read."""
    rows = batch_lines(store, pharmacy_id)
    wanted = {r.drug_id for r in rows}
    known = dict(drugs or {})
    missing = wanted - known.keys()
    if missing:
        known.update(drug_lines(store, missing if len(missing) <= 200 else None))
    drugs = known
    out = []
    usable: dict[str, int] = defaultdict(int)
    for r in rows:
        left = (r.expiry - today).days
        if r.quantity < 0:
            alert = "negative"
        elif r.quantity > 0 and left < 0:
            alert = "expired"
        elif r.quantity > 0 and left <= days:
            alert = "expiring"
        else:
            alert = ""
        if r.quantity > 0 and left >= 0:
            usable[r.drug_id] += r.quantity
        out.append(BatchRow(drugs.get(r.drug_id), r, alert, left))
    out.sort(key=lambda b: (b.drug.code if b.drug else b.batch.drug_id, b.batch.expiry, b.batch.batch_no))
    minimums = {
        m.drug_id: m.min_packs
        for m in find_every(store, E.StockMinimum, pharmacy_id=pharmacy_id)
        if not m.voided
    }
    low = []
    for drug_id in wanted:
        drug = drugs.get(drug_id)
        if drug is None:
            continue
        minimum = minimums.get(drug_id, drug.min_stock) * drug.pack_qty
        if minimum > 0 and usable[drug_id] < minimum:
            low.append(LowRow(drug, usable[drug_id], minimum))
    low.sort(key=lambda row: (row.usable - row.minimum, row.drug.code))
    return StockScreen(out, low, drugs)


def sales(store: Any, pharmacy_id: str, start: dt.date, end: dt.date) -> SalesReport:
    """Dispenses and approved refunds between two days (inclusive) with totals (``pharmacy_queries``)."""
    dispenses = []
    day = start
    while day <= end:
        dispenses.extend(find_every(store, E.Dispense, day=day))
        day += dt.timedelta(days=1)
    refunds = find_every(store, E.Refund, pharmacy_id=pharmacy_id)
    return sales_report(dispenses, refunds, pharmacy_id, start, end, tz=clinic_time.clinic_zone())


def overview(store: Any, pharmacy_id: str, today: dt.date) -> StockOverview:
    """The stock list as the exports print it (``pharmacy_queries.stock_overview``)."""
    batches = batch_lines(store, pharmacy_id)
    drugs = {i: d for i, d in drug_lines(store).items() if not d.voided}
    set_here = [m for m in find_every(store, E.StockMinimum, pharmacy_id=pharmacy_id) if not m.voided]
    minimums = effective_minimums(drugs.values(), set_here, pharmacy_id)
    return stock_overview(batches, drugs, minimums, pharmacy_id, today)


# --- refunds and delivery -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundRow:
    refund: Any
    rx_number: str
    patient_name: str


@dataclass(frozen=True)
class DeliveryRow:
    delivery: Any
    rx_number: str


@dataclass
class ReturnsData:
    refunds: list[RefundRow]
    deliveries: list[DeliveryRow]


def returns_data(store: Any, pharmacy_id: str) -> ReturnsData:
    """Refund requests (open first) and delivery orders of the pharmacy, newest first."""
    numbers: dict[str, str] = {}

    def number(rx_id: str) -> str:
        if rx_id not in numbers:
            rx = store.get(Prescription, rx_id)
            numbers[rx_id] = rx.number if rx else ""
        return numbers[rx_id]

    refunds = [r for r in find_every(store, E.Refund, pharmacy_id=pharmacy_id) if not r.voided]
    names = _names(store, Patient, (r.patient_id for r in refunds))
    refunds.sort(key=lambda r: (r.status != "requested", -r.requested_at.timestamp()))
    deliveries = [d for d in find_every(store, E.Delivery, pharmacy_id=pharmacy_id) if not d.voided]
    deliveries.sort(key=lambda d: d.created_at, reverse=True)
    return ReturnsData(
        [RefundRow(r, number(r.rx_id), names[r.patient_id]) for r in refunds],
        [DeliveryRow(d, number(d.rx_id)) for d in deliveries],
    )


@dataclass(frozen=True)
class RefundableLine:
    line_no: int
    name: str
    unit: str
    dispensed: int
    refundable: int


def refundable_lines(store: Any, rx_id: str) -> list[RefundableLine]:
    """Per line: minimum units dispensed and what can still be asked back (minus refunds requested)."""
    rx = store.get(Prescription, rx_id)
    if rx is None:
        return []
    dispensed: dict[int, int] = defaultdict(int)
    for d in store.find(E.Dispense, rx_id=rx_id):
        if not d.voided:
            for dl in d.lines:
                dispensed[dl.line_no] += dl.dispensed
    asked: dict[int, int] = defaultdict(int)
    for refund in store.find(E.Refund, rx_id=rx_id):
        if refund.status != "rejected" and not refund.voided:
            for rl in refund.lines:
                asked[rl.line_no] += rl.quantity
    out = []
    for index, line in enumerate(rx_lines(rx)):
        if dispensed[index]:
            out.append(
                RefundableLine(
                    index,
                    f"{line.drug.generic_name} {line.drug.spec}",
                    line.drug.min_unit,
                    dispensed[index],
                    max(0, dispensed[index] - asked[index]),
                )
            )
    return out
