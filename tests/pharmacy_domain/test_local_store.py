"""The pharmacy mutations recorded offline on a desk's real local store (SQLite file, overlay, outbox):
the same handlers find batches and the day's movements through ``LocalView`` as on the server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.domain.entities import Dispense, Pharmacy, Staff, StockBatch, Stocktake
from shared.domain.mutations import Rejected
from shared.domain.pharmacy import batch_id
from shared.ids import new_id
from shared.store import LocalStore
from tests.pharmacy_domain.support import MAIN, MAIN_PHARMACY, PHARMACIST, drug, prescription
from tests.store.helpers import changes

AMLO = "苯磺酸氨氯地平片"  # boxes of 7
STAFF = Staff(id=PHARMACIST, username="pharmacist1", name="药师甲", roles=["pharmacist"], campus_id=MAIN)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    store = LocalStore.open(tmp_path / "desk.db", app="pharmacy")
    store.set_session(STAFF, MAIN)
    rx = prescription((AMLO, 7), status="approved")
    pharmacy = Pharmacy(id=MAIN_PHARMACY, campus_id=MAIN, code="MAIN-WY", name="本部门诊西药房")
    page, cursor = changes(pharmacy, drug(AMLO), rx, start=1)
    store.apply_changes(page, cursor=cursor)
    store.rx_id = rx.id  # type: ignore[attr-defined]
    yield store
    store.close()


def batch(store: LocalStore, batch_no: str) -> StockBatch:
    with store.reading() as view:
        row = view.get(StockBatch, batch_id(MAIN_PHARMACY, drug(AMLO).id, batch_no))
    assert row is not None
    return row


def test_offline_receipt_dispense_and_count_agree_with_the_ledger(store: LocalStore) -> None:
    now = dt.datetime.now(dt.UTC)
    store.record(
        "stock.receive",
        {"id": new_id(), "pharmacy_id": MAIN_PHARMACY, "supplier": "国药控股", "received_at": now - dt.timedelta(hours=3),
         "lines": [{"drug_id": drug(AMLO).id, "batch_no": "LOCAL-1", "expiry": "2027-12-31", "quantity": 3, "price": "20"}]},
    )  # fmt: skip
    counted_at = now - dt.timedelta(hours=2)
    dispensed = store.record(
        "rx.dispense",
        {"id": new_id(), "rx_id": store.rx_id, "pharmacy_id": MAIN_PHARMACY,  # type: ignore[attr-defined]
         "dispensed_at": now - dt.timedelta(hours=1)},
    )  # fmt: skip
    assert dispensed.local_result["complete"] is True
    assert batch(store, "LOCAL-1").quantity == 14
    take_id = new_id()
    store.record(
        "stock.count",
        {"id": take_id, "pharmacy_id": MAIN_PHARMACY, "counted_at": counted_at,
         "lines": [{"drug_id": drug(AMLO).id, "batch_no": "LOCAL-1", "counted": 20}]},
    )  # fmt: skip
    with store.reading() as view:
        take = view.get(Stocktake, take_id)
        records = view.find(Dispense, rx_id=store.rx_id)  # type: ignore[attr-defined]
    assert take is not None and (take.lines[0].book, take.lines[0].adjustment) == (21, -1)
    assert batch(store, "LOCAL-1").quantity == 13 and len(records) == 1
    assert [e.name for e in store.outbox()] == ["stock.receive", "rx.dispense", "stock.count"]


def test_a_refused_local_mutation_leaves_nothing_behind(store: LocalStore) -> None:
    with pytest.raises(Rejected) as refused:
        store.record(
            "stock.move",
            {"id": new_id(), "pharmacy_id": MAIN_PHARMACY, "kind": "scrap", "reason": "破损",
             "lines": [{"drug_id": drug(AMLO).id, "batch_no": "NOT-THERE", "quantity": 1}]},
        )  # fmt: skip
    assert refused.value.code == "stock_unknown_batch" and "NOT-THERE" in refused.value.message
    assert store.outbox() == []
