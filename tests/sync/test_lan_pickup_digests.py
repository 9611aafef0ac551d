"""Clinic hub, PC side: a pharmacy PC's pending view digests pickup codes with its store's fast keyed
digest, not scrypt — a LAN ``rx.review`` replays without one scrypt call — and the codes still check:
at the counter (``rx.pickup_verify``, ``rx.dispense``, the desk's lookup by code), after a restart, and
never with a wrong code.

Real server process, real stores (SQLite files); the LAN list is built from the other pharmacy PC's real
outbox entries (``LanFeed``). Scrypt is counted by a wrapper this test puts around the real
``hashlib.scrypt``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pharmacy_desk.queries import find_for_dispensing
from shared.domain import pickup
from shared.domain.entities import (
    Dispense,
    Drug,
    Patient,
    PickupCodeState,
    Prescription,
    SigningKey,
    StockBatch,
)
from shared.domain.pharmacy import pickup_state_id
from shared.ids import new_id, reference_id
from shared.security.signing import EncryptedKey, generate_keypair
from shared.store import LocalStore
from shared.store.store import PICKUP_KEY_STATE
from shared.sync import SyncState
from tests.clinical.support import create_args, doctor_key, register_args, sign_args
from tests.pharmacy_domain.support import PIN, review_args
from tests.support.server import ServerProcess
from tests.sync.lan_support import CountedScrypt, LanFeed, draft, feed, key_id
from tests.sync.support import ClientPC, make_client

PICKUP = "482913"
WRONG = "482914"
PHARMACY = reference_id("pharmacy", "MAIN-WY")


@pytest.fixture
def clinic(server: ServerProcess, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A doctor's PC, a pharmacy PC (pharmacist1) that reviews, and the PC under test, the other
    pharmacy PC (pharmacist3); the doctor's and the reviewer's signing keys confirmed."""
    pcs = {
        "doctor": make_client(tmp_path / "doctor.db", server.url, "doctor1"),
        "pharm": make_client(tmp_path / "pharm.db", server.url, "pharmacist1"),
        "b": make_client(tmp_path / "b.db", server.url, "pharmacist3"),
    }
    try:
        doctor = pcs["doctor"].store
        doctor.record("signing_key.register", register_args(_staff(doctor), doctor_key()))
        pharm = pcs["pharm"].store
        sealed = generate_keypair(PIN)
        pharm.record("signing_key.register", register_args(_staff(pharm), sealed, PIN))
        for name in ("doctor", "pharm", "b", "doctor", "pharm", "b"):
            assert pcs[name].sync().state is SyncState.ONLINE
        yield {"pcs": pcs, "key": sealed, "folder": tmp_path}
    finally:
        for pc in pcs.values():
            pc.close()


def _staff(store: LocalStore) -> str:
    session = store.session()
    assert session is not None
    return session.staff.id


@pytest.fixture
def scrypt(monkeypatch: pytest.MonkeyPatch) -> CountedScrypt:
    counted = CountedScrypt()
    monkeypatch.setattr(hashlib, "scrypt", counted)
    return counted


def _reviewed_on_the_lan(clinic: dict[str, Any], count: int) -> tuple[LanFeed, list[str]]:
    """``count`` prescriptions written and signed by the doctor and approved by the other pharmacy PC
    with ``PICKUP``, all pending, on the hub's LAN list."""
    pcs: dict[str, ClientPC] = clinic["pcs"]
    doctor, pharm = pcs["doctor"].store, pcs["pharm"].store
    hub = LanFeed()
    patients = [p for p in doctor.all(Patient) if not p.allergies][:count]
    drug = _stocked_drug(pharm)
    ids = []
    for patient in patients:
        rx = draft(doctor, patient, drug)
        created = doctor.record("rx.create", create_args(rx, pharmacy_id=PHARMACY))
        signed = doctor.record("rx.sign", sign_args(rx, key_id(doctor), doctor_key()))
        hub.add(doctor, [created, signed])
        ids.append(rx.id)
    feed(pharm, hub.page_after(pharm.lan_after()))
    sealed: EncryptedKey = clinic["key"]
    mine = next(k for k in pharm.find(SigningKey, staff_id=_staff(pharm)) if k.revoked_at is None)
    for rx_id in ids:
        signed_rx = pharm.get(Prescription, rx_id)
        assert signed_rx is not None and signed_rx.status == "signed"
        args = review_args(signed_rx, reviewer_id=_staff(pharm), key=sealed, key_row=mine, pickup_code=PICKUP)
        hub.add(pharm, [pharm.record("rx.review", args)])
    return hub, ids


def _stocked_drug(store: LocalStore) -> str:
    totals: dict[str, float] = {}
    for batch in store.find(StockBatch, pharmacy_id=PHARMACY):
        totals[batch.drug_id] = totals.get(batch.drug_id, 0) + float(batch.quantity)
    drug = store.get(Drug, max(totals, key=lambda d: totals[d]))
    assert drug is not None
    return drug.generic_name


def _verify(store: LocalStore, rx_id: str, code: str) -> dict[str, Any]:
    entry = store.record("rx.pickup_verify", {"rx_id": rx_id, "code": code})
    return entry.local_result or {}


def _dispense(store: LocalStore, rx_id: str, code: str) -> Dispense:
    dispense_id = new_id()
    store.record(
        "rx.dispense", {"id": dispense_id, "rx_id": rx_id, "pharmacy_id": PHARMACY, "pickup_code": code}
    )
    given = store.get(Dispense, dispense_id)
    assert given is not None
    return given


def test_a_lan_review_replays_without_scrypt_and_its_code_checks_at_the_other_pharmacy_pc(
    clinic: dict[str, Any], scrypt: CountedScrypt
) -> None:
    pcs: dict[str, ClientPC] = clinic["pcs"]
    hub, (first, second, third) = _reviewed_on_the_lan(clinic, 3)
    b = pcs["b"].store
    # the PCs of this test share one process: forget what the reviewer's PC may have hashed, so that a
    # slow digest at B would be computed afresh, not served from memory
    pickup._slow_digest.cache_clear()
    before = scrypt.calls
    feed(b, hub.page_after(b.lan_after()))
    assert scrypt.calls == before, "the LAN rx.review replayed without scrypt"
    for rx_id in (first, second, third):
        rx = b.get(Prescription, rx_id)
        assert rx is not None and rx.status == "approved"
        code = b.get(PickupCodeState, pickup_state_id(rx_id))
        assert code is not None and code.digest.startswith(f"{pickup.LOCAL_PREFIX}{b.pickup_key_id}:")
        assert rx.pickup_code_hash == code.digest
        assert PICKUP not in code.digest

    # the desk's lookup by a typed code finds them all; a wrong code finds none
    rows, carried = find_for_dispensing(b, PICKUP, PHARMACY, None)
    assert {r.rx.id for r in rows} == {first, second, third} and carried == PICKUP
    assert find_for_dispensing(b, WRONG, PHARMACY, None)[0] == []

    wrong = _verify(b, first, WRONG)
    assert wrong["ok"] is False and wrong["reason"] == "wrong"
    right = _verify(b, first, PICKUP)
    assert right["ok"] is True
    assert _dispense(b, first, PICKUP).pickup_verified is True
    handed = _dispense(b, second, WRONG)
    assert handed.pickup_verified is False
    assert "pickup_unverified" in {c.kind for c in handed.conflicts}
    assert scrypt.calls == before, "checking codes against local digests needs no scrypt either"

    # restarted: the store's key is the same, so the pending digests still verify
    key_id_before, path = b.pickup_key_id, b.path
    pcs["b"].close()
    pcs["b"] = make_client(path, pcs["doctor"].transport.base_url, None)
    b = pcs["b"].store
    assert b.pickup_key_id == key_id_before
    assert _verify(b, third, WRONG)["reason"] == "wrong"
    assert _dispense(b, third, PICKUP).pickup_verified is True
    feed(b, hub.page_after(0))  # the whole LAN list again, replayed from the top
    assert b.get(Dispense, handed.id) is not None
    assert scrypt.calls == before


def test_the_key_is_made_with_the_store_kept_across_opens_and_differs_between_stores(tmp_path: Path) -> None:
    one = LocalStore.open(tmp_path / "one.db", app="pharmacy")
    two = LocalStore.open(tmp_path / "two.db", app="pharmacy")
    try:
        assert one.pickup_key_id and two.pickup_key_id and one.pickup_key_id != two.pickup_key_id
        stored = one.state(PICKUP_KEY_STATE)
        assert stored["id"] == one.pickup_key_id and len(bytes.fromhex(stored["key"])) == 32
        with one.pickup_digests():
            made = pickup.code_digest("rx-1", PICKUP)
            assert pickup.digest_matches("rx-1", PICKUP, made)
        with two.pickup_digests():
            assert not pickup.digest_matches("rx-1", PICKUP, made)
        first_id = one.pickup_key_id
    finally:
        one.close()
        two.close()
    again = LocalStore.open(tmp_path / "one.db", app="pharmacy")
    try:
        assert again.pickup_key_id == first_id
        with again.pickup_digests():
            assert pickup.digest_matches("rx-1", PICKUP, made)
        # a store made before local digests existed gets its key when next opened
        again.write(lambda conn: conn.execute("DELETE FROM sync_state WHERE key = ?", (PICKUP_KEY_STATE,)))
    finally:
        again.close()
    older = LocalStore.open(tmp_path / "one.db", app="pharmacy")
    try:
        assert older.pickup_key_id and older.pickup_key_id != first_id
        assert older.state(PICKUP_KEY_STATE)["id"] == older.pickup_key_id
    finally:
        older.close()
