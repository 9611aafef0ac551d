"""Two workstations write and sign prescriptions while the server is down, each from its own local view;
when it is back their outboxes reach it and every prescription keeps its number and signature."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.domain.clinical import next_rx_number
from shared.domain.entities import Patient, Prescription, SigningKey, Staff
from shared.domain.mutations import Rejected
from shared.domain.prescribing import PatientFacts, PrescriberFacts, PrescriptionDraft
from shared.ids import new_id
from shared.sync import SyncState
from tests.clinical.support import (
    create_args,
    doctor_key,
    first_drugs,
    line,
    other_key,
    register_args,
    sign_args,
)
from tests.support.server import ServerProcess
from tests.sync.support import ClientPC, make_client, memory_keyring


@pytest.fixture(autouse=True)
def _keyring() -> Iterator[None]:
    with memory_keyring():
        yield


def _draft(pc: ClientPC, patient: Patient, drug: str) -> PrescriptionDraft:
    """A prescription numbered as the workstation numbers it: from the local view only."""
    written = dt.datetime.now(dt.UTC)
    day = written.astimezone().date()
    session = pc.store.session()
    assert session is not None
    doctor = pc.store.get(Staff, session.staff.id)
    assert doctor is not None
    known = [rx.number for rx in pc.store.find(Prescription, day=day)]
    return PrescriptionDraft(
        id=new_id(),
        number=next_rx_number(known, pc.store.device_id, day),
        patient=PatientFacts.from_patient(patient),
        prescriber=PrescriberFacts.from_staff(doctor),
        written_at=written,
        lines=(line(drug),),
    )


def _key_id(pc: ClientPC) -> str:
    session = pc.store.session()
    assert session is not None
    return next(k.id for k in pc.store.find(SigningKey, staff_id=session.staff.id) if k.revoked_at is None)


def test_prescriptions_signed_offline_on_two_pcs_reach_the_server_with_distinct_numbers(
    server: ServerProcess, tmp_path: Path
) -> None:
    pcs = [make_client(tmp_path / f"pc{n}.db", server.url, f"doctor{n}") for n in (1, 2)]
    try:
        for pc, sealed in zip(pcs, (doctor_key(), other_key()), strict=True):
            session = pc.store.session()
            assert session is not None
            pc.store.record("signing_key.register", register_args(session.staff.id, sealed))
            assert pc.sync().state is SyncState.ONLINE
        patient = next(p for p in pcs[0].store.all(Patient) if not p.allergies)
        server.stop()
        drafts: dict[int, list[PrescriptionDraft]] = {0: [], 1: []}
        for n, pc in enumerate(pcs):
            sealed = doctor_key() if n == 0 else other_key()
            for drug in first_drugs(2):
                rx = _draft(pc, patient, drug)
                pc.store.record("rx.create", create_args(rx))
                pc.store.record("rx.sign", sign_args(rx, _key_id(pc), sealed))
                drafts[n].append(rx)
            tampered = _draft(pc, patient, first_drugs(3)[2])
            pc.store.record("rx.create", create_args(tampered))
            forged = tampered.model_copy(update={"rx_type": "emergency"})
            with pytest.raises(Rejected) as err:  # the PC's own view runs the same verification
                pc.store.record("rx.sign", sign_args(forged, _key_id(pc), sealed))
            assert err.value.code == "bad_signature"
            assert pc.sync().state is not SyncState.ONLINE
            local = pc.store.get(Prescription, drafts[n][0].id)
            assert local is not None and local.status == "signed"  # the doctor sees it signed at once
        numbers = [rx.number for n in drafts for rx in drafts[n]]
        assert len(set(numbers)) == 4
        server.start()
        for pc in pcs:
            assert pc.sync().state is SyncState.ONLINE
            assert not pc.store.outbox("rejected")
        for pc in pcs:
            pc.sync()
        for n in drafts:
            for rx in drafts[n]:
                row = pcs[1 - n].store.get(Prescription, rx.id)  # the other PC sees it after its pull
                assert row is not None and (row.status, row.number) == ("signed", rx.number)
    finally:
        for pc in pcs:
            pc.close()
