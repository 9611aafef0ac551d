"""Drug prices with effective dates: a price change applies from a moment on (now, or a time an
administrator gives), and a prescription keeps the prices in effect when it was written.

A drug's ``price`` is the price before its first dated change; ``price_changes`` lists the dated changes
oldest first. ``price_at(drug, moment)`` is the one rule both the server and every PC apply (``rx.create``
and ``rx.amend`` price each line with it at the prescription's written time), so both agree by
construction. Pure: no clock, no I/O."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from shared.domain.entities import Drug, PriceChange

# A change dated this far before the server receives it still counts as "now" (an administrator's
# clock, a slow push); anything earlier would rewrite prices already charged and is refused.
PAST_SLACK = dt.timedelta(minutes=5)


def price_at(drug: Drug, moment: dt.datetime) -> Decimal:
    """The price per pack in effect at ``moment``: the latest change dated at or before it, else the
    drug's base price. Changes with equal times: the one listed last wins."""
    price = drug.price
    for change in drug.price_changes:
        if change.effective_from <= moment:
            price = change.price
    return price


def scheduled(drug: Drug, after: dt.datetime) -> list[PriceChange]:
    """The changes still to come after ``after`` (shown to the administrator as "from … on")."""
    return [c for c in drug.price_changes if c.effective_from > after]


def with_change(
    drug: Drug, price: Decimal, effective_from: dt.datetime, *, set_by: str, now: dt.datetime
) -> Drug:
    """``drug`` (same version: the caller bumps it) with ``price`` from ``effective_from`` on. A change
    already scheduled for the same moment is replaced; the list stays ordered by time."""
    change = PriceChange(price=price, effective_from=effective_from, set_by=set_by, set_at=now)
    kept = [c for c in drug.price_changes if c.effective_from != effective_from]
    ordered = sorted([*kept, change], key=lambda c: c.effective_from)
    return drug.model_copy(update={"price_changes": ordered})


def dated_edit(before: Drug | None, after: Drug, now: dt.datetime) -> Drug:
    """A drug row edited or imported with a ``price``: the file's price is the price from ``now`` on.
    Equal to what is in effect now: nothing dated changes (importing an export twice changes nothing);
    different: the base stays and a change dated ``now`` is added, so older prescriptions and their
    re-checks still see the old price."""
    if before is None:
        return after
    if after.price == price_at(before, now):
        return after.model_copy(update={"price": before.price, "price_changes": before.price_changes})
    changed = with_change(before, after.price, now, set_by="", now=now)
    return after.model_copy(update={"price": before.price, "price_changes": changed.price_changes})
