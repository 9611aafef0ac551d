"""Test data for the pharmacy desk: signed prescriptions written into a server database the way the
doctor's workstation leaves them (draft signed with the doctor's own Ed25519 key, public key registered),
before the server process starts. Drugs are chosen among those the pharmacy has usable stock of."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES
from server_stub.services.entities import ServerState, to_entity, write_entities
from shared.domain.clinical import rx_signature_content
from shared.domain.entities import (
    Drug,
    Frequency,
    Patient,
    Pharmacy,
    Prescription,
    Route,
    SigningKey,
    Staff,
    StockBatch,
)
from shared.domain.prescribing import (
    DiagnosisFacts,
    PatientFacts,
    PrescriberFacts,
    PrescriptionDraft,
    RxLine,
    new_line,
    total_amount,
)
from shared.ids import new_id, reference_id
from shared.security.signing import EncryptedKey, canonical_bytes, fingerprint, generate_keypair, sign

DOCTOR_PIN = "246810"
PHARMACIST_PIN = "135790"


@dataclass(frozen=True)
class SeededRx:
    rx: Prescription
    draft: PrescriptionDraft


def _all(conn: object, kind: type) -> list:
    table = ENTITY_TABLES[kind.KIND]
    return [to_entity(kind, row) for row in conn.execute(select(table))]  # type: ignore[attr-defined]


def signing_key_row(staff_id: str, key: EncryptedKey, at: dt.datetime) -> SigningKey:
    return SigningKey(
        id=new_id(),
        staff_id=staff_id,
        public_key=key.public_key,
        fingerprint=fingerprint(key.public_key),
        registered_at=at,
    )


def seed_signed_prescriptions(
    db_url: str,
    *,
    count: int = 2,
    lines: int = 3,
    pharmacy_code: str = "MAIN-WY",
    doctor_username: str = "doctor1",
    pharmacist_key: tuple[str, EncryptedKey] | None = None,
    days: tuple[int, ...] = (3, 10),
    first_number: int = 1,
) -> list[SeededRx]:
    """``count`` signed prescriptions of ``lines`` lines each for ``pharmacy_code`` (``days`` of supply per
    prescription: the second one, 10 days, draws a finding); optionally registers a pharmacist's public
    key (username, sealed key) as ``signing_key.register`` would have."""
    db = Database.open(db_url, pool_size=1)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        with db.read() as conn:
            state = ServerState(conn)
            pharmacy = state.find(Pharmacy, code=pharmacy_code)[0]
            doctor = state.find(Staff, username=doctor_username)[0]
            frequencies = {f.code: f for f in _all(conn, Frequency)}
            routes = {r.code: r for r in _all(conn, Route)}
            today = now.date()
            usable: dict[str, int] = {}
            for batch in state.find(StockBatch, pharmacy_id=pharmacy.id):
                if batch.quantity > 0 and batch.expiry > today + dt.timedelta(days=100):
                    usable[batch.drug_id] = usable.get(batch.drug_id, 0) + batch.quantity
            drugs = [
                d
                for d in sorted(_all(conn, Drug), key=lambda d: d.code)
                if d.id in usable
                and d.default_route == "po"
                and d.form in ("片剂", "胶囊")
                and d.controlled_class == "none"
                and d.default_frequency in frequencies
                and not d.skin_test
                and usable[d.id] >= 20 * d.pack_qty
            ]
            patients = [p for p in _all(conn, Patient) if not p.allergies][: count + 2]
            pharmacist = state.find(Staff, username=pharmacist_key[0])[0] if pharmacist_key else None
        key = generate_keypair(DOCTOR_PIN)
        registered = now - dt.timedelta(days=1)
        writes: list = [signing_key_row(doctor.id, key, registered)]
        if pharmacist_key and pharmacist is not None:
            writes.append(signing_key_row(pharmacist.id, pharmacist_key[1], registered))
        doctor_key_id = writes[0].id
        out = []
        for n in range(count):
            offset = (n + first_number - 1) * lines
            chosen = drugs[offset : offset + lines]
            rx_lines: list[RxLine] = [
                new_line(d, frequencies=frequencies, routes=routes, days=days[n % len(days)], note="饭后服用")
                for d in chosen
            ]
            patient = patients[(n + first_number - 1) % len(patients)]
            rx_id = new_id()
            number = f"RX{today:%y%m%d}{n + first_number:04d}"
            written = now - dt.timedelta(minutes=30 - n)
            draft = PrescriptionDraft(
                id=rx_id,
                number=number,
                rx_type="ordinary",
                patient=PatientFacts.from_patient(patient),
                prescriber=PrescriberFacts.from_staff(doctor),
                diagnoses=(DiagnosisFacts(code="J06.900", name="急性上呼吸道感染"),),
                written_at=written,
                lines=tuple(rx_lines),
            )
            signed_at = written + dt.timedelta(minutes=1)
            signature = sign(canonical_bytes(rx_signature_content(draft, signed_at)), key, DOCTOR_PIN)
            rx = Prescription(
                id=rx_id,
                campus_id=pharmacy.campus_id,
                number=number,
                patient_id=patient.id,
                doctor_id=doctor.id,
                department_id=doctor.department_id,
                pharmacy_id=pharmacy.id,
                rx_type="ordinary",
                day=today,
                written_at=written,
                diagnoses=[d.model_dump(mode="json") for d in draft.diagnoses],
                lines=[line.model_dump(mode="json") for line in rx_lines],
                total_amount=str(total_amount(rx_lines)),
                status="signed",
                signature=signature,
                signing_key_id=doctor_key_id,
                signed_at=signed_at,
                signature_algorithm="ed25519",
                sign_count=1,
                patient_facts=draft.patient.model_dump(mode="json"),
                prescriber=draft.prescriber.model_dump(mode="json"),
            )
            writes.append(rx)
            out.append(SeededRx(rx, draft))
        with db.write() as conn:
            write_entities(conn, writes)
        return out
    finally:
        db.dispose()


def registered_key(qtbot: Any, state: Any) -> None:
    """The pharmacist's key on this PC, made and registered as the review screen does (the key in the
    OS key store, ``signing_key.register`` pushed), waiting until the server confirmed it."""
    from shared.security.device_signing import create_key, find_key

    store, staff_id = state.runtime.store, state.staff.id
    if find_key(store, state.keys, staff_id).state == "ready":
        return
    create_key(store, state.keys, staff_id, PHARMACIST_PIN)
    state.runtime.network.wake()
    qtbot.waitUntil(lambda: find_key(store, state.keys, staff_id).state == "ready", timeout=30_000)


MAIN_PHARMACY = reference_id("pharmacy", "MAIN-WY")
ZERO = Decimal("0")
