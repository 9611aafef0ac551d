"""Builders for clinic-hub tests on the PC side: a PC's outbox entries as the hub's LAN list shows them."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from shared.domain.clinical import next_rx_number
from shared.domain.entities import Patient, Prescription, QueueTicket, SigningKey, Staff
from shared.domain.prescribing import PatientFacts, PrescriberFacts, PrescriptionDraft
from shared.ids import new_id
from shared.protocol.models import HubInfo, LanMutation
from shared.store import LocalStore
from shared.store.store import LanPage, OutboxEntry
from tests.clinical.support import line
from triage_desk import model

HUB = HubInfo(hub_id="hub-main", epoch="epoch-1", upstream=False)


class LanFeed:
    """The hub's LAN list as the PCs read it: every entry gets the next ``hub_seq``."""

    def __init__(self, hub: HubInfo = HUB) -> None:
        self.hub = hub
        self._seq = itertools.count(1)
        self.entries: list[LanMutation] = []

    def add(
        self,
        store: LocalStore,
        entries: Iterable[OutboxEntry],
        *,
        status: Literal["pending", "applied", "rejected"] = "pending",
        seqs: dict[str, int] | None = None,
    ) -> list[LanMutation]:
        session = store.session()
        assert session is not None
        added = [
            LanMutation(
                hub_seq=next(self._seq),
                mutation_id=entry.mutation_id,
                client_id=store.client_id,
                client_seq=entry.client_seq - store.seq_offset(),
                device_id=store.device_id,
                staff_id=entry.staff_id,
                campus_id=session.campus_id,
                name=entry.name,
                args=entry.args,
                base_version=entry.base_version,
                occurred_at=entry.occurred_at,
                status=status,
                seq=(seqs or {}).get(entry.mutation_id),
            )
            for entry in entries
        ]
        self.entries.extend(added)
        return added

    def page_after(self, after: int, *, limit: int | None = None) -> LanPage:
        """What a pull with ``lan_after=after`` gets: the entries after it (up to ``limit``)."""
        entries = [e for e in self.entries if e.hub_seq > after][:limit]
        last = entries[-1].hub_seq if entries else after
        return LanPage(hub=self.hub, entries=entries, lan_next=last, sent_after=after)


def feed(store: LocalStore, page: LanPage, changes: Iterable[object] = ()) -> set[str]:
    """Apply a pull answer with no confirmed changes and this LAN part at the store's cursor."""
    cursor = store.cursor()
    assert cursor is not None
    return store.apply_changes(list(changes), cursor=cursor, lan=page)  # type: ignore[arg-type]


def check_in(store: LocalStore, patient: Patient, *, slot: int = 1) -> tuple[str, OutboxEntry]:
    """``queue.check_in`` of ``patient`` at the first queue of the store's campus, numbered as a desk does."""
    session = store.session()
    assert session is not None
    queue = next(q for q in model.area_queues(store, session.campus_id) if q.room_ids)
    now = dt.datetime.now(dt.UTC)
    with store.reading() as view:
        number = model.next_number(view, queue, model.local_day(now), slot, device_id=store.device_id)
    ticket_id = new_id()
    entry = store.record(
        "queue.check_in", {"id": ticket_id, "queue_id": queue.id, "patient_id": patient.id, "number": number}
    )
    return ticket_id, entry


def draft(store: LocalStore, patient: Patient, drug: str) -> PrescriptionDraft:
    """A prescription numbered as the workstation numbers it, from the local view only."""
    written = dt.datetime.now(dt.UTC)
    day = written.astimezone().date()
    session = store.session()
    assert session is not None
    doctor = store.get(Staff, session.staff.id)
    assert doctor is not None
    known = [rx.number for rx in store.find(Prescription, day=day)]
    return PrescriptionDraft(
        id=new_id(),
        number=next_rx_number(known, store.device_id, day),
        patient=PatientFacts.from_patient(patient),
        prescriber=PrescriberFacts.from_staff(doctor),
        written_at=written,
        lines=(line(drug),),
    )


def key_id(store: LocalStore) -> str:
    session = store.session()
    assert session is not None
    return next(k.id for k in store.find(SigningKey, staff_id=session.staff.id) if k.revoked_at is None)


def tickets(store: LocalStore, ids: Iterable[str]) -> Iterator[QueueTicket | None]:
    for ticket_id in ids:
        yield store.get(QueueTicket, ticket_id)


class CountedScrypt:
    """The real ``hashlib.scrypt``, counted (install it as ``hashlib.scrypt`` for the test's length)."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = hashlib.scrypt

    def __call__(self, password: bytes, **kw: Any) -> bytes:
        self.calls += 1
        return self.real(password, **kw)


def take_in(store: LocalStore, hub: LanFeed, *, page: int) -> list[float]:
    """Feed ``store`` the LAN list after its ``lan_after`` in pages of ``page`` until none is left; the
    seconds each page took."""
    seconds: list[float] = []
    while True:
        entries = hub.page_after(store.lan_after(), limit=page)
        if not entries.entries:
            return seconds
        started = time.perf_counter()
        feed(store, entries)
        seconds.append(time.perf_counter() - started)
