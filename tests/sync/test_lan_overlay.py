"""Clinic hub, PC side: other PCs' pending mutations from the hub's LAN list are replayed through the
shared handlers on top of the confirmed state, this PC's own pending ones on top of those.

Real stores (SQLite files bootstrapped from a real server); the hub's LAN list is built from the other
PCs' real outbox entries (``LanFeed``), as the hub serves them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.domain.entities import Patient, Prescription, QueueTicket
from shared.protocol.models import HubInfo
from shared.store.store import LanPage
from shared.sync import SyncState
from tests.clinical.support import create_args, doctor_key, first_drugs, register_args, sign_args
from tests.support.server import ServerProcess
from tests.sync.lan_support import LanFeed, check_in, draft, feed, key_id
from tests.sync.support import ClientPC, make_client


@pytest.fixture
def clinic(server: ServerProcess, tmp_path: Path) -> Iterator[dict[str, ClientPC]]:
    """A triage desk (nurse1), a doctor's PC (doctor1, its signing key confirmed) and the PC under
    test (nurse3, same campus), all bootstrapped from one server."""
    pcs = {
        "desk": make_client(tmp_path / "desk.db", server.url, "nurse1"),
        "doctor": make_client(tmp_path / "doctor.db", server.url, "doctor1"),
        "b": make_client(tmp_path / "b.db", server.url, "nurse3"),
    }
    try:
        doctor = pcs["doctor"].store
        session = doctor.session()
        assert session is not None
        doctor.record("signing_key.register", register_args(session.staff.id, doctor_key()))
        assert pcs["doctor"].sync().state is SyncState.ONLINE
        assert pcs["b"].sync().state is SyncState.ONLINE  # B has the doctor's key confirmed
        campuses = {pc.store.session().campus_id for pc in pcs.values()}  # type: ignore[union-attr]
        assert len(campuses) == 1
        yield pcs
    finally:
        for pc in pcs.values():
            pc.close()


def test_other_pcs_pending_work_shows_on_this_pc_under_its_own_pending_work(
    clinic: dict[str, ClientPC], server: ServerProcess
) -> None:
    desk, doctor, b = clinic["desk"].store, clinic["doctor"].store, clinic["b"].store
    patients = [p for p in b.all(Patient) if not p.allergies][:3]
    hub = LanFeed()
    t1, e1 = check_in(desk, patients[0])
    t2, e2 = check_in(desk, patients[1])
    rx = draft(doctor, patients[2], first_drugs(1)[0])
    created = doctor.record("rx.create", create_args(rx))
    signed = doctor.record("rx.sign", sign_args(rx, key_id(doctor), doctor_key()))
    hub.add(desk, [e1, e2])
    hub.add(doctor, [created, signed])
    assert b.get(QueueTicket, t1) is None

    kinds = feed(b, hub.page_after(b.lan_after()))
    assert {"queue_ticket", "rx"} <= kinds  # the screens refresh
    assert b.lan_after() == 4
    ticket = b.get(QueueTicket, t1)
    assert ticket is not None and ticket.status == "waiting"
    queue_id = ticket.queue_id
    assert {t.id for t in b.find(QueueTicket, queue_id=queue_id)} >= {t1, t2}
    assert {r["id"] for r in b.rows(QueueTicket, ["status"], queue_id=queue_id)} >= {t1, t2}
    local_rx = b.get(Prescription, rx.id)
    assert local_rx is not None and (local_rx.status, local_rx.number) == ("signed", rx.number)
    assert b.pending_count() == 0  # others' work is not this PC's to push

    # B calls the LAN ticket: its own pending write is on top of the LAN row
    assert b.record("queue.call", {"ticket_id": t1, "room_id": ticket.room_id or _room(b, queue_id)})
    called = b.get(QueueTicket, t1)
    assert called is not None and called.status == "called"

    # the hub learns the central API refused t2's check-in: gone at once, B's call still on top
    hub.add(desk, [e2], status="rejected")
    assert "queue_ticket" in feed(b, hub.page_after(b.lan_after()))
    assert b.get(QueueTicket, t2) is None
    called = b.get(QueueTicket, t1)
    assert called is not None and called.status == "called"

    # an entry B itself recorded comes back in the LAN list: it runs at its hub position (once), and
    # counts() lists only other PCs' entries
    mine = b.outbox()[-1]
    hub.add(b, [mine])
    feed(b, hub.page_after(b.lan_after()))
    assert b.counts()["lan_mutations"] == 3  # t1, rx.create, rx.sign

    # the desk's entries reach the central API (the desk pushes them itself); the hub re-issues t1 as
    # applied with the feed sequence: kept until B's cursor reaches it, then the confirmed row takes over
    assert clinic["desk"].sync().state is SyncState.ONLINE
    outcome = desk.entry(e1.mutation_id)
    assert outcome is not None and outcome.status == "applied" and outcome.seq
    hub.add(desk, [e1], status="applied", seqs={e1.mutation_id: outcome.seq})
    feed(b, hub.page_after(b.lan_after()))
    assert b.counts()["lan_mutations"] == 3 and b.get(QueueTicket, t1) is not None
    page = clinic["b"].transport.pull(b.cursor() or 0, limit=5000)
    assert page.next_cursor >= outcome.seq and not page.has_more
    hub_page = hub.page_after(b.lan_after())
    b.apply_changes(page.changes, cursor=page.next_cursor, lan=hub_page)
    assert b.counts()["lan_mutations"] == 2  # the confirmed row replaced the LAN row in one transaction
    confirmed = b.get(QueueTicket, t1)
    assert confirmed is not None and confirmed.status == "called"  # B's own call still on top of it
    assert b.get(Prescription, rx.id) is not None

    # a rebuilt hub (new epoch): the list is read again from 0, what B held is forgotten meanwhile
    rebuilt = LanFeed(HubInfo(hub_id="hub-main", epoch="epoch-2", upstream=False))
    rebuilt.add(doctor, [created])
    feed(b, rebuilt.page_after(b.lan_after()))
    assert b.lan_after() == 0 and b.counts()["lan_mutations"] == 0
    assert b.get(Prescription, rx.id) is None
    feed(b, rebuilt.page_after(b.lan_after()))
    draft_rx = b.get(Prescription, rx.id)
    assert draft_rx is not None and draft_rx.status == "draft"

    # the central API answers a pull (no hub): the LAN list goes, own pending stays
    cursor = b.cursor()
    assert cursor is not None
    b.apply_changes([], cursor=cursor)
    assert b.get(Prescription, rx.id) is None and b.counts()["lan_overlay_rows"] == 0
    assert b.pending_count() == 1


def test_a_lan_entry_the_local_rules_refuse_shows_nothing_and_staff_roles_come_from_the_staff_row(
    clinic: dict[str, ClientPC],
) -> None:
    desk, b = clinic["desk"].store, clinic["b"].store
    patient = next(p for p in b.all(Patient) if not p.allergies)
    hub = LanFeed()
    ticket_id, entry = check_in(desk, patient)
    # a forged entry: a pharmacist's name on a check-in (the staff row says pharmacist: no role for it)
    forged = hub.add(desk, [entry])[0].model_copy(
        update={"hub_seq": 2, "mutation_id": "forged-1", "staff_id": _staff_id(b, "pharmacist1")}
    )
    forged_args = {**forged.args, "id": "forged-ticket"}
    page = LanPage(hub.hub, [hub.entries[0], forged.model_copy(update={"args": forged_args})], 2, 0)
    feed(b, page)
    assert b.get(QueueTicket, ticket_id) is not None
    assert b.get(QueueTicket, "forged-ticket") is None
    # a duplicate check-in of the same ticket id (the handler refuses it on top of the first)
    dup = hub.entries[0].model_copy(update={"hub_seq": 3, "mutation_id": "dup-1"})
    feed(b, LanPage(hub.hub, [dup], 3, 2))
    assert b.counts()["lan_mutations"] == 3
    assert b.counts()["lan_overlay_rows"] == 1


def test_lan_entries_in_pages_with_patients_registered_on_another_pc(clinic: dict[str, ClientPC]) -> None:
    """Entries that build on each other across pages (a patient registered on the desk, then checked in)."""
    desk, b = clinic["desk"].store, clinic["b"].store
    hub = LanFeed()
    ids = []
    for n in range(30):
        registered = desk.record(
            "patient.register",
            {"id": f"lan-p{n}", "name": f"内网患者{n}", "sex": "F", "birth_date": "1990-01-01"},
        )
        patient = desk.get(Patient, f"lan-p{n}")
        assert patient is not None
        ticket_id, checked = check_in(desk, patient)
        hub.add(desk, [registered, checked])
        ids.append(ticket_id)
    while True:
        page = hub.page_after(b.lan_after(), limit=7)
        if not page.entries:
            break
        feed(b, page)
    assert all(b.get(QueueTicket, t) is not None for t in ids)
    found = b.search_patients("内网患者1")
    assert found and all(p.id.startswith("lan-p") for p in found)
    # B's view numbers the desk's tickets as the desk did
    assert sorted(b.get(QueueTicket, t).number for t in ids) == sorted(  # type: ignore[union-attr]
        desk.get(QueueTicket, t).number
        for t in ids  # type: ignore[union-attr]
    )


def _room(store: object, queue_id: str) -> str:
    from shared.domain.entities import Queue

    queue = store.get(Queue, queue_id)  # type: ignore[attr-defined]
    return str(queue.room_ids[0])


def _staff_id(store: object, username: str) -> str:
    from shared.domain.entities import Staff

    return next(s.id for s in store.all(Staff) if s.username == username)  # type: ignore[attr-defined]
