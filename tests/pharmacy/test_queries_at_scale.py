"""The desk's reads of a big pharmacy: the stock list (read as projections, ``queries.batch_lines``) and
every ``find`` return every row (the local store used to cut a find at 1,000 rows, silently)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from pharmacy_desk.queries import find_every, overview, stock_screen
from server_stub.seed.scale import scale_drugs
from shared.domain.entities import Drug, Pharmacy, StockBatch, StockMinimum
from shared.domain.pharmacy import batch_id, drug_key, minimum_id
from shared.store import LocalStore
from tests.pharmacy_domain.support import EAST_PHARMACY, MAIN, MAIN_PHARMACY
from tests.store.helpers import changes

TODAY = dt.date(2026, 11, 22)
NOW = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)
DRUGS = 1150  # more than the 1,000 rows a find used to stop at


def _batch(pharmacy_id: str, drug: Drug, batch_no: str, expiry: dt.date, quantity: int) -> StockBatch:
    return StockBatch(
        id=batch_id(pharmacy_id, drug.id, batch_no),
        campus_id=MAIN,
        pharmacy_id=pharmacy_id,
        drug_id=drug.id,
        batch_no=batch_no,
        expiry=expiry,
        quantity=quantity,
        unit_cost=Decimal("0.5"),
        drug_key=drug_key(pharmacy_id, drug.id),
        updated_at=NOW,
    )


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStore, list[Drug]]]:
    """One batch per drug for 1,150 drugs here (the last 40 expired, the first 30 below zero), a few in
    the other pharmacy, and a minimum of 10,000 packs for the first drug."""
    store = LocalStore.open(Path(tmp_path_factory.mktemp("big")) / "desk.db", app="pharmacy")
    drugs = list(scale_drugs(DRUGS))
    rows: list[object] = [
        Pharmacy(id=MAIN_PHARMACY, campus_id=MAIN, code="MAIN-WY", name="本部门诊西药房"),
        *drugs,
    ]
    for n, drug in enumerate(drugs):
        expiry = TODAY - dt.timedelta(days=3) if n >= DRUGS - 40 else TODAY + dt.timedelta(days=400)
        rows.append(_batch(MAIN_PHARMACY, drug, f"B{n:05d}", expiry, -2 if n < 30 else 10 * drug.pack_qty))
    rows += [_batch(EAST_PHARMACY, d, "EAST", TODAY + dt.timedelta(days=400), 5) for d in drugs[:20]]
    rows.append(
        StockMinimum(
            id=minimum_id(MAIN_PHARMACY, drugs[-1].id),
            campus_id=MAIN,
            pharmacy_id=MAIN_PHARMACY,
            drug_id=drugs[-1].id,
            min_packs=10_000,
        )
    )
    page, cursor = changes(*rows, start=1)
    store.apply_changes(page, cursor=cursor)
    yield store, drugs
    store.close()


def test_a_find_returns_every_row_and_caps_only_on_request(big_store: tuple[LocalStore, list[Drug]]) -> None:
    store, _drugs = big_store
    assert len(store.find(StockBatch, pharmacy_id=MAIN_PHARMACY)) == DRUGS
    capped = store.find(StockBatch, pharmacy_id=MAIN_PHARMACY, limit=10)
    assert len(capped) == 10 and [b.id for b in capped] == sorted(b.id for b in capped)
    found = find_every(store, StockBatch, pharmacy_id=MAIN_PHARMACY)
    assert len(found) == DRUGS and {b.pharmacy_id for b in found} == {MAIN_PHARMACY}
    assert len(find_every(store, StockBatch, pharmacy_id=EAST_PHARMACY)) == 20


def test_the_stock_tab_lists_every_batch_and_alert_of_a_big_pharmacy(
    big_store: tuple[LocalStore, list[Drug]],
) -> None:
    store, drugs = big_store
    screen = stock_screen(store, MAIN_PHARMACY, TODAY)
    assert len(screen.batches) == DRUGS
    assert all(row.drug is not None for row in screen.batches)
    assert len(screen.alerts("negative")) == 30 and len(screen.alerts("expired")) == 40
    # the last drug's only batch has expired: nothing usable, under its own minimum of 10,000 packs
    assert drugs[-1].id in {row.drug.id for row in screen.low}
    listed = overview(store, MAIN_PHARMACY, TODAY)
    assert len(listed.rows) == DRUGS and sum(len(r.batches) for r in listed.rows) == DRUGS
    # each negative batch, and its drug (one batch each) below zero too
    assert len([n for n in listed.negative if n.batch_no]) == 30 and len(listed.negative) == 60
    assert drugs[-1].id in {r.drug_id for r in listed.rows if r.low}


def test_the_stock_tab_reads_projections_that_match_the_entities(
    big_store: tuple[LocalStore, list[Drug]],
) -> None:
    from pharmacy_desk.queries import batch_lines, drug_lines

    store, drugs = big_store
    lines = {b.id: b for b in batch_lines(store, MAIN_PHARMACY)}
    entities = {b.id: b for b in store.find(StockBatch, pharmacy_id=MAIN_PHARMACY)}
    assert lines.keys() == entities.keys()
    for batch_id_, entity in list(entities.items())[:50]:
        line = lines[batch_id_]
        assert (line.drug_id, line.batch_no, line.expiry, line.quantity, line.unit_cost) == (
            entity.drug_id,
            entity.batch_no,
            entity.expiry,
            entity.quantity,
            entity.unit_cost,
        )
    table = drug_lines(store)
    assert len(table) == DRUGS
    first = table[drugs[0].id]
    assert (first.code, first.generic_name, first.pack_qty, first.min_unit) == (
        drugs[0].code,
        drugs[0].generic_name,
        drugs[0].pack_qty,
        drugs[0].min_unit,
    )
    assert drug_lines(store, {drugs[1].id}) == {drugs[1].id: table[drugs[1].id]}
