"""Benchmark: catch-up after a long outage — 10,000 mutations recorded offline, then pushed and confirmed
(outcomes stored, the pull covering them, the overlay settled); target < 60 s.

    .venv/bin/python benchmarks/client_catchup.py --server-db /tmp/scale.db
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from client_common import client, machine, server_on_copy

from shared.ids import new_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-db", type=Path, default=Path("/tmp/scale.db"))
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with server_on_copy(args.server_db) as server:
        store, transport, engine = client(Path(tempfile.mkdtemp()) / "client.db", server.url)
        engine.bootstrap()
        started = time.perf_counter()
        for n in range(args.count):
            store.record(
                "patient.register",
                {
                    "id": new_id(),
                    "name": f"离线患者{n}",
                    "sex": "F",
                    "birth_date": "1980-05-01",
                    "phone": "13812345678",
                },
            )
        recorded = time.perf_counter() - started
        print(f"recorded offline: {args.count} mutations in {recorded:.1f} s ({args.count / recorded:.0f}/s)")
        started, cpu = time.perf_counter(), time.process_time()
        engine.push_outbox()
        pushed, push_cpu = time.perf_counter() - started, time.process_time() - cpu
        engine.pull_changes()
        status = engine.sync_once()
        elapsed, client_cpu = time.perf_counter() - started, time.process_time() - cpu
        counts = store.counts()
        transport.close()
        store.close()
    print(
        f"push phase {pushed:.1f} s (client CPU {push_cpu:.1f} s; the rest is the server applying each "
        f"mutation in its own transaction); pull and settle {elapsed - pushed:.1f} s; client CPU in all "
        f"{client_cpu:.1f} s; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"catch-up: {args.count} mutations pushed and confirmed in {elapsed:.1f} s "
        f"({args.count / elapsed:.0f}/s); state {status.state}, pending {status.pending}, "
        f"outbox {counts['outbox']}, overlay rows {counts['overlay_rows']}  [target < 60 s]"
    )


if __name__ == "__main__":
    main()
