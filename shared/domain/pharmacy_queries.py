"""Read-side pharmacy queries as pure functions over entities: stock per drug and batch, alerts, the
ledger check, and the dispensing and sales list for a date range with totals.

The desk reads the rows from its local store (or the server from its tables) and passes them in;
nothing here touches a database, so a stock screen, an export and a test all compute the same thing.
Quantities are minimum units (``shared.domain.stock``), amounts Decimal yuan.

- ``on_hand_from_ledger(movements)`` derives on hand from ``StockMovement`` rows (the truth);
  ``on_hand_from_batches(batches)`` reads the balances the mutations keep (fast, same answer);
  ``balance_mismatches`` compares the two (a nightly check).
- ``stock_overview(...)`` is the stock screen: one ``StockRow`` per drug with its batches, the expiry
  (expired / within 90 days), low-stock (against ``effective_minimums``) and negative-stock alerts.
- ``sales_report(...)`` lists dispenses and approved refunds in ``[start, end]`` with totals per drug
  and overall (amount, cost, margin, prescriptions).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

from shared.domain import stock as ledger
from shared.domain.entities import Dispense, Drug, Refund, StockBatch, StockMinimum, StockMovement
from shared.domain.pharmacy import money

ZERO = Decimal("0")


def as_movement(row: StockMovement) -> ledger.Movement:
    return ledger.Movement(
        id=row.id,
        pharmacy_id=row.pharmacy_id,
        drug_id=row.drug_id,
        batch_no=row.batch_no,
        expiry=row.expiry,
        kind=row.kind,
        quantity=row.quantity,
        occurred_at=row.occurred_at,
        unit_cost=row.unit_cost,
        rx_line_id=row.rx_line_id,
        stocktake_id=row.stocktake_id,
        transfer_id=row.transfer_id,
        reverses=row.reverses,
        reason=row.reason,
    )


def on_hand_from_ledger(movements: Iterable[StockMovement]) -> ledger.OnHand:
    """On hand per batch and drug folded from the ledger rows (voided rows left out)."""
    return ledger.on_hand(as_movement(m) for m in movements if not m.voided)


def on_hand_from_batches(batches: Iterable[StockBatch]) -> ledger.OnHand:
    """The same ``OnHand`` from the balance rows the mutations keep (no ledger scan)."""
    by_batch: dict[ledger.BatchKey, ledger.BatchStock] = {}
    drugs: defaultdict[ledger.DrugKey, int] = defaultdict(int)
    per_drug: dict[ledger.DrugKey, list[ledger.BatchStock]] = {}
    for b in batches:
        if b.voided:
            continue
        item = ledger.BatchStock(b.pharmacy_id, b.drug_id, b.batch_no, b.expiry, b.quantity)
        by_batch[b.pharmacy_id, b.drug_id, b.batch_no] = item
        drugs[b.pharmacy_id, b.drug_id] += b.quantity
        per_drug.setdefault((b.pharmacy_id, b.drug_id), []).append(item)
    return ledger.OnHand(by_batch, dict(drugs), {k: tuple(v) for k, v in per_drug.items()})


@dataclass(frozen=True)
class BalanceMismatch:
    pharmacy_id: str
    drug_id: str
    batch_no: str
    ledger: int
    balance: int


def balance_mismatches(
    batches: Iterable[StockBatch], movements: Iterable[StockMovement]
) -> list[BalanceMismatch]:
    """Batches whose kept balance differs from the ledger's fold (should always be empty)."""
    truth = on_hand_from_ledger(movements).batches
    kept = on_hand_from_batches(batches).batches
    out = []
    for key in sorted(set(truth) | set(kept)):
        a = truth[key].quantity if key in truth else 0
        b = kept[key].quantity if key in kept else 0
        if a != b:
            out.append(BalanceMismatch(key[0], key[1], key[2], a, b))
    return out


class DrugFacts(Protocol):
    """What the stock queries read of a drug: ``Drug`` has it, and so does a lighter projection."""

    @property
    def id(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def generic_name(self) -> str: ...
    @property
    def spec(self) -> str: ...
    @property
    def pack_unit(self) -> str: ...
    @property
    def min_unit(self) -> str: ...
    @property
    def pack_qty(self) -> int: ...
    @property
    def min_stock(self) -> int: ...
    @property
    def voided(self) -> bool: ...


class BatchFacts(Protocol):
    """What the stock queries read of a batch: ``StockBatch`` has it, and so does a lighter projection."""

    @property
    def pharmacy_id(self) -> str: ...
    @property
    def drug_id(self) -> str: ...
    @property
    def batch_no(self) -> str: ...
    @property
    def expiry(self) -> dt.date: ...
    @property
    def quantity(self) -> int: ...
    @property
    def unit_cost(self) -> Decimal: ...
    @property
    def voided(self) -> bool: ...


def effective_minimums(
    drugs: Iterable[DrugFacts], minimums: Iterable[StockMinimum], pharmacy_id: str
) -> dict[str, int]:
    """Each drug's minimum in minimum units for one pharmacy: its ``StockMinimum`` or the catalogue's."""
    own = {m.drug_id: m.min_packs for m in minimums if m.pharmacy_id == pharmacy_id and not m.voided}
    return {
        d.id: ledger.minimum_in_min_units(own.get(d.id, d.min_stock), d.pack_qty)
        for d in drugs
        if not d.voided
    }


# --- the stock screen ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchRow:
    batch_no: str
    expiry: dt.date
    quantity: int
    days_left: int
    status: str  # "expired", "expiring", "negative", "ok", "empty"


@dataclass(frozen=True)
class StockRow:
    """One drug in one pharmacy: totals and its batches, first expiry first."""

    drug_id: str
    code: str
    name: str
    spec: str
    pack_unit: str
    min_unit: str
    pack_qty: int
    on_hand: int
    usable: int  # not expired, not below zero
    expired: int
    expiring: int  # within the warning window
    minimum: int
    nearest_expiry: dt.date | None
    batches: tuple[BatchRow, ...]
    unit_cost: Decimal = ZERO

    @property
    def low(self) -> bool:
        return self.minimum > 0 and self.usable < self.minimum

    @property
    def negative(self) -> bool:
        return self.on_hand < 0 or any(b.quantity < 0 for b in self.batches)

    @property
    def packs_text(self) -> str:
        packs, loose = ledger.min_units_to_packs(self.on_hand, self.pack_qty)
        sign = "-" if self.on_hand < 0 else ""
        text = f"{sign}{abs(packs)}{self.pack_unit}" if packs else ""
        if loose or not text:
            text += f"{'' if text else sign}{abs(loose)}{self.min_unit}"
        return text

    @property
    def value(self) -> Decimal:
        return money(self.unit_cost * max(self.on_hand, 0))


@dataclass
class StockOverview:
    pharmacy_id: str
    today: dt.date
    rows: list[StockRow] = field(default_factory=list)
    expiry: list[ledger.ExpiryAlert] = field(default_factory=list)
    low: list[ledger.LowStock] = field(default_factory=list)
    negative: list[ledger.NegativeStock] = field(default_factory=list)

    @property
    def value(self) -> Decimal:
        return sum((r.value for r in self.rows), ZERO)


def stock_overview(
    batches: Iterable[BatchFacts],
    drugs: Mapping[str, DrugFacts],
    minimums: Mapping[str, int],
    pharmacy_id: str,
    today: dt.date,
    *,
    days: int = ledger.EXPIRY_WARNING_DAYS,
    include_unstocked: bool = False,
) -> StockOverview:
    """Everything the stock screen and its export show for one pharmacy, in one pass over its batches.

    ``minimums`` per drug id in minimum units (``effective_minimums``); a drug with a minimum but no
    batch appears only with ``include_unstocked`` (it is in the low-stock alerts either way). The alerts
    are ``shared.domain.stock``'s: ``expiry_alerts``, ``low_stock`` on usable stock, ``negative_stock``.
    """
    groups: dict[str, list[BatchFacts]] = {}
    for row in batches:
        if row.pharmacy_id == pharmacy_id and not row.voided:
            groups.setdefault(row.drug_id, []).append(row)
    if include_unstocked:
        for drug_id, minimum in minimums.items():
            if minimum > 0:
                groups.setdefault(drug_id, [])
    rows: list[StockRow] = []
    usable_by_drug: dict[str, int] = {}
    alerting: list[ledger.BatchStock] = []  # only batches that alert become BatchStock (few of them)
    negative: list[ledger.NegativeStock] = []
    for drug_id, group in groups.items():
        group.sort(key=lambda b: (b.expiry, b.batch_no))
        on_hand = usable = expired = expiring = held = 0
        value = ZERO
        nearest: dt.date | None = None
        batch_rows = []
        for b in group:
            quantity = b.quantity
            left = (b.expiry - today).days
            on_hand += quantity
            if quantity < 0:
                status = "negative"
                negative.append(ledger.NegativeStock(pharmacy_id, drug_id, b.batch_no, quantity))
            elif quantity == 0:
                status = "empty"
            else:
                status = "expired" if left < 0 else "expiring" if left <= days else "ok"
                held += quantity
                value += b.unit_cost * quantity
                if status != "ok":
                    alerting.append(ledger.BatchStock(pharmacy_id, drug_id, b.batch_no, b.expiry, quantity))
                if status == "expired":
                    expired += quantity
                else:
                    usable += quantity
                    if status == "expiring":
                        expiring += quantity
                    if nearest is None:
                        nearest = b.expiry
            batch_rows.append(BatchRow(b.batch_no, b.expiry, quantity, left, status))
        if on_hand < 0:
            negative.append(ledger.NegativeStock(pharmacy_id, drug_id, "", on_hand))
        usable_by_drug[drug_id] = usable
        drug = drugs.get(drug_id)
        rows.append(
            StockRow(
                drug_id=drug_id,
                code=drug.code if drug else "",
                name=drug.generic_name if drug else drug_id,
                spec=drug.spec if drug else "",
                pack_unit=drug.pack_unit if drug else "",
                min_unit=drug.min_unit if drug else "",
                pack_qty=drug.pack_qty if drug else 1,
                on_hand=on_hand,
                usable=usable,
                expired=expired,
                expiring=expiring,
                minimum=minimums.get(drug_id, 0),
                nearest_expiry=nearest,
                batches=tuple(batch_rows),
                unit_cost=(value / held).quantize(Decimal("0.0001")) if held else ZERO,
            )
        )
    rows.sort(key=lambda r: (r.code, r.name))
    negative.sort(key=lambda n: (n.pharmacy_id, n.drug_id, n.batch_no))
    return StockOverview(
        pharmacy_id,
        today,
        rows,
        ledger.expiry_alerts(alerting, today, days),
        ledger.low_stock(usable_by_drug, minimums),
        negative,
    )


# --- dispensing and sales --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesLine:
    day: dt.date
    kind: str  # "dispense" or "refund"
    record_id: str
    rx_id: str
    rx_number: str
    patient_id: str
    drug_id: str
    drug_name: str
    quantity: int  # minimum units; negative for a refund
    amount: Decimal  # negative for a refund
    cost: Decimal
    batches: str  # "B1×10, B2×4"
    unit: str = ""  # the drug's minimum unit, when the catalogue was given


@dataclass(frozen=True)
class DrugTotal:
    drug_id: str
    drug_name: str
    quantity: int
    amount: Decimal
    cost: Decimal

    @property
    def margin(self) -> Decimal:
        return self.amount - self.cost


@dataclass
class SalesReport:
    pharmacy_id: str
    start: dt.date
    end: dt.date
    lines: list[SalesLine] = field(default_factory=list)
    by_drug: list[DrugTotal] = field(default_factory=list)
    prescriptions: int = 0
    dispensed_amount: Decimal = ZERO
    refunded_amount: Decimal = ZERO
    cost: Decimal = ZERO

    @property
    def net_amount(self) -> Decimal:
        return self.dispensed_amount - self.refunded_amount

    @property
    def margin(self) -> Decimal:
        return self.net_amount - self.cost


def _refund_day(refund: Refund, tz: dt.tzinfo | None) -> dt.date:
    if refund.reviewed_at is None:
        return refund.day
    return refund.reviewed_at.astimezone(tz).date() if tz else refund.reviewed_at.date()


def sales_report(
    dispenses: Iterable[Dispense],
    refunds: Iterable[Refund],
    pharmacy_id: str,
    start: dt.date,
    end: dt.date,
    *,
    tz: dt.tzinfo | None = None,
    drugs: Mapping[str, Drug] | None = None,
) -> SalesReport:
    """Dispenses (by their day) and approved refunds (by the day approved, in ``tz``) of one pharmacy in
    ``[start, end]``: one line per prescription line, totals per drug and overall (``drugs`` adds units). A refund's cost is
    the returned units at the average cost they were dispensed at (restocked or not)."""
    report = SalesReport(pharmacy_id, start, end)
    line_cost: dict[str, tuple[int, Decimal]] = {}
    all_dispenses = [d for d in dispenses if d.pharmacy_id == pharmacy_id and not d.voided]
    for d in all_dispenses:
        for line in d.lines:
            qty, cost = line_cost.get(line.rx_line_id, (0, ZERO))
            line_cost[line.rx_line_id] = (
                qty + line.dispensed,
                cost + sum((a.unit_cost * a.quantity for a in line.allocations), ZERO),
            )
    rx_ids: set[str] = set()
    for d in all_dispenses:
        if not start <= d.day <= end:
            continue
        rx_ids.add(d.rx_id)
        for line in d.lines:
            if line.dispensed == 0:
                continue
            cost = money(sum((a.unit_cost * a.quantity for a in line.allocations), ZERO))
            report.lines.append(
                SalesLine(
                    d.day,
                    "dispense",
                    d.id,
                    d.rx_id,
                    d.rx_number,
                    d.patient_id,
                    line.drug_id,
                    line.drug_name,
                    line.dispensed,
                    line.amount,
                    cost,
                    ", ".join(f"{a.batch_no}×{a.quantity}" for a in line.allocations),
                )
            )
    numbers = {d.rx_id: d.rx_number for d in all_dispenses}
    names = {line.drug_id: line.drug_name for d in all_dispenses for line in d.lines}
    for r in refunds:
        if r.pharmacy_id != pharmacy_id or r.status != "approved" or r.voided:
            continue
        day = _refund_day(r, tz)
        if not start <= day <= end:
            continue
        for rl in r.lines:
            qty, cost = line_cost.get(rl.rx_line_id, (0, ZERO))
            unit = cost / qty if qty else ZERO
            report.lines.append(
                SalesLine(
                    day,
                    "refund",
                    r.id,
                    r.rx_id,
                    numbers.get(r.rx_id, ""),
                    r.patient_id,
                    rl.drug_id,
                    names.get(rl.drug_id, rl.drug_id),
                    -rl.quantity,
                    -rl.amount,
                    -money(unit * rl.quantity),
                    "",
                )
            )
    if drugs:
        report.lines = [
            replace(s, unit=drugs[s.drug_id].min_unit) if s.drug_id in drugs else s for s in report.lines
        ]
    report.lines.sort(key=lambda s: (s.day, s.rx_number, s.kind, s.drug_name))
    totals: dict[str, DrugTotal] = {}
    for s in report.lines:
        before = totals.get(s.drug_id, DrugTotal(s.drug_id, s.drug_name, 0, ZERO, ZERO))
        totals[s.drug_id] = DrugTotal(
            s.drug_id,
            before.drug_name,
            before.quantity + s.quantity,
            before.amount + s.amount,
            before.cost + s.cost,
        )
    report.by_drug = sorted(totals.values(), key=lambda t: (-t.amount, t.drug_name))
    report.prescriptions = len(rx_ids)
    report.dispensed_amount = sum((s.amount for s in report.lines if s.kind == "dispense"), ZERO)
    report.refunded_amount = -sum((s.amount for s in report.lines if s.kind == "refund"), ZERO)
    report.cost = sum((s.cost for s in report.lines), ZERO)
    return report
