"""Benchmark: apply rate of pulled changes into the local store (pages of 5,000); target >= 5,000 rows/s.

Pulls every change from a server on the scale data set into memory first, then times only
``LocalStore.apply_changes`` (upsert + search keys + cursor, one transaction per page) on a store that
already holds the rows (the steady-state update case) and on an empty one.

    .venv/bin/python benchmarks/client_apply.py --server-db /tmp/scale.db
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from client_common import client, machine, server_on_copy

from shared.protocol.models import PullResponse
from shared.store import LocalStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-db", type=Path, default=Path("/tmp/scale.db"))
    parser.add_argument("--limit", type=int, default=5000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    print(f"machine: {machine()}")
    pages: list[PullResponse] = []
    with server_on_copy(args.server_db) as server:
        store, transport, _engine = client(folder / "login.db", server.url)
        cursor = 0
        started = time.perf_counter()
        while True:
            page = transport.pull(cursor, limit=args.limit)
            pages.append(page)
            cursor = page.next_cursor
            if not page.has_more:
                break
        fetched = time.perf_counter() - started
        transport.close()
        store.close()
    total = sum(len(p.changes) for p in pages)
    print(
        f"pulled {total} changes in {len(pages)} pages over HTTP in {fetched:.1f} s ({total / fetched:.0f} rows/s)"
    )
    target = LocalStore.open(folder / "apply.db", app="workstation")
    target.begin_bootstrap(head=0, estimated=0)
    target.finish_bootstrap(cursor=0)
    for label in ("into an empty store", "over existing rows"):
        started, cpu = time.perf_counter(), time.process_time()
        for page in pages:
            target.apply_changes(page.changes, cursor=page.next_cursor)
        elapsed, used = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"apply {label}: {total} rows in {elapsed:.1f} s = {total / elapsed:.0f} rows/s wall, "
            f"{total / used:.0f} rows/s of CPU; load average {os.getloadavg()[0]:.1f}  [target >= 5,000 rows/s]"
        )
    target.close()


if __name__ == "__main__":
    main()
