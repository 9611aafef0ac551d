"""Benchmark: local drug search over the scale formulary (20,000 drugs) by pinyin initials and by a Chinese
fragment; target median < 5 ms and p99 < 16 ms per query. Also patient search over 50,000 patients.

    .venv/bin/python benchmarks/client_bootstrap.py --server-db /tmp/scale.db --keep /tmp/client_scale.db
    .venv/bin/python benchmarks/client_search.py --store /tmp/client_scale.db
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path

from client_common import machine, percentile

from shared.domain.entities import Drug, Patient
from shared.store import LocalStore


def measure(store: LocalStore, search: str, queries: list[str], limit: int) -> dict[str, float]:
    """Wall-clock and CPU (thread) time per query, in milliseconds. On a busy machine the wall clock
    includes waiting for a core; the CPU time is what the search itself costs."""
    fn = getattr(store, search)
    for query in queries[:50]:  # warm the page cache, the reader connection and the text snapshot
        fn(query, limit)
    wall, cpu = [], []
    for query in queries:
        started, started_cpu = time.perf_counter(), time.thread_time()
        fn(query, limit)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return {
        "median": statistics.median(wall),
        "p99": percentile(wall, 0.99),
        "cpu_median": statistics.median(cpu),
        "cpu_p99": percentile(cpu, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/client_scale.db"))
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(7)
    store = LocalStore.open(args.store, app="workstation")
    drugs = store.all(Drug)
    patients = store.all(Patient)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"store: {len(drugs)} drugs, {len(patients)} patients")
    initials = [d.pinyin[: rng.randint(2, 4)] for d in rng.choices(drugs, k=args.queries) if d.pinyin]
    fragments = []
    for drug in rng.choices(drugs, k=args.queries):
        name = drug.generic_name
        size = rng.randint(2, 3)
        start = rng.randrange(0, max(1, len(name) - size + 1))
        fragments.append(name[start : start + size])
    misses = ["zzzq", "釒釒", "qxzv"] * (args.queries // 30)
    names = [p.name[: rng.randint(1, 2)] for p in rng.choices(patients, k=args.queries)]
    mrns = [p.mrn[-6:] for p in rng.choices(patients, k=args.queries) if p.mrn]
    for label, search, queries in (
        ("drug by pinyin initials", "search_drugs", initials),
        ("drug by Chinese fragment", "search_drugs", fragments),
        ("drug, no match (full scan)", "search_drugs", misses),
        ("patient by name prefix", "search_patients", names),
        ("patient by MRN tail", "search_patients", mrns),
        ("patient by name fragment", "search_patients", [n[-2:] for n in names if len(n) > 1]),
    ):
        m = measure(store, search, queries, args.limit)
        print(
            f"{label:28s} {len(queries):5d} queries: wall median {m['median']:.2f} ms, p99 {m['p99']:.2f} ms; "
            f"CPU median {m['cpu_median']:.2f} ms, p99 {m['cpu_p99']:.2f} ms"
        )
    store.close()


if __name__ == "__main__":
    main()
