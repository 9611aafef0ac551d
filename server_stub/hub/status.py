"""``clinic hub status``: the upstream link, the relay backlog, the PCs served and the replica's cursor
against the central head, read from the hub's database (``--db``) or asked of a running hub (``--url``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx

from server_stub.hub.store import HubStore, connect


def read_status(store: HubStore) -> dict[str, Any]:
    """What the hub's database says (the running hub records its link facts every 2 s)."""
    conn = store.conn
    facts: dict[str, Any] = {row[0]: row[1] for row in conn.execute("SELECT key, value FROM meta")}
    count, oldest = store.backlog()
    facts["backlog"] = count
    facts["backlog_oldest"] = oldest.isoformat() if oldest else ""
    facts["held"] = int(conn.execute("SELECT COUNT(*) FROM lan_log").fetchone()[0])
    facts["verifiers"] = store.verifier_count()
    facts["pcs"] = [
        {"device_id": r[0], "staff_id": r[1], "staff_name": r[2], "last_seen": r[3]}
        for r in conn.execute(
            "SELECT device_id, staff_id, staff_name, last_seen FROM pcs ORDER BY last_seen DESC"
        )
    ]
    return facts


class _ReadOnly(HubStore):
    """A store over a read-only connection (no schema writes): for status while the hub runs."""

    def __init__(self, path: Path) -> None:  # noqa: D107 - deliberately skips HubStore's set-up
        self.path = path
        self.conn = connect(path, read_only=True)


def from_db(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise SystemExit(f"no hub database at {path}")
    store = _ReadOnly(path)
    try:
        return read_status(store)
    finally:
        store.close()


def from_url(url: str) -> dict[str, Any]:
    answer = httpx.get(f"{url.rstrip('/')}/hub/status", timeout=5.0)
    answer.raise_for_status()
    return dict(answer.json())


def _age(stamp: str, now: dt.datetime) -> str:
    if not stamp:
        return "never"
    seconds = int((now - dt.datetime.fromisoformat(stamp)).total_seconds())
    return f"{stamp[:19].replace('T', ' ')} UTC ({seconds} s ago)"


def render(facts: dict[str, Any]) -> str:
    now = dt.datetime.now(dt.UTC)
    up = facts.get("upstream_up") == "1"
    revoked = facts.get("upstream_revoked") == "1"
    link = ("up" if up else "DOWN") + (
        "; credential REVOKED (the central API refused it: enrol this hub again)" if revoked else ""
    )
    lines = [
        f"hub:           {facts.get('hub_id', '?')} (epoch {facts.get('epoch', '?')})",
        f"upstream:      {facts.get('upstream_url', '?')} - {link}",
        f"last contact:  {_age(str(facts.get('last_contact') or ''), now)}",
        f"relay backlog: {facts.get('backlog', 0)} waiting"
        + (
            f", oldest received {facts['backlog_oldest'][:19].replace('T', ' ')} UTC"
            if facts.get("backlog_oldest")
            else ""
        ),
    ]
    lines.append(
        f"verifiers:     {facts.get('verifiers', 0)} held for offline logins; from the central API:"
        f" {_age(str(facts.get('verifiers_fetched_at') or ''), now)}"
    )
    for key, label in (
        ("relay_problem", "relay problem"),
        ("replica_problem", "replica problem"),
        ("verifiers_problem", "verifiers problem"),
    ):
        if facts.get(key):
            lines.append(f"{label + ':':<15}{facts[key]}")
    head = facts.get("central_head") or "?"
    lines.append(f"replica:       cursor {facts.get('replica_cursor', 0)} of central head {head}")
    pcs = facts.get("pcs") or []
    lines.append(f"PCs served:    {len(pcs)}")
    for pc in pcs:
        lines.append(
            f"  {pc['device_id']:<28} {pc['staff_name'] or pc['staff_id']:<16} last seen {_age(pc['last_seen'], now)}"
        )
    if facts.get("status_at"):
        lines.append(f"(recorded {_age(str(facts['status_at']), now)})")
    return "\n".join(lines) + "\n"


def as_json(facts: dict[str, Any]) -> str:
    return json.dumps(facts, ensure_ascii=False, indent=1)
