"""Demo stock: opening stock for both demo pharmacies, booked as ``stock.receive`` receipts into the ledger.

The receipts run through the very handler the desks use (``shared.domain.mutations.stock``) against an
in-memory ``MemoryState``, at the dates the goods arrived, so the seeded ledger and balances are exactly
what the mutations would have written. Batches are chosen so every alert shows: most expire in one to
two years, some within 90 days, some have already expired (received when they were still good), and a
few drugs sit below their minimum (the catalogue's ``Drug.min_stock`` or a pharmacy's ``StockMinimum``).
Deterministic: the same ``today`` gives the same rows.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

from shared.domain.entities import Drug, Entity, Pharmacy, StockMinimum
from shared.domain.mutations import REGISTRY, Effect, MutationContext, Rejected
from shared.domain.pharmacy import minimum_id
from shared.ids import reference_id
from shared.money import round_money

E = TypeVar("E", bound=Entity)

SUPPLIERS = (
    "国药控股华安有限公司",
    "华润医药商业集团有限公司",
    "上海医药分销控股有限公司",
    "九州通医药集团股份有限公司",
)
# (pharmacy code, campus code, pharmacist who received, share of the catalogue stocked)
PHARMACIES = (("MAIN-WY", "MAIN", "pharmacist1", 1.0), ("EAST-WY", "EAST", "pharmacist2", 0.65))
RECEIPT_LINES = 400


class MemoryState:
    """A ``StateReader`` over a dict of entities: runs shared handlers without a database (seeds, tests).

    ``apply`` writes an effect's rows with the same version rule as the server (a row at version n
    replaces version n-1; version 1 must be new)."""

    def __init__(self, entities: Iterable[Entity] = ()) -> None:
        self.rows: dict[tuple[str, str], Entity] = {}
        for entity in entities:
            self.rows[entity.KIND, entity.id] = entity

    def get(self, kind: type[E], entity_id: str) -> E | None:
        row = self.rows.get((kind.KIND, entity_id))
        return row if isinstance(row, kind) else None

    def find(self, kind: type[E], **equals: Any) -> list[E]:
        found = [
            row
            for (k, _), row in self.rows.items()
            if k == kind.KIND
            and isinstance(row, kind)
            and all(getattr(row, f) == v for f, v in equals.items())
        ]
        return sorted(found, key=lambda r: r.id)

    def next_number(self, counter: str) -> int | None:
        return None

    def apply(self, effect: Effect) -> None:
        for row in effect.writes:
            current = self.rows.get((row.KIND, row.id))
            expected = 0 if current is None else current.version
            if row.version != expected + 1:
                raise ValueError(f"{row.KIND} {row.id}: version {row.version} after {expected}")
            self.rows[row.KIND, row.id] = row

    def run(self, name: str, args: dict[str, Any], ctx: MutationContext) -> Effect:
        """Validate ``args``, run the handler, apply its writes; ``Rejected`` propagates."""
        spec = REGISTRY[name]
        effect = spec.handler(self, spec.args.model_validate(args), ctx)
        self.apply(effect)
        return effect


def _context(staff: str, campus: str, at: dt.datetime) -> MutationContext:
    return MutationContext(
        staff_id=reference_id("staff", staff),
        roles=frozenset({"pharmacist"}),
        device_id="seed",
        campus_id=reference_id("campus", campus),
        now=at,
        today=at.date(),
    )


def _batch_no(rng: random.Random, made: dt.date) -> str:
    return f"{made:%y%m%d}{rng.randint(10, 99)}"


def _purchase_price(drug: Drug) -> Decimal:
    return round_money(drug.price * Decimal("0.85"))


def _lines_for(drug: Drug, rng: random.Random, today: dt.date) -> Iterator[tuple[int, dict[str, Any]]]:
    """(days ago received, receipt line) for one drug's batches in one pharmacy."""
    minimum = max(drug.min_stock, 2)
    short = rng.random() < 0.06
    main_packs = (
        rng.randint(max(1, minimum // 4), max(1, minimum // 2))
        if short
        else rng.randint(minimum + minimum // 2, minimum * 4)
    )
    price = str(_purchase_price(drug))
    expiry = today + dt.timedelta(days=rng.randint(180, 720))
    made = expiry - dt.timedelta(days=730)
    yield (
        45,
        {
            "drug_id": drug.id,
            "batch_no": _batch_no(rng, made),
            "expiry": expiry.isoformat(),
            "quantity": main_packs,
            "unit": "pack",
            "price": price,
        },
    )
    roll = rng.random()
    if roll < 0.12:  # a batch that runs out within 90 days
        expiry = today + dt.timedelta(days=rng.randint(3, 88))
        made = expiry - dt.timedelta(days=730)
        yield (
            200,
            {
                "drug_id": drug.id,
                "batch_no": _batch_no(rng, made),
                "expiry": expiry.isoformat(),
                "quantity": rng.randint(2, max(3, minimum // 3)),
                "unit": "pack",
                "price": price,
            },
        )
    elif roll < 0.18:  # a batch that expired on the shelf (it was good when it arrived)
        expiry = today - dt.timedelta(days=rng.randint(1, 60))
        made = expiry - dt.timedelta(days=730)
        yield (
            380,
            {
                "drug_id": drug.id,
                "batch_no": _batch_no(rng, made),
                "expiry": expiry.isoformat(),
                "quantity": rng.randint(1, max(2, minimum // 4)),
                "unit": "pack",
                "price": price,
            },
        )


def demo_entities(drugs: Iterable[Drug], *, today: dt.date, now: dt.datetime) -> list[Entity]:
    """Movements, batch balances and minimums for both demo pharmacies, as of ``now`` (local ``today``)."""
    catalogue = sorted(drugs, key=lambda d: d.code)
    state = MemoryState(catalogue)
    out: list[Entity] = []
    for code, campus, staff, share in PHARMACIES:
        rng = random.Random(f"stock:{code}")
        pharmacy_id = reference_id("pharmacy", code)
        campus_id = reference_id("campus", campus)
        state.rows["pharmacy", pharmacy_id] = Pharmacy(
            id=pharmacy_id, campus_id=campus_id, code=code, name=code
        )
        stocked = [d for d in catalogue if rng.random() < share]
        by_age: dict[int, list[dict[str, Any]]] = {}
        for drug in stocked:
            for age, line in _lines_for(drug, rng, today):
                by_age.setdefault(age, []).append(line)
        for age in sorted(by_age, reverse=True):
            at = now - dt.timedelta(days=age)
            lines = by_age[age]
            for n, start in enumerate(range(0, len(lines), RECEIPT_LINES)):
                receipt = reference_id("stock_receipt", f"{code}:{age}:{n}")
                try:
                    state.run(
                        "stock.receive",
                        {
                            "id": receipt,
                            "pharmacy_id": pharmacy_id,
                            "supplier": SUPPLIERS[(age + n) % len(SUPPLIERS)],
                            "invoice_no": f"FP{(today - dt.timedelta(days=age)):%Y%m%d}{n + 1:03d}",
                            "received_at": at.isoformat(),
                            "lines": lines[start : start + RECEIPT_LINES],
                        },
                        _context(staff, campus, at),
                    )
                except Rejected as refusal:  # a seed bug, not a demo state
                    raise RuntimeError(f"demo receipt refused: {refusal.message}") from refusal
        # A pharmacy's own, higher minimums for a handful of fast movers: more low-stock alerts.
        for drug in rng.sample(stocked, k=min(12, len(stocked))):
            out.append(
                StockMinimum(
                    id=minimum_id(pharmacy_id, drug.id),
                    campus_id=campus_id,
                    pharmacy_id=pharmacy_id,
                    drug_id=drug.id,
                    min_packs=max(drug.min_stock, 2) * 5,
                    set_by=reference_id("staff", staff),
                    updated_at=now,
                )
            )
    out.extend(row for (kind, _), row in state.rows.items() if kind in ("stock_movement", "stock_batch"))
    return out
