"""The demo's clinical data: templates, treatment plans, a few doctors' public keys and a signed history."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select

from server_stub.db.engine import Database
from server_stub.db.tables import ENTITY_TABLES
from server_stub.seed.clinical import KEY_HOLDERS, SEED_DEVICE
from shared.domain import signatures
from shared.domain.clinical import draft_of, note_signed_content, parse_rx_number
from shared.domain.entities import (
    Department,
    Drug,
    EmrNote,
    Entity,
    NoteTemplate,
    OrderSet,
    Prescription,
    SigningKey,
    Staff,
)
from shared.domain.rx_checks import Acknowledgement, blocking, check_prescription, needs_acknowledgement
from shared.security.signing import canonical_bytes, verify

E = TypeVar("E", bound=Entity)


def _all(url: str, kind: type[E]) -> list[E]:
    db = Database.open(url, pool_size=1)
    try:
        with db.read() as conn:
            rows = conn.execute(select(ENTITY_TABLES[kind.KIND])).mappings().all()
    finally:
        db.dispose()
    return [kind.model_validate(dict(r)) for r in rows]


def test_only_the_key_holders_have_keys_and_only_their_public_parts_are_stored(demo_db_url: str) -> None:
    staff = {s.id: s for s in _all(demo_db_url, Staff)}
    keys = _all(demo_db_url, SigningKey)
    assert sorted(staff[k.staff_id].username for k in keys) == sorted(KEY_HOLDERS)
    db = Database.open(demo_db_url, pool_size=1)
    try:
        with db.read() as conn:
            columns = set(conn.execute(select(ENTITY_TABLES["signing_key"])).keys())
    finally:
        db.dispose()
    assert "sealed_key" not in columns  # no private key, sealed or not, is kept by the server
    for key in keys:
        assert key.revoked_at is None and key.device_id == SEED_DEVICE and key.algorithm == "ed25519"


def test_the_history_is_signed_for_real_and_would_pass_the_checks(demo_db_url: str) -> None:
    keys = {k.id: k for k in _all(demo_db_url, SigningKey)}
    prescriptions = _all(demo_db_url, Prescription)
    notes = _all(demo_db_url, EmrNote)
    assert len(notes) >= 8 and len(prescriptions) == len(notes)  # the demo cases all pass the checks
    for rx in prescriptions:
        assert rx.status == "dispensed" and parse_rx_number(rx.number) is not None
        assert signatures.rx_signature(_Rows(keys), rx).ok  # the pharmacy's check, time included
        findings = check_prescription(draft_of(rx))
        acks = [Acknowledgement.model_validate(a) for a in rx.acknowledgements]
        assert not blocking(findings) and not needs_acknowledgement(findings, acks)
    assert len({rx.number for rx in prescriptions}) == len(prescriptions)
    for note in notes:
        assert note.status == "signed" and note.diagnoses[0].primary
        content = canonical_bytes(note_signed_content(note, note.signed_at))  # type: ignore[arg-type]
        assert verify(content, note.signature, keys[note.signing_key_id].public_key)  # type: ignore[index]


class _Rows:
    def __init__(self, keys: dict[str, SigningKey]) -> None:
        self.keys = keys

    def get(self, kind: type, entity_id: str) -> SigningKey | None:
        return self.keys.get(entity_id)


def test_every_clinical_department_has_templates_and_demo_doctors_have_plans(demo_db_url: str) -> None:
    templates = _all(demo_db_url, NoteTemplate)
    clinical = [d for d in _all(demo_db_url, Department) if d.kind == "clinical"]
    for dept in clinical:
        names = {t.name for t in templates if t.scope == "department" and t.department_id == dept.id}
        assert {"初诊通用", "复诊通用"} <= names, dept.name
    doctor1 = next(s for s in _all(demo_db_url, Staff) if s.username == "doctor1")
    assert {t.name for t in templates if t.owner_id == doctor1.id} == {"复诊取药", "上呼吸道感染"}
    drugs = {d.id for d in _all(demo_db_url, Drug)}
    plans = [p for p in _all(demo_db_url, OrderSet) if p.owner_id == doctor1.id]
    assert len(plans) == 4 and all(line.drug_id in drugs for p in plans for line in p.lines)
