"""The stock ledger: append-only movements per pharmacy, drug and batch, and everything derived from them.

Convention (one for the whole suite): a movement's ``quantity`` is a signed integer in the drug's
**minimum unit** (片, 粒, 支, 袋 … ``Drug.min_unit``), never in packs, so a split pack (拆零) is exact and
sums never need rounding. Positive adds to the shelf (receipt, return, transfer_in, a count adjustment
that found more), negative takes from it (dispense, transfer_out, scrap, a count adjustment that found
less). Convert packs with ``pack_qty`` at the edges (``packs_to_min_units``); ``Drug.min_stock`` is in
packs, as the catalogue lists it (``minimum_in_min_units``). ``unit_cost`` is per minimum unit.

Quantity on hand is always derived, never stored as the truth: ``on_hand`` folds a ledger, and
``StockBalances`` is the same fold kept up to date one movement at a time (what the store keeps as its
balance table). Nothing here refuses a movement that drives stock below zero: real-world events recorded
offline stand, and ``negative_stock`` / ``review_recorded_dispense`` flag them for a person to look at.

``expiry`` is the last day a batch may be used (有效期至): a batch is expired when ``today > expiry``.
Everything is pure and deterministic, so the server handler and the client's local view agree.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal

from shared.errors import BusinessRuleViolation, ValidationFailed
from shared.i18n import register, tr

MovementKind = Literal[
    "receipt", "dispense", "return", "transfer_out", "transfer_in", "scrap", "count_adjustment"
]
MOVEMENT_KINDS: tuple[MovementKind, ...] = (
    "receipt",
    "dispense",
    "return",
    "transfer_out",
    "transfer_in",
    "scrap",
    "count_adjustment",
)
# +1: the quantity must be positive; -1: negative; 0: either sign (never zero).
SIGN: dict[str, int] = {
    "receipt": 1,
    "dispense": -1,
    "return": 1,
    "transfer_out": -1,
    "transfer_in": 1,
    "scrap": -1,
    "count_adjustment": 0,
}
EXPIRY_WARNING_DAYS = 90
_ID_NAMESPACE = uuid.UUID("7a3e5d0b-4f5e-4a8e-9d6b-2c1f0e9b8a71")

_MESSAGES = {
    "stock.bad_sign": {
        "zh_CN": "库存流水数量符号错误：{kind} 的数量为 {quantity}",
        "en": "Wrong sign for a stock movement: {kind} with quantity {quantity}",
        "zh_TW": "庫存流水數量符號錯誤：{kind} 的數量為 {quantity}",
    },
    "stock.bad_kind": {
        "zh_CN": "未知的库存流水类型：{kind}",
        "en": "Unknown stock movement kind: {kind}",
        "zh_TW": "未知的庫存流水類型：{kind}",
    },
    "stock.bad_quantity": {
        "zh_CN": "数量必须为正整数：{quantity}",
        "en": "Quantity must be a positive whole number: {quantity}",
        "zh_TW": "數量必須為正整數：{quantity}",
    },
    "stock.reason_required": {
        "zh_CN": "{what}必须填写原因",
        "en": "{what} needs a reason",
        "zh_TW": "{what}必須填寫原因",
    },
    "stock.override_label": {"zh_CN": "指定批号", "en": "Choosing a batch", "zh_TW": "指定批號"},
    "stock.return_label": {"zh_CN": "退药", "en": "A return", "zh_TW": "退藥"},
    "stock.unknown_batch": {
        "zh_CN": "批号 {batch_no} 在本药房没有库存记录",
        "en": "Batch {batch_no} has no stock record in this pharmacy",
        "zh_TW": "批號 {batch_no} 在本藥房沒有庫存記錄",
    },
    "stock.batch_expired": {
        "zh_CN": "批号 {batch_no} 已于 {expiry} 过期，不能发药",
        "en": "Batch {batch_no} expired on {expiry} and cannot be dispensed",
        "zh_TW": "批號 {batch_no} 已於 {expiry} 過期，不能發藥",
    },
    "stock.return_too_much": {
        "zh_CN": "退药数量 {quantity} 超过可退数量 {returnable}",
        "en": "Returning {quantity} but only {returnable} can be returned",
        "zh_TW": "退藥數量 {quantity} 超過可退數量 {returnable}",
    },
    "stock.not_a_dispense": {
        "zh_CN": "只能退回发药记录：{id}",
        "en": "Only dispense movements can be returned: {id}",
        "zh_TW": "只能退回發藥記錄：{id}",
    },
    "stock.count_negative": {
        "zh_CN": "盘点数量不能为负：{drug_id} 批号 {batch_no}",
        "en": "A counted quantity cannot be negative: {drug_id} batch {batch_no}",
        "zh_TW": "盤點數量不能為負：{drug_id} 批號 {batch_no}",
    },
    "stock.count_needs_expiry": {
        "zh_CN": "账上没有的批号 {batch_no} 盘点时须填写有效期",
        "en": "Batch {batch_no} is not in the ledger; its count needs an expiry date",
        "zh_TW": "賬上沒有的批號 {batch_no} 盤點時須填寫有效期",
    },
    "stock.same_pharmacy": {
        "zh_CN": "调出和调入药房不能相同",
        "en": "A transfer needs two different pharmacies",
        "zh_TW": "調出和調入藥房不能相同",
    },
}
for _key, _texts in _MESSAGES.items():
    register(_key, _texts)


def deterministic_id(*parts: str) -> str:
    """A UUIDv5 from ``parts``: the server and the client derive the same id for the same fact."""
    return str(uuid.uuid5(_ID_NAMESPACE, "\x1f".join(parts)))


def packs_to_min_units(packs: int, pack_qty: int) -> int:
    """Packs (盒) to minimum units (片): 2 boxes of 24 are 48."""
    return packs * pack_qty


def min_units_to_packs(quantity: int, pack_qty: int) -> tuple[int, int]:
    """Minimum units as (whole packs, loose units): 50 tablets in boxes of 24 are (2, 2)."""
    packs, loose = divmod(abs(quantity), pack_qty)
    sign = -1 if quantity < 0 else 1
    return sign * packs, sign * loose


def minimum_in_min_units(min_stock_packs: int, pack_qty: int) -> int:
    """``Drug.min_stock`` (packs, as the catalogue lists it) in minimum units for ``low_stock``."""
    return min_stock_packs * pack_qty


# --- movements --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Movement:
    """One line of the stock ledger; never updated or deleted, only followed by more movements.

    ``quantity`` is signed in minimum units (see the module docstring). ``rx_line_id`` links a dispense
    or return to its prescription line, ``stocktake_id`` a count adjustment to its count,
    ``transfer_id`` the two halves of a transfer, ``reverses`` a return to the dispense it undoes.
    ``occurred_at`` is when it happened on the shelf (the recording device's clock, offset-corrected):
    it places the movement before or after a stocktake, nothing else.
    """

    id: str
    pharmacy_id: str
    drug_id: str
    batch_no: str
    expiry: dt.date
    kind: MovementKind
    quantity: int
    occurred_at: dt.datetime
    unit_cost: Decimal = Decimal("0")
    rx_line_id: str | None = None
    stocktake_id: str | None = None
    transfer_id: str | None = None
    reverses: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        sign = SIGN.get(self.kind)
        if sign is None:
            raise ValidationFailed(tr("stock.bad_kind", kind=self.kind), code="stock_bad_kind")
        if (
            not isinstance(self.quantity, int)
            or self.quantity == 0
            or (sign > 0 and self.quantity < 0)
            or (sign < 0 and self.quantity > 0)
        ):
            raise ValidationFailed(
                tr("stock.bad_sign", kind=self.kind, quantity=self.quantity), code="stock_bad_sign"
            )


@dataclass(frozen=True, slots=True)
class BatchStock:
    """What one batch of one drug in one pharmacy holds according to the ledger (may be negative)."""

    pharmacy_id: str
    drug_id: str
    batch_no: str
    expiry: dt.date
    quantity: int

    def expired(self, today: dt.date) -> bool:
        return today > self.expiry

    def days_left(self, today: dt.date) -> int:
        return (self.expiry - today).days


BatchKey = tuple[str, str, str]  # (pharmacy_id, drug_id, batch_no)
DrugKey = tuple[str, str]  # (pharmacy_id, drug_id)


@dataclass(frozen=True)
class OnHand:
    """Quantities on hand derived from a ledger, per batch and per drug, for every pharmacy in it."""

    batches: Mapping[BatchKey, BatchStock]
    drugs: Mapping[DrugKey, int]
    # (pharmacy, drug) → its batches; built by ``on_hand`` so one drug's lookup never scans every batch
    per_drug: Mapping[DrugKey, tuple[BatchStock, ...]] | None = field(default=None, compare=False, repr=False)

    def drug(self, pharmacy_id: str, drug_id: str) -> int:
        return self.drugs.get((pharmacy_id, drug_id), 0)

    def batches_of(self, pharmacy_id: str, drug_id: str) -> list[BatchStock]:
        """The drug's batches in first-expiry order (ties by batch number)."""
        if self.per_drug is not None:
            found = list(self.per_drug.get((pharmacy_id, drug_id), ()))
        else:
            found = [b for (p, d, _), b in self.batches.items() if p == pharmacy_id and d == drug_id]
        return sorted(found, key=lambda b: (b.expiry, b.batch_no))

    def usable(self, pharmacy_id: str, drug_id: str, today: dt.date) -> int:
        """On hand in batches that are not expired and not below zero."""
        return sum(
            b.quantity
            for b in self.batches_of(pharmacy_id, drug_id)
            if not b.expired(today) and b.quantity > 0
        )

    def by_drug(self, pharmacy_id: str) -> dict[str, int]:
        return {d: q for (p, d), q in self.drugs.items() if p == pharmacy_id}


def on_hand(movements: Iterable[Movement]) -> OnHand:
    """Fold a ledger into quantities per (pharmacy, drug, batch) and per (pharmacy, drug).

    Every batch that ever moved appears, also at zero. A batch's expiry is the one its first movement
    carried. The order of ``movements`` does not matter.
    """
    totals: defaultdict[BatchKey, int] = defaultdict(int)
    expiries: dict[BatchKey, dt.date] = {}
    for m in movements:
        key = (m.pharmacy_id, m.drug_id, m.batch_no)
        if key not in expiries:
            expiries[key] = m.expiry
        totals[key] += m.quantity
    return _fold_result(
        {key: BatchStock(key[0], key[1], key[2], expiries[key], quantity) for key, quantity in totals.items()}
    )


def _fold_result(batches: dict[BatchKey, BatchStock]) -> OnHand:
    drugs: defaultdict[DrugKey, int] = defaultdict(int)
    per_drug: dict[DrugKey, list[BatchStock]] = {}
    for b in batches.values():
        drugs[b.pharmacy_id, b.drug_id] += b.quantity
        per_drug.setdefault((b.pharmacy_id, b.drug_id), []).append(b)
    return OnHand(batches, dict(drugs), {k: tuple(v) for k, v in per_drug.items()})


class StockBalances:
    """The ledger fold kept incrementally: O(1) to apply a movement, O(batches) to read one drug.

    This is the shape of the balance table the store maintains in the same transaction as each
    movement insert (``stock_balance(pharmacy_id, drug_id, batch_no) → quantity``), so reading the
    stock of all 20,000 drugs never scans the million-row ledger. ``rebuild`` and ``on_hand`` give the
    same answer; a nightly check can compare them. Not thread-safe: one writer, like the store.
    """

    def __init__(self) -> None:
        self._by_drug: dict[DrugKey, dict[str, int]] = {}
        self._expiry: dict[BatchKey, dt.date] = {}
        self._applied = 0

    @classmethod
    def rebuild(cls, movements: Iterable[Movement]) -> StockBalances:
        balances = cls()
        balances.apply_many(movements)
        return balances

    def apply(self, m: Movement) -> None:
        batches = self._by_drug.get((m.pharmacy_id, m.drug_id))
        if batches is None:
            batches = self._by_drug[m.pharmacy_id, m.drug_id] = {}
        if m.batch_no not in batches:
            batches[m.batch_no] = 0
            self._expiry[m.pharmacy_id, m.drug_id, m.batch_no] = m.expiry
        batches[m.batch_no] += m.quantity
        self._applied += 1

    def apply_many(self, movements: Iterable[Movement]) -> None:
        for m in movements:
            self.apply(m)

    @property
    def applied(self) -> int:
        return self._applied

    def drug(self, pharmacy_id: str, drug_id: str) -> int:
        batches = self._by_drug.get((pharmacy_id, drug_id))
        return sum(batches.values()) if batches else 0

    def batches_of(self, pharmacy_id: str, drug_id: str) -> list[BatchStock]:
        batches = self._by_drug.get((pharmacy_id, drug_id), {})
        found = [
            BatchStock(pharmacy_id, drug_id, b, self._expiry[pharmacy_id, drug_id, b], q)
            for b, q in batches.items()
        ]
        return sorted(found, key=lambda b: (b.expiry, b.batch_no))

    def all_drugs(self, pharmacy_id: str | None = None) -> dict[DrugKey, int]:
        """On hand of every drug (optionally of one pharmacy): the stock view's main table."""
        return {
            key: sum(batches.values())
            for key, batches in self._by_drug.items()
            if pharmacy_id is None or key[0] == pharmacy_id
        }

    def snapshot(self) -> OnHand:
        return _fold_result(
            {
                (p, d, b): BatchStock(p, d, b, self._expiry[p, d, b], q)
                for (p, d), per_batch in self._by_drug.items()
                for b, q in per_batch.items()
            }
        )


# --- allocation (first expiry, first out) --------------------------------------------------------------


@dataclass(frozen=True)
class BatchOverride:
    """The pharmacist takes this batch first, for a reason that is recorded on the movement."""

    batch_no: str
    reason: str


@dataclass(frozen=True)
class AllocationLine:
    pharmacy_id: str
    drug_id: str
    batch_no: str
    expiry: dt.date
    quantity: int
    override_reason: str = ""


@dataclass(frozen=True)
class Allocation:
    """Which batches to take ``requested`` from; ``shortfall`` is what usable stock could not cover."""

    lines: tuple[AllocationLine, ...]
    requested: int
    shortfall: int

    @property
    def allocated(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def complete(self) -> bool:
        return self.shortfall == 0


def allocate_fefo(
    batches_on_hand: Iterable[BatchStock],
    quantity: int,
    today: dt.date,
    override: BatchOverride | None = None,
) -> Allocation:
    """Take ``quantity`` (minimum units) from one drug's batches, first expiry first out.

    Never from an expired batch (``today > expiry``) nor from one at or below zero; earliest expiry
    first, ties by batch number. With ``override`` the named batch is taken first (as far as it holds),
    the rest by FEFO; an override needs a reason, a known batch and one that is not expired.
    Whatever cannot be covered is the ``shortfall``: a partial dispense leaves it as the remainder.
    """
    if not isinstance(quantity, int) or quantity <= 0:
        raise ValidationFailed(tr("stock.bad_quantity", quantity=quantity), code="stock_bad_quantity")
    batches = sorted(batches_on_hand, key=lambda b: (b.expiry, b.batch_no))
    order = [b for b in batches if b.quantity > 0 and not b.expired(today)]
    reason = ""
    if override is not None:
        reason = override.reason.strip()
        if not reason:
            raise ValidationFailed(
                tr("stock.reason_required", what=tr("stock.override_label")), code="stock_reason_required"
            )
        chosen = [b for b in batches if b.batch_no == override.batch_no]
        if not chosen:
            raise BusinessRuleViolation(
                tr("stock.unknown_batch", batch_no=override.batch_no), code="stock_unknown_batch"
            )
        if chosen[0].expired(today):
            raise BusinessRuleViolation(
                tr("stock.batch_expired", batch_no=override.batch_no, expiry=chosen[0].expiry.isoformat()),
                code="stock_batch_expired",
            )
        order = [b for b in order if b.batch_no == override.batch_no] + [
            b for b in order if b.batch_no != override.batch_no
        ]
    lines: list[AllocationLine] = []
    left = quantity
    for batch in order:
        if left == 0:
            break
        take = min(left, batch.quantity)
        note = reason if override is not None and batch.batch_no == override.batch_no else ""
        lines.append(
            AllocationLine(batch.pharmacy_id, batch.drug_id, batch.batch_no, batch.expiry, take, note)
        )
        left -= take
    return Allocation(tuple(lines), quantity, left)


# --- dispensing, partial dispensing, returns --------------------------------------------------------


def dispense_movements(
    allocation: Allocation,
    *,
    rx_line_id: str,
    occurred_at: dt.datetime,
    new_id: Callable[[], str],
    unit_costs: Mapping[tuple[str, str], Decimal] | None = None,
) -> list[Movement]:
    """The ledger movements ``rx.dispense`` writes for one prescription line (one per batch taken).

    ``unit_costs`` maps (drug_id, batch_no) to the cost per minimum unit (from the receipt).
    """
    costs = unit_costs or {}
    return [
        Movement(
            id=new_id(),
            pharmacy_id=line.pharmacy_id,
            drug_id=line.drug_id,
            batch_no=line.batch_no,
            expiry=line.expiry,
            kind="dispense",
            quantity=-line.quantity,
            occurred_at=occurred_at,
            unit_cost=costs.get((line.drug_id, line.batch_no), Decimal("0")),
            rx_line_id=rx_line_id,
            reason=line.override_reason,
        )
        for line in allocation.lines
    ]


def dispensed_quantity(movements: Iterable[Movement], rx_line_id: str) -> int:
    """Net minimum units handed out for a prescription line: dispensed minus returned."""
    return -sum(
        m.quantity for m in movements if m.rx_line_id == rx_line_id and m.kind in ("dispense", "return")
    )


def remaining_to_dispense(prescribed: int, movements: Iterable[Movement], rx_line_id: str) -> int:
    """What a partially dispensed line still owes the patient (never below zero)."""
    return max(0, prescribed - dispensed_quantity(movements, rx_line_id))


def returnable_quantity(dispense: Movement, movements: Iterable[Movement]) -> int:
    """How much of one dispense movement can still come back (its quantity minus earlier returns)."""
    returned = sum(m.quantity for m in movements if m.kind == "return" and m.reverses == dispense.id)
    return -dispense.quantity - returned


def return_movements(
    dispenses: Sequence[Movement],
    quantity: int,
    *,
    ledger: Iterable[Movement],
    occurred_at: dt.datetime,
    reason: str,
    new_id: Callable[[], str],
) -> list[Movement]:
    """Put ``quantity`` returned (refunded) units back into the batches they were dispensed from.

    ``dispenses`` are the line's dispense movements; the latest-dispensed batch is refilled first (the
    patient hands back what they got last). Each return keeps the original batch number, expiry and
    cost and points at its dispense with ``reverses``; more than was dispensed is refused.
    """
    if not isinstance(quantity, int) or quantity <= 0:
        raise ValidationFailed(tr("stock.bad_quantity", quantity=quantity), code="stock_bad_quantity")
    if not reason.strip():
        raise ValidationFailed(
            tr("stock.reason_required", what=tr("stock.return_label")), code="stock_reason_required"
        )
    history = list(ledger)
    for d in dispenses:
        if d.kind != "dispense":
            raise BusinessRuleViolation(tr("stock.not_a_dispense", id=d.id), code="stock_not_a_dispense")
    open_amounts = [(d, returnable_quantity(d, history)) for d in dispenses]
    total = sum(max(0, q) for _, q in open_amounts)
    if quantity > total:
        raise BusinessRuleViolation(
            tr("stock.return_too_much", quantity=quantity, returnable=total), code="stock_return_too_much"
        )
    out: list[Movement] = []
    left = quantity
    for d, open_quantity in sorted(open_amounts, key=lambda pair: (pair[0].occurred_at, pair[0].id))[::-1]:
        if left == 0:
            break
        take = min(left, open_quantity)
        if take <= 0:
            continue
        out.append(
            replace(
                d,
                id=new_id(),
                kind="return",
                quantity=take,
                occurred_at=occurred_at,
                reverses=d.id,
                reason=reason.strip(),
                stocktake_id=None,
                transfer_id=None,
            )
        )
        left -= take
    return out


def transfer_movements(
    batch: BatchStock,
    quantity: int,
    *,
    to_pharmacy_id: str,
    occurred_at: dt.datetime,
    transfer_id: str,
    unit_cost: Decimal = Decimal("0"),
    reason: str = "",
) -> tuple[Movement, Movement]:
    """The two halves of ``stock.move``: out of one pharmacy, into another, same batch and expiry."""
    if not isinstance(quantity, int) or quantity <= 0:
        raise ValidationFailed(tr("stock.bad_quantity", quantity=quantity), code="stock_bad_quantity")
    if to_pharmacy_id == batch.pharmacy_id:
        raise ValidationFailed(tr("stock.same_pharmacy"), code="stock_same_pharmacy")
    out = Movement(
        id=deterministic_id(transfer_id, "out"),
        pharmacy_id=batch.pharmacy_id,
        drug_id=batch.drug_id,
        batch_no=batch.batch_no,
        expiry=batch.expiry,
        kind="transfer_out",
        quantity=-quantity,
        occurred_at=occurred_at,
        unit_cost=unit_cost,
        transfer_id=transfer_id,
        reason=reason,
    )
    into = replace(
        out,
        id=deterministic_id(transfer_id, "in"),
        pharmacy_id=to_pharmacy_id,
        kind="transfer_in",
        quantity=quantity,
    )
    return out, into


# --- offline dispenses that meet a changed world ----------------------------------------------------

ReviewKind = Literal[
    "negative_stock", "expired_batch", "rx_not_dispensable", "over_dispensed", "unknown_batch"
]


@dataclass(frozen=True)
class ReviewItem:
    """Something a recorded dispense ran into; the dispense stands and a pharmacist reviews this."""

    kind: ReviewKind
    drug_id: str
    batch_no: str = ""
    detail: str = ""


def review_recorded_dispense(
    new_movements: Sequence[Movement],
    *,
    ledger_before: Iterable[Movement],
    prescribed: int,
    rx_status: str,
    dispensable_statuses: Iterable[str] = ("approved", "partly_dispensed"),
) -> list[ReviewItem]:
    """What a dispense recorded (maybe offline) conflicts with once it reaches the ledger.

    The dispense is written regardless (a real-world event always stands); each item here goes to the
    review list and makes the outcome ``applied_with_warning``. Checks: the prescription was cancelled
    or otherwise not dispensable meanwhile; the line got more than prescribed (two PCs dispensed it);
    a batch went below zero; a batch unknown to the ledger; a batch past its expiry at the time.
    """
    before = list(ledger_before)
    items: list[ReviewItem] = []
    allowed = set(dispensable_statuses)
    if new_movements and rx_status not in allowed:
        items.append(ReviewItem("rx_not_dispensable", new_movements[0].drug_id, detail=rx_status))
    line_ids = {m.rx_line_id for m in new_movements if m.rx_line_id}
    for line_id in sorted(line_ids):
        total = dispensed_quantity([*before, *new_movements], line_id)
        if total > prescribed:
            drug = next(m.drug_id for m in new_movements if m.rx_line_id == line_id)
            items.append(ReviewItem("over_dispensed", drug, detail=f"{total}>{prescribed}"))
    after = on_hand([*before, *new_movements])
    known = on_hand(before).batches
    for m in new_movements:
        key = (m.pharmacy_id, m.drug_id, m.batch_no)
        if key not in known:
            items.append(ReviewItem("unknown_batch", m.drug_id, m.batch_no))
        if m.kind == "dispense" and m.occurred_at.date() > m.expiry:
            items.append(ReviewItem("expired_batch", m.drug_id, m.batch_no, m.expiry.isoformat()))
        if after.batches[key].quantity < 0:
            items.append(
                ReviewItem("negative_stock", m.drug_id, m.batch_no, str(after.batches[key].quantity))
            )
    return list(dict.fromkeys(items))  # one item per finding, in the order found


# --- stocktake -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """One counted batch. ``expiry`` is needed only for a batch the ledger does not know."""

    pharmacy_id: str
    drug_id: str
    batch_no: str
    counted: int
    expiry: dt.date | None = None


def movements_as_of(movements: Iterable[Movement], counted_at: dt.datetime) -> list[Movement]:
    """The ledger as it stood at a count: everything that happened on the shelf up to ``counted_at``."""
    return [m for m in movements if m.occurred_at <= counted_at]


def stocktake_adjustments(
    movements_as_of_count: Iterable[Movement],
    counted: Iterable[Count],
    *,
    stocktake_id: str,
    counted_at: dt.datetime,
    complete_drugs: bool = False,
) -> list[Movement]:
    """Count adjustments that bring each counted batch to its counted quantity as of the count.

    Pass only the movements up to the count (``movements_as_of``): dispenses recorded after it, even if
    they reach the server first, are not part of what was on the shelf when it was counted, so they
    survive the adjustment. With ``complete_drugs`` a batch of a counted drug that was not counted is
    taken as counted at zero. Ids are derived from the stocktake and the batch, so recomputing gives
    the same movements (the server and the counting PC agree). Batches that match make no movement.
    """
    book = on_hand(movements_as_of_count)
    wanted: dict[BatchKey, Count] = {}
    for c in counted:
        if not isinstance(c.counted, int) or c.counted < 0:
            raise ValidationFailed(
                tr("stock.count_negative", drug_id=c.drug_id, batch_no=c.batch_no), code="stock_bad_count"
            )
        wanted[c.pharmacy_id, c.drug_id, c.batch_no] = c
    if complete_drugs:
        counted_drugs = {(p, d) for p, d, _ in wanted}
        for key, batch in book.batches.items():
            if key[:2] in counted_drugs and key not in wanted and batch.quantity != 0:
                wanted[key] = Count(*key, counted=0)
    out: list[Movement] = []
    for key in sorted(wanted):
        c = wanted[key]
        known = book.batches.get(key)
        if known is None and c.expiry is None:
            raise ValidationFailed(
                tr("stock.count_needs_expiry", batch_no=c.batch_no), code="stock_count_needs_expiry"
            )
        expiry = known.expiry if known is not None else c.expiry
        assert expiry is not None
        delta = c.counted - (known.quantity if known is not None else 0)
        if delta == 0:
            continue
        out.append(
            Movement(
                id=deterministic_id(stocktake_id, *key),
                pharmacy_id=key[0],
                drug_id=key[1],
                batch_no=key[2],
                expiry=expiry,
                kind="count_adjustment",
                quantity=delta,
                occurred_at=counted_at,
                stocktake_id=stocktake_id,
            )
        )
    return out


# --- alerts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiryAlert:
    batch: BatchStock
    level: Literal["expired", "expiring"]
    days_left: int


def expiry_alerts(
    batches: Iterable[BatchStock], today: dt.date, days: int = EXPIRY_WARNING_DAYS
) -> list[ExpiryAlert]:
    """Batches with stock that are expired or expire within ``days``, soonest first."""
    alerts = []
    for b in batches:
        if b.quantity <= 0:
            continue
        left = b.days_left(today)
        if left < 0:
            alerts.append(ExpiryAlert(b, "expired", left))
        elif left <= days:
            alerts.append(ExpiryAlert(b, "expiring", left))
    return sorted(alerts, key=lambda a: (a.batch.expiry, a.batch.drug_id, a.batch.batch_no))


@dataclass(frozen=True)
class LowStock:
    drug_id: str
    on_hand: int
    minimum: int

    @property
    def shortage(self) -> int:
        return self.minimum - self.on_hand


def low_stock(on_hand_by_drug: Mapping[str, int], minimums: Mapping[str, int]) -> list[LowStock]:
    """Drugs below their minimum (a drug with no movements counts as zero); most short first.

    Both mappings are per drug id in minimum units; a minimum of zero never alerts. Pass usable
    quantities (``OnHand.usable``) to leave expired stock out.
    """
    found = [
        LowStock(drug_id, on_hand_by_drug.get(drug_id, 0), minimum)
        for drug_id, minimum in minimums.items()
        if minimum > 0 and on_hand_by_drug.get(drug_id, 0) < minimum
    ]
    return sorted(found, key=lambda s: (-s.shortage, s.drug_id))


@dataclass(frozen=True)
class NegativeStock:
    """A batch (or a whole drug when ``batch_no`` is empty) the ledger puts below zero."""

    pharmacy_id: str
    drug_id: str
    batch_no: str
    quantity: int


def negative_stock(stock: OnHand) -> list[NegativeStock]:
    """Every batch and every drug below zero: shown and flagged, never hidden or clamped."""
    found = [
        NegativeStock(b.pharmacy_id, b.drug_id, b.batch_no, b.quantity)
        for b in stock.batches.values()
        if b.quantity < 0
    ]
    found += [NegativeStock(p, d, "", q) for (p, d), q in stock.drugs.items() if q < 0]
    return sorted(found, key=lambda n: (n.pharmacy_id, n.drug_id, n.batch_no))


@dataclass
class StockView:
    """One pharmacy's stock screen: batches, expiry and low-stock alerts, negative stock."""

    pharmacy_id: str
    today: dt.date
    batches: list[BatchStock] = field(default_factory=list)
    by_drug: dict[str, int] = field(default_factory=dict)
    expiry: list[ExpiryAlert] = field(default_factory=list)
    low: list[LowStock] = field(default_factory=list)
    negative: list[NegativeStock] = field(default_factory=list)


def stock_view(
    stock: OnHand, pharmacy_id: str, today: dt.date, minimums: Mapping[str, int], days: int = 90
) -> StockView:
    """Everything the pharmacy's stock view shows, derived from one ``on_hand`` result."""
    batches = sorted(
        (b for b in stock.batches.values() if b.pharmacy_id == pharmacy_id),
        key=lambda b: (b.drug_id, b.expiry, b.batch_no),
    )
    usable: defaultdict[str, int] = defaultdict(int)
    for b in batches:
        if b.quantity > 0 and not b.expired(today):
            usable[b.drug_id] += b.quantity
    return StockView(
        pharmacy_id=pharmacy_id,
        today=today,
        batches=batches,
        by_drug=stock.by_drug(pharmacy_id),
        expiry=expiry_alerts(batches, today, days),
        low=low_stock(usable, minimums),
        negative=[n for n in negative_stock(stock) if n.pharmacy_id == pharmacy_id],
    )
