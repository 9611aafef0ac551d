"""Driving the server's push writer directly (no HTTP): who pushes, envelopes, push jobs, and a group of
jobs held back until they are all queued so they commit together. Used by the writer tests and
``benchmarks/push_writer.py``."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import threading
from typing import Any

from sqlalchemy import Connection, func, select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES
from server_stub.services import push
from server_stub.services.auth import Principal
from server_stub.services.entities import to_entity
from server_stub.services.group_commit import GroupCommitter
from shared.domain.entities import Staff
from shared.protocol.models import MutationEnvelope


def principal(db: Database, username: str) -> Principal:
    """A signed-in ``username`` on its own PC, as the auth dependency would hand it to a push."""
    table = ENTITY_TABLES["staff"]
    with db.read() as conn:
        staff = to_entity(Staff, conn.execute(select(table).where(table.c.username == username)).one())
    return Principal(
        staff=staff,
        device_id=f"pc-{username}",
        campus_id=staff.campus_id,
        token_hash="test",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )


def envelope(
    seq: int, name: str, args: dict[str, Any], *, mutation_id: str | None = None
) -> MutationEnvelope:
    return MutationEnvelope.model_validate(
        {
            "mutation_id": mutation_id or f"m-{args.get('id', seq)}-{seq}",
            "client_seq": seq,
            "name": name,
            "args": args,
            "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
        }
    )


def push_job(who: Principal, client_id: str, envelopes: list[MutationEnvelope]) -> Any:
    """One client's push as a job for the ``GroupCommitter`` (what ``POST /sync/push`` queues)."""
    return functools.partial(
        push.apply_batch_in,
        client_id=client_id,
        mutations=envelopes,
        principal=who,
        timezone="Asia/Shanghai",
        lang="en",
    )


def push_keys(job: Any) -> push.PushKeys | None:
    """The keys ``POST /sync/push`` queues with a job (None for a job that is not a push)."""
    kw = getattr(job, "keywords", None)
    if not kw or "client_id" not in kw:
        return None
    return push.PushKeys.of(kw["client_id"], kw["principal"], kw["mutations"])


def count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def run_group(db: Database, jobs: list[tuple[Any, int]]) -> tuple[list[Any], GroupCommitter]:
    """Hold the writer with a first job until every other job is queued, so they form one group."""
    release = threading.Event()

    def blocker(_conn: Connection) -> str:
        release.wait(30)
        return "blocker"

    async def main() -> tuple[list[Any], GroupCommitter]:
        committer = GroupCommitter(db, begin=push.prepare_group)
        await committer.start()
        try:
            first = asyncio.ensure_future(committer.run(blocker))
            await asyncio.sleep(0.05)
            rest = [
                asyncio.ensure_future(committer.run(work, size=size, keys=push_keys(work)))
                for work, size in jobs
            ]
            await asyncio.sleep(0.05)
            release.set()
            results = await asyncio.gather(first, *rest, return_exceptions=True)
            return list(results[1:]), committer
        finally:
            await committer.stop()

    return asyncio.run(main())
