"""Benchmark: drug search ranked by use (``LocalStore.search_drugs(..., usage=...)``) against the plain
search, on a store of the scale formulary (20,000 drugs) and 5,000 prescriptions of one department;
target p99 < 16 ms per keystroke, as for ``client_search.py``. Builds its own store (about 30 s).

    .venv/bin/python benchmarks/client_search_usage.py [--store /tmp/search_usage.db]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import time
from pathlib import Path

from client_common import machine, percentile

from server_stub.seed.scale import scale_drugs
from shared.domain.entities import Drug, Prescription, Staff
from shared.protocol.models import Change
from shared.store import LocalStore

DOCTOR = Staff(id="staff-doctor-1", username="doctor1", name="李医生", roles=["doctor"], campus_id="campus-1")


def _changes(rows: list[Drug] | list[Prescription], start: int) -> tuple[list[Change], int]:
    out = [
        Change(seq=start + n, kind=r.KIND, id=r.id, version=r.version, data=r.model_dump(mode="json"))
        for n, r in enumerate(rows)
    ]
    return out, out[-1].seq


def build(path: Path, rng: random.Random) -> tuple[LocalStore, list[Drug]]:
    for old in path.parent.glob(path.name + "*"):
        old.unlink()
    store = LocalStore.open(path, app="workstation")
    store.set_session(DOCTOR, DOCTOR.campus_id)
    drugs = list(scale_drugs(20_000))
    for i in range(0, len(drugs), 2000):
        page, cursor = _changes(drugs[i : i + 2000], 1 + i)
        store.apply_changes(page, cursor=cursor)
    now = dt.datetime.now(dt.UTC)
    popular = rng.sample(drugs, 300)
    rxs = [
        Prescription(
            id=f"rx{n}",
            campus_id="campus-1",
            number=f"R{n:06d}",
            patient_id="p",
            doctor_id=DOCTOR.id if n % 5 == 0 else f"doctor-{n % 7}",
            department_id="dept-1",
            day=now.date(),
            written_at=now,
            lines=[{"drug": {"id": d.id}} for d in rng.sample(popular, 3)],
        )
        for n in range(5000)
    ]
    for i in range(0, len(rxs), 1000):
        page, cursor = _changes(rxs[i : i + 1000], 100_000 + i)
        store.apply_changes(page, cursor=cursor)
    return store, drugs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/search_usage.db"))
    args = parser.parse_args()
    rng = random.Random(3)
    store, drugs = build(args.store, rng)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    usage = store.search_usage(Drug, doctor_id=DOCTOR.id, department_id="dept-1")
    print(
        f"usage counted in {(time.perf_counter() - started) * 1000:.0f} ms ({len(usage.counts)} drugs used)"
    )
    queries = [d.pinyin[: rng.randint(1, 4)] for d in rng.choices(drugs, k=1500) if d.pinyin]
    queries += ["阿莫", "头孢", "布洛芬", "zzzq"] * 30
    for label, ranked in (("plain", None), ("ranked by use", usage)):
        for query in queries[:50]:
            store.search_drugs(query, 30, usage=ranked)
        wall = []
        for query in queries:
            started = time.perf_counter()
            store.search_drugs(query, 30, usage=ranked)
            wall.append((time.perf_counter() - started) * 1000)
        print(
            f"{label:14s} {len(queries)} queries: median {statistics.median(wall):.2f} ms, "
            f"p99 {percentile(wall, 0.99):.2f} ms"
        )
    store.close()


if __name__ == "__main__":
    main()
