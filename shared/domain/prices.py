"""Drug prices with effective dates: a price change applies from a moment on (now, or a time an
administrator gives), and a prescription keeps the prices in effect when it was written.

``Drug.price_changes`` lists the dated prices oldest first; the first entry of a drug whose price ever
changed is its earlier price, dated ``BEFORE_ANY_CHANGE``. ``Drug.price`` is the price in effect when the
row was last written (what an export or a plain reader sees); a change scheduled for later leaves it as
it is until the row is next written, so the rules never read it directly: ``price_at(drug, moment)``
is the one rule both the server and every PC apply (``rx.create`` and ``rx.amend`` price each line with
it at the prescription's written time), so both agree by construction. Pure: no clock, no I/O."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from shared.domain.entities import Drug, PriceChange

# A change dated this far before the server receives it still counts as "now" (an administrator's
# clock, a slow push); anything earlier would rewrite prices already charged and is refused.
PAST_SLACK = dt.timedelta(minutes=5)
# The date of a drug's price from before its first dated change.
BEFORE_ANY_CHANGE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def price_at(drug: Drug, moment: dt.datetime) -> Decimal:
    """The price per pack in effect at ``moment``: the latest change dated at or before it, else the
    row's price. Changes with equal times: the one listed last wins."""
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
    """``drug`` (same version: the caller bumps it) with ``price`` from ``effective_from`` on, and
    ``price`` the one in effect at ``now``. The first change also records the price before it; a change
    already listed for the same moment is replaced; the list stays ordered by time."""
    earlier = list(drug.price_changes) or [PriceChange(price=drug.price, effective_from=BEFORE_ANY_CHANGE)]
    change = PriceChange(price=price, effective_from=effective_from, set_by=set_by, set_at=now)
    kept = [c for c in earlier if c.effective_from != effective_from]
    ordered = sorted([*kept, change], key=lambda c: c.effective_from)
    changed = drug.model_copy(update={"price_changes": ordered})
    return changed.model_copy(update={"price": price_at(changed, now)})


def dated_edit(before: Drug | None, after: Drug, now: dt.datetime, *, set_by: str = "") -> Drug:
    """A drug row edited or imported with a ``price``: that price applies from ``now`` on. Equal to the
    price in effect now, nothing dated changes (importing an export twice changes nothing); different,
    a change dated ``now`` is added, so older prescriptions and their re-checks keep the old price."""
    if before is None:
        return after
    if after.price == price_at(before, now):
        return after.model_copy(update={"price_changes": before.price_changes})
    changed = with_change(before, after.price, now, set_by=set_by, now=now)
    return after.model_copy(update={"price": changed.price, "price_changes": changed.price_changes})
