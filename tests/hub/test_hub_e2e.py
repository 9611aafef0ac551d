"""The clinic hub end to end (issue 15, "Tests"): real PCs — sync engines over real SQLite stores, each
with ``server_url = [hub, central]`` — work together through a real ``clinic hub`` process while its link
to a real central API process is cut, and converge on the central API's state when it returns.

Every PC is a ``SyncEngine`` driven by ``sync_once`` in polling loops (generous timeouts, no fixed sleeps
for ordering); the link is a TCP relay the test cuts and restores (``CutLink``)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.domain import pickup
from shared.domain.entities import (
    ENTITY_BY_KIND,
    Dispense,
    Entity,
    Patient,
    Pharmacy,
    PickupCodeState,
    Prescription,
    QueueTicket,
    StockBatch,
)
from shared.domain.pharmacy import pickup_state_id, review_signed_content
from shared.domain.signatures import rx_signature
from shared.ids import new_id
from shared.security.signing import EncryptedKey, canonical_bytes, generate_keypair, sign
from shared.store import LocalStore
from tests.clinical.support import create_args, doctor_key, first_drugs, register_args, sign_args
from tests.hub.conftest import Clinic, hub_before
from tests.support.api import ApiUser
from tests.support.hub import HubProcess, enrol_hub, until
from tests.support.server import ServerProcess
from tests.sync.lan_support import check_in, draft, key_id
from tests.sync.support import ClientPC, make_client

pytest.importorskip("server_stub.api.routes.hub", reason="needs the central API's hub routes")

PHARMACY_PIN = "246810"
PICKUP = "482913"


@dataclass
class Pcs:
    clinic: Clinic
    folder: Path
    pcs: dict[str, ClientPC] = field(default_factory=dict)

    def add(self, name: str, username: str, *, urls: list[str] | None = None, **kw: Any) -> ClientPC:
        servers = urls or [self.clinic.hub.url, self.clinic.central.url]
        kw.setdefault("reshare_seconds", 0.5)
        kw.setdefault("probe_interval", 0.5)
        pc = make_client(self.folder / f"{name}.db", servers, username, **kw)  # type: ignore[arg-type]
        self.pcs[name] = pc
        return pc

    def __getitem__(self, name: str) -> ClientPC:
        return self.pcs[name]

    def sync_all(self) -> None:
        for pc in self.pcs.values():
            pc.sync()

    def converged(self) -> bool:
        """Every PC's outbox resolved (no pending, nothing only shared) and its LAN list empty."""
        self.sync_all()
        return all(
            pc.store.pending_count() == 0 and pc.store.shared_count() == 0 and pc.store.lan_count() == 0
            for pc in self.pcs.values()
        )

    def close(self) -> None:
        for pc in self.pcs.values():
            pc.close()


@pytest.fixture
def enrolled(server: ServerProcess, tmp_path: Path) -> Iterator[Clinic]:
    """An enrolled hub before a central API of its own: the scenarios check in the same demo patients
    and register the same signing keys, which a central shared between them would refuse."""
    with hub_before(server, tmp_path, enrol_hub(server)) as made:
        yield made


@pytest.fixture
def pcs(enrolled: Clinic, tmp_path: Path) -> Iterator[Pcs]:
    group = Pcs(enrolled, tmp_path)
    try:
        yield group
    finally:
        group.close()


# -- helpers ------------------------------------------------------------------------------------------
@functools.cache
def pharmacist_key() -> EncryptedKey:
    return generate_keypair(PHARMACY_PIN)


def staff_id(pc: ClientPC) -> str:
    session = pc.store.session()
    assert session is not None
    return session.staff.id


def register_doctor_key(pc: ClientPC) -> None:
    pc.store.record("signing_key.register", register_args(staff_id(pc), doctor_key()))


def register_pharmacist_key(pc: ClientPC) -> None:
    pc.store.record("signing_key.register", register_args(staff_id(pc), pharmacist_key(), PHARMACY_PIN))


def pharmacy_id(store: LocalStore) -> str:
    session = store.session()
    assert session is not None
    return next(
        p.id for p in store.all(Pharmacy) if p.campus_id == session.campus_id and p.code.endswith("-WY")
    )


def prescribe(doctor: ClientPC, patient: Patient) -> str:
    rx = draft(doctor.store, patient, first_drugs(1)[0])
    doctor.store.record("rx.create", create_args(rx, pharmacy_id=pharmacy_id(doctor.store)))
    doctor.store.record("rx.sign", sign_args(rx, key_id(doctor.store), doctor_key()))
    return rx.id


def review(pharmacist: ClientPC, rx_id: str, code: str = PICKUP) -> None:
    rx = pharmacist.store.get(Prescription, rx_id)
    assert rx is not None
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    reviewer = staff_id(pharmacist)
    content = review_signed_content(
        rx, decision="approve", reason_code="", reason="", reviewer_id=reviewer, reviewed_at=at
    )
    pharmacist.store.record(
        "rx.review",
        {
            "rx_id": rx_id,
            "decision": "approve",
            "reason_code": "",
            "reason": "",
            "reviewed_at": at.isoformat(),
            "signing_key_id": key_id(pharmacist.store),
            "signature": sign(canonical_bytes(content), pharmacist_key(), PHARMACY_PIN),
            "pickup_code": code,
        },
    )


def dispense(pharmacist: ClientPC, rx_id: str, code: str = PICKUP) -> str:
    dispense_id = new_id()
    pharmacist.store.record(
        "rx.dispense",
        {
            "id": dispense_id,
            "rx_id": rx_id,
            "pharmacy_id": pharmacy_id(pharmacist.store),
            "dispensed_at": dt.datetime.now(dt.UTC).isoformat(),
            "pickup_code": code,
        },
    )
    return dispense_id


def seen(pc: ClientPC, kind: type[Entity], entity_id: str, check: Callable[[Any], bool] = bool) -> Any:
    """Pull (through whatever server the PC is on) until ``check`` holds for the PC's view of the row."""

    def look() -> Any:
        pc.sync()
        row = pc.store.get(kind, entity_id)
        return row if row is not None and check(row) else None

    return until(look, what=f"{kind.KIND} {entity_id} at a PC")


def patients(store: LocalStore, count: int) -> list[Patient]:
    return [p for p in store.all(Patient) if not p.allergies][:count]


def central_db(clinic: Clinic) -> sqlite3.Connection:
    path = clinic.central.db_url.split("///", 1)[1]
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def central_count(clinic: Clinic, table: str, column: str, values: Iterable[str]) -> int:
    wanted = list(values)
    with central_db(clinic) as conn:
        marks = ",".join("?" * len(wanted))
        (count,) = conn.execute(
            f"SELECT count(*) FROM {table} WHERE {column} IN ({marks})", wanted
        ).fetchone()
    return int(count)


def same_as_central(pc: ClientPC, clinic: Clinic, rows: Mapping[str, Iterable[str]]) -> None:
    """The PC's view of these rows is the central API's (as the same user receives them directly)."""
    session = pc.store.session()
    assert session is not None
    user = ApiUser(clinic.central.url, session.staff.username)
    try:
        central = {(c["kind"], c["id"]): c["data"] for c in user.snapshot()}
    finally:
        user.close()
    for kind, ids in rows.items():
        entity = ENTITY_BY_KIND[kind]
        for entity_id in ids:
            local = pc.store.get(entity, entity_id)
            assert local is not None, f"{kind} {entity_id} missing at {session.staff.username}"
            there = entity.model_validate(central[(kind, entity_id)])
            assert local.model_dump(mode="json") == there.model_dump(mode="json"), (kind, entity_id)


def room_of(store: LocalStore, ticket: QueueTicket) -> str:
    from shared.domain.entities import Queue

    queue = store.get(Queue, ticket.queue_id)
    assert queue is not None
    return ticket.room_id or str(queue.room_ids[0])


# -- 1. the link cut: the clinic works on the LAN, then converges ------------------------------------
def test_a_clinic_works_through_the_hub_with_the_link_cut_and_converges_when_it_returns(pcs: Pcs) -> None:
    clinic = pcs.clinic
    nurse = pcs.add("nurse", "nurse1")
    doctor = pcs.add("doctor", "doctor1")
    ph1 = pcs.add("ph1", "pharmacist1")
    ph2 = pcs.add("ph2", "pharmacist3")
    colleague = pcs.add("colleague", "doctor2")
    register_doctor_key(doctor)
    register_pharmacist_key(ph1)
    until(pcs.converged, what="keys registered online")

    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    first, second = patients(nurse.store, 2)
    t1, _ = check_in(nurse.store, first)
    t2, _ = check_in(nurse.store, second)
    status = nurse.sync()
    assert (status.pending, status.shared) == (2, 2) and status.hub_upstream is False

    ticket = seen(doctor, QueueTicket, t1)
    seen(doctor, QueueTicket, t2)
    doctor.store.record("queue.call", {"ticket_id": t1, "room_id": room_of(doctor.store, ticket)})
    rx_id = prescribe(doctor, first)
    doctor.sync()

    rx = seen(ph1, Prescription, rx_id, lambda r: r.status == "signed")
    with ph1.store.reading() as view:
        assert rx_signature(view, rx).ok, "the doctor's signature verifies at the pharmacy"
    review(ph1, rx_id)
    dispense_id = dispense(ph1, rx_id)
    ph1.sync()

    given = seen(ph2, Dispense, dispense_id)
    assert given.rx_id == rx_id
    drug_batches = {a.batch_no for line in given.lines for a in line.allocations}
    stock = {b.id: b.quantity for b in ph1.store.all(StockBatch) if b.batch_no in drug_batches}
    assert stock and stock == {
        b.id: b.quantity for b in ph2.store.all(StockBatch) if b.batch_no in drug_batches
    }
    assert seen(doctor, QueueTicket, t1).status == "called"
    # pickup codes reach pharmacists' PCs only; the doctor's PC replays the entries all the same
    # (another doctor's PC: the author's own PC does not show others' work on its own pending rows yet)
    assert seen(colleague, Prescription, rx_id, lambda r: r.status == "dispensed").pickup_code_hash == ""
    for pc, holds in ((colleague, False), (doctor, False), (nurse, False), (ph2, True)):
        lan = pc.transport.pull(pc.store.cursor() or 0, limit=10, wait=0, lan_after=0).lan
        assert {"rx.review", "rx.dispense"} <= {e.name for e in lan}
        assert (PICKUP in json.dumps([e.args for e in lan])) is holds
    assert central_count(clinic, "queue_ticket", "id", [t1, t2]) == 0, "nothing reached the central API"

    clinic.link.restore()
    until(lambda: drained(clinic.hub), what="relay drained")
    until(pcs.converged, what="every PC converged")
    rows = {"queue_ticket": [t1, t2], "rx": [rx_id], "dispense": [dispense_id], "stock_batch": list(stock)}
    for pc in (nurse, doctor, ph1, ph2, colleague):
        same_as_central(pc, clinic, rows)
    assert central_count(clinic, "queue_ticket", "id", [t1, t2]) == 2
    assert central_count(clinic, "rx", "id", [rx_id]) == 1
    assert central_count(clinic, "dispense", "rx_id", [rx_id]) == 1
    assert central_count(clinic, "stock_movement", "source_id", [dispense_id]) == len(
        [a for line in given.lines for a in line.allocations]
    )
    assert seen(ph2, Prescription, rx_id).status == "dispensed"


def drained(hub: HubProcess) -> bool:
    """Whether the hub's relay backlog is empty."""
    info = hub.health()["hub"]
    assert isinstance(info, dict)
    return int(info["backlog"]) == 0


def restart(clinic: Clinic) -> HubProcess:
    """The same hub again on its database (after a SIGKILL or a stop), same port."""
    old = clinic.hub
    clinic.hub = HubProcess(
        clinic.link.url, old.db_path, old.log_path, credential=old.credential, port=old.port
    ).start()
    return clinic.hub


def offline_work(nurse: ClientPC, count: int) -> list[str]:
    """``count`` walk-ins registered and checked in at a desk: their ticket ids."""
    tickets = []
    for n in range(count):
        patient_id = new_id()
        nurse.store.record(
            "patient.register", {"id": patient_id, "name": f"内网{n}", "sex": "F", "birth_date": "1990-01-01"}
        )
        patient = nurse.store.get(Patient, patient_id)
        assert patient is not None
        tickets.append(check_in(nurse.store, patient)[0])
    return tickets


# -- 2. the hub SIGKILLed while it relays a backlog ---------------------------------------------------
def test_a_hub_killed_mid_relay_loses_and_doubles_nothing(pcs: Pcs) -> None:
    clinic = pcs.clinic
    nurse = pcs.add("nurse", "nurse1")
    doctor = pcs.add("doctor", "doctor1")
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    tickets = offline_work(nurse, 30)
    assert nurse.sync().shared == 60
    until(lambda: all(seen(doctor, QueueTicket, t) for t in tickets[-1:]), what="the doctor sees the desk")
    clinic.link.restore()
    until(lambda: clinic.hub.health()["hub"]["upstream"] is True, what="link back")  # type: ignore[index]
    clinic.hub.kill()  # while it relays (or is about to relay) the backlog
    later = offline_work(nurse, 2)
    until(lambda: nurse.sync().pending == 0, what="the desk pushed everything to the central API itself")
    assert nurse.transport.base_url == clinic.central.url
    until(lambda: all(seen(doctor, QueueTicket, t) for t in later), what="the doctor on central sees it")
    restart(clinic)
    until(lambda: drained(clinic.hub), what="the rest relayed (as replays)")
    until(pcs.converged, what="converged")
    assert doctor.transport.base_url == clinic.hub.url, "back on the hub"
    assert central_count(clinic, "queue_ticket", "id", tickets + later) == 32
    with central_db(clinic) as conn:
        marks = ",".join("?" * 32)
        doubled = conn.execute(
            f"SELECT queue_id, day, number, count(*) FROM queue_ticket WHERE id IN ({marks})"
            " GROUP BY queue_id, day, number HAVING count(*) > 1",
            tickets + later,
        ).fetchall()
    assert doubled == []
    for pc in (nurse, doctor):
        same_as_central(pc, clinic, {"queue_ticket": tickets + later})


# -- 3. a PC switching hub -> central -> hub mid-outbox -----------------------------------------------
def test_a_pc_switching_from_the_hub_to_central_and_back_mid_outbox(pcs: Pcs) -> None:
    clinic = pcs.clinic
    nurse = pcs.add("nurse", "nurse1")
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    shared = offline_work(nurse, 3)
    assert nurse.sync().shared == 6
    clinic.hub.stop()
    direct = offline_work(nurse, 1)
    status = nurse.sync()
    assert nurse.transport.base_url == clinic.central.url and (status.pending, status.shared) == (0, 0)
    clinic.link.restore()
    restart(clinic)  # with its backlog of 6, all already applied by the PC's own push
    until(lambda: drained(clinic.hub), what="backlog relayed as replays")
    back = offline_work(nurse, 1)
    until(lambda: nurse.sync() and nurse.transport.base_url == clinic.hub.url, what="back on the hub")
    until(pcs.converged, what="converged")
    everything = shared + direct + back
    assert central_count(clinic, "queue_ticket", "id", everything) == 5
    outcomes = [nurse.store.entry(e.mutation_id) for e in nurse.store.outbox("applied")]
    assert len(outcomes) == 10 and all(o is not None and o.status == "applied" for o in outcomes)
    assert nurse.store.needs_attention() == []
    same_as_central(nurse, clinic, {"queue_ticket": everything})


# -- 4. accepted on the LAN, rejected by the central API ----------------------------------------------
def test_a_mutation_the_central_api_rejects_reaches_the_pc_that_made_it(pcs: Pcs) -> None:
    clinic = pcs.clinic
    doctor = pcs.add("doctor", "doctor1")
    ph1 = pcs.add("ph1", "pharmacist1")
    ph2 = pcs.add("ph2", "pharmacist3")
    register_doctor_key(doctor)
    register_pharmacist_key(ph1)
    (patient,) = patients(doctor.store, 1)
    rx_id = prescribe(doctor, patient)
    until(pcs.converged, what="signed online")
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    review(ph1, rx_id)
    ph1.sync()
    seen(ph2, Prescription, rx_id, lambda r: r.status == "approved")
    # meanwhile at the central API (a PC that talks to it directly): the doctor cancels it
    elsewhere = pcs.add("elsewhere", "doctor1", urls=[clinic.central.url])
    elsewhere.store.record("rx.cancel", {"rx_id": rx_id, "reason": "患者改主意"})
    assert elsewhere.sync().pending == 0
    clinic.link.restore()
    until(lambda: drained(clinic.hub), what="relayed")
    until(pcs.converged, what="converged")
    attention = ph1.store.needs_attention()
    assert [e.name for e in attention] == ["rx.review"] and attention[0].message
    assert ph2.store.needs_attention() == [] and doctor.store.needs_attention() == []
    for pc in (doctor, ph1, ph2):
        rx = pc.store.get(Prescription, rx_id)
        assert rx is not None and rx.status == "cancelled"
        same_as_central(pc, clinic, {"rx": [rx_id]})


# -- 6. logins through the hub, online and offline -----------------------------------------------------
def test_staff_keep_working_offline_and_a_hub_login_is_applied_as_them(pcs: Pcs) -> None:
    clinic = pcs.clinic
    nurse = pcs.add("nurse", "nurse1")
    ApiUser(clinic.hub.url, "nurse3").close()  # nurse3 logged in online through the hub once (a verifier)
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    kept = offline_work(nurse, 1)  # no new login: the token from the online login still works
    assert nurse.sync().shared == 2
    late = pcs.add("late", "nurse3")  # logs in at the hub offline, bootstraps from its replica
    assert late.transport.token and late.transport.token.startswith("hubt_")
    (patient,) = patients(late.store, 1)
    ticket, entry = check_in(late.store, patient)
    assert late.sync().shared == 1
    seen(nurse, QueueTicket, ticket)
    clinic.link.restore()
    until(lambda: drained(clinic.hub), what="relayed")
    until(lambda: late.sync() and late.store.pending_count() == 0, what="the late PC's outcome")
    done = late.store.entry(entry.mutation_id)
    assert done is not None and done.status == "applied"
    with central_db(clinic) as conn:
        row = conn.execute(
            "SELECT username, device_id, detail FROM audit_log WHERE target = ?", (entry.mutation_id,)
        ).fetchone()
    assert row is not None and row[0] == "nurse3" and row[1] == late.store.device_id
    assert '"hub_id"' in row[2]
    assert central_count(clinic, "queue_ticket", "id", [*kept, ticket]) == 2


# -- settled LAN entries are pruned -------------------------------------------------------------------
@pytest.fixture
def pruning(enrolled: Clinic, tmp_path: Path) -> Iterator[Pcs]:
    """The enrolled clinic with a hub that prunes settled entries a moment after settlement."""
    hub = enrolled.hub
    hub.stop()
    enrolled.hub = HubProcess(
        enrolled.link.url,
        hub.db_path,
        hub.log_path,
        credential=hub.credential,
        port=hub.port,
        extra=["--lan-keep-minutes", "0.01"],
    ).start()
    enrolled.hub.wait_upstream(True)
    group = Pcs(enrolled, tmp_path)
    try:
        yield group
    finally:
        group.close()


def test_settled_entries_are_pruned_and_a_pc_that_missed_them_reads_the_list_again(pruning: Pcs) -> None:
    clinic = pruning.clinic
    nurse = pruning.add("nurse", "nurse1")
    doctor = pruning.add("doctor", "doctor1")
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    tickets = offline_work(nurse, 2)
    nurse.sync()
    seen(doctor, QueueTicket, tickets[-1])
    assert doctor.store.lan_count() == 4 and doctor.store.lan_after() > 0
    clinic.link.restore()  # the doctor's PC is switched off meanwhile: it never reads the settlements
    until(lambda: drained(clinic.hub), what="relayed")
    until(lambda: nurse.sync() and nurse.store.pending_count() == 0, what="the desk has its outcomes")

    def pruned() -> bool:
        page = nurse.transport.pull(nurse.store.cursor() or 0, limit=10, wait=0, lan_after=0)
        return page.lan == [] and page.hub is not None and page.hub.lan_floor > doctor.store.lan_after()

    until(pruned, what="the settled entries pruned: lan_after=0 answers nothing")
    doctor.sync()  # its lan_after is below the floor: it forgets its LAN list and reads it from 0
    assert doctor.store.lan_count() == 0
    same_as_central(doctor, clinic, {"queue_ticket": tickets})


# -- 5. two hubs of two campuses offline at once ------------------------------------------------------
def test_two_hubs_of_two_campuses_offline_issue_numbers_that_never_collide(pcs: Pcs) -> None:
    from tests.hub.test_hub_relay import enrol
    from tests.support.hub import CutLink

    main = pcs.clinic
    link = CutLink(main.central.port)
    east = HubProcess(
        link.url, pcs.folder / "east.db", pcs.folder / "east.log", credential=enrol(main.central, "EAST")
    ).start()
    try:
        east.wait_upstream(True)
        desks = {
            "main": pcs.add("main-desk", "nurse1"),
            "east": pcs.add("east-desk", "nurse2", urls=[east.url, main.central.url]),
        }
        campuses = {name: pc.store.session().campus_id for name, pc in desks.items()}  # type: ignore[union-attr]
        assert campuses["main"] != campuses["east"]
        doctors = {
            "main": pcs.add("main-doctor", "doctor1"),
            "east": pcs.add("east-doctor", _doctor_of(desks["east"].store, str(campuses["east"])),
                            urls=[east.url, main.central.url]),
        }  # fmt: skip
        from tests.clinical.support import other_key

        keys = {"main": doctor_key(), "east": other_key()}
        for name, pc in doctors.items():
            pc.store.record("signing_key.register", register_args(staff_id(pc), keys[name]))
        until(pcs.converged, what="keys registered online")
        main.link.cut()
        link.cut()
        main.hub.wait_upstream(False)
        east.wait_upstream(False)
        tickets: list[str] = []
        rxs: list[str] = []
        registered: list[str] = []
        for name, desk in desks.items():
            tickets += offline_work(desk, 4)
            registered += [e.args["id"] for e in desk.store.outbox() if e.name == "patient.register"][-4:]
            desk.sync()
            doctor = doctors[name]
            for patient_id in registered[-2:]:
                patient = seen(doctor, Patient, patient_id)
                rx = draft(doctor.store, patient, first_drugs(1)[0])
                doctor.store.record("rx.create", create_args(rx, pharmacy_id=pharmacy_id(doctor.store)))
                doctor.store.record("rx.sign", sign_args(rx, key_id(doctor.store), keys[name]))
                rxs.append(rx.id)
            doctor.sync()
        main.link.restore()
        link.restore()
        for hub in (main.hub, east):
            until(functools.partial(drained, hub), what="both hubs relayed")
        until(pcs.converged, what="converged")
        with central_db(main) as conn:
            numbers = conn.execute(
                f"SELECT queue_id, day, number FROM queue_ticket WHERE id IN ({','.join('?' * len(tickets))})",
                tickets,
            ).fetchall()
            rx_numbers = [r[0] for r in conn.execute(
                f"SELECT number FROM rx WHERE id IN ({','.join('?' * len(rxs))})", rxs
            )]  # fmt: skip
            mrns = [r[0] for r in conn.execute(
                f"SELECT mrn FROM patient WHERE id IN ({','.join('?' * len(registered))})", registered
            )]  # fmt: skip
        assert len(numbers) == 8 and len(set(numbers)) == 8
        assert len(rx_numbers) == 4 and len(set(rx_numbers)) == 4
        assert len(mrns) == 8 and all(mrns) and len(set(mrns)) == 8
    finally:
        east.stop()
        link.close()


def _doctor_of(store: LocalStore, campus_id: str) -> str:
    from shared.domain.entities import Staff

    return next(
        s.username
        for s in sorted(store.all(Staff), key=lambda s: s.username)
        if "doctor" in s.roles and s.campus_id == campus_id and s.username.startswith("doctor")
    )


def test_the_authors_pc_sees_others_work_on_its_own_pending_rows(pcs: Pcs) -> None:
    clinic = pcs.clinic
    doctor = pcs.add("doctor", "doctor1")
    ph1 = pcs.add("ph1", "pharmacist1")
    register_doctor_key(doctor)
    register_pharmacist_key(ph1)
    until(pcs.converged, what="keys registered online")
    pcs.sync_all()  # the doctor's PC pulled before the pharmacist's key was applied: pull it too
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    (patient,) = patients(doctor.store, 1)
    rx_id = prescribe(doctor, patient)
    doctor.sync()
    seen(ph1, Prescription, rx_id, lambda r: r.status == "signed")
    review(ph1, rx_id)
    ph1.sync()

    def approved_at_the_author() -> bool:
        doctor.sync()
        rx = doctor.store.get(Prescription, rx_id)
        return rx is not None and rx.status == "approved"

    assert until(approved_at_the_author, timeout=10.0, what="the author sees the approval")


# -- 7. a pickup code issued by a pending review, checked at another pharmacy PC ----------------------
def test_a_pending_reviews_code_checks_at_the_other_pharmacy_pc_through_the_hub_and_after_its_restart(
    pcs: Pcs,
) -> None:
    clinic = pcs.clinic
    doctor = pcs.add("doctor", "doctor1")
    ph1 = pcs.add("ph1", "pharmacist1")
    ph2 = pcs.add("ph2", "pharmacist3")
    register_doctor_key(doctor)
    register_pharmacist_key(ph1)
    until(pcs.converged, what="keys registered online")
    pcs.sync_all()
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    rx_ids = [prescribe(doctor, patient) for patient in patients(doctor.store, 2)]
    doctor.sync()
    for rx_id in rx_ids:
        seen(ph1, Prescription, rx_id, lambda r: r.status == "signed")
        review(ph1, rx_id)
    ph1.sync()
    first, second = rx_ids
    for rx_id in rx_ids:  # ph2 replayed ph1's pending review with its own store's fast digest
        seen(ph2, Prescription, rx_id, lambda r: r.status == "approved")
        code = ph2.store.get(PickupCodeState, pickup_state_id(rx_id))
        assert code is not None and code.digest.startswith(f"{pickup.LOCAL_PREFIX}{ph2.store.pickup_key_id}:")

    def verify(pc: ClientPC, rx_id: str, code: str) -> dict[str, Any]:
        return pc.store.record("rx.pickup_verify", {"rx_id": rx_id, "code": code}).local_result or {}

    assert verify(ph2, first, "111112")["reason"] == "wrong"
    d1 = dispense(ph2, first)
    given = ph2.store.get(Dispense, d1)
    assert given is not None and given.pickup_verified is True

    # ph2 restarted (its store reopened): the same key, so the pending digests still check
    path = ph2.store.path
    ph2.close()
    servers: Any = [clinic.hub.url, clinic.central.url]  # make_client takes the list as ApiTransport does
    ph2 = pcs.pcs["ph2"] = make_client(path, servers, None, reshare_seconds=0.5, probe_interval=0.5)
    assert verify(ph2, second, "111112")["reason"] == "wrong"
    d2 = dispense(ph2, second)
    given = ph2.store.get(Dispense, d2)
    assert given is not None and given.pickup_verified is True
    assert central_count(clinic, "rx", "id", rx_ids) == 0, "nothing reached the central API"

    clinic.link.restore()
    until(lambda: drained(clinic.hub), what="relay drained")
    until(pcs.converged, what="every PC converged")
    # confirmed: the central API hashed the codes itself (scrypt) and believed the dispenses
    states = [pickup_state_id(rx_id) for rx_id in rx_ids]
    with central_db(clinic) as conn:
        marks = ",".join("?" * len(states))
        digests = [
            d for (d,) in conn.execute(f"SELECT digest FROM pickup_code WHERE id IN ({marks})", states)
        ]
    assert len(digests) == 2 and all(d.startswith(pickup.DIGEST_PREFIX) for d in digests)
    same_as_central(ph2, clinic, {"pickup_code": states, "dispense": [d1, d2]})
    for dispense_id in (d1, d2):
        confirmed = ph2.store.get(Dispense, dispense_id)
        assert confirmed is not None and confirmed.pickup_verified is True
