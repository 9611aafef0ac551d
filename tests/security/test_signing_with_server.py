"""Signing against a real server on loopback: no login receives any private key material, and a
signature's claimed time must fit its key (registration, revocation), its PC (the key's own PC, and not
before that PC's last contact) and the server's clock; the time is covered by the signature."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest

from server_stub.db.engine import Database
from server_stub.services.contacts import last_pull
from server_stub.services.entities import write_entities
from shared.domain.entities import SigningKey
from shared.ids import new_id
from shared.security.signing import fingerprint, generate_keypair
from tests.clinical.support import PIN, create_args, draft, first_drugs, line, now, sign_args
from tests.clinical.test_clinical_api import _patient_and_visit, _staff
from tests.support.api import ApiUser
from tests.support.server import ServerProcess

PUBLIC_FIELDS = {
    "id",
    "version",
    "voided",
    "void_reason",
    "updated_at",
    "staff_id",
    "algorithm",
    "public_key",
    "fingerprint",
    "registered_at",
    "revoked_at",
    "revoked_reason",
    "device_id",
}


def _user(server: ServerProcess, username: str) -> ApiUser:
    user = ApiUser(server.url, username)
    user.http.headers["Accept-Language"] = "en"
    return user


def test_no_login_receives_any_private_key_material(server: ServerProcess) -> None:
    nurse = _user(server, "nurse1")
    try:
        changes, _ = nurse.pull_all()
        snapshot = nurse.snapshot()
    finally:
        nurse.close()
    keys = [c["data"] for c in [*changes, *snapshot] if c["kind"] == "signing_key"]
    assert keys, "the demo registers a few doctors' public keys"
    for key in keys:
        assert set(key) <= PUBLIC_FIELDS, sorted(set(key) - PUBLIC_FIELDS)


@pytest.fixture
def doctor(server: ServerProcess) -> Iterator[ApiUser]:
    user = _user(server, "doctor1")
    yield user
    user.close()


def _key_for(db_url: str, doctor: ApiUser, registered_at: dt.datetime) -> str:
    """A key of the doctor registered for the doctor's PC at ``registered_at`` (as
    ``signing_key.register`` leaves it; written directly so it can be older than the test)."""
    sealed = generate_keypair(PIN)
    row = SigningKey(
        id=new_id(),
        staff_id=doctor.staff["id"],
        public_key=sealed.public_key,
        fingerprint=fingerprint(sealed.public_key),
        registered_at=registered_at,
        device_id=doctor.device_id,
        updated_at=registered_at,
    )
    db = Database.open(db_url, pool_size=1)
    try:
        with db.write() as conn:
            write_entities(conn, [row])
    finally:
        db.dispose()
    _key_for.sealed = sealed  # type: ignore[attr-defined]
    return row.id


class Signer:
    """Creates a prescription and signs it with a chosen claimed time, through the real push."""

    def __init__(self, doctor: ApiUser, key_id: str) -> None:
        self.doctor = doctor
        self.key_id = key_id
        self.patient, self.visit_id = _patient_and_visit(doctor)
        self.numbers: list[str] = []

    def sign(self, at: dt.datetime, *, user: ApiUser | None = None, **change: Any) -> tuple[str, str | None]:
        user = user or self.doctor
        rx = draft(
            self.patient,
            _staff(self.doctor),
            [line(first_drugs(1)[0])],
            device_id=user.device_id,
            existing=self.numbers,
            visit_id=self.visit_id,
        )
        self.numbers.append(rx.number)
        created = user.push_one("rx.create", create_args(rx))
        assert created["status"] in ("applied", "applied_with_warning"), created
        args = sign_args(rx, self.key_id, _key_for.sealed, at=at) | change  # type: ignore[attr-defined]
        outcome = user.push_one("rx.sign", args)
        return outcome["status"], outcome.get("code")


def test_a_signatures_time_must_fit_its_key_its_pc_and_the_servers_clock(
    server: ServerProcess, doctor: ApiUser
) -> None:
    start = now()
    key_id = _key_for(server.db_url, doctor, start - dt.timedelta(hours=3))
    signer = Signer(doctor, key_id)
    assert signer.sign(now()) == ("applied", None)
    # before the key existed, or in the future: refused
    assert signer.sign(start - dt.timedelta(hours=4)) == ("rejected", "signed_before_key")
    assert signer.sign(now() + dt.timedelta(hours=1)) == ("rejected", "signed_in_future")
    # the signing time is signed: moving it afterwards breaks the signature
    moved = (start - dt.timedelta(minutes=1)).isoformat()
    assert signer.sign(now(), signed_at=moved) == ("rejected", "bad_signature")
    # an hour back, offline: accepted while the server has not heard from this PC since …
    assert signer.sign(start - dt.timedelta(hours=1)) == ("applied", None)
    # … but once this PC pulled (it pushes its whole outbox first), nothing older than that can arrive
    doctor.pull()
    assert signer.sign(start - dt.timedelta(hours=1)) == ("rejected", "signed_before_last_contact")
    assert signer.sign(now() - dt.timedelta(minutes=2)) == ("applied", None)  # within the clock skew
    # the key signs only on its own PC (the doctor's other PC has to register a key of its own)
    other_pc = _user(server, "doctor1")
    try:
        assert signer.sign(now(), user=other_pc) == ("rejected", "signing_key_other_device")
    finally:
        other_pc.close()


def test_a_revoked_key_cannot_sign_later_nor_back_date_past_its_pcs_last_contact(
    server: ServerProcess, doctor: ApiUser
) -> None:
    key_id = _key_for(server.db_url, doctor, now() - dt.timedelta(hours=3))
    signer = Signer(doctor, key_id)
    admin = _user(server, "admin")
    try:
        revoked = admin.push_one("signing_key.revoke", {"key_id": key_id, "reason": "离职"})
        assert revoked["status"] == "applied", revoked
    finally:
        admin.close()
    revoked_at = dt.datetime.fromisoformat(revoked["result"]["revoked_at"])
    assert signer.sign(revoked_at + dt.timedelta(seconds=1)) == ("rejected", "signing_key_revoked")
    doctor.pull()  # the departed doctor's PC was in contact after the revocation
    back_dated = revoked_at - dt.timedelta(minutes=30)
    assert signer.sign(back_dated) == ("rejected", "signed_before_last_contact")


def test_the_apps_register_keys_per_pc_and_a_new_key_on_a_pc_replaces_its_old_one(
    server: ServerProcess, doctor: ApiUser
) -> None:
    from tests.clinical.support import register_args

    first = doctor.push_one("signing_key.register", register_args(doctor.staff["id"], generate_keypair(PIN)))
    other_pc = _user(server, "doctor1")
    try:
        second = other_pc.push_one(
            "signing_key.register", register_args(doctor.staff["id"], generate_keypair(PIN))
        )
    finally:
        other_pc.close()
    again = doctor.push_one("signing_key.register", register_args(doctor.staff["id"], generate_keypair(PIN)))
    assert [o["status"] for o in (first, second, again)] == ["applied"] * 3
    assert again["result"]["replaced"] == [first["result"]["key_id"]]
    changes, _ = doctor.pull_all()
    rows = {c["id"]: c["data"] for c in changes if c["kind"] == "signing_key"}
    assert (
        rows[first["result"]["key_id"]]["revoked_at"] and not rows[second["result"]["key_id"]]["revoked_at"]
    )
    assert rows[first["result"]["key_id"]]["device_id"] == doctor.device_id
    assert rows[second["result"]["key_id"]]["device_id"] != doctor.device_id


def test_a_signature_held_behind_another_users_entries_on_a_shared_pc_is_not_refused(
    server: ServerProcess, doctor: ApiUser
) -> None:
    """A PC pushes one login's entries at a time: a doctor's offline signature queued behind a nurse's
    offline entries could not be pushed at the doctor's next contact, so that contact does not bound it."""
    from tests.support.api import patient_args

    key_id = _key_for(server.db_url, doctor, now() - dt.timedelta(hours=3))
    signer = Signer(doctor, key_id)
    nurse = ApiUser(server.url, "nurse1", device_id=doctor.device_id)  # the same PC, the same queue
    nurse.client_id, nurse._seq = doctor.client_id, doctor._seq  # type: ignore[attr-defined]
    try:
        # offline, in this order: the nurse registers a patient, then the doctor writes and signs
        queued_nurse = nurse.envelope("patient.register", patient_args())
        rx = draft(
            signer.patient,
            _staff(doctor),
            [line(first_drugs(1)[0])],
            device_id=doctor.device_id,
            existing=signer.numbers,
            visit_id=signer.visit_id,
        )
        signed_at = now() - dt.timedelta(minutes=30)
        queued_doctor = [
            doctor.envelope("rx.create", create_args(rx)),
            doctor.envelope("rx.sign", sign_args(rx, key_id, _key_for.sealed, at=signed_at)),  # type: ignore[attr-defined]
        ]
        # back online while the doctor is logged in: the doctor's entries wait behind the nurse's, the
        # doctor's PC pulls; later the nurse logs in and pushes, then the doctor's entries go
        doctor.pull()
        assert nurse.push(queued_nurse).status_code == 200
        outcomes = doctor.push(*queued_doctor).json()["outcomes"]
    finally:
        nurse.close()
    assert [o["status"] for o in outcomes] == ["applied", "applied"], outcomes


def test_on_postgresql_the_last_contact_bounds_a_signatures_time(pg_url: str, tmp_path: Any) -> None:
    from server_stub.seed.demo import seed_demo

    seed_demo(pg_url, patients=30)
    process = ServerProcess(pg_url, tmp_path / "server.log").start()
    try:
        doctor = _user(process, "doctor1")
        try:
            start = now()
            signer = Signer(doctor, _key_for(pg_url, doctor, start - dt.timedelta(hours=3)))
            assert signer.sign(start - dt.timedelta(hours=1)) == ("applied", None)
            doctor.pull()
            doctor.pull()  # a second pull soon after is not written again; the bound stays
            assert signer.sign(start - dt.timedelta(hours=1)) == ("rejected", "signed_before_last_contact")
            assert signer.sign(now()) == ("applied", None)
            # the contact reaches the database (for the other server processes) within seconds
            db = Database.open(pg_url, pool_size=1)
            try:
                deadline = time.monotonic() + 30
                found = None
                while found is None and time.monotonic() < deadline:
                    with db.read() as conn:
                        found = last_pull(conn, doctor.staff["id"], doctor.device_id)
                    time.sleep(0.5)
            finally:
                db.dispose()
            assert found is not None and found >= start
        finally:
            doctor.close()
    finally:
        process.stop()
