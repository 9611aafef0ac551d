"""Pharmacy handlers and the stock screen at scale (issue 6): what the desk and the server pay per action.

Measured on pure code (no network, no database), so the figures are the rules' own cost:

1. ``pharmacy_queries.stock_overview`` for 20,000 drugs × 2–4 batches of ``StockBatch`` balance rows
   (the stock screen and its export), and parsing those rows from JSON (what reading them costs);
2. the ``rx.dispense`` handler for a 5-line prescription, first expiry first out (``MemoryState``);
3. the ``stock.count`` handler for a 200-batch count on the same day as dispensing.

    .venv/bin/python benchmarks/pharmacy_mutations.py [--drugs 20000] [--runs 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import describe  # noqa: E402
from server_stub.seed import reference  # noqa: E402
from server_stub.seed.stock import MemoryState  # noqa: E402
from shared.domain.entities import Drug, Pharmacy, Prescription, StockBatch  # noqa: E402
from shared.domain.mutations import MutationContext  # noqa: E402
from shared.domain.pharmacy import batch_id, drug_key  # noqa: E402
from shared.domain.pharmacy_queries import stock_overview  # noqa: E402
from shared.domain.prescribing import new_line  # noqa: E402
from shared.ids import new_id  # noqa: E402

PHARMACY = "pharmacy-1"
CAMPUS = "campus-1"
TODAY = dt.date(2026, 11, 22)
NOW = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)


def batches_for(drugs: list[Drug], seed: int = 6) -> list[StockBatch]:
    rng = random.Random(seed)
    out = []
    for d in drugs:
        for b in range(rng.randint(2, 4)):
            no = f"B{b}{rng.randint(100, 999)}"
            out.append(
                StockBatch(
                    id=batch_id(PHARMACY, d.id, no),
                    campus_id=CAMPUS,
                    pharmacy_id=PHARMACY,
                    drug_id=d.id,
                    batch_no=no,
                    expiry=TODAY + dt.timedelta(days=rng.randint(-30, 900)),
                    quantity=rng.randint(0, 2000),
                    unit_cost=Decimal("0.4250"),
                    drug_key=drug_key(PHARMACY, d.id),
                )
            )
    return out


def scaled_drugs(count: int) -> list[Drug]:
    base = list(reference.drugs())
    return [
        base[n % len(base)].model_copy(update={"id": f"drug-{n:05d}", "code": f"YP{n:06d}"})
        for n in range(count)
    ]


def ctx() -> MutationContext:
    return MutationContext(
        staff_id="pharmacist",
        roles=frozenset({"pharmacist"}),
        device_id="bench",
        campus_id=CAMPUS,
        now=NOW,
        today=TODAY,
    )


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f} ms (p95 {sorted(samples)[int(len(samples) * 0.95) - 1] * 1000:.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drugs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    print(describe())

    drugs = scaled_drugs(args.drugs)
    batches = batches_for(drugs)
    catalogue = {d.id: d for d in drugs}
    minimums = {d.id: d.min_stock * d.pack_qty for d in drugs}
    overview_s, parse_s = [], []
    for _ in range(3):
        start = time.perf_counter()
        view = stock_overview(batches, catalogue, minimums, PHARMACY, TODAY)
        overview_s.append(time.perf_counter() - start)
    texts = [b.model_dump_json() for b in batches]
    for _ in range(3):
        start = time.perf_counter()
        parsed = [StockBatch.model_validate_json(t) for t in texts]
        parse_s.append(time.perf_counter() - start)
    print(
        f"stock_overview: {len(view.rows)} drugs, {len(batches)} batches: best {min(overview_s) * 1000:.0f} ms, "
        f"median {statistics.median(overview_s) * 1000:.0f} ms of 3"
    )
    print(
        f"parse {len(parsed)} StockBatch rows from JSON: best {min(parse_s) * 1000:.0f} ms, "
        f"median {statistics.median(parse_s) * 1000:.0f} ms of 3"
    )

    # Handlers on a state holding the 639 demo drugs and one 5-line prescription per run.
    demo = list(reference.drugs())[:5]
    state = MemoryState(demo)
    state.rows["pharmacy", PHARMACY] = Pharmacy(id=PHARMACY, campus_id=CAMPUS, code="P1", name="药房")
    freq = {f.code: f for f in reference.frequencies()}
    routes = {r.code: r for r in reference.routes()}
    state.run(
        "stock.receive",
        {
            "id": new_id(),
            "pharmacy_id": PHARMACY,
            "supplier": "国药控股",
            "received_at": (NOW - dt.timedelta(days=1)).isoformat(),
            "lines": [
                {
                    "drug_id": d.id,
                    "batch_no": f"B{n}{k}",
                    "expiry": f"2027-0{k + 1}-28",
                    "quantity": 10_000,
                    "price": "10",
                }
                for d in demo
                for n, k in ((1, 0), (2, 1), (3, 2), (4, 3))
            ],
        },
        ctx(),
    )
    dispense_s = []
    for _ in range(args.runs):
        rx = Prescription(
            id=new_id(),
            campus_id=CAMPUS,
            number="RX1",
            patient_id="p",
            doctor_id="d",
            day=TODAY,
            written_at=NOW,
            lines=[
                new_line(d, frequencies=freq, routes=routes, days=7).model_dump(mode="json") for d in demo
            ],
            status="approved",
        )
        state.rows["rx", rx.id] = rx
        start = time.perf_counter()
        state.run("rx.dispense", {"id": new_id(), "rx_id": rx.id, "pharmacy_id": PHARMACY}, ctx())
        dispense_s.append(time.perf_counter() - start)
    print(f"rx.dispense handler, 5 lines FEFO: {median_ms(dispense_s)}")

    count_lines = [
        {"drug_id": d.id, "batch_no": f"C{n:03d}", "counted": 5, "expiry": "2027-06-30"}
        for n, d in enumerate(demo * 40)
    ]
    count_s = []
    for _ in range(max(3, args.runs // 10)):
        start = time.perf_counter()
        state.run(
            "stock.count",
            {"id": new_id(), "pharmacy_id": PHARMACY, "counted_at": NOW.isoformat(), "lines": count_lines},
            ctx(),
        )
        count_s.append(time.perf_counter() - start)
    print(f"stock.count handler, {len(count_lines)} batches: {median_ms(count_s)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
