"""Benchmark: what encryption at rest (SQLCipher) costs the local store: apply rate of pulled changes
(pages of 5,000, as ``client_apply.py``), local patient search, and recording mutations, on a plain and
an encrypted store side by side (synthetic patients; no server needed; < 1 min).

    .venv/bin/python benchmarks/store_encryption.py --patients 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from shared.domain.entities import Patient
from shared.protocol.models import Change
from shared.store import LocalStore

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"


def _patients(count: int) -> list[Change]:
    changes = []
    for n in range(count):
        name = SURNAMES[n % len(SURNAMES)] + GIVEN[(n // 3) % len(GIVEN)] + GIVEN[(n // 7) % len(GIVEN)]
        patient = Patient(
            id=f"p-{n:07d}",
            mrn=f"2026{n:07d}",
            name=name,
            sex="F" if n % 2 else "M",
            birth_date=dt.date(1950, 1, 1) + dt.timedelta(days=n % 20000),
            id_number=f"110105{1950 + n % 60}0101{n % 1000:03d}{n % 10}",
            id_number_tail=f"{n % 10000:04d}",
            phone=f"139{n:08d}",
        )
        changes.append(
            Change(seq=n + 1, kind="patient", id=patient.id, version=1, data=patient.model_dump(mode="json"))
        )
    return changes


def _run(path: Path, changes: list[Change], key: bytes | None) -> str:
    store = LocalStore.open(path, app="workstation", key=key)
    store.begin_bootstrap(head=0, estimated=0)
    store.finish_bootstrap(cursor=0)
    started = time.perf_counter()
    for start in range(0, len(changes), 5000):
        page = changes[start : start + 5000]
        store.apply_changes(page, cursor=page[-1].seq)
    applied = time.perf_counter() - started
    queries = [SURNAMES[n % len(SURNAMES)] + GIVEN[n % len(GIVEN)] for n in range(300)]
    times = []
    for query in queries:
        begun = time.perf_counter()
        store.search_patients(query)
        times.append((time.perf_counter() - begun) * 1000)
    store.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
    return (
        f"apply {len(changes)} rows {len(changes) / applied:,.0f} rows/s; patient search median "
        f"{statistics.median(times):.2f} ms, p95 {sorted(times)[int(len(times) * 0.95)]:.2f} ms; {size:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20000)
    args = parser.parse_args()
    changes = _patients(args.patients)
    folder = Path(tempfile.mkdtemp())
    for label, key in (("plain    ", None), ("SQLCipher", secrets.token_bytes(32))):
        result = _run(folder / f"{label.strip()}.db", changes, key)
        print(f"{label}: {result}; load average {os.getloadavg()[0]:.1f}")  # noqa: T201


if __name__ == "__main__":
    main()
