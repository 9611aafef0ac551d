"""The server's writer alone: statements, wall time and CPU per pushed mutation (issue 2).

    .venv/bin/python benchmarks/push_writer.py DB_URL [--label NAME]

``DB_URL`` is a migrated and demo-seeded database (``clinic seed-demo --db …``; a copy, it gets new
patients). Each round pushes ``patient.register`` for G clients at once through the ``GroupCommitter``
(the path ``POST /sync/push`` takes), in groups of 1 and of 20, counts the statements sent to the database,
and checks the audit chain afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from server_stub.db.engine import Database  # noqa: E402
from server_stub.services import audit, push  # noqa: E402
from server_stub.services.auth import Principal  # noqa: E402
from server_stub.services.group_commit import GroupCommitter  # noqa: E402
from tests.server.writer_support import envelope, principal, push_job, push_keys  # noqa: E402

ROUNDS = ((1, 600), (20, 2000))  # (clients pushing at once, mutations in all)


def register_push(client_id: str, seq: int, who: Principal) -> Any:
    args = {"id": str(uuid.uuid4()), "name": "压测患者", "sex": "F", "birth_date": "1980-01-01"}
    return push_job(who, client_id, [envelope(seq, "patient.register", args, mutation_id=uuid.uuid4().hex)])


async def measure(db: Database, who: Principal, sent: list[int], group: int, total: int, label: str) -> None:
    committer = GroupCommitter(db, begin=push.prepare_group)
    await committer.start()
    seqs = {f"bench-{uuid.uuid4().hex[:8]}": 0 for _ in range(group)}

    async def one_round() -> None:
        jobs = []
        for client in seqs:
            seqs[client] += 1
            job = register_push(client, seqs[client], who)
            jobs.append(committer.run(job, keys=push_keys(job)))
        await asyncio.gather(*jobs)

    await one_round()  # warm-up
    sent[0] = 0
    committer.stats.transactions = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    done = 0
    while done < total:
        await one_round()
        done += group
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    transactions = committer.stats.transactions
    await committer.stop()
    print(
        f"{label} group={group:3d} mutations={done} transactions={transactions} "
        f"statements/mutation={sent[0] / done:.2f} wall ms/mutation={1000 * wall / done:.3f} "
        f"cpu ms/mutation={1000 * cpu / done:.3f} mutations/s={done / wall:.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a seeded database URL (use a copy)")
    parser.add_argument("--label", default="db")
    args = parser.parse_args()
    db = Database.open(args.url, pool_size=4)
    sent = [0]
    event.listen(db.writer, "before_cursor_execute", lambda *_: sent.__setitem__(0, sent[0] + 1))
    who = principal(db, "nurse1")
    for group, total in ROUNDS:
        asyncio.run(measure(db, who, sent, group, total, args.label))
    with db.read() as conn:
        print(args.label, "audit chain ok:", audit.verify(conn).ok)
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
