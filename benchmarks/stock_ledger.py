"""Stock on hand from a 1,000,000-movement ledger (issue 6): full derivation and one drug's lookup.

Targets: on hand of all 20,000 drugs under 1 s; one drug's on hand under 5 ms. Measured four ways:

1. ``shared.domain.stock.on_hand`` folding the whole ledger in Python (the reference definition);
2. ``StockBalances``: the same fold kept incrementally, read for all drugs and for one drug;
3. SQLite ledger table with a covering index on (pharmacy_id, drug_id, batch_no, quantity):
   ``GROUP BY`` aggregate for all drugs and for one drug (what the store can do with no extra table);
4. SQLite ``stock_balance`` table maintained by an UPSERT in the same transaction as each movement
   insert (a design sketch: what a dedicated balance table would cost per insert and per read).

None of these is the desk's own path: the desk reads ``StockBatch`` entity rows (the per-batch fold that
``ledger_writer.StockWriter`` rewrites with every movement) from its ``LocalStore``; that path is
measured by ``benchmarks/pharmacy_stock_view.py``.

    .venv/bin/python benchmarks/stock_ledger.py [--movements 1000000] [--drugs 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.domain.stock import Movement, StockBalances, on_hand  # noqa: E402

PHARMACY = "pharmacy-1"
T0 = dt.datetime(2026, 1, 1, 8, 0)


def make_ledger(movements: int, drugs: int, seed: int = 6) -> list[Movement]:
    """Receipts of 2–4 batches per drug, then dispenses and a few returns, scraps and adjustments."""
    rng = random.Random(seed)
    out: list[Movement] = []
    batches: list[tuple[str, str, dt.date]] = []
    for d in range(drugs):
        for b in range(rng.randint(2, 4)):
            batches.append(
                (
                    f"drug-{d:05d}",
                    f"B{d % 97:02d}{b}",
                    dt.date(2026, 3, 1) + dt.timedelta(days=rng.randint(0, 900)),
                )
            )
    for i, (drug, batch, expiry) in enumerate(batches):
        out.append(Movement(f"r{i}", PHARMACY, drug, batch, expiry, "receipt", rng.randint(200, 2000),
                            T0, rx_line_id=None))  # fmt: skip
    kinds = ["dispense"] * 90 + ["return"] * 4 + ["scrap"] * 2 + ["count_adjustment"] * 2 + ["receipt"] * 2
    signs = {"dispense": -1, "return": 1, "scrap": -1, "receipt": 1}
    n = len(out)
    while n < movements:
        drug, batch, expiry = batches[rng.randrange(len(batches))]
        kind = kinds[rng.randrange(len(kinds))]
        sign = signs.get(kind) or rng.choice((1, -1))
        at = T0 + dt.timedelta(seconds=n * 20)
        out.append(Movement(f"m{n}", PHARMACY, drug, batch, expiry, kind, sign * rng.randint(1, 30), at,  # type: ignore[arg-type]
                            rx_line_id=f"line-{n}" if kind == "dispense" else None))  # fmt: skip
        n += 1
    return out


def timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    """Best of ``repeat`` wall-clock runs in seconds, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def per_call(fn: Callable[[str], object], keys: list[str]) -> tuple[float, float]:
    """(median, p99) seconds per call over ``keys``."""
    samples = []
    for key in keys:
        start = time.perf_counter()
        fn(key)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


SCHEMA = """
CREATE TABLE stock_movement (
    id TEXT PRIMARY KEY, pharmacy_id TEXT NOT NULL, drug_id TEXT NOT NULL, batch_no TEXT NOT NULL,
    expiry TEXT NOT NULL, kind TEXT NOT NULL, quantity INTEGER NOT NULL, occurred_at TEXT NOT NULL,
    rx_line_id TEXT
);
CREATE TABLE stock_balance (
    pharmacy_id TEXT NOT NULL, drug_id TEXT NOT NULL, batch_no TEXT NOT NULL, expiry TEXT NOT NULL,
    quantity INTEGER NOT NULL, PRIMARY KEY (pharmacy_id, drug_id, batch_no)
) WITHOUT ROWID;
"""
INDEX = "CREATE INDEX ix_stock_movement_on_hand ON stock_movement (pharmacy_id, drug_id, batch_no, quantity)"
UPSERT = """
INSERT INTO stock_balance (pharmacy_id, drug_id, batch_no, expiry, quantity) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (pharmacy_id, drug_id, batch_no) DO UPDATE SET quantity = quantity + excluded.quantity
"""


def row(m: Movement) -> tuple[object, ...]:
    return (m.id, m.pharmacy_id, m.drug_id, m.batch_no, m.expiry.isoformat(), m.kind, m.quantity,
            m.occurred_at.isoformat(), m.rx_line_id)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--movements", type=int, default=1_000_000)
    parser.add_argument("--drugs", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()

    print(f"# stock ledger benchmark — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")  # fmt: skip
    start = time.perf_counter()
    ledger = make_ledger(args.movements, args.drugs)
    print(f"ledger: {len(ledger):,} movements, {args.drugs:,} drugs "
          f"(built in {time.perf_counter() - start:.1f} s, not measured)")  # fmt: skip
    rng = random.Random(1)
    keys = [f"drug-{rng.randrange(args.drugs):05d}" for _ in range(args.lookups)]
    results: list[tuple[str, str, str]] = []

    def record(what: str, seconds: float, target: float | None) -> None:
        verdict = (
            "" if target is None else ("meets" if seconds < target else "MISSES") + f" < {target * 1000:g} ms"
        )
        results.append((what, f"{seconds * 1000:.3f} ms", verdict))
        print(f"  {what:<62} {seconds * 1000:>10.3f} ms  {verdict}")

    print("\n1. pure Python fold of the whole ledger")
    seconds, stock = timed(lambda: on_hand(ledger), repeat=2)
    record(f"on_hand({len(ledger):,} movements): all drugs and batches", seconds, 1.0)
    assert len(stock.drugs) == args.drugs  # type: ignore[attr-defined]

    print("\n2. StockBalances, maintained per movement")
    balances = StockBalances()
    start = time.perf_counter()
    balances.apply_many(ledger)
    apply_total = time.perf_counter() - start
    record(f"apply one movement (mean over {len(ledger):,})", apply_total / len(ledger), None)
    seconds, table = timed(lambda: balances.all_drugs(PHARMACY))
    record(f"all {args.drugs:,} drugs' on hand from the balances", seconds, 1.0)
    assert table == stock.drugs  # type: ignore[attr-defined]
    assert balances.drug(PHARMACY, keys[0]) == stock.drug(PHARMACY, keys[0])  # type: ignore[attr-defined]
    median, p99 = per_call(lambda d: balances.drug(PHARMACY, d), keys)
    record("one drug's on hand (median)", median, 0.005)
    record("one drug's on hand (p99)", p99, 0.005)
    median, p99 = per_call(lambda d: balances.batches_of(PHARMACY, d), keys)
    record("one drug's batches in FEFO order (median)", median, 0.005)

    with tempfile.TemporaryDirectory() as folder:
        db = connect(Path(folder) / "stock.db")
        db.executescript(SCHEMA)
        start = time.perf_counter()
        db.execute("BEGIN")
        db.executemany("INSERT INTO stock_movement VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", map(row, ledger))
        db.execute("COMMIT")
        db.execute(INDEX)
        db.execute("BEGIN")
        db.execute("""INSERT INTO stock_balance SELECT pharmacy_id, drug_id, batch_no, MIN(expiry), SUM(quantity)
                      FROM stock_movement GROUP BY pharmacy_id, drug_id, batch_no""")  # fmt: skip
        db.execute("COMMIT")
        db.execute("ANALYZE")
        print(
            f"\n(SQLite load of {len(ledger):,} rows + index: {time.perf_counter() - start:.1f} s, not measured)"
        )
        size_mb = (Path(folder) / "stock.db").stat().st_size / 1e6
        print(f"(database file {size_mb:.0f} MB plus WAL)")

        print("\n3. SQLite aggregate over the ledger (covering index on pharmacy, drug, batch, quantity)")
        full_sql = ("SELECT drug_id, batch_no, SUM(quantity) FROM stock_movement WHERE pharmacy_id = ? "
                    "GROUP BY drug_id, batch_no")  # fmt: skip
        seconds, rows = timed(lambda: db.execute(full_sql, (PHARMACY,)).fetchall())
        record(f"GROUP BY drug, batch over {len(ledger):,} rows: all drugs", seconds, 1.0)
        drug_sql = "SELECT batch_no, SUM(quantity) FROM stock_movement WHERE pharmacy_id = ? AND drug_id = ? GROUP BY batch_no"
        median, p99 = per_call(lambda d: db.execute(drug_sql, (PHARMACY, d)).fetchall(), keys)
        record("one drug's batches (median)", median, 0.005)
        record("one drug's batches (p99)", p99, 0.005)
        plan = db.execute("EXPLAIN QUERY PLAN " + drug_sql, (PHARMACY, keys[0])).fetchall()
        print(f"  plan: {plan[-1][-1]}")

        print("\n4. SQLite stock_balance table maintained with each insert")
        seconds, rows = timed(lambda: db.execute(
            "SELECT drug_id, SUM(quantity) FROM stock_balance WHERE pharmacy_id = ? GROUP BY drug_id", (PHARMACY,)
        ).fetchall())  # fmt: skip
        record(f"all {args.drugs:,} drugs' on hand from stock_balance", seconds, 1.0)
        assert dict(rows) == {d: q for (p, d), q in stock.drugs.items()}  # type: ignore[attr-defined]
        balance_sql = (
            "SELECT batch_no, expiry, quantity FROM stock_balance WHERE pharmacy_id = ? AND drug_id = ?"
        )
        median, p99 = per_call(lambda d: db.execute(balance_sql, (PHARMACY, d)).fetchall(), keys)
        record("one drug's batches from stock_balance (median)", median, 0.005)
        record("one drug's batches from stock_balance (p99)", p99, 0.005)
        extra = make_ledger(4_000, args.drugs, seed=9)[-2000:]
        costs: dict[bool, list[float]] = {False: [], True: []}
        for round_no, upsert in enumerate((False, True, False, True)):
            batch = extra[round_no * 500 : (round_no + 1) * 500]
            start = time.perf_counter()
            for m in batch:
                db.execute("BEGIN IMMEDIATE")
                values = (f"{m.id}-{round_no}", *row(m)[1:])
                db.execute("INSERT INTO stock_movement VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
                if upsert:
                    db.execute(
                        UPSERT, (m.pharmacy_id, m.drug_id, m.batch_no, m.expiry.isoformat(), m.quantity)
                    )
                db.execute("COMMIT")
            costs[upsert].append((time.perf_counter() - start) / len(batch))
        record("insert one movement, own transaction, no balance", min(costs[False]), None)
        record("insert one movement + balance UPSERT, same transaction", min(costs[True]), None)
        db.close()

    print("\n| measurement | time | target |\n|---|---:|---|")
    for what, value, verdict in results:
        print(f"| {what} | {value} | {verdict} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
