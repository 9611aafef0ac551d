"""Local pickup-code digests (a PC's pending view) never count on the central API's side: the server's
handlers do not believe one found in a row, and the server's code never enters the local path."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

from server_stub.seed.stock import MemoryState
from shared.domain import pickup
from shared.domain.entities import Pharmacy, PickupCodeState, PickupEvent
from shared.domain.mutations import MutationContext
from shared.domain.pharmacy import pickup_state_id
from tests.pharmacy_domain.support import (
    MAIN,
    MAIN_PHARMACY,
    PHARMACIST,
    prescription,
    review_args,
    signing_key_row,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)
AMOX = "阿莫西林胶囊"
CODE = "482913"


def _ctx() -> MutationContext:
    return MutationContext(
        staff_id=PHARMACIST,
        roles=frozenset({"pharmacist"}),
        device_id="desk-1",
        campus_id=MAIN,
        now=NOW,
        today=NOW.date(),
    )


def test_a_local_digest_in_a_row_never_verifies_in_the_servers_handlers() -> None:
    key_id, key = pickup.new_local_key()
    pickup.register_local_key(key_id, key)  # even with the key known to this process
    rx = prescription((AMOX, 3), status="approved")
    with pickup.local_digests(key_id):
        local = pickup.code_digest(rx.id, CODE)
    pharmacy = Pharmacy(id=MAIN_PHARMACY, campus_id=MAIN, code="MAIN-WY", name="本部门诊西药房")
    state = MemoryState([pharmacy, signing_key_row()])
    state.rows["rx", rx.id] = rx
    state.rows["pickup_code", pickup_state_id(rx.id)] = PickupCodeState(
        id=pickup_state_id(rx.id),
        campus_id=rx.campus_id,
        rx_id=rx.id,
        pharmacy_id=rx.pharmacy_id,
        digest=local,
        issued_at=NOW - dt.timedelta(hours=1),
        expires_at=NOW + dt.timedelta(days=6),
        events=[PickupEvent(no=1, kind="issue", at=NOW - dt.timedelta(hours=1), by=PHARMACIST)],
    )
    checked = state.run("rx.pickup_verify", {"rx_id": rx.id, "code": CODE}, _ctx())
    assert checked.result["ok"] is False and checked.result["reason"] == "wrong"
    # the server's own review of the same code stores scrypt, and that one verifies
    fresh = prescription((AMOX, 3))
    state.rows["rx", fresh.id] = fresh
    state.run("rx.review", review_args(fresh, pickup_code=CODE, at=NOW), _ctx())
    stored = state.get(PickupCodeState, pickup_state_id(fresh.id))
    assert stored is not None and stored.digest.startswith(pickup.DIGEST_PREFIX)
    assert state.run("rx.pickup_verify", {"rx_id": fresh.id, "code": CODE}, _ctx()).result["ok"] is True


def test_the_central_apis_code_never_enters_the_local_digest_path() -> None:
    local_path = {"local_digests", "register_local_key", "new_local_key", "pickup_digests", "LOCAL_PREFIX"}
    found = []
    for source in sorted((ROOT / "server_stub").rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
            if isinstance(node, ast.alias):
                name = node.name
            if name in local_path:
                found.append(f"{source.relative_to(ROOT)}:{getattr(node, 'lineno', '?')} {name}")
    assert found == []
