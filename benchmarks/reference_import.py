"""Benchmark: `clinic import drug` of a 50,000-row xlsx (preview <= 30 s, apply <= 60 s), a second import
of the same file (changes nothing), the time until a PC long-polling a running server receives an imported
drug (<= 5 s), and the PC's drug search per keystroke afterwards (p99 <= 16 ms).

    .venv/bin/python benchmarks/reference_import.py [--drugs 50000]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import tempfile
import threading
import time
from pathlib import Path

from client_common import client, machine, percentile
from openpyxl import Workbook

from server_stub.config import sqlite_url
from server_stub.db.engine import Database
from server_stub.seed.demo import seed_demo
from server_stub.seed.reference import read_csv
from server_stub.services.reference_import import import_file
from shared.domain.entities import Drug
from tests.support.api import ApiUser
from tests.support.server import ServerProcess

SUFFIXES = ("片", "胶囊", "缓释片", "颗粒", "注射液", "口服液", "软膏", "滴眼液")


def write_formulary(path: Path, count: int) -> Path:
    """``count`` drugs shaped like the demo formulary, each with its own code and name, as an xlsx."""
    demo = read_csv("drugs.csv")
    rng = random.Random(16)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("药品目录")
    headers = list(demo[0])
    sheet.append(headers)
    for n in range(count):
        row = dict(demo[n % len(demo)])
        if n >= len(demo):
            row["code"] = f"HX{n:07d}"
            stem = row["generic_name"].rstrip("片胶囊颗粒注射液")
            row["generic_name"] = f"{stem}{n % 97}号{rng.choice(SUFFIXES)}"
        sheet.append([row[h] for h in headers])
    workbook.save(path)
    return path


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds:.1f} s")
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drugs", type=int, default=50_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="clinic-import-"))
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    url = sqlite_url(folder / "server.db")
    seed_demo(url, patients=50)
    xlsx, _ = timed(
        f"write a {args.drugs}-row xlsx", lambda: write_formulary(folder / "drugs.xlsx", args.drugs)
    )
    print(f"file: {xlsx.stat().st_size / 1e6:.1f} MB")
    db = Database.open(url, pool_size=2)
    try:
        preview, _ = timed("preview (--dry-run)", lambda: import_file(db, "drug", xlsx, dry_run=True))
        print(f"  plan: {preview.plan.summary()}")
        applied, _ = timed("apply", lambda: import_file(db, "drug", xlsx, username="bench"))
        print(f"  applied: {applied.plan.summary()}")
        again, _ = timed("import the same file again", lambda: import_file(db, "drug", xlsx))
        print(f"  second import: {again.plan.summary()}, wrote anything: {again.applied}")
    finally:
        db.dispose()

    server = ServerProcess(url, folder / "server.log").start(timeout=120)
    try:
        pc = ApiUser(server.url, "doctor1")
        _changes, cursor = pc.pull_all()
        arrived: list[float] = []

        def wait_for_drug() -> None:
            page = pc.pull(cursor, limit=100, wait=30)
            if any(c["kind"] == "drug" for c in page["changes"]):
                arrived.append(time.perf_counter())

        poller = threading.Thread(target=wait_for_drug)
        poller.start()
        time.sleep(1.0)  # the long-poll is waiting
        one = folder / "one.csv"
        first = read_csv("drugs.csv")[0]
        with one.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(first))
            writer.writeheader()
            writer.writerow({**first, "price": "99.90"})
        db = Database.open(url, pool_size=1)
        try:
            run = import_file(db, "drug", one)
            committed = time.perf_counter()
        finally:
            db.dispose()
        poller.join(40)
        assert run.applied and arrived, "the PC did not receive the imported change"
        print(f"import committed -> long-polling PC has the change: {(arrived[0] - committed) * 1000:.0f} ms")
        pc.close()

        store, _transport, engine = client(folder / "pc.db", server.url, "doctor1")
        engine.bootstrap()
        drugs = store.all(Drug)
        rng = random.Random(7)
        queries = [d.pinyin[: rng.randint(2, 4)] for d in rng.choices(drugs, k=2000) if d.pinyin]
        for query in queries[:50]:
            store.search_drugs(query, 20)
        wall = []
        for query in queries:
            started = time.perf_counter()
            store.search_drugs(query, 20)
            wall.append((time.perf_counter() - started) * 1000)
        print(
            f"PC drug search over {len(drugs)} drugs: {len(queries)} queries, "
            f"median {sorted(wall)[len(wall) // 2]:.2f} ms, p99 {percentile(wall, 0.99):.2f} ms"
        )
        store.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
