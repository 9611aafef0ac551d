"""``StockWriter``: how a mutation appends stock-ledger movements and keeps the batch balances in step.

Not a mutation module (it registers nothing); the pharmacy, stock and delivery handlers share it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.domain.entities import Entity, StockBatch, StockMovement, StockMovementKind
from shared.domain.mutations.base import MutationContext, StateReader, next_version
from shared.domain.pharmacy import batch_id, batch_key, drug_key
from shared.domain.stock import SIGN, deterministic_id


@dataclass(frozen=True)
class BatchChange:
    """How a mutation left a batch: below zero, or taken from after its expiry."""

    drug_id: str
    batch_no: str
    quantity: int


class StockWriter:
    """Appends ledger movements for one mutation and rewrites the ``StockBatch`` rows they touch.

    Reads go through the handler's ``StateReader`` with this mutation's own changes on top, so a
    second movement on the same batch sees the first. Movement ids derive from ``source_id`` and a
    running number, so the client's optimistic run and the server's give the same ids for the same
    movements. Nothing here refuses stock going below zero: ``negative`` lists the batches that did.
    """

    def __init__(self, state: StateReader, ctx: MutationContext, *, campus_id: str, source_id: str) -> None:
        self.state = state
        self.ctx = ctx
        self.campus_id = campus_id
        self.source_id = source_id
        self.movements: list[StockMovement] = []
        self._batches: dict[str, StockBatch] = {}
        self._original_versions: dict[str, int | None] = {}

    def batch(self, pharmacy_id: str, drug_id: str, batch_no: str) -> StockBatch | None:
        key = batch_id(pharmacy_id, drug_id, batch_no)
        if key in self._batches:
            return self._batches[key]
        row = self.state.get(StockBatch, key)
        return None if row is None or row.voided else row

    def batches_of(self, pharmacy_id: str, drug_id: str) -> list[StockBatch]:
        """The drug's batches in this pharmacy (this mutation's changes included), first expiry first."""
        found = {
            b.id: b
            for b in self.state.find(StockBatch, drug_key=drug_key(pharmacy_id, drug_id))
            if not b.voided
        }
        for key, row in self._batches.items():
            if row.pharmacy_id == pharmacy_id and row.drug_id == drug_id:
                found[key] = row
        return sorted(found.values(), key=lambda b: (b.expiry, b.batch_no))

    def add(
        self,
        *,
        pharmacy_id: str,
        drug_id: str,
        batch_no: str,
        kind: StockMovementKind,
        quantity: int,
        occurred_at: dt.datetime,
        day: dt.date,
        expiry: dt.date | None = None,
        unit_cost: Decimal | None = None,
        supplier: str = "",
        reason: str = "",
        rx_id: str | None = None,
        rx_line_id: str | None = None,
        stocktake_id: str | None = None,
        transfer_id: str | None = None,
        reverses: str | None = None,
        campus_id: str | None = None,
    ) -> StockMovement:
        """Append one movement (signed quantity, see ``stock.SIGN``) and update its batch's balance.

        ``expiry`` and ``unit_cost`` default to the batch's; a batch the ledger does not know needs an
        ``expiry`` (the caller checks). The movement is flagged when its batch ends below zero, or when
        it takes stock out of a batch that had expired on ``day``.
        """
        sign = SIGN[kind]
        if quantity == 0 or (sign > 0 and quantity < 0) or (sign < 0 and quantity > 0):
            raise ValueError(f"wrong sign for {kind}: {quantity}")
        current = self.batch(pharmacy_id, drug_id, batch_no)
        key = batch_id(pharmacy_id, drug_id, batch_no)
        if key not in self._original_versions:
            self._original_versions[key] = None if current is None else current.version
        if current is None:
            if expiry is None:
                raise ValueError(f"batch {batch_no} is unknown and no expiry was given")
            current = StockBatch(
                id=key,
                version=1,
                campus_id=campus_id or self.campus_id,
                pharmacy_id=pharmacy_id,
                drug_id=drug_id,
                batch_no=batch_no,
                expiry=expiry,
                quantity=0,
                unit_cost=unit_cost or Decimal("0"),
                supplier=supplier,
                drug_key=drug_key(pharmacy_id, drug_id),
                updated_at=self.ctx.now,
            )
        cost = unit_cost if unit_cost is not None else current.unit_cost
        after = current.quantity + quantity
        flagged = after < 0 or (quantity < 0 and day > current.expiry)
        movement = StockMovement(
            id=deterministic_id(self.source_id, str(len(self.movements))),
            campus_id=current.campus_id,
            pharmacy_id=pharmacy_id,
            drug_id=drug_id,
            batch_no=batch_no,
            expiry=current.expiry,
            kind=kind,
            quantity=quantity,
            unit_cost=cost,
            occurred_at=occurred_at,
            day=day,
            recorded_by=self.ctx.staff_id,
            drug_key=drug_key(pharmacy_id, drug_id),
            batch_key=batch_key(pharmacy_id, drug_id, batch_no),
            source_id=self.source_id,
            rx_id=rx_id,
            rx_line_id=rx_line_id,
            stocktake_id=stocktake_id,
            transfer_id=transfer_id,
            reverses=reverses,
            supplier=supplier,
            reason=reason,
            flagged=flagged,
            updated_at=self.ctx.now,
        )
        self.movements.append(movement)
        changes: dict[str, Any] = {
            "quantity": after,
            "movement_count": current.movement_count + 1,
            "last_movement_at": max(occurred_at, current.last_movement_at or occurred_at),
            "updated_at": self.ctx.now,
        }
        if kind == "receipt":
            changes["unit_cost"] = cost
            if supplier:
                changes["supplier"] = supplier
        if kind == "count_adjustment":
            changes["last_counted_at"] = max(occurred_at, current.last_counted_at or occurred_at)
        self._batches[key] = current.model_copy(update=changes)
        return movement

    @property
    def negative(self) -> list[BatchChange]:
        return [
            BatchChange(b.drug_id, b.batch_no, b.quantity) for b in self._batches.values() if b.quantity < 0
        ]

    def writes(self) -> list[Entity]:
        """The movements, then each touched batch one version up (or new at version 1)."""
        out: list[Entity] = list(self.movements)
        for key, row in self._batches.items():
            original = self._original_versions[key]
            if original is None:
                out.append(row.model_copy(update={"version": 1}))
            else:
                base = row.model_copy(update={"version": original})
                out.append(next_version(base, self.ctx))
        return out


def local_day(at: dt.datetime | None, ctx: MutationContext) -> tuple[dt.datetime, dt.date]:
    """(when, local day) of a recorded event: ``at`` as the PC sent it (its own UTC offset gives the local
    date), or the mutation's ``now``/``today`` when the PC sent none."""
    if at is None:
        return ctx.now, ctx.today
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at, at.date()
