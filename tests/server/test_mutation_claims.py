"""Every mutation declares where its objects are (campus) and whose they are (ownership, separation of
duties), so a new mutation cannot forget; and a PC runs the same checks before anything reaches its
outbox."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from shared.domain.entities import Queue, QueueTicket, Staff
from shared.domain.mutations import REGISTRY
from shared.domain.mutations.base import (
    UNKNOWN_CLAIMS,
    CampusOf,
    Custom,
    InHandler,
    NoCampus,
    NotBy,
    OwnedBy,
    Rejected,
    Shared,
)
from shared.store import LocalStore
from tests.store.helpers import changes


def test_every_mutation_declares_its_campus_rule_and_its_ownership_rule() -> None:
    undeclared = sorted(name for name, spec in REGISTRY.items() if spec.campus is None or spec.owner is None)
    assert undeclared == [], f"declare campus= and owner= for {undeclared} (see mutations/base.py)"
    assert UNKNOWN_CLAIMS == [], f"claims declared for mutations that do not exist: {UNKNOWN_CLAIMS}"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_declared_rule_names_real_arguments_and_says_why(name: str) -> None:
    spec = REGISTRY[name]
    fields = set(spec.args.model_fields)
    if isinstance(spec.campus, CampusOf):
        assert set(spec.campus.fields) <= fields, name
        assert spec.campus.fields or spec.campus.caller, name
    else:
        assert isinstance(spec.campus, NoCampus) and spec.campus.why, name
    assert isinstance(spec.owner, Shared | OwnedBy | NotBy | Custom | InHandler), name
    assert spec.owner.description, name
    if isinstance(spec.owner, OwnedBy | NotBy):
        assert spec.owner.field in fields and spec.owner.by in spec.owner.kind.model_fields, name


def test_admins_and_kiosks_hold_no_clinical_or_money_mutation() -> None:
    clinical = ("rx.cancel", "order.cancel", "order.result", "rx.pay", "visit.withdraw", "rx.dispense")
    tickets = [n for n in REGISTRY if n.startswith("queue.") and not n.startswith("queue.notice")]
    for name in (*clinical, *tickets):
        assert "admin" not in REGISTRY[name].roles, name
    # a kiosk checks in and records the slip it printed, nothing else
    assert sorted(n for n, s in REGISTRY.items() if "kiosk" in s.roles) == ["print.record", "queue.check_in"]


def test_a_pc_refuses_another_campus_ticket_before_it_reaches_the_outbox(tmp_path: Path) -> None:
    nurse = Staff(id="nurse-main", username="n", name="王护士", roles=["nurse"], campus_id="MAIN")
    now = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)
    queue = Queue(id="q-east", campus_id="EAST", code="EAST-NK", name="内科")
    ticket = QueueTicket(
        id="t-east",
        campus_id="EAST",
        queue_id=queue.id,
        patient_id="p-1",
        day=now.date(),
        number=1,
        label="A001",
        number_key="q-east:2026-11-22:1",
        checked_in_at=now,
        updated_at=now,
    )
    store = LocalStore.open(tmp_path / "pc.db", app="triage_desk")
    try:
        store.set_session(nurse, "MAIN")
        page, cursor = changes(nurse, queue, ticket)
        store.apply_changes(page, cursor=cursor)
        with pytest.raises(Rejected) as refused:
            store.record("queue.cancel", {"ticket_id": ticket.id, "note": "误挂号"})
        assert refused.value.code == "wrong_campus"
        assert store.outbox() == []
    finally:
        store.close()
