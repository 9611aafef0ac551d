"""Benchmark: bootstrap a new PC from the scale data set (20,000 drugs, 50,000 patients); target < 30 s.

.venv/bin/clinic seed-demo --db /tmp/scale.db && .venv/bin/clinic seed-scale --db /tmp/scale.db
.venv/bin/python benchmarks/client_bootstrap.py --server-db /tmp/scale.db --keep /tmp/client_scale.db
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from client_common import client, machine, server_on_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-db", type=Path, default=Path("/tmp/scale.db"))
    parser.add_argument(
        "--keep", type=Path, help="keep the bootstrapped client store here (for client_search.py)"
    )
    args = parser.parse_args()
    store_path = args.keep or Path(tempfile.mkdtemp()) / "client.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(store_path) + suffix).unlink(missing_ok=True)
    print(f"machine: {machine()}")
    with server_on_copy(args.server_db) as server:
        store, transport, engine = client(store_path, server.url)
        started, cpu = time.perf_counter(), time.process_time()
        rows = engine.bootstrap()
        elapsed, used = time.perf_counter() - started, time.process_time() - cpu
        counts = store.counts()["entities"]
        transport.close()
        store.close()
    size = store_path.stat().st_size / 1e6
    print(
        f"bootstrap: {rows} rows in {elapsed:.1f} s ({rows / elapsed:.0f} rows/s); client CPU {used:.1f} s; "
        f"drugs {counts.get('drug')}, patients {counts.get('patient')}; store {size:.0f} MB; "
        f"load average {os.getloadavg()[0]:.1f}  [target < 30 s]"
    )


if __name__ == "__main__":
    main()
