"""Helpers for the fault-injection suite: read the server's database directly, compare views, check stores."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shared.store import LocalStore
from tests.support.server import ServerProcess
from tests.sync.support import local_state, server_state


def server_db(server: ServerProcess) -> Path:
    return Path(server.db_url.removeprefix("sqlite:///"))


def mutation_log(server: ServerProcess, ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The server's stored outcomes for these mutation ids (a list per id: more than one would be a bug)."""
    wanted = list(ids)
    out: dict[str, list[dict[str, Any]]] = {m: [] for m in wanted}
    conn = sqlite3.connect(f"file:{server_db(server)}?mode=ro", uri=True, timeout=30)
    try:
        conn.row_factory = sqlite3.Row
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT * FROM mutation_log WHERE mutation_id IN ({marks})", chunk):
                out[row["mutation_id"]].append(dict(row))
    finally:
        conn.close()
    return out


def count_rows(server: ServerProcess, sql: str, params: tuple[Any, ...] = ()) -> int:
    conn = sqlite3.connect(f"file:{server_db(server)}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


def assert_store_sound(store: LocalStore, *, expected_mutations: list[str] | None = None) -> None:
    """After a crash: the file passes integrity_check and the outbox is whole (contiguous, nothing lost)."""
    assert store.integrity_check() == ["ok"]
    entries = store.outbox()
    assert [e.client_seq for e in entries] == list(range(1, len(entries) + 1)), "client_seq has a hole"
    if expected_mutations is not None:
        assert [e.mutation_id for e in entries][: len(expected_mutations)] == expected_mutations


def assert_exactly_once(server: ServerProcess, store: LocalStore) -> None:
    """Every mutation of this store is resolved locally and stored exactly once on the server, with the
    same status; rejected ones carry a reason."""
    entries = store.outbox()
    log = mutation_log(server, [e.mutation_id for e in entries])
    for entry in entries:
        assert entry.status in ("applied", "rejected"), (
            f"{entry.client_seq} {entry.name} still {entry.status}"
        )
        rows = log[entry.mutation_id]
        assert len(rows) == 1, f"{entry.mutation_id} stored {len(rows)} times"
        server_status = "rejected" if rows[0]["status"] == "rejected" else "applied"
        assert server_status == entry.status
        if entry.status == "rejected":
            assert entry.code and entry.message


def assert_same_view(server: ServerProcess, store: LocalStore, username: str) -> None:
    assert store.counts()["overlay_rows"] == 0
    expected = server_state(server.url, username)
    actual = local_state(store)
    missing = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    assert not missing and not extra, f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    differing = [key for key in expected if expected[key] != actual[key]]
    assert not differing, f"{len(differing)} rows differ, e.g. {differing[:3]}"
